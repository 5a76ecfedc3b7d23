"""Per-run state shared by the script API namespaces."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

import actors

if TYPE_CHECKING:
    from ..state import StateStore

LogSink = Callable[[str, str, dict[str, Any]], None]
"""Receives ``(level, message, fields)`` for every ``log.*`` call of a spell."""


@dataclasses.dataclass
class Usage:
    """Token usage and cost summed over a run's LLM calls."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _USAGE_FIELDS}  # asdict() deep-copies


_USAGE_FIELDS = tuple(field.name for field in dataclasses.fields(Usage))


class Session:
    """What one spell run owns: its subscriptions, hook registrations and usage totals.

    Everything registered through the session is released by :meth:`aclose`, so a finished
    or crashed run leaves nothing behind on the shared bus and hook registry.
    """

    def __init__(
        self,
        *,
        system: actors.ActorSystem,
        run_id: str,
        spell: str,
        filename: str,
        params: dict[str, Any],
        log: LogSink,
        services: dict[str, Any] | None = None,
        state: StateStore | None = None,
    ) -> None:
        self.system = system
        self.run_id = run_id
        self.spell = spell
        self.filename = filename
        self.params = params
        self.log = log
        self.services = services or {}
        self.state = state
        self.usage = Usage()
        self.subscriptions: dict[str, actors.Subscription] = {}
        self.hooks: dict[str, list[actors.HookRegistration]] = {}
        self._ids = itertools.count(1)
        self._idle: anyio.Event | None = None
        self.fatal: Exception | None = None
        self.closers: list[Callable[[], Awaitable[None]]] = []

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    @property
    def resident(self) -> bool:
        """Whether the run still listens for events (and so stays alive after its main code)."""
        return bool(self.subscriptions)

    def add_subscription(self, sub: actors.Subscription) -> str:
        sub_id = self.next_id("sub")
        self.subscriptions[sub_id] = sub
        return sub_id

    def remove_subscription(self, sub_id: str) -> bool:
        sub = self.subscriptions.pop(sub_id, None)
        if sub is None:
            return False
        sub.cancel()
        if not self.subscriptions and self._idle is not None:
            self._idle.set()
        return True

    def fail(self, exc: Exception) -> None:
        """End a resident run with ``exc`` (a callback hit a sandbox limit)."""
        if self.fatal is None:
            self.fatal = exc
        if self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until the run holds no subscriptions any more; raise a recorded fatal error."""
        while self.subscriptions and self.fatal is None:
            self._idle = anyio.Event()
            await self._idle.wait()
        if self.fatal is not None:
            raise self.fatal

    async def aclose(self) -> None:
        """Release everything the run made: subscriptions, hooks, agents, script tools."""
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            await close()
        for sub_id in list(self.subscriptions):
            self.remove_subscription(sub_id)
        for registrations in self.hooks.values():
            for registration in registrations:
                registration.cancel()
        self.hooks.clear()
