"""``events``: the spell's view of the system's event bus.

Handlers are called ``fn(event, topic)`` where ``event`` is the payload. ``events.on(pattern, fn,
{queue = "workers"})`` shares the events among every handler with that queue name and pattern (in
this process, or in any process on a NATS bus): each event goes to one of them, and counts as
done when that handler returns. Under ``llmspell run`` a
spell ends once its main code returned and its handlers have nothing left to do; a resident run
(``llmspell serve``) keeps its handlers until it removes them (``events.off``) or is stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import actors

from .._exceptions import LimitExceeded, ParameterError, SpellError
from .._ops import RunContext, charge
from ..engines import (
    Namespace,
    ScriptFunction,
    ScriptValue,
    Suspended,
    eager_api,
    sync_api,
    with_context,
)
from ._values import is_number, to_script


def _pattern(function: str, value: Any, name: str = "pattern") -> str:
    if not isinstance(value, str) or not value:
        raise ParameterError(function, name, "must be a non-empty string like 'agent.*.started'")
    return value


def _handler(function: str, value: Any) -> ScriptFunction:
    if not isinstance(value, ScriptFunction):
        raise ParameterError(function, "handler", "must be a function(event, topic)")
    return value


def _options(function: str, value: Any) -> str | None:
    """The ``queue`` of an options table (``{queue = "workers"}``), or ``None``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ParameterError(function, "options", "must be a table like {queue = 'workers'}")
    unknown = sorted(str(key) for key in value if key != "queue")
    if unknown:
        raise ParameterError(function, "options", f"unknown option {unknown[0]!r} (known: queue)")
    queue = value.get("queue")
    if queue is None:
        return None
    if not isinstance(queue, str) or not queue:
        raise ParameterError(function, "queue", "must be a non-empty name like 'workers'")
    return queue


def _timeout(function: str, value: Any) -> float | None:
    if value is None:
        return None
    if not is_number(value):
        raise ParameterError(function, "timeout", "must be a number of seconds")
    return float(value)


_SCALARS = frozenset((int, float, bool, type(None)))
"""Payloads :func:`_check_payload` always accepts: their measure does not depend on the value."""


def _check_payload(ctx: RunContext, payload: Any) -> None:
    """Refuse at ``emit`` what no handler could receive: too deep, or over the memory limit."""
    try:
        charge("events.emit: the payload", payload, ctx.limits.memory_bytes)
    except ValueError as exc:
        raise ParameterError("events.emit", "payload", str(exc)) from None


def _failed(ctx: RunContext, topic: str, exc: SpellError) -> None:
    """A handler's error: a limit ends the run; any other is logged (the bus reports it too)."""
    if isinstance(exc, LimitExceeded):
        ctx.fail(exc)
    else:
        ctx.log("error", f"event handler for {topic!r} failed: {exc}", {})


def events_namespace() -> Namespace:
    """Build ``events.on/once/off/emit/wait`` (each takes the run's context first)."""

    def subscribe(
        ctx: RunContext, function: str, pattern: Any, handler: Any, options: Any, *, once: bool
    ) -> str:
        topic_pattern = _pattern(function, pattern)
        fn = _handler(function, handler)
        queue = _options(function, options)

        def deliver(event: actors.Event) -> Awaitable[None] | None:
            """Run the handler here; the rest of it only if it has to wait."""
            payload = event.payload
            if payload.__class__ not in _SCALARS and payload.__class__ is not str:
                payload = to_script(payload)
            try:
                result = fn.start(payload, event.topic)
            except SpellError as exc:
                _failed(ctx, event.topic, exc)
                raise
            return finish(result, event.topic) if result.__class__ is Suspended else None

        async def finish(rest: Suspended, topic: str) -> None:
            try:
                await rest
            except SpellError as exc:
                _failed(ctx, topic, exc)
                raise

        try:
            return ctx.subscribe(
                topic_pattern, deliver, name=f"{ctx.spell}:{function}", once=once, queue=queue
            )
        except ValueError as exc:
            param = "queue" if queue is not None and "queue" in str(exc) else "pattern"
            raise ParameterError(function, param, str(exc)) from None

    @sync_api
    @with_context
    async def on(
        ctx: RunContext, pattern: Any = None, handler: Any = None, options: Any = None
    ) -> str:
        return subscribe(ctx, "events.on", pattern, handler, options, once=False)

    @sync_api
    @with_context
    async def once(
        ctx: RunContext, pattern: Any = None, handler: Any = None, options: Any = None
    ) -> str:
        return subscribe(ctx, "events.once", pattern, handler, options, once=True)

    @sync_api
    @with_context
    async def off(ctx: RunContext, sub_id: Any = None) -> bool:
        if not isinstance(sub_id, str):
            raise ParameterError("events.off", "id", "must be an id returned by events.on")
        return ctx.unsubscribe(sub_id)

    @with_context
    async def emit(ctx: RunContext, topic: Any = None, payload: Any = None) -> None:
        name = _pattern("events.emit", topic, "topic")
        _check_payload(ctx, payload)
        try:
            await ctx.system.bus.publish(
                name, payload, headers=ctx.current_headers(), owner=ctx.publisher
            )
        except ValueError as exc:
            raise ParameterError("events.emit", "topic", str(exc)) from None

    def emit_nowait(ctx: RunContext, topic: Any = None, payload: Any = None) -> None:
        """``emit`` when it need not wait: a local publish that finds room in every queue
        (else ``WouldBlock``, having published nothing: a full queue of this run's, a logged
        topic, whose publish returns once committed, or a bus backend's)."""
        # (once per event: the common cases of _pattern and _check_payload inlined)
        if topic.__class__ is not str or not topic:
            _pattern("events.emit", topic, "topic")
        bus = ctx.system.bus
        log = bus.event_log
        if bus.backend is not None or (log is not None and log.logs(topic)):
            raise actors.WouldBlock  # (before the payload's check, which emit makes itself)
        if payload.__class__ not in _SCALARS:  # (what measures the same whatever its value)
            _check_payload(ctx, payload)
        try:
            bus.publish_nowait(topic, payload, headers=ctx.current_headers(), owner=ctx.publisher)
        except ValueError as exc:
            raise ParameterError("events.emit", "topic", str(exc)) from None

    emit = eager_api(emit, nowait=emit_nowait)

    @with_context
    async def wait(
        ctx: RunContext,
        pattern: Any = None,
        timeout: Any = None,  # noqa: ASYNC109
    ) -> ScriptValue:
        topic_pattern = _pattern("events.wait", pattern)
        seconds = _timeout("events.wait", timeout)
        try:
            event = await ctx.system.bus.wait_for(topic_pattern, timeout=seconds)
        except ValueError as exc:
            raise ParameterError("events.wait", "pattern", str(exc)) from None
        except TimeoutError:
            raise TimeoutError(
                f"events.wait: no event on {topic_pattern!r} within {seconds}s"
            ) from None
        return to_script(event.payload)

    return Namespace({"on": on, "once": once, "off": off, "emit": emit, "wait": wait})
