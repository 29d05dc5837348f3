"""``python -m sandbox``: the same as the ``wsb`` command."""

from sandbox.cli import main

raise SystemExit(main())
