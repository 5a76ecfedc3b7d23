"""Operation metrics: what each finished spell run, LLM call, tool call, agent run, workflow
step and state write adds to the declared families.

The observer calls :meth:`OperationMetrics.end` with the finished :class:`llmspell.Call`. The
LLM path, the one a busy spell repeats most, keeps its series per model in one cached object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llmspell

from . import _catalogue as names
from ._series import Cell, Family, HistogramCell

Handler = Callable[[llmspell.Call, BaseException | None], None]


class _ModelSeries:
    """The series of one model, fetched once (one dict lookup per call instead of seven)."""

    __slots__ = ("cost", "duration", "error", "input", "ok", "output", "replaced")

    def __init__(self, families: dict[str, Family], model: str) -> None:
        requests = families[names.LLM_REQUESTS.name]
        tokens = families[names.LLM_TOKENS.name]
        self.ok: Cell = requests.cell(model, names.OUTCOME_OK)
        self.error: Cell = requests.cell(model, names.OUTCOME_ERROR)
        self.replaced: Cell = requests.cell(model, names.OUTCOME_REPLACED)
        self.duration: HistogramCell = families[names.LLM_DURATION.name].histogram(model)
        self.input: Cell = tokens.cell(model, "input")
        self.output: Cell = tokens.cell(model, "output")
        self.cost: Cell = families[names.LLM_COST.name].cell(model)


def outcome(call: llmspell.Call, error: BaseException | None) -> str:
    """``ok``, ``error`` or ``replaced`` (a ``before`` hook answered instead)."""
    if error is not None:
        return names.OUTCOME_ERROR
    return names.OUTCOME_REPLACED if call.replaced else names.OUTCOME_OK


def requested_model(call: llmspell.Call) -> str:
    """The model an LLM call asked for (a ``before`` hook may have changed it)."""
    request = call.input
    model = request.get("model") if isinstance(request, dict) else None
    return str(model or call.data.get("model") or "")


class OperationMetrics:
    """The operation families, updated from finished calls (on the event-loop thread)."""

    def __init__(self) -> None:
        self.families = {spec.name: Family(spec) for spec in names.OPERATION_METRICS}
        self._models: dict[str, _ModelSeries] = {}
        self._handlers: dict[str, Handler] = {
            "spell": self._spell,
            "llm": self._llm,
            "tool": self._tool,
            "agent": self._agent,
            "workflow_step": self._workflow_step,
            "state_write": self._state_write,
        }

    def end(self, call: llmspell.Call, error: BaseException | None) -> None:
        """Count ``call``, which has just finished (with ``error`` if it failed)."""
        handler = self._handlers.get(call.kind.name)
        if handler is not None:
            handler(call, error)

    def _llm(self, call: llmspell.Call, error: BaseException | None) -> None:
        response = call.facts.get("response")
        model = response.model if response is not None else requested_model(call)
        series = self._models.get(model)
        if series is None:
            series = _ModelSeries(self.families, model)
            if len(self._models) < names.SERIES_CAP:
                self._models[model] = series
        if error is not None:
            series.error.value += 1
        elif call.replaced:
            series.replaced.value += 1
            return  # no model ran: no latency, no tokens
        else:
            series.ok.value += 1
        series.duration.observe(call.duration)
        if response is not None:
            usage = response.usage
            series.input.value += usage.prompt_tokens
            series.output.value += usage.completion_tokens
            series.cost.value += response.cost

    def _spell(self, call: llmspell.Call, error: BaseException | None) -> None:
        result: Any = call.result
        status = names.OUTCOME_ERROR if result is None else str(result.status)
        spell = call.ctx.spell
        self.families[names.RUNS.name].cell(spell, status).value += 1
        self.families[names.RUN_DURATION.name].histogram(spell).observe(call.duration)

    def _tool(self, call: llmspell.Call, error: BaseException | None) -> None:
        self._counted(call, error, names.TOOL_CALLS, names.TOOL_DURATION, "tool")

    def _agent(self, call: llmspell.Call, error: BaseException | None) -> None:
        self._counted(call, error, names.AGENT_RUNS, names.AGENT_DURATION, "agent")

    def _workflow_step(self, call: llmspell.Call, error: BaseException | None) -> None:
        self._counted(
            call, error, names.WORKFLOW_STEPS, names.WORKFLOW_STEP_DURATION, "workflow", "step"
        )

    def _state_write(self, call: llmspell.Call, error: BaseException | None) -> None:
        self.families[names.STATE_WRITES.name].cell(outcome(call, error)).value += 1

    def _counted(
        self,
        call: llmspell.Call,
        error: BaseException | None,
        count: names.MetricSpec,
        duration: names.MetricSpec,
        *keys: str,
    ) -> None:
        labels = tuple(str(call.data.get(key) or "") for key in keys)
        self.families[count.name].cell(*labels, outcome(call, error)).value += 1
        if not call.replaced:
            self.families[duration.name].histogram(*labels).observe(call.duration)

    def http_request(self, route: str, method: str, status: int, duration: float) -> None:
        """Count one daemon HTTP request (``route`` is the route's pattern, not the path)."""
        self.families[names.HTTP_REQUESTS.name].cell(route, method, str(status)).value += 1
        self.families[names.HTTP_DURATION.name].histogram(route, method).observe(duration)
