"""``hooks``: a spell's handlers on the system's hook points.

``hooks.register({beforeGenerate=fn(ctx, req), afterGenerate=fn(ctx, req, resp),
beforeToolCall=fn(ctx, tool, input), afterToolCall=fn(ctx, tool, input, output)}, {priority=})``
returns an id. A handler returns nothing to continue, a value to replace the hooked value, or
raises (``error(...)`` / ``throw``) to cancel the operation with that message. Also accepted:
``hooks.register("llm.before_generate", fn(ctx, value), opts)`` for any hook point.

A spell's handlers see only the operations of their own run; Python handlers see everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import actors

from .._exceptions import LimitExceeded, ParameterError, SpellRuntimeError
from ..engines import Namespace, ScriptFunction, ScriptValue, with_context
from ._session import Session
from ._values import is_number, to_script

# script key -> (hook point, names of context entries passed as extra arguments before the value)
SCRIPT_HOOKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "beforeGenerate": ("llm.before_generate", ()),
    "afterGenerate": ("llm.after_generate", ("request",)),
    "beforeToolCall": ("tool.before_call", ("tool",)),
    "afterToolCall": ("tool.after_call", ("tool", "input")),
    "beforeAgentRun": ("agent.before_run", ("agent",)),
    "afterAgentRun": ("agent.after_run", ("agent", "input")),
    "beforeStep": ("workflow.before_step", ("workflow", "step")),
    "afterStep": ("workflow.after_step", ("workflow", "step")),
}
_CONTEXT_KEYS = ("spell", "run_id", "model", "tool", "agent", "workflow", "step")


def _script_context(point: str, data: dict[str, Any]) -> dict[str, ScriptValue]:
    ctx: dict[str, ScriptValue] = {"point": point}
    for key in _CONTEXT_KEYS:
        if key in data:
            ctx["runId" if key == "run_id" else key] = to_script(data[key])
    return ctx


def _adapter(
    session: Session, point: str, fn: ScriptFunction, extra: tuple[str, ...]
) -> Callable[[Any, actors.HookContext], Awaitable[Any]]:
    async def handler(value: Any, hook: actors.HookContext) -> Any:
        data = hook.data
        if data.get("run_id") != session.run_id:
            return None
        args = [to_script(data.get(key)) for key in extra]
        try:
            result = await fn(_script_context(point, data), *args, to_script(value))
        except LimitExceeded as exc:
            session.fail(exc)
            raise
        except SpellRuntimeError as exc:
            return actors.Cancel(exc.message)
        return result

    return handler


def _options(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, dict):
        raise ParameterError("hooks.register", "options", "must be a table like {priority=10}")
    priority = value.get("priority", 0)
    if not is_number(priority):
        raise ParameterError("hooks.register", "priority", "must be a finite number")
    return int(priority)


def hooks_namespace() -> Namespace:
    """Build ``hooks.register/unregister`` (each takes the run's session first)."""

    @with_context
    async def register(
        session: Session, spec: Any = None, second: Any = None, third: Any = None
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
        priority = _options(options)
        hook_id = session.next_id("hook")
        session.hooks[hook_id] = [
            session.system.hooks.register(
                point,
                _adapter(session, point, fn, extra),
                priority=priority,
                fail_closed=True,
                name=f"{session.spell}:{hook_id}",
            )
            for point, fn, extra in handlers
        ]
        return hook_id

    @with_context
    async def unregister(session: Session, hook_id: Any = None) -> bool:
        registrations = session.hooks.pop(hook_id, None) if isinstance(hook_id, str) else None
        if registrations is None:
            return False
        for registration in registrations:
            registration.cancel()
        return True

    return Namespace({"register": register, "unregister": unregister})
