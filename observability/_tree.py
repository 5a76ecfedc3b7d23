"""``llmspell run --trace``: the span tree as a picture, and ``--trace-json``: the spans as JSON.

One block per trace: a header line with the run's totals, then one row per span, children under
their parent in start order, with the duration, a bar placed and sized on the trace's timeline,
the tokens and cost of LLM calls, and what came of it (finish reason, tool outcome, error)::

    span                       duration  timeline              tokens      cost  outcome
    run_spell research           2.41 s  ████████████████████                    ok
    └─ invoke_agent researcher   1.90 s  ███████████████▊                        2 steps
       ├─ chat gpt-4o-mini     812.0 ms  ██████▊               120→35  $0.00012  tool_calls
       ├─ execute_tool calc      1.2 ms        ▏                                 ok
       └─ chat gpt-4o-mini     790.3 ms        ██████▌         160→20  $0.00011  stop
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _catalogue as names
from ._spans import SpanRecord

BAR = 30
"""Timeline width in cells; each cell is split in eighths."""
NAME_MAX = 56
_EIGHTHS = " ▏▎▍▌▋▊▉"


def format_duration(seconds: float) -> str:
    """``812.0 ms``, ``2.41 s``, ``1m02s``; µs below a millisecond."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:02.0f}s"


def _bar(start: float, length: float) -> str:
    """A bar from ``start`` for ``length`` (both fractions of the timeline), in eighths."""
    first = min(BAR - 1, int(start * BAR))
    eighths = max(1, round(length * BAR * 8))
    eighths = min(eighths, (BAR - first) * 8)
    full, part = divmod(eighths, 8)
    return (" " * first + "█" * full + (_EIGHTHS[part] if part else "")).ljust(BAR)


def _cost(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:.5f}" if value < 0.01 else f"${value:.4f}"


def _columns(span: SpanRecord) -> tuple[str, str, str]:
    """(tokens, cost, outcome) of one row."""
    a = span.attributes
    tokens = cost = ""
    if names.INPUT_TOKENS in a:
        tokens = f"{a[names.INPUT_TOKENS]}→{a.get(names.OUTPUT_TOKENS, 0)}"
        cost = _cost(float(a.get(names.COST, 0.0)))
    if span.error is not None:
        return tokens, cost, f"error: {' '.join(span.error.split())}"
    if a.get(names.REPLACED):
        outcome = "replaced by a hook"
    elif names.FINISH_REASONS in a:
        outcome = ",".join(a[names.FINISH_REASONS])
    elif names.STEPS in a:
        steps = a[names.STEPS]
        outcome = f"{steps} step" + ("" if steps == 1 else "s")
    else:
        outcome = str(a.get(names.OUTCOME, "ok"))
    return tokens, cost, outcome


def _header(root: SpanRecord, spans: list[SpanRecord]) -> str:
    llm = [s for s in spans if names.INPUT_TOKENS in s.attributes]
    tokens = sum(
        s.attributes[names.INPUT_TOKENS] + s.attributes.get(names.OUTPUT_TOKENS, 0) for s in llm
    )
    cost = sum(float(s.attributes.get(names.COST, 0.0)) for s in llm)
    calls = f"{len(llm)} LLM call" + ("" if len(llm) == 1 else "s")
    return (
        f"trace {root.trace_id}  {root.name}  {format_duration(root.duration)}  {calls}  "
        f"{tokens:,} tokens  {_cost(cost)}"
    )


def render_trace(spans: Sequence[SpanRecord], *, width: int = 160) -> str:
    """The span trees of ``spans`` as text (one block per root), lines cut at ``width``."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in by_id else None
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start)
    blocks = []
    for root in children.get(None, []):
        rows: list[tuple[str, SpanRecord]] = []
        _walk(children, root, "", "", rows)
        blocks.append(_block(root, rows, width))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _walk(
    children: dict[str | None, list[SpanRecord]],
    span: SpanRecord,
    prefix: str,
    branch: str,
    rows: list[tuple[str, SpanRecord]],
) -> None:
    """Append ``span`` and its descendants as ``(label, span)`` rows, depth first."""
    rows.append((prefix + branch + span.name, span))
    kids = children.get(span.span_id, [])
    deeper = prefix + {"": "", "└─ ": "   "}.get(branch, "│  ")
    for i, kid in enumerate(kids):
        _walk(children, kid, deeper, "└─ " if i == len(kids) - 1 else "├─ ", rows)


def _block(root: SpanRecord, rows: list[tuple[str, SpanRecord]], width: int) -> str:
    total = max(root.end, *(s.end for _, s in rows)) - root.start or 1
    name_w = min(NAME_MAX, max(len("span"), *(len(label) for label, _ in rows)))
    cells = [_columns(span) for _, span in rows]
    tok_w = max(len("tokens"), *(len(c[0]) for c in cells))
    cost_w = max(len("cost"), *(len(c[1]) for c in cells))
    lines = [
        _header(root, [s for _, s in rows]),
        "",
        f"{'span':<{name_w}}  {'duration':>9}  {'timeline':<{BAR}}  {'tokens':>{tok_w}}  "
        f"{'cost':>{cost_w}}  outcome",
    ]
    for (label, span), (tokens, cost, outcome) in zip(rows, cells, strict=True):
        if len(label) > name_w:
            label = label[: name_w - 1] + "…"
        bar = _bar((span.start - root.start) / total, (span.end - span.start) / total)
        line = (
            f"{label:<{name_w}}  {format_duration(span.duration):>9}  {bar}  "
            f"{tokens:>{tok_w}}  {cost:>{cost_w}}  {outcome}"
        )
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    return "\n".join(line.rstrip() for line in lines)


def span_to_json(span: SpanRecord) -> dict[str, Any]:
    """One span as a JSON-ready dict (times in Unix nanoseconds, duration in seconds)."""
    return {
        "name": span.name,
        "kind": span.kind,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "start_ns": span.start,
        "end_ns": span.end,
        "duration": span.duration,
        "status": "error" if span.error is not None else "ok",
        "error": span.error,
        "error_type": span.error_type,
        "attributes": {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in span.attributes.items()
        },
    }


def spans_to_json(spans: Sequence[SpanRecord]) -> dict[str, Any]:
    """``{"spans": [...]}`` in start order, for ``--trace-json``."""
    return {"spans": [span_to_json(s) for s in sorted(spans, key=lambda s: s.start)]}
