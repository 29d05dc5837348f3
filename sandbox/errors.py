"""The project's exceptions: every error a user can cause is one of these.

Messages follow one shape: what was expected, what arrived, and the fix. The CLI prints them in
one or two lines and exits with status 2 (a traceback only with ``--debug`` or
``HYDRA_FULL_ERROR=1``).
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error caused by user input or the user's environment."""


class ConfigError(SandboxError):
    """A configuration value is missing, of the wrong type, or out of range."""


class BankError(SandboxError):
    """A task or scenario bank cannot be read or fails validation."""


class RunDirError(SandboxError):
    """A path is not a run or sweep directory, or its records are unreadable."""


class AgentError(SandboxError):
    """An agent cannot be built (missing key, missing optional package, bad parameters)."""


class BudgetExceeded(SandboxError):
    """A model call would take the spend past ``budget_usd``."""
