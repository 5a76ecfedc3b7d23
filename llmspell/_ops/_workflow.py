"""Workflows: sequential, parallel, conditional and loop runs of steps, durable.

A :class:`Workflow` holds :class:`Step` s (an agent given a prompt, a tool given parameters, a
script function, or another workflow); :func:`run_workflow` runs one through the instrumented
path (``workflow.before_run``/``after_run``; ``workflow.started``/``finished``), and every step
through it too (``workflow.before_step``/``after_step``; ``workflow.step.started``/``finished``).

Durable, after DBOS: every completed step (each parallel branch, each loop iteration, each
condition's decision) is checkpointed at a position assigned in program order before the next
step starts. Running a run id again re-executes the workflow from the top and, where a position
holds a checkpoint, uses it instead of running the step: a completed run returns its recorded
result without running anything; an incomplete one resumes after its last completed step (the
step that was running at a crash runs again: steps are at-least-once). A recorded step name that
differs from the step now at that position means the spell changed: an error naming both.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import anyio

from .._exceptions import SpellError
from ..engines import ScriptFunction
from ..workflows import COMPLETED, FAILED, INTERRUPTED, Checkpoint, WorkflowStore
from ._catalogue import (
    WORKFLOW,
    WORKFLOW_STEP,
    OpKind,
    Payload,
    WorkflowFinished,
    WorkflowStarted,
    WorkflowStepFinished,
    WorkflowStepStarted,
)
from ._instrument import Call, Operation, instrumented

if TYPE_CHECKING:
    from ._agent import AgentHandle
    from ._context import RunContext

WorkflowType = Literal["sequential", "parallel", "conditional", "loop"]
StepKind = Literal["agent", "tool", "fn", "workflow", "branch"]


class WorkflowError(SpellError):
    """A workflow could not run: its definition, its run id, or a changed spell."""


class StepFailed(SpellError):
    """A step failed (after its retries); the message names the step and the cause."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"step {step!r}: {cause}")
        self.step = step
        self.cause = cause


@dataclasses.dataclass
class Step:
    """One step of a workflow (``wf:addStep{...}``), validated."""

    name: str
    kind: StepKind
    agent: AgentHandle | None = None
    prompt: str | None = None
    tool: str | None = None
    params: Any = None
    fn: ScriptFunction | None = None
    workflow: Workflow | None = None
    condition: ScriptFunction | None = None
    then: Step | Workflow | None = None
    otherwise: Step | Workflow | None = None
    attempts: int = 1
    backoff: float = 0.0
    timeout: float | None = None
    on_error: Literal["fail", "continue"] = "fail"


@dataclasses.dataclass
class Workflow:
    """A workflow definition (``workflow.create{...}``)."""

    name: str
    type: WorkflowType
    steps: list[Step] = dataclasses.field(default_factory=list)
    max_concurrency: int = 4
    fail_fast: bool = True
    max_iterations: int = 0
    until: ScriptFunction | None = None
    names: set[str] = dataclasses.field(default_factory=set, repr=False)

    def add(self, step: Step) -> None:
        """Append ``step``; ``ValueError`` if the workflow has a step of that name."""
        if step.name in self.names:
            raise ValueError(f"workflow {self.name!r} has a step {step.name!r}")
        self.names.add(step.name)
        self.steps.append(step)


def _child(prefix: str, index: int) -> str:
    return f"{prefix}.{index}" if prefix else str(index)


# -- templates --------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _lookup(path: str, input: Any, outputs: dict[str, Any], step: str) -> Any:
    parts = path.split(".")
    if len(parts) >= 2 and parts[1] == "output" and parts[0] in outputs:
        value, rest = outputs[parts[0]], parts[2:]
    elif parts[0] == "input":
        value, rest = input, parts[1:]
    elif isinstance(input, dict) and parts[0] in input:
        value, rest = input[parts[0]], parts[1:]
    else:
        known = sorted(
            [*(input.keys() if isinstance(input, dict) else ()), *(f"{s}.output" for s in outputs)]
        )
        raise WorkflowError(
            f"step {step!r}: template {{{{{path}}}}} names no input key or earlier step output "
            f"(known: {', '.join(known) or 'none'})"
        )
    for i, part in enumerate(rest):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and 0 < int(part) <= len(value):
            value = value[int(part) - 1]
        else:
            where = ".".join(parts[: len(parts) - len(rest) + i])
            raise WorkflowError(f"step {step!r}: template {{{{{path}}}}}: {where} has no {part!r}")
    return value


