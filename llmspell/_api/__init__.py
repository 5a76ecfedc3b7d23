"""The script API, defined once in Python and exposed identically by every engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..engines import Api, ApiFunction, Namespace
from ._core import json_namespace, log_namespace, parallel, sleep
from ._events import events_namespace
from ._hooks import SCRIPT_HOOKS as SCRIPT_HOOKS
from ._hooks import hooks_namespace
from ._session import LogSink as LogSink
from ._session import Session as Session
from ._session import Usage as Usage
from ._values import to_script as to_script


@dataclasses.dataclass(frozen=True)
class Surface:
    """The script API's namespaces and global functions, built once and shared by every run.

    Functions that need their run (``log.info``, ``events.on``, ``llm.complete`` ...) are
    marked :func:`~llmspell.engines.with_context`: the engine passes them the run's
    :class:`Session`, the context of the run's :class:`~llmspell.engines.Api`.
    """

    namespaces: Mapping[str, Namespace]
    functions: Mapping[str, ApiFunction]

    def api(self, session: Session, output: Callable[[str], None]) -> Api:
        """The Api of one run: these namespaces, the run's ``params``, output and session."""
        values = {"params": to_script(session.params)}
        return Api(self.namespaces, self.functions, values, output, session)


def build_surface(extra: Mapping[str, Namespace] | None = None) -> Surface:
    """Assemble the globals every spell sees.

    Args:
        extra: further namespaces (``llm``, ``tools`` ...) supplied by the runtime.
    """
    log = log_namespace()
    namespaces: dict[str, Namespace] = {
        "log": log,
        "logger": log,
        "json": json_namespace(),
        "events": events_namespace(),
        "hooks": hooks_namespace(),
    }
    namespaces.update(extra or {})
    return Surface(namespaces, {"sleep": sleep, "parallel": parallel})


def describe_api() -> Api:
    """The globals a spell sees, for static checks (``llmspell check``)."""
    from ._llm import llm_namespace
    from ._tools import tools_namespace

    services: Any = None  # namespaces only touch their services when called
    extra = {"llm": llm_namespace(services), "tools": tools_namespace(services)}
    surface = build_surface(extra)
    return Api(surface.namespaces, surface.functions, {"params": {}}, lambda text: None)
