"""The error the environments raise for a bad bank: :class:`BankError`.

Every environment module takes it from here; this is the package's one contact with
``sandbox``. The class itself is defined in :mod:`sandbox.errors` (a leaf module that imports
nothing), as a :class:`~sandbox.errors.SandboxError`, so that the CLI's one ``except
SandboxError`` turns a bad bank into one line and exit status 2. Defining it here instead would
make ``import sandbox.errors`` (the CLI's first import) run this package's ``__init__``, which
imports gymnasium to register the ids: 110-180 ms more before ``wsb --help``, ``wsb report`` or
``wsb watch`` print anything.
"""

from __future__ import annotations

from sandbox.errors import BankError

__all__ = ["BankError"]
