"""``hooks``: a spell's handlers on the hook points of its own operations.

``hooks.register({beforeGenerate=fn(ctx, req), afterGenerate=fn(ctx, req, resp),
beforeToolCall=fn(ctx, tool, input), afterToolCall=fn(ctx, tool, input, output)}, {priority=})``
returns an id. A handler returns nothing to continue, a value to replace the hooked value,
``hooks.replace(result)`` (in a ``before`` handler) to skip the operation and use ``result``, or
raises (``error(...)`` / ``throw``) to cancel the operation with that message. Also accepted:
``hooks.register("llm.before_generate", fn(ctx, value), opts)`` for any hook point.

A spell's handlers see only the operations of their own run (they are kept in the run's own
registry); Python handlers on ``system.hooks`` see everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import actors

from .._exceptions import LimitExceeded, ParameterError, SpellRuntimeError
from .._ops import HOOK_CONTEXT_KEYS, SCRIPT_HOOKS, RunContext
from ..engines import HostObject, Namespace, ScriptFunction, ScriptValue, sync_api, with_context
from ._values import is_number, to_script


def _adapter(
    ctx: RunContext, point: str, fn: ScriptFunction, extra: tuple[str, ...]
) -> Callable[[Any, actors.HookContext], Awaitable[Any]]:
    async def handler(value: Any, hook: actors.HookContext) -> Any:
        data = hook.data
        script_ctx: dict[str, ScriptValue] = {"point": point}
        for key in HOOK_CONTEXT_KEYS:
            if key in data:
                script_ctx[key] = to_script(data[key])
        args = [to_script(data.get(key)) for key in extra]
        try:
            result = await fn(script_ctx, *args, to_script(value))
        except LimitExceeded as exc:
            ctx.fail(exc)
            raise
        except SpellRuntimeError as exc:
            return actors.Cancel(exc.message)
        if isinstance(result, HostObject) and isinstance(result.target, actors.Replace):
            return result.target
        return result

    return handler


def _priority(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, dict):
        raise ParameterError("hooks.register", "options", "must be a table like {priority=10}")
    priority = value.get("priority", 0)
    if not is_number(priority):
        raise ParameterError("hooks.register", "priority", "must be a finite number")
    return int(priority)


def hooks_namespace() -> Namespace:
    """Build ``hooks.register/unregister`` (each takes the run's context first)."""

    @sync_api
    @with_context
    async def register(
        ctx: RunContext, spec: Any = None, second: Any = None, third: Any = None
    ) -> str:
        handlers: list[tuple[str, ScriptFunction, tuple[str, ...]]] = []
        if isinstance(spec, str):
            if not isinstance(second, ScriptFunction):
                raise ParameterError("hooks.register", "handler", "must be a function(ctx, value)")
            handlers.append((spec, second, ()))
            options = third
        elif isinstance(spec, dict) and spec:
            for key, fn in spec.items():
                if key not in SCRIPT_HOOKS:
                    known = ", ".join(SCRIPT_HOOKS)
                    raise ParameterError(
                        "hooks.register", str(key), f"is not a hook name (known: {known})"
                    )
                if not isinstance(fn, ScriptFunction):
                    raise ParameterError("hooks.register", str(key), "must be a function")
                point, extra = SCRIPT_HOOKS[key]
                handlers.append((point, fn, extra))
            options = second
        else:
            raise ParameterError(
                "hooks.register", "handlers", "must be a table like {beforeGenerate=function...}"
            )
        priority = _priority(options)
        try:
            return ctx.add_hooks(
                [(point, _adapter(ctx, point, fn, extra)) for point, fn, extra in handlers],
                priority,
            )
        except ValueError as exc:  # an invalid hook point name
            raise ParameterError("hooks.register", "point", str(exc)) from None

    @sync_api
    @with_context
    async def unregister(ctx: RunContext, hook_id: Any = None) -> bool:
        return isinstance(hook_id, str) and ctx.remove_hooks(hook_id)

    @sync_api
    async def replace(value: Any = None) -> ScriptValue:
        return HostObject("replacement", {}, {}, target=actors.Replace(value))

    return Namespace({"register": register, "unregister": unregister, "replace": replace})
