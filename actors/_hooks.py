"""Hooks: named points where handlers run synchronously with an operation and may change it.

A caller runs a hook point with the value it is about to use::

    request = await hooks.run("order.before_ship", request, {"customer": name})
    if isinstance(request, Replace):
        return request.result  # a handler answered instead of the operation

Handlers run in priority order (higher first; equal priorities in registration order). Each
returns one of:

* ``None``: continue with the value unchanged;
* another value: it replaces the value for the next handler and is what :meth:`run` returns;
* :class:`Cancel` (or raising :class:`~actors.HookCancelledError`): :meth:`run` raises
  ``HookCancelledError(point, reason)``;
* :class:`Replace`: the chain stops and :meth:`run` returns the ``Replace`` itself.

A handler raising anything else is isolated: the error is reported through
``on_handler_error`` (or logged), counted, and the chain goes on with the value unchanged,
unless the handler was registered with ``fail_closed=True``: then :meth:`run` raises
``HookCancelledError``. A point without handlers costs one dict lookup.
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._exceptions import HookCancelledError
from ._topics import split_topic

if TYPE_CHECKING:
    from ._records import HookStatistics

__all__ = [
    "Cancel",
    "HookContext",
    "HookRegistration",
    "HookRegistry",
    "Replace",
]

_log = logging.getLogger("actors.hooks")

#: ``on_handler_error(point, exc, handler_name)``.
ErrorCallback = Callable[[str, BaseException, str], None]


@dataclass(frozen=True, slots=True)
class Cancel:
    """Return this from a handler to cancel the operation with a reason."""

    reason: str = "cancelled by a hook"


@dataclass(frozen=True, slots=True)
class Replace:
    """Return this from a handler to skip the operation and use ``result`` instead."""

    result: Any


@dataclass(slots=True)
class HookContext:
    """What a two-argument handler receives besides the value.

    Attributes:
        point: the hook point being run.
        data: the caller's context dict (shared by the handlers of one run).
    """

    point: str
    data: dict[str, Any] = field(default_factory=dict)


class HookRegistration:
    """A registered handler; :meth:`cancel` unregisters it.

    Attributes:
        id: unique within the registry.
        point: the hook point.
        name: for error reports and statistics.
        priority: higher runs first.
        fail_closed: whether an error in this handler cancels the operation.
    """

    __slots__ = (
        "_calls",
        "_failed",
        "_fn",
        "_is_async",
        "_registry",
        "_with_ctx",
        "fail_closed",
        "id",
        "name",
        "point",
        "priority",
    )

    def __init__(
        self,
        registry: HookRegistry,
        id: int,
        point: str,
        fn: Callable[..., Any],
        priority: int,
        fail_closed: bool,
        name: str,
    ) -> None:
        self._registry, self.id, self.point, self._fn = registry, id, point, fn
        self.priority, self.fail_closed, self.name = priority, fail_closed, name
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
        )
        self._with_ctx = _wants_context(fn)
        self._calls = self._failed = 0

    def __repr__(self) -> str:
        return f"<HookRegistration {self.id} {self.name!r} on {self.point!r}>"

    def cancel(self) -> None:
        """Unregister the handler. Idempotent."""
        self._registry.unregister(self)


def _merge(
    first: tuple[HookRegistration, ...], second: tuple[HookRegistration, ...]
) -> tuple[HookRegistration, ...]:
    """Both chains in one priority order; ``first`` wins ties (each is already sorted)."""
    return tuple(heapq.merge(first, second, key=lambda r: -r.priority))


def _wants_context(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` needs a second positional argument (or takes ``*args``).

    Parameters with defaults do not count, so ``lambda v, name=name: ...`` gets the value only.
    """
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature
        return False
    required = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            required += 1
    return required >= 2


