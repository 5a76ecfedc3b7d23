"""The files operators use: the Grafana dashboard and the Prometheus scrape config."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
from typing import Any

import pytest

import observability

ROOT = pathlib.Path(observability.__file__).resolve().parent
DASHBOARD = ROOT / "dashboards" / "llmspell.json"
SCRAPE_CONFIG = ROOT / "prometheus.yml"
METRIC = re.compile(r"\bllmspell_[a-zA-Z0-9_]+")


def panels() -> list[dict[str, Any]]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [p for p in board["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def exposed() -> dict[str, str]:
    """Every sample name the code exposes -> its family."""
    return {sample: spec.name for spec in observability.METRICS for sample in spec.samples}


def test_every_query_names_a_metric_the_code_exposes() -> None:
    known = exposed()
    used = {name for expr in queries() for name in METRIC.findall(expr)}
    assert used, "the dashboard queries nothing"
    assert sorted(used - set(known)) == []


def test_every_declared_metric_is_on_the_dashboard() -> None:
    known = exposed()
    families = {known[name] for expr in queries() for name in METRIC.findall(expr)}
    assert sorted({spec.name for spec in observability.METRICS} - families) == []


def test_the_dashboard_shows_what_operators_ask_for() -> None:
    text = "\n".join(queries())
    for needed in (
        r"llmspell_runs_total\{[^}]*outcome=\"error\"",  # errors
        r"histogram_quantile\(0\.5, sum by \(le, model\) \(rate\(llmspell_llm_request_duration",
        r"histogram_quantile\(0\.95, sum by \(le, model\) \(rate\(llmspell_llm_request_duration",
        r"sum by \(model, type\) \(rate\(llmspell_llm_tokens_total",
        r"sum by \(model\) \(rate\(llmspell_llm_cost_usd_total",
        r"sum by \(tool, outcome\) \(rate\(llmspell_tool_calls_total",
        r"rate\(llmspell_bus_events_dropped_total",
        r"increase\(llmspell_actor_restarts_total",
    ):
        assert re.search(needed, text), needed


def test_panels_are_well_formed_and_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in panels():
        assert panel["title"] and panel["targets"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


def test_the_scrape_config_is_valid_for_prometheus() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    checked = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(SCRAPE_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "/metrics" in SCRAPE_CONFIG.read_text(encoding="utf-8")


def test_the_public_surface_is_pinned() -> None:
    assert sorted(observability.__all__) == [
        "METRICS",
        "MetricSpec",
        "MetricsServer",
        "Observability",
        "SPELL_METRIC_PREFIX",
        "SpanRecord",
        "create_observer",
        "format_duration",
        "metrics_app",
        "otlp_enabled",
        "otlp_exporter_from_env",
        "parse_traceparent",
        "render_trace",
        "serve_metrics",
        "spans_to_json",
    ]
    for name in observability.__all__:
        assert getattr(observability, name).__doc__ or name.isupper(), name
