"""Helpers to run small spells in both engines from tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from llmspell import open_runtime
from llmspell._runtime import RunResult, SpellSource


@dataclasses.dataclass
class Ran:
    result: RunResult
    output: str
    logs: list[tuple[str, str, dict[str, Any]]]


async def run_source(
    source: str, ext: str, *, params: dict[str, Any] | None = None, runtime: Any = None, **kw: Any
) -> Ran:
    """Run ``source`` as ``spell.<ext>``, collecting its output and log lines."""
    chunks: list[str] = []
    logs: list[tuple[str, str, dict[str, Any]]] = []
    spell = SpellSource(source, f"spell.{ext}")

    async def go(rt: Any) -> RunResult:
        return await rt.run(
            spell,
            params=params,
            output=chunks.append,
            log=lambda level, msg, fields: logs.append((level, msg, fields)),
            **kw,
        )

    if runtime is not None:
        result = await go(runtime)
    else:
        async with open_runtime() as rt:
            result = await go(rt)
    return Ran(result, "".join(chunks), logs)
