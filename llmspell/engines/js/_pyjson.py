"""``json.encode``/``json.decode`` inside the engine, as the runtime's Python functions do them.

Spells call ``json.encode(x)`` without ``await`` (as in Lua), and a synchronous call into Python
is impossible under QuickJS's time limit, so these two run in JavaScript. They must give what
the host's functions give for the same argument: ``json.dumps(value, ensure_ascii=False,
allow_nan=False, sort_keys=True)`` (compact, or ``indent=2`` when ``pretty``) of the value
as the host would have received it (same conversion rules, Python's float repr), and
``json.loads(text)`` (including Python's ``NaN``/``Infinity``). Errors carry the host's own
messages, learnt once per function by :func:`json_messages`. A hypothesis test compares both
implementations. The JavaScript is ``pyjson.js``.
"""

from __future__ import annotations

import math
from collections.abc import Coroutine
from typing import Any, cast

from ..._exceptions import SpellError
from .._base import HostObject
from ._codec import dumps

_json_probes: dict[object, str] = {}


def json_messages(encode: object, function_type: str) -> str:
    """What the host's ``json.encode`` raises for values JSON cannot hold.

    The prelude's native ``json.encode`` raises the very same errors; they are learnt by
    calling the Python function once per kind of value (cached per function body).
    """
    key = getattr(encode, "__code__", encode)
    cached = _json_probes.get(key)
    if cached is not None:
        return cached
    messages: dict[str, Any] = {"fnType": function_type, "hostType": HostObject.__name__}
    probes = {
        "NaN": math.nan,
        "Infinity": math.inf,
        "-Infinity": -math.inf,
        "fn": type(function_type, (), {})(),
        "host": HostObject("probe", {}),
    }
    for name, value in probes.items():
        for prefix, pretty in (("", None), ("p", True)):
            messages[prefix + name] = None
            try:
                coro = cast("Coroutine[Any, Any, Any]", encode(value, pretty))  # type: ignore[operator]
                coro.send(None)
                coro.close()  # not a sync_api function after all: no message to learn
            except StopIteration:
                pass
            except Exception as exc:
                messages[prefix + name] = [
                    type(exc).__name__,
                    str(exc),
                    isinstance(exc, SpellError),
                ]
    text = _json_probes[key] = dumps(messages)
    return text
