"""``workflow``: define workflows from a spell and run them, durably.

``workflow.create{name, type="sequential"|"parallel"|"conditional"|"loop", ...}`` → ``wf``;
``wf:addStep{name, agent=a, prompt="...{{var}}..."}`` / ``{name, tool="x", params={...}}`` /
``{name, fn=function(input, outputs) ... end}`` / ``{name, workflow=other}`` / (conditional)
``{name, condition=function(input, outputs) ... end, ["then"]=step or workflow,
["else"]=step or workflow}``, each with ``retry={max_attempts, backoff}``, ``timeout``,
``on_error="fail"|"continue"``; ``wf:run(input?, {id=?})`` →
``{id, status, output, outputs, error?, errors?, iterations?}``. The engine is
``llmspell._ops``'; this module checks what a script passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _ops
from .._exceptions import ParameterError
from ..engines import HostObject, Namespace, ScriptFunction, ScriptValue, sync_api, with_context
from ._values import is_number, to_script

if TYPE_CHECKING:
    from .._ops import RunContext, Step, Workflow

_TYPES = ("sequential", "parallel", "conditional", "loop")
_WORKFLOW_KEYS = {
    "name",
    "type",
    "steps",
    "max_concurrency",
    "fail_fast",
    "max_iterations",
    "until",
}
_STEP_KEYS = {
    "name", "agent", "prompt", "tool", "params", "fn", "workflow", "condition", "then", "else",
    "retry", "timeout", "on_error",
}  # fmt: skip
_KINDS = ("agent", "tool", "fn", "workflow", "condition")


def _positive_int(fn: str, name: str, value: Any) -> int:
    if not is_number(value) or value < 1 or int(value) != value:
        raise ParameterError(fn, name, "must be a positive whole number")
    return int(value)


def _workflow_of(value: Any) -> Workflow | None:
    if isinstance(value, HostObject) and isinstance(value.target, _ops.Workflow):
        return value.target
    return None


def _step(fn: str, spec: Any, default_name: str | None = None) -> Step:
    if not isinstance(spec, dict):
        raise ParameterError(fn, "step", "must be a table {name, agent|tool|fn|workflow, ...}")
    for key in spec:
        if key not in _STEP_KEYS:
            raise ParameterError(
                fn, str(key), f"is not a step field (known: {', '.join(sorted(_STEP_KEYS))})"
            )
    name = spec.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ParameterError(fn, "name", "must be a non-empty string naming the step")
    kinds = [k for k in _KINDS if spec.get(k) is not None]
    if len(kinds) != 1:
        raise ParameterError(
            fn,
            "step",
            f"step {name!r} needs exactly one of agent, tool, fn, workflow or condition "
            f"(got {', '.join(kinds) or 'none'})",
        )
    step = _ops.Step(name=name, kind="branch" if kinds[0] == "condition" else kinds[0])  # type: ignore[arg-type]
    if step.kind == "agent":
        agent = spec["agent"]
        if not (isinstance(agent, HostObject) and isinstance(agent.target, _ops.AgentHandle)):
            raise ParameterError(fn, "agent", f"step {name!r}: must be an agent from llm.agent")
        step.agent = agent.target
        prompt = spec.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise ParameterError(fn, "prompt", f"step {name!r}: must be a string template")
        step.prompt = prompt
    elif step.kind == "tool":
        if not isinstance(spec["tool"], str):
            raise ParameterError(fn, "tool", f"step {name!r}: must be a tool name")
        step.tool = spec["tool"]
        params = spec.get("params")
        if params is not None and not isinstance(params, dict | list):
            raise ParameterError(fn, "params", f"step {name!r}: must be a table of arguments")
        step.params = params if params != [] else {}
    elif step.kind == "fn":
        if not isinstance(spec["fn"], ScriptFunction):
            raise ParameterError(fn, "fn", f"step {name!r}: must be a function(input, outputs)")
        step.fn = spec["fn"]
    elif step.kind == "workflow":
        step.workflow = _workflow_of(spec["workflow"])
        if step.workflow is None:
            raise ParameterError(fn, "workflow", f"step {name!r}: must be a workflow")
    else:
        if not isinstance(spec["condition"], ScriptFunction):
            raise ParameterError(fn, "condition", f"step {name!r}: must be a function")
        step.condition = spec["condition"]
        step.then = _branch(fn, spec.get("then"), f"{name}.then")
        step.otherwise = _branch(fn, spec.get("else"), f"{name}.else")
    _options(fn, step, spec)
    return step


def _branch(fn: str, value: Any, name: str) -> Step | Workflow | None:
    if value is None:
        return None
    return _workflow_of(value) or _step(fn, value, name)


def _options(fn: str, step: Step, spec: dict[str, Any]) -> None:
    retry = spec.get("retry")
    if retry is not None:
        if not isinstance(retry, dict):
            raise ParameterError(fn, "retry", "must be a table {max_attempts, backoff}")
        step.attempts = _positive_int(fn, "retry.max_attempts", retry.get("max_attempts", 3))
        backoff = retry.get("backoff", 0.0)
        if not is_number(backoff) or backoff < 0:
            raise ParameterError(fn, "retry.backoff", "must be a non-negative number of seconds")
        step.backoff = float(backoff)
    timeout = spec.get("timeout")
    if timeout is not None:
        if not is_number(timeout) or timeout <= 0:
            raise ParameterError(fn, "timeout", "must be a positive number of seconds")
        step.timeout = float(timeout)
    on_error = spec.get("on_error", "fail")
    if on_error not in ("fail", "continue"):
        raise ParameterError(fn, "on_error", 'must be "fail" or "continue"')
    step.on_error = on_error


def _add(wf: Workflow, step: Step) -> None:
    try:
        wf.add(step)
    except ValueError as exc:
        raise ParameterError("wf:addStep", "name", str(exc)) from None


def _create(ctx: RunContext, spec: Any) -> Workflow:
    fn = "workflow.create"
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ParameterError(fn, "spec", "must be a table {name, type, ...}")
    for key in spec:
        if key not in _WORKFLOW_KEYS:
            known = ", ".join(sorted(_WORKFLOW_KEYS))
            raise ParameterError(fn, str(key), f"is not a workflow field (known: {known})")
    name = spec.get("name") or ctx.next_id("workflow")
    if not isinstance(name, str):
        raise ParameterError(fn, "name", "must be a string")
    kind = spec.get("type", "sequential")
    if kind not in _TYPES:
        raise ParameterError(fn, "type", f"must be one of {', '.join(_TYPES)}")
    wf = _ops.Workflow(name, kind)
    if "max_concurrency" in spec:
        wf.max_concurrency = _positive_int(fn, "max_concurrency", spec["max_concurrency"])
    if "fail_fast" in spec:
        if not isinstance(spec["fail_fast"], bool):
            raise ParameterError(fn, "fail_fast", "must be true or false")
        wf.fail_fast = spec["fail_fast"]
    if kind == "loop":
        if "max_iterations" not in spec:
            raise ParameterError(fn, "max_iterations", "is required for a loop")
        wf.max_iterations = _positive_int(fn, "max_iterations", spec["max_iterations"])
        until = spec.get("until")
        if until is not None and not isinstance(until, ScriptFunction):
            raise ParameterError(fn, "until", "must be a function(output, iteration)")
        wf.until = until
    for index, step_spec in enumerate(spec.get("steps") or [], 1):
        _add(wf, _step(f"{fn} steps[{index}]", step_spec))
    return wf


def _object(ctx: RunContext, wf: Workflow) -> HostObject:
    host: HostObject

    @sync_api
    async def add_step(spec: Any = None) -> ScriptValue:
        _add(wf, _step("wf:addStep", spec))
        return host

    async def run(input: Any = None, opts: Any = None) -> ScriptValue:
        run_id = None
        if opts is not None:
            if not isinstance(opts, dict):
                raise ParameterError("wf:run", "opts", "must be a table like {id='...'}")
            run_id = opts.get("id")
            if run_id is not None and (not isinstance(run_id, str) or not run_id):
                raise ParameterError("wf:run", "id", "must be a non-empty string")
        if not wf.steps:
            raise ParameterError("wf:run", "workflow", f"workflow {wf.name!r} has no steps")
        return to_script(await ctx.ops.run_workflow(ctx, wf, input, run_id))

    host = HostObject(
        "workflow",
        {"addStep": add_step, "run": run},
        {"name": wf.name, "type": wf.type},
        target=wf,
    )
    return host


def workflow_namespace() -> Namespace:
    """Build ``workflow.create`` (it takes the run's context first)."""

    @sync_api
    @with_context
    async def create(ctx: RunContext, spec: Any = None) -> ScriptValue:
        return _object(ctx, _create(ctx, spec))

    return Namespace({"create": create})
