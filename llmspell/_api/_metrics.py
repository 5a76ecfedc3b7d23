"""``metrics``: a spell's own Prometheus metrics.

``metrics.inc(name, labels?)`` adds one to a counter, ``metrics.observe(name, value, labels?)``
adds a value to a histogram, ``metrics.set(name, value, labels?)`` sets a gauge, and
``metrics.record(name, fields)`` counts one event whose string and boolean fields are labels and
whose numeric fields are each observed (``record("tool_usage", {tool="calc", duration=0.2})``
counts ``llmspell_spell_tool_usage_total{tool="calc"}`` and observes 0.2 in
``llmspell_spell_tool_usage_duration{tool="calc"}``). Exposed as ``llmspell_spell_<name>`` with a
``spell`` label.

The calls only record (they never wait). Their arguments are checked here, so a bad name or
label value is an error even when observability is off — then, checked, the call does nothing.
The backend (:class:`~llmspell._ops.SpellMetrics`) refuses what only it can know: a name already
used with another type or other label names, a metric past its cap of label sets.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from .._exceptions import ParameterError
from .._ops import MetricError, RunContext, SpellMetrics
from ..engines import Namespace, sync_api, with_context
from ._values import is_number

NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,99}")
"""A metric or label name: an identifier of at most 100 characters (no ``:``)."""
MAX_LABELS = 10
MAX_LABEL_VALUE = 200
RESERVED_LABELS = frozenset({"spell", "le", "quantile"})
"""``spell`` is set by the runtime; ``le`` and ``quantile`` are Prometheus's own."""


def _name(function: str, value: Any) -> str:
    if not isinstance(value, str) or NAME.fullmatch(value) is None or value.startswith("__"):
        raise ParameterError(
            function,
            "name",
            "must be a metric name: letters, digits and '_', not starting with a digit or "
            f"'__', at most 100 characters (got {value!r})",
        )
    return value


def _label_value(function: str, where: str, key: str, value: Any) -> str:
    parameter = f"{where}.{key}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, str):
        if len(value) > MAX_LABEL_VALUE:
            raise ParameterError(
                function, parameter, f"is a label value of more than {MAX_LABEL_VALUE} characters"
            )
        return value
    raise ParameterError(
        function, parameter, f"must be a string, number or boolean (a label), not {_kind(value)}"
    )


def _label_name(function: str, where: str, key: Any) -> str:
    if not isinstance(key, str) or NAME.fullmatch(key) is None or key.startswith("__"):
        raise ParameterError(function, where, f"has an invalid name {key!r}")
    if key in RESERVED_LABELS:
        raise ParameterError(function, where, f"uses the reserved label name {key!r}")
    return key


def _labels(function: str, value: Any, where: str = "labels") -> dict[str, str]:
    if value is None or value == []:  # Lua's empty table may arrive as a list
        return {}
    if not isinstance(value, dict):
        raise ParameterError(function, where, f"must be a table of labels, not {_kind(value)}")
    if len(value) > MAX_LABELS:
        raise ParameterError(function, where, f"has more than {MAX_LABELS} labels")
    return {
        _label_name(function, where, k): _label_value(function, where, k, v)
        for k, v in value.items()
    }


def _value(function: str, value: Any) -> float:
    if not is_number(value):
        raise ParameterError(function, "value", f"must be a finite number, not {_kind(value)}")
    return float(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, float):
        return repr(value)
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _fields(function: str, value: Any) -> tuple[dict[str, float], dict[str, str]]:
    """``record``'s fields: numbers to observe, the rest (strings, booleans) labels."""
    if not isinstance(value, dict) or not value:
        raise ParameterError(function, "fields", "must be a non-empty table of fields")
    numbers: dict[str, float] = {}
    labels: dict[str, Any] = {}
    for key, field in value.items():
        if is_number(field):
            numbers[_label_name(function, "fields", key)] = float(field)
        else:
            labels[key] = field
    return numbers, _labels(function, labels, "fields")


Call = Callable[[SpellMetrics], None]


def _send(ctx: RunContext, function: str, call: Call) -> None:
    backend = ctx.ops.metrics
    if backend is None:
        return
    try:
        call(backend)
    except MetricError as exc:
        raise ParameterError(function, exc.parameter, exc.problem) from None


def metrics_namespace() -> Namespace:
    """Build ``metrics.inc/observe/set/record`` (each takes the run's context first)."""

    @sync_api
    @with_context
    async def inc(ctx: RunContext, name: Any = None, labels: Any = None) -> None:
        fn = "metrics.inc"
        metric, tags = _name(fn, name), _labels(fn, labels)
        _send(ctx, fn, lambda m: m.inc(ctx.spell, metric, tags))

    @sync_api
    @with_context
    async def observe(
        ctx: RunContext, name: Any = None, value: Any = None, labels: Any = None
    ) -> None:
        fn = "metrics.observe"
        metric, number, tags = _name(fn, name), _value(fn, value), _labels(fn, labels)
        _send(ctx, fn, lambda m: m.observe(ctx.spell, metric, number, tags))

    @sync_api
    @with_context
    async def set_(
        ctx: RunContext, name: Any = None, value: Any = None, labels: Any = None
    ) -> None:
        fn = "metrics.set"
        metric, number, tags = _name(fn, name), _value(fn, value), _labels(fn, labels)
        _send(ctx, fn, lambda m: m.set(ctx.spell, metric, number, tags))

    @sync_api
    @with_context
    async def record(ctx: RunContext, name: Any = None, fields: Any = None) -> None:
        fn = "metrics.record"
        metric = _name(fn, name)
        numbers, tags = _fields(fn, fields)
        _send(ctx, fn, lambda m: m.record(ctx.spell, metric, numbers, tags))

    functions: dict[str, Callable[..., Awaitable[None]]] = {
        "inc": inc,
        "observe": observe,
        "set": set_,
        "record": record,
    }
    return Namespace(functions)
