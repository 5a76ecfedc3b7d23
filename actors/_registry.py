"""The name registry of one actor system (an instance, never global state)."""

from __future__ import annotations

from ._exceptions import NameTakenError
from ._ref import ActorRef


class Registry:
    """Unique names → refs. Actors are unregistered when they stop for good."""

    __slots__ = ("_refs",)

    def __init__(self) -> None:
        self._refs: dict[str, ActorRef] = {}

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, name: object) -> bool:
        return name in self._refs

    def register(self, name: str, ref: ActorRef) -> None:
        """Register ``ref`` under ``name``.

        Raises:
            NameTakenError: another live actor already has ``name``.
        """
        if name in self._refs:
            raise NameTakenError(f"an actor named {name!r} is already registered")
        self._refs[name] = ref

    def unregister(self, name: str, ref: ActorRef) -> None:
        """Remove ``name`` if it still points at ``ref``."""
        if self._refs.get(name) is ref:
            del self._refs[name]

    def lookup(self, name: str) -> ActorRef | None:
        """The ref registered under ``name``, or ``None``."""
        return self._refs.get(name)

    def names(self) -> list[str]:
        """All registered names, in registration order."""
        return list(self._refs)
