"""Where the daemon and later operations attach: the ASGI ``/metrics`` app, and any operation
kind on the instrumented path (workflow steps: spans and metrics without edits here)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest

import observability
from llmspell import SpellError
from llmspell._ops import KINDS, Call, Operation, OpKind, RunContext, instrumented
from llmspell.engines import Limits

from ..llmspell.spellkit import run_source
from .conftest import observed, one
from .promtext import parse, value

pytestmark = pytest.mark.anyio

(WORKFLOW_STEP,) = [kind for kind in KINDS if kind.name == "workflow_step"]


class Step(Operation[Any, Any]):
    """A workflow step, as the workflow issue will run them."""

    kind: ClassVar[OpKind] = WORKFLOW_STEP

    def __init__(self, step: str, *, fail: bool = False) -> None:
        self.step = step
        self.fail = fail

    def data(self) -> dict[str, Any]:
        return {"workflow": "etl", "step": self.step}

    async def run(self, value: Any, call: Call) -> Any:
        if self.fail:
            raise SpellError(f"step {self.step} failed")
        return value * 2


async def test_workflow_steps_get_spans_and_metrics_from_the_path() -> None:
    obs = observability.create_observer(metrics=True, keep_spans=True)
    async with observed(obs) as rt:
        ctx = RunContext(
            rt.ops,
            run_id="wf1",
            spell="pipeline",
            filename="pipeline.lua",
            params={},
            log=lambda level, message, fields: None,
            permissions=rt.ops.permissions,
            limits=Limits(),
        )
        assert await instrumented(Step("extract"), ctx, 21) == 42
        with pytest.raises(SpellError):
            await instrumented(Step("load", fail=True), ctx, 1)
        samples = parse(obs.metrics_text())
    extract, load = one(obs.spans(), "execute_step extract"), one(obs.spans(), "execute_step load")
    assert extract.attributes["llmspell.workflow.name"] == "etl" and extract.error is None
    assert load.error == "step load failed" and load.error_type == "SpellError"
    steps = "llmspell_workflow_steps_total"
    assert value(samples, steps, workflow="etl", step="extract", outcome="ok") == 1
    assert value(samples, steps, workflow="etl", step="load", outcome="error") == 1
    duration = "llmspell_workflow_step_duration_seconds_count"
    assert value(samples, duration, workflow="etl", step="extract") == 1


async def test_the_daemon_mounts_metrics_as_an_asgi_app() -> None:
    obs = observability.create_observer(metrics=True)
    app = observability.metrics_app(obs)
    obs.record_http("/spells/{name}/run", "POST", 200, 0.25)
    async with observed(obs) as rt:
        await run_source("return 1", "lua", runtime=rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
            reply = await client.get("/metrics")
    assert reply.status_code == 200
    samples = parse(reply.text)
    assert value(samples, "llmspell_runs_total", spell="spell", outcome="ok") == 1
    http = {"route": "/spells/{name}/run", "method": "POST"}
    assert value(samples, "llmspell_http_requests_total", **http, status="200") == 1
    assert value(samples, "llmspell_http_request_duration_seconds_sum", **http) == 0.25
    assert value(samples, "llmspell_actors", group="tool") is None  # no tool actor ran
    assert value(samples, "llmspell_actor_messages_total") is not None


def test_metrics_off_means_no_registry_to_serve() -> None:
    obs = observability.create_observer(tracing=True)
    with pytest.raises(ValueError, match="metrics are off"):
        observability.metrics_app(obs)
    with pytest.raises(ValueError, match="metrics are off"):
        observability.serve_metrics(obs, 0)