def render(template: Any, input: Any, outputs: dict[str, Any], step: str) -> Any:
    """Fill ``{{key}}``, ``{{input}}``, ``{{step.output}}`` and ``{{step.output.field}}``.

    Strings are filled (a value that is not a string is written as JSON); a string that is one
    placeholder and nothing else becomes the value itself, of whatever type. Tables and lists
    are filled throughout. A placeholder naming nothing is an error naming it.
    """
    from ._agent import text_of

    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole is not None:
            return _lookup(whole.group(1), input, outputs, step)
        return _PLACEHOLDER.sub(
            lambda m: text_of(_lookup(m.group(1), input, outputs, step)), template
        )
    if isinstance(template, dict):
        return {k: render(v, input, outputs, step) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, input, outputs, step) for v in template]
    return template


# -- the runner -------------------------------------------------------------------------------


class _Runner:
    """Executes one run of a workflow, step by step, checkpointing as it goes."""

    def __init__(
        self, ctx: RunContext, store: WorkflowStore, run_id: str, done: dict[str, Checkpoint]
    ) -> None:
        self.ctx = ctx
        self.store = store
        self.run_id = run_id
        self.done = done

    async def _record(self, position: str, name: str, output: Any, error: str | None) -> None:
        checkpoint = Checkpoint(position, name, output, error)
        await self.store.checkpoint(self.run_id, checkpoint)
        self.done[position] = checkpoint

    def _recorded(self, position: str, name: str) -> Checkpoint | None:
        checkpoint = self.done.get(position)
        if checkpoint is not None and checkpoint.name != name:
            raise WorkflowError(
                f"the spell changed: run {self.run_id!r} recorded step {checkpoint.name!r} at "
                f"position {position}, where the workflow now has step {name!r}; "
                "run it with a new id"
            )
        return checkpoint

    async def decide(self, position: str, name: str, fn: Callable[[], Awaitable[Any]]) -> bool:
        """A condition's or ``until``'s answer, recorded so that a resumed run decides alike."""
        checkpoint = self._recorded(position, name)
        if checkpoint is not None:
            return bool(checkpoint.output)
        try:
            answer = bool(await fn())
        except Exception as exc:
            raise StepFailed(name, exc) from exc
        await self._record(position, name, answer, None)
        return answer

    async def workflow(
        self,
        wf: Workflow,
        input: Any,
        prefix: str,
        errors: dict[str, str],
        outputs: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any], int]:
        """Run ``wf``'s steps at ``prefix``; return (output, outputs, iterations).

        ``outputs`` (if given) is filled as steps complete, so a failed run can report them.
        """
        outputs = {} if outputs is None else outputs
        if wf.type == "parallel":
            await self._parallel(wf, input, prefix, errors, outputs)
            ordered = {step.name: outputs.get(step.name) for step in wf.steps}
            return ordered, ordered, 0
        if wf.type == "loop":
            return await self._loop(wf, input, prefix, errors, outputs)
        output: Any = None
        for index, step in enumerate(wf.steps):
            output = await self.step(wf, step, _child(prefix, index), input, outputs, errors)
            outputs[step.name] = output
        return output, outputs, 0

    async def _parallel(
        self,
        wf: Workflow,
        input: Any,
        prefix: str,
        errors: dict[str, str],
        outputs: dict[str, Any],
    ) -> None:
        failures: list[StepFailed] = []
        limiter = anyio.CapacityLimiter(wf.max_concurrency)

        async def branch(index: int, step: Step, tg: anyio.abc.TaskGroup) -> None:
            async with limiter:
                try:
                    outputs[step.name] = await self.step(
                        wf, step, _child(prefix, index), input, {}, errors
                    )
                except StepFailed as exc:
                    failures.append(exc)
                    if wf.fail_fast:
                        tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            for index, step in enumerate(wf.steps):
                tg.start_soon(branch, index, step, tg)
        if failures:
            raise failures[0]

    async def _loop(
        self,
        wf: Workflow,
        input: Any,
        prefix: str,
        errors: dict[str, str],
        outputs: dict[str, Any],
    ) -> tuple[Any, dict[str, Any], int]:
        output: Any = None
        iteration = 0
        while iteration < wf.max_iterations:
            iteration += 1
            here = f"{prefix}@{iteration}"
            outputs.clear()
            for index, step in enumerate(wf.steps):
                output = await self.step(wf, step, _child(here, index), input, outputs, errors)
                outputs[step.name] = output
            if wf.until is not None:
                ask = functools.partial(wf.until, output, iteration)
                if await self.decide(f"{here}?", "until", ask):
                    break
        return output, outputs, iteration

    async def step(
        self,
        wf: Workflow,
        step: Step,
        position: str,
        input: Any,
        outputs: dict[str, Any],
        errors: dict[str, str],
    ) -> Any:
        """Run (or take from its checkpoint) one step; StepFailed unless ``on_error="continue"``."""
        checkpoint = self._recorded(position, step.name)
        if checkpoint is not None:
            if checkpoint.error is not None:
                errors[step.name] = checkpoint.error
            return checkpoint.output
        try:
            output = await instrumented(
                _StepOp(self, wf, step, position, input, outputs), self.ctx, input
            )
        except WorkflowError:
            raise
        except Exception as exc:
            if step.on_error != "continue":
                raise exc if isinstance(exc, StepFailed) else StepFailed(step.name, exc) from exc
            errors[step.name] = str(exc)
            await self._record(position, step.name, None, str(exc))
            return None
        await self._record(position, step.name, output, None)
        return output

    async def body(self, step: Step, value: Any, position: str, outputs: dict[str, Any]) -> Any:
        """What a step does once its hooks let it go ahead (one attempt)."""
        ops, ctx = self.ctx.ops, self.ctx
        if step.kind == "agent":
            assert step.agent is not None
            return await ops.run_agent(ctx, step.agent, value)
        if step.kind == "tool":
            assert step.tool is not None
            args = value if isinstance(value, dict) else {}
            return await ops.call_tool(ctx, step.tool, args, caller=step.name)
        if step.kind == "fn":
            assert step.fn is not None
            return await step.fn(value, dict(outputs))
        if step.kind == "branch":
            assert step.condition is not None
            condition = step.condition
            chosen = await self.decide(
                f"{position}?", step.name, lambda: condition(value, dict(outputs))
            )
            branch = step.then if chosen else step.otherwise
            if branch is None:
                return None
            if isinstance(branch, Workflow):
                return await self._nested(branch, value, f"{position}.{int(chosen)}")
            return await self.step_inline(branch, value, f"{position}.{int(chosen)}", outputs)
        assert step.workflow is not None
        return await self._nested(step.workflow, value, position)

    async def step_inline(
        self, step: Step, value: Any, position: str, outputs: dict[str, Any]
    ) -> Any:
        """A conditional's branch that is a single step: its body, checkpointed at ``position``."""
        wf = Workflow(step.name, "sequential", [step])
        output, _, _ = await self.workflow(wf, value, position, {})
        return output

    async def _nested(self, wf: Workflow, value: Any, position: str) -> Any:
        errors: dict[str, str] = {}
        output, _, _ = await self.workflow(wf, value, position, errors)
        return output


