"""How an Api is offered to JavaScript, derived once per Api and shared by every instance."""

from __future__ import annotations

from typing import Any, NamedTuple

from .._base import Api, ApiCache
from ._codec import Codec, Op, api_op, no_functions


def bind(api: Api, codec: Codec) -> dict[str, Any]:
    """Register the Api's functions as ops of ``codec``; return the spec's ``ns`` and ``fn``:
    ``[name, op, sync]`` per function, ``[name, functions, dynamic op, values, dynamic sync]``
    per namespace."""
    namespaces = []
    for ns_name, ns in api.namespaces.items():
        fns = []
        for name, fn in ns.functions.items():
            op = api_op(fn, f"{ns_name}.{name}")
            fns.append([name, codec.add_op(op), int(op.sync)])
        dyn, dyn_sync = -1, 0
        if ns.dynamic is not None:
            op = api_op(ns.dynamic, ns_name, True)
            dyn, dyn_sync = codec.add_op(op), int(op.sync)
        namespaces.append([ns_name, fns, dyn, dict(ns.values), dyn_sync])
    functions = []
    for name, fn in api.functions.items():
        op = api_op(fn, name)
        functions.append([name, codec.add_op(op), int(op.sync)])
    return {"ns": namespaces, "fn": functions}


class _Plan(NamedTuple):
    """What every instance opened with the same Api shares (see :class:`ApiCache`).

    Attributes:
        ops: the API functions, in op order.
        members: the spec's ``"ns":...,"fn":...`` text; None when the namespaces' values hold
            host objects or functions, which each instance's codec must encode itself.
    """

    ops: tuple[Op, ...]
    members: str | None


def _derive_plan(api: Api) -> _Plan:
    codec = Codec(no_functions)
    members = bind(api, codec)
    flagged, text = codec.encode(members)
    # Shared as text only when plain: no markers, and no key the decoder would take for one.
    shareable = not flagged and "\\u0000" not in text
    return _Plan(tuple(codec.ops), text[1:-1] if shareable else None)


plans = ApiCache(_derive_plan)
