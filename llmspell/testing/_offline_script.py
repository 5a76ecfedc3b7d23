"""Scripting the offline model's replies from tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from .. import providers

SCRIPT_ENV = providers.SCRIPT_ENV
"""Environment variable: path of a JSON reply script the offline model loads."""

RECORD_ENV = providers.RECORD_ENV
"""Environment variable: path where the offline model appends each request as a JSON line."""

ERROR_KINDS = tuple(providers.ERROR_KINDS)
"""The error kinds :meth:`OfflineScript.error` accepts (an HTTP status works too)."""


class OfflineScript(providers.ReplyQueue):
    """Replies the offline model (``offline/...``) returns next, and the requests it received.

    Queue replies, then install the script with ``with`` (sync or async) around the calls that
    should see them. Once the queue is empty the offline model answers deterministically again.
    The innermost installed script wins::

        script = OfflineScript()
        script.error("rate_limit")                 # the first call fails with a 429 ...
        script.reply("hi")                         # ... its retry gets "hi"
        script.tool_call("calc", {"expr": "2+2"})  # the next call asks for a tool
        with script:
            ...
        assert script.requests[0]["messages"][-1]["content"] == "Hello"

    For spells run from the CLI, :meth:`save` the replies to a JSON file and set
    ``LLMSPELL_OFFLINE_SCRIPT`` (:data:`SCRIPT_ENV`) to its path; set ``LLMSPELL_OFFLINE_RECORD``
    (:data:`RECORD_ENV`) to a path to get the requests as JSON lines.

    Args:
        replies: reply specs to queue: strings, or dicts as in the JSON file
            (``{"content"}``, ``{"tool_calls": [{"name", "arguments"}]}``,
            ``{"error", "message"}``, each with an optional ``"delay"``).

    Attributes:
        requests: the requests seen while installed (dicts: ``model``, ``messages``, ``tools``,
            ``response_format``, ``stream`` and the other parameters of the call).
    """

    def reply(self, content: str, *, delay: float = 0.0) -> OfflineScript:
        """Queue a text reply."""
        self.push({"content": content, "delay": delay})
        return self

    def tool_call(
        self, name: str, arguments: dict[str, Any] | str | None = None, *, delay: float = 0.0
    ) -> OfflineScript:
        """Queue a reply calling one tool; string ``arguments`` are sent verbatim (malformed
        JSON included)."""
        return self.tool_calls((name, {} if arguments is None else arguments), delay=delay)

    def tool_calls(
        self,
        *calls: tuple[str, dict[str, Any] | str],
        content: str | None = None,
        delay: float = 0.0,
    ) -> OfflineScript:
        """Queue one reply calling several tools: ``(name, arguments)`` pairs."""
        specs = [{"name": name, "arguments": arguments} for name, arguments in calls]
        self.push({"content": content, "tool_calls": specs, "delay": delay})
        return self

    def error(
        self, kind: str | int = "rate_limit", message: str = "", *, times: int = 1
    ) -> OfflineScript:
        """Queue ``times`` failures: a kind from :data:`ERROR_KINDS` or an HTTP status."""
        for _ in range(times):
            self.push({"error": kind, "message": message})
        return self

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the pending replies to a JSON file that ``LLMSPELL_OFFLINE_SCRIPT`` can name."""
        target = Path(path)
        specs = [reply.to_spec() for reply in self.pending]
        target.write_text(json.dumps({"replies": specs}, indent=2), encoding="utf-8")
        return target

    def install(self) -> None:
        """Make the offline model use this script until :meth:`uninstall`."""
        providers.install_replies(self)

    def uninstall(self) -> None:
        """Stop using this script."""
        providers.uninstall_replies(self)

    def __enter__(self) -> OfflineScript:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    async def __aenter__(self) -> OfflineScript:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()