class _StepOp(Operation[Any, Any]):
    """One step through hooks and events; the input is what the step works on."""

    kind: ClassVar[OpKind] = WORKFLOW_STEP

    def __init__(
        self,
        runner: _Runner,
        wf: Workflow,
        step: Step,
        position: str,
        input: Any,
        outputs: dict[str, Any],
    ) -> None:
        self.runner = runner
        self.wf = wf
        self.step = step
        self.position = position
        self.run_input = input
        self.outputs = outputs
        self.attempts = 0

    def data(self) -> dict[str, Any]:
        return {"workflow": self.wf.name, "step": self.step.name}

    def accept(self, value: Any, call: Call) -> Any:
        step = self.step
        if step.kind == "agent":
            return render(step.prompt or "{{input}}", self.run_input, self.outputs, step.name)
        if step.kind == "tool":
            return render(step.params or {}, self.run_input, self.outputs, step.name)
        return value

    def started(self, call: Call) -> Payload:
        return WorkflowStepStarted(
            *call.ids(), self.wf.name, self.step.name, self.runner.run_id, self.position
        )

    async def run(self, value: Any, call: Call) -> Any:
        step = self.step
        while True:
            self.attempts += 1
            try:
                if step.timeout is None:
                    return await self.runner.body(step, value, self.position, self.outputs)
                with anyio.fail_after(step.timeout):
                    return await self.runner.body(step, value, self.position, self.outputs)
            except WorkflowError:
                raise
            except TimeoutError:
                error: Exception = SpellError(f"timed out after {step.timeout:g} s")
            except Exception as exc:
                error = exc
            if self.attempts >= step.attempts:
                raise error
            if step.backoff > 0:
                await anyio.sleep(step.backoff * 2 ** (self.attempts - 1))

    def finished(self, call: Call, result: Any, error: Exception | None) -> Payload:
        return WorkflowStepFinished(
            *call.ids(),
            self.wf.name,
            self.step.name,
            self.runner.run_id,
            self.position,
            call.duration,
            error is None,
            None if error is None else str(error),
            self.attempts,
        )


