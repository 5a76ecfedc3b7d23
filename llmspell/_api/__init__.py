"""The script API, defined once in Python and exposed identically by every engine.

This layer only checks a script's arguments (a bad one is a :class:`ParameterError` naming it)
and converts values; the operations themselves are ``llmspell._ops``'. Every function that needs
its run is marked :func:`~llmspell.engines.with_context` and receives the run's
:class:`~llmspell._ops.RunContext`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from .._ops import RunContext
from ..engines import Api, ApiFunction, Namespace
from ._core import json_namespace, log_namespace, parallel, sleep
from ._events import events_namespace
from ._hooks import hooks_namespace
from ._llm import llm_namespace
from ._metrics import metrics_namespace
from ._state import state_namespace
from ._tools import tools_namespace
from ._values import to_script as to_script
from ._workflow import workflow_namespace

if TYPE_CHECKING:
    from . import _shape_table as shapes  # noqa: F401  (the editor types' table: llmspell._types)


def __getattr__(name: str) -> object:
    # The editor types' table is read by `llmspell types` and tests, never by a run: a run's
    # start-up does not build it.
    if name == "shapes":
        from . import _shape_table

        return _shape_table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Surface(NamedTuple):
    """The script API's namespaces and global functions, built once and shared by every run
    (a named tuple: a frozen dataclass costs every start-up ~3M instructions to create)."""

    namespaces: Mapping[str, Namespace]
    functions: Mapping[str, ApiFunction]

    def api(self, ctx: RunContext, output: Callable[[str], None]) -> Api:
        """The Api of one run: these namespaces, the run's ``params``, output and context."""
        values = {"params": to_script(ctx.params)}
        return Api(self.namespaces, self.functions, values, output, ctx, tracker=ctx)


@functools.cache
def build_surface() -> Surface:
    """The globals every spell sees (one shared instance: engines cache their binding plan)."""
    log = log_namespace()
    namespaces: dict[str, Namespace] = {
        "log": log,
        "logger": log,
        "json": json_namespace(),
        "events": events_namespace(),
        "hooks": hooks_namespace(),
        "llm": llm_namespace(),
        "tools": tools_namespace(),
        "state": state_namespace(),
        "workflow": workflow_namespace(),
        "metrics": metrics_namespace(),
    }
    return Surface(namespaces, {"sleep": sleep, "parallel": parallel})


def describe_api() -> Api:
    """The globals a spell sees, for static checks (``llmspell check``)."""
    surface = build_surface()
    return Api(surface.namespaces, surface.functions, {"params": {}}, lambda text: None)
