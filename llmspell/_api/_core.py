"""The small global API: ``log``/``logger``, ``json``, ``sleep`` and ``parallel``."""

from __future__ import annotations

import json as _json
from typing import Any

import anyio

from .._exceptions import LimitExceeded, ParameterError
from .._ops import RunContext
from ..engines import Namespace, ScriptFunction, ScriptValue, sync_api, with_context
from ._values import is_number

LOG_LEVELS = ("debug", "info", "warn", "error")
_VALUE_BYTES = 32  # what one decoded JSON value is charged besides its characters


def _fields(function: str, fields: Any) -> dict[str, Any]:
    if fields is None:
        return {}
    if isinstance(fields, dict):
        return fields
    if isinstance(fields, list) and not fields:
        return {}
    raise ParameterError(function, "fields", f"must be a table of fields, not {_kind(fields)}")


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def log_namespace() -> Namespace:
    """``log.debug/info/warn/error(message, fields?)``; ``warning`` is an alias of ``warn``."""

    def make(level: str) -> Any:
        @sync_api
        @with_context
        async def emit(ctx: RunContext, message: Any = None, fields: Any = None) -> None:
            text = message if isinstance(message, str) else _json_text(message)
            checked = _fields(f"log.{level}", fields)
            meter = ctx.output_meter
            if meter is not None:  # log lines count against the output limit, as prints do
                size = len(text.encode("utf-8", "surrogatepass")) + len(level) + 3
                if checked:
                    size += len(_json_text(checked))
                meter.charge_log(size)
            ctx.log(level, text, checked)

        return emit

    functions = {level: make(level) for level in LOG_LEVELS}
    functions["warning"] = functions["warn"]
    return Namespace(functions)


def _json_text(value: Any) -> str:
    try:
        return _json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        return str(value)


def _text_keys(value: Any) -> Any:
    """Keys as JSON writes them (``1`` → ``"1"``), so that sorting them cannot fail."""
    if isinstance(value, dict):
        return {
            (
                k
                if isinstance(k, str)
                else _json.dumps(k)
                if k is None or isinstance(k, bool)
                else str(k)
            ): _text_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_text_keys(v) for v in value]
    return value


def json_namespace() -> Namespace:
    """``json.encode(value, pretty?)`` and ``json.decode(text)``.

    ``encode`` sorts object keys: Lua tables have no key order, so sorting is what makes the
    same value encode to the same text in both engines.
    """

    @sync_api
    async def encode(value: Any = None, pretty: Any = None) -> str:
        try:
            return _json.dumps(
                _text_keys(value),
                ensure_ascii=False,
                allow_nan=False,
                sort_keys=True,
                indent=2 if pretty else None,
                separators=None if pretty else (",", ":"),
            )
        except (TypeError, ValueError) as exc:
            raise ParameterError("json.encode", "value", f"cannot be encoded: {exc}") from None

    @sync_api
    @with_context
    async def decode(ctx: RunContext, text: Any = None) -> ScriptValue:
        if not isinstance(text, str):
            raise ParameterError("json.decode", "text", f"must be a string, not {_kind(text)}")
        # an upper bound of the values the document holds, before building any of them
        values = text.count(",") + text.count("[") + text.count("{") + 1
        limit = ctx.limits.memory_bytes if ctx is not None else len(text) + values * _VALUE_BYTES
        if len(text) + values * _VALUE_BYTES > limit:
            raise LimitExceeded(
                "memory",
                f"json.decode: a document of {len(text)} characters and up to {values} values"
                f" needs more than the run's memory limit of {limit} bytes",
            )
        try:
            return _json.loads(text)
        except ValueError as exc:
            raise ParameterError("json.decode", "text", f"is not valid JSON: {exc}") from None

    return Namespace({"encode": encode, "decode": decode})


async def sleep(seconds: Any = None) -> None:
    """``sleep(seconds)``: suspend the spell cooperatively."""
    if not is_number(seconds) or seconds < 0:
        raise ParameterError("sleep", "seconds", "must be a non-negative number")
    await anyio.sleep(seconds)


async def parallel(*functions: Any) -> list[ScriptValue]:
    """``parallel(fn1, fn2, ...)`` or ``parallel({fn1, fn2})``: run functions concurrently.

    Returns their results in argument order. If any raises, the others are cancelled and the
    first error propagates.
    """
    if len(functions) == 1 and isinstance(functions[0], list):
        functions = tuple(functions[0])
    for index, fn in enumerate(functions, 1):
        if not isinstance(fn, ScriptFunction):
            raise ParameterError("parallel", f"#{index}", f"must be a function, not {_kind(fn)}")
    results: list[ScriptValue] = [None] * len(functions)

    async def run_one(index: int, fn: ScriptFunction) -> None:
        results[index] = await fn()

    try:
        async with anyio.create_task_group() as tg:
            for index, fn in enumerate(functions):
                tg.start_soon(run_one, index, fn)
    except BaseExceptionGroup as group:
        errors = group.exceptions
        if len(errors) == 1 and isinstance(errors[0], Exception):
            raise errors[0] from None
        raise
    return results
