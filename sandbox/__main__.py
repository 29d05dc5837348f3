"""``python -m sandbox``: the same as the ``wsb`` command."""

from sandbox.entry import main

raise SystemExit(main())
