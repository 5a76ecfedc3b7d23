"""The script API, defined once in Python and exposed identically by every engine."""

from __future__ import annotations

from typing import Any

from ..engines import Api, Namespace
from ._core import json_namespace, log_namespace, parallel, sleep
from ._events import events_namespace
from ._hooks import SCRIPT_HOOKS as SCRIPT_HOOKS
from ._hooks import hooks_namespace
from ._session import LogSink as LogSink
from ._session import Session as Session
from ._session import Usage as Usage
from ._values import to_script as to_script


def build_api(session: Session, output: Any, extra: dict[str, Namespace] | None = None) -> Api:
    """Assemble the globals a spell sees for one run.

    Args:
        session: the run's state.
        output: called with each piece of printed text (may raise LimitExceeded).
        extra: further namespaces (``llm``, ``tools`` ...) supplied by the runtime.
    """
    log = log_namespace(session)
    namespaces: dict[str, Namespace] = {
        "log": log,
        "logger": log,
        "json": json_namespace(),
        "events": events_namespace(session),
        "hooks": hooks_namespace(session),
    }
    namespaces.update(extra or {})
    return Api(
        namespaces=namespaces,
        functions={"sleep": sleep, "parallel": parallel},
        values={"params": to_script(session.params)},
        output=output,
    )


class _Describe:
    """A stand-in session: namespaces only touch their session when called."""

    spell = "check"
    run_id = "check"
    params: dict[str, Any] = {}


def describe_api() -> dict[str, Namespace]:
    """The namespaces a spell sees, for static checks (``llmspell check``)."""
    from ._llm import llm_namespace
    from ._tools import tools_namespace

    stub: Any = _Describe()
    extra = {"llm": llm_namespace(None, stub), "tools": tools_namespace(None, stub)}  # type: ignore[arg-type]
    api = build_api(stub, lambda text: None, extra)
    return dict(api.namespaces)
