"""Which tool-choice mode a model run sends, and the fallbacks it has learned.

``any`` forces a tool call; a model that answers 400 to a forced choice is switched to
``auto`` for the rest of the run, and a server that takes no tools at all to ``text``
(plain-text answers, no tools sent). Each fact is kept in the response cache under a key of
everything that decides it (API, endpoint, model, configured tool choice, ``extra_body`` such
as ``thinking``), so that a replay makes the same choice without asking and a ``thinking``
run's fallback never reaches a plain run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from sandbox.llm.cache import ResponseCache, canonical_json

log = logging.getLogger(__name__)


class ToolChoice:
    """A run's tool-choice mode and its remembered fallbacks.

    Args:
        cache: The response cache, which keeps the fallback flags.
        api: The adapter's API name.
        endpoint: The server's base URL.
        model: The model id.
        configured: The configured tool choice (``any`` or ``auto``).
        extra_body: The request's extra fields.

    Attributes:
        key: The hash of what decides the fallbacks.
        forced_rejected: The model rejects a forced choice (mode ``auto``).
        tools_rejected: The server takes no tools (mode ``text``).
    """

    def __init__(
        self,
        cache: ResponseCache,
        *,
        api: str,
        endpoint: str,
        model: str,
        configured: str,
        extra_body: Mapping[str, Any],
    ) -> None:
        self.cache = cache
        self.model = model
        self.endpoint = endpoint
        self.configured = configured
        self.key = hashlib.sha256(
            canonical_json(
                {
                    "api": api,
                    "endpoint": endpoint,
                    "model": model,
                    "tool_choice": configured,
                    "extra_body": dict(extra_body),
                }
            ).encode("utf-8")
        ).hexdigest()[:32]
        self._forced_flag = f"rejects_forced_tool_choice:{self.key}"
        self._tools_flag = f"rejects_tools:{self.key}"
        self.forced_rejected = bool(cache.get_flag(self._forced_flag))
        self.tools_rejected = bool(cache.get_flag(self._tools_flag))

    def mode(self) -> str:
        """``any`` (forced), ``auto``, or ``text`` (no tools: a server that takes none)."""
        if self.tools_rejected:
            return "text"
        if self.configured == "auto" or self.forced_rejected:
            return "auto"
        return "any"

    def reject_forced(self) -> None:
        """The model refused a forced tool choice: use ``auto`` for the rest of the run."""
        if not self.forced_rejected:
            log.warning(
                "%s rejects a forced tool choice; using tool_choice=auto and reading plain-text "
                "answers for the rest of the run",
                self.model,
            )
        self.forced_rejected = True
        self.cache.set_flag(self._forced_flag, "1")

    def reject_tools(self) -> None:
        """The server takes no tools: ask for plain-text answers for the rest of the run."""
        if not self.tools_rejected:
            log.warning(
                "%s at %s takes no tools; sending none and reading plain-text answers for the "
                "rest of the run",
                self.model,
                self.endpoint,
            )
        self.tools_rejected = True
        self.cache.set_flag(self._tools_flag, "1")
