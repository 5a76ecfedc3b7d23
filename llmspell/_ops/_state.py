"""A state write: ``state.before_write`` → the store → ``state.after_write``, then
``state.changed`` (``scope``, ``path``).

The input is the value being written (``nil`` for a delete, the current value for an
``update``, whose function decides the new one): a ``before`` handler may change it, refuse the
write (nothing is written), or replace it (the store is not touched). The ``after`` handlers see
what the store now holds at the path. ``state.changed`` is published only for writes that
happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ._catalogue import STATE_WRITE, OpKind, Payload, StateChanged
from ._instrument import Call, Operation

if TYPE_CHECKING:
    from ..state import StateStore


class StateWrite(Operation[Any, Any]):
    """One change of ``path`` in ``scope`` of ``store``; ``apply(value)`` makes it."""

    kind: ClassVar[OpKind] = STATE_WRITE

    def __init__(
        self,
        store: StateStore,
        scope: str,
        path: str,
        apply: Callable[[Any], Awaitable[Any]],
    ) -> None:
        self.store = store
        self.scope = scope
        self.path = path
        self.apply = apply

    def data(self) -> dict[str, Any]:
        return {"scope": self.scope, "path": self.path}

    async def run(self, value: Any, call: Call) -> Any:
        return await self.apply(value)

    def finished(self, call: Call, result: Any, error: Exception | None) -> Payload | None:
        if error is not None or call.replaced:
            return None
        return StateChanged(*call.ids(), self.scope, self.path)