class HookRegistry:
    """Hook points and their handlers.

    Args:
        on_handler_error: called as ``on_handler_error(point, exc, handler_name)`` when a
            handler raises (the system publishes ``hook.handler_failed``); without it, errors
            are logged.
    """

    def __init__(self, *, on_handler_error: ErrorCallback | None = None) -> None:
        self._chains: dict[str, tuple[HookRegistration, ...]] = {}
        self._by_id: dict[int, HookRegistration] = {}
        self._ids = itertools.count(1)
        self._on_error = on_handler_error
        self._runs = self._cancelled = self._replaced = self._failed = 0

    def register(
        self,
        point: str,
        handler: Callable[..., Any],
        *,
        priority: int = 0,
        fail_closed: bool = False,
        name: str | None = None,
    ) -> HookRegistration:
        """Add ``handler`` to ``point``.

        Args:
            point: a dotted name such as ``"order.before_ship"`` (no wildcards).
            handler: a sync or async callable, ``handler(value)`` or ``handler(value, ctx)``
                where ``ctx`` is a :class:`HookContext`; decided once, from its signature:
                two required positional parameters (or ``*args``) get the context.
            priority: higher runs earlier; equal priorities run in registration order.
            fail_closed: if the handler raises, cancel the operation instead of going on.
            name: for reports and statistics; defaults to the handler's qualified name.

        Raises:
            ValueError: the point name is invalid.
            TypeError: the handler is not callable.
        """
        split_topic(point)
        if not callable(handler):
            raise TypeError(f"a hook handler must be callable: {handler!r}")
        label = name or getattr(handler, "__qualname__", None) or repr(handler)
        reg = HookRegistration(self, next(self._ids), point, handler, priority, fail_closed, label)
        self._by_id[reg.id] = reg
        chain = (*self._chains.get(point, ()), reg)
        self._chains[point] = tuple(sorted(chain, key=lambda r: (-r.priority, r.id)))
        return reg

    def unregister(self, registration_or_id: HookRegistration | int) -> None:
        """Remove a handler by registration or id; a no-op if it is already gone."""
        key = registration_or_id
        reg = self._by_id.pop(key.id if isinstance(key, HookRegistration) else key, None)
        if reg is None:
            return
        chain = tuple(r for r in self._chains[reg.point] if r is not reg)
        if chain:
            self._chains[reg.point] = chain
        else:
            del self._chains[reg.point]

    def has_handlers(self, point: str) -> bool:
        """Whether ``point`` has at least one handler (callers may skip building a value)."""
        return point in self._chains

    async def run(
        self,
        point: str,
        value: Any,
        context: dict[str, Any] | None = None,
        *,
        extra: HookRegistry | None = None,
    ) -> Any:
        """Run the handlers of ``point`` on ``value``; return the final value or a Replace.

        Args:
            point: the hook point.
            value: what the operation is about to use (a request, a result, ...).
            context: extra data for two-argument handlers (``ctx.data``).
            extra: another registry whose handlers of ``point`` run in the same chain, merged
                by priority (this registry's first among equal priorities). A caller keeps
                handlers that concern only some operations there (a spell run's own hooks),
                so that they neither see nor slow down the others.

        Raises:
            HookCancelledError: a handler cancelled, or a fail-closed handler raised.
        """
        chain = self._chains.get(point)
        if extra is not None:
            more = extra._chains.get(point)
            if more is not None:
                chain = more if chain is None else _merge(chain, more)
        if chain is None:
            return value
        return await self._run(point, chain, value, context)

    async def _run(
        self,
        point: str,
        chain: tuple[HookRegistration, ...],
        value: Any,
        context: dict[str, Any] | None,
    ) -> Any:
        self._runs += 1
        ctx: HookContext | None = None  # built for the first handler that takes it
        for reg in chain:
            reg._calls += 1
            try:
                if reg._with_ctx:
                    if ctx is None:
                        ctx = HookContext(point, {} if context is None else context)
                    result = reg._fn(value, ctx)
                else:
                    result = reg._fn(value)
                if reg._is_async or hasattr(result, "__await__"):  # also lambda: async_fn(v)
                    result = await result
            except HookCancelledError as exc:
                self._cancelled += 1
                if exc.point == point:
                    raise
                raise HookCancelledError(point, exc.reason) from exc
            except Exception as exc:
                self._handler_failed(point, reg, exc)
                continue
            if result is None:
                continue
            if isinstance(result, Cancel):
                self._cancelled += 1
                raise HookCancelledError(point, result.reason)
            if isinstance(result, Replace):
                self._replaced += 1
                return result
            value = result
        return value

    def _handler_failed(self, point: str, reg: HookRegistration, exc: Exception) -> None:
        self._failed += 1
        reg._failed += 1
        if reg.fail_closed:
            self._cancelled += 1
            raise HookCancelledError(point, f"handler {reg.name} failed: {exc}") from exc
        if self._on_error is None:
            _log.warning("hook handler %r on %r failed", reg.name, point, exc_info=exc)
            return
        try:
            self._on_error(point, exc, reg.name)
        except Exception:
            _log.exception("on_handler_error failed for hook handler %r on %r", reg.name, point)

    def statistics(self) -> HookStatistics:
        """Return the registry's counters and those of each handler."""
        from ._records import HandlerStatistics, HookStatistics

        handlers = tuple(
            HandlerStatistics(r.point, r.name, r.priority, r._calls, r._failed)
            for chain in self._chains.values()
            for r in chain
        )
        return HookStatistics(self._runs, self._cancelled, self._replaced, self._failed, handlers)