class _RunOp(Operation[Any, dict[str, Any]]):
    kind: ClassVar[OpKind] = WORKFLOW

    def __init__(self, wf: Workflow, store: WorkflowStore, run_id: str) -> None:
        self.wf = wf
        self.store = store
        self.run_id = run_id
        self.resumed = False

    def data(self) -> dict[str, Any]:
        return {"workflow": self.wf.name, "id": self.run_id}

    def started(self, call: Call) -> Payload:
        return WorkflowStarted(*call.ids(), self.wf.name, self.run_id, self.resumed)

    async def run(self, value: Any, call: Call) -> dict[str, Any]:
        ctx = call.ctx
        version = hashlib.sha256(ctx.source.encode("utf-8")).hexdigest()[:16]
        try:
            record = await self.store.begin(
                self.run_id, self.wf.name, ctx.spell, version, value, ctx.params
            )
        except ValueError as exc:
            raise WorkflowError(f"workflow {self.wf.name!r}: {exc}") from None
        if record is not None and record.status == COMPLETED:
            call.facts["recorded"] = True
            recorded: dict[str, Any] = record.result
            return recorded
        done = await self.store.checkpoints(self.run_id) if record is not None else {}
        self.resumed = bool(done)
        runner = _Runner(ctx, self.store, self.run_id, done)
        errors: dict[str, str] = {}
        partial: dict[str, Any] = {}
        result: dict[str, Any] = {"id": self.run_id, "status": COMPLETED}
        error: str | None = None
        try:
            output, outputs, iterations = await runner.workflow(self.wf, value, "", errors, partial)
            result.update(output=output, outputs=outputs)
            if self.wf.type == "loop":
                result["iterations"] = iterations
        except (StepFailed, WorkflowError) as exc:
            error = str(exc)
            result.update(status=FAILED, output=None, outputs=dict(partial), error=error)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):  # stopped: resumable, not "running" forever
                await self.store.finish(self.run_id, INTERRUPTED, None, "the run was stopped")
            raise
        except Exception as exc:
            await self.store.finish(self.run_id, FAILED, None, str(exc))
            raise
        if errors:
            result["errors"] = errors
        await self.store.finish(self.run_id, str(result["status"]), result, error)
        call.facts["status"] = result["status"]
        return result

    def finished(self, call: Call, result: Any, error: Exception | None) -> Payload:
        status = call.facts.get("status", COMPLETED if error is None else FAILED)
        message = None if error is None else str(error)
        if isinstance(result, dict) and result.get("error"):
            message = str(result["error"])
        return WorkflowFinished(
            *call.ids(), self.wf.name, self.run_id, status, call.duration, message
        )


async def run_workflow(
    ctx: RunContext, store: WorkflowStore, wf: Workflow, input: Any, run_id: str | None
) -> dict[str, Any]:
    """Run (or resume, or recall) ``wf`` on ``input``: ``{id, status, output, outputs, ...}``."""
    return await instrumented(_RunOp(wf, store, run_id or os.urandom(16).hex()), ctx, input)
