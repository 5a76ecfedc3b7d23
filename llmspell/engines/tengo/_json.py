"""Tengo's ``json`` module: ``encode`` (→ bytes), ``decode`` (bytes or string), ``indent``,
``html_escape`` — with Tengo's encodings (bytes as base64, chars as numbers, maps with their
keys in insertion order)."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from ._builtins import arg_error
from ._ops import format_float
from ._stdlib import error_value, nargs, uf
from ._values import Char, Error, ImmArray, ImmMap, Time, Value

_MAX_DEPTH = 200


def encode_value(v: Value, depth: int = 0) -> str:
    if depth > _MAX_DEPTH:
        raise ValueError("json: value nested too deeply")
    t = type(v)
    if t is str:
        return json.dumps(v, ensure_ascii=False).replace("\u2028", "\u2028")
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        if math.isinf(v) or math.isnan(v):
            raise ValueError("unsupported float value")
        a = abs(v)
        if a != 0 and (a < 1e-6 or a >= 1e21):
            r = repr(v).replace("e-0", "e-").replace("e+0", "e+")
            return r if "e" in r else format(v, "e")
        return format_float(v)
    if v is None:
        return "null"
    if t is list or t is ImmArray:
        return "[" + ",".join(encode_value(e, depth + 1) for e in (v if t is list else v.v)) + "]"
    if t is dict or t is ImmMap:
        items = v.items() if t is dict else v.v.items()
        return (
            "{"
            + ",".join(
                json.dumps(k, ensure_ascii=False) + ":" + encode_value(e, depth + 1)
                for k, e in items
            )
            + "}"
        )
    if t is bytes:
        return '"' + base64.b64encode(v).decode() + '"'
    if t is Char:
        return str(v.v)
    if t is Time:
        from ._times import time_format_rfc3339

        return json.dumps(time_format_rfc3339(v, nano=True))
    if t is Error:
        return encode_value(v.v, depth + 1)
    return ""


def decode_value(data: str) -> Value:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        return dict(pairs)

    return json.loads(data, object_pairs_hook=hook, parse_constant=_reject)


def _reject(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def json_module(ctx: Any) -> dict[str, Value]:
    def encode(args: list[Value]) -> Value:
        nargs(args, 1)
        try:
            out = encode_value(args[0]).encode("utf-8", "surrogateescape")
        except ValueError as exc:
            return error_value(str(exc))
        ctx.alloc_bytes(len(out))
        return out

    def decode(args: list[Value]) -> Value:
        nargs(args, 1)
        v = args[0]
        if type(v) is bytes:
            text = v.decode("utf-8", "surrogateescape")
        elif type(v) is str:
            text = v
        else:
            raise arg_error("first", "bytes/string", v)
        try:
            result = decode_value(text)
        except (ValueError, RecursionError) as exc:
            return error_value(
                str(exc).split(":")[0] if isinstance(exc, json.JSONDecodeError) else str(exc)
            )
        ctx.alloc_bytes(len(text))
        return result

    def indent(args: list[Value]) -> Value:
        nargs(args, 3)
        v = args[0]
        if type(v) not in (bytes, str):
            raise arg_error("first", "bytes/string", v)
        for i in (1, 2):
            if type(args[i]) is not str:
                raise arg_error(("", "second", "third")[i], "string(compatible)", args[i])
        text = v.decode("utf-8", "surrogateescape") if type(v) is bytes else v
        try:
            parsed = json.loads(text, object_pairs_hook=lambda p: dict(p))
        except ValueError as exc:
            return error_value(str(exc))
        return _indent(parsed, args[1], args[2]).encode("utf-8", "surrogateescape")

    def html_escape(args: list[Value]) -> Value:
        nargs(args, 1)
        v = args[0]
        if type(v) not in (bytes, str):
            raise arg_error("first", "bytes/string", v)
        text = v.decode("utf-8", "surrogateescape") if type(v) is bytes else v
        for a, b in (
            ("<", "\\u003c"),
            (">", "\\u003e"),
            ("&", "\\u0026"),
            ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"),
        ):
            text = text.replace(a, b)
        return text.encode("utf-8", "surrogateescape")

    return {
        "decode": uf("decode", decode),
        "encode": uf("encode", encode),
        "indent": uf("indent", indent),
        "html_escape": uf("html_escape", html_escape),
    }


_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _indent(v: Any, prefix: str, indent: str, level: int = 0) -> str:
    pad = prefix + indent * (level + 1)
    end = prefix + indent * level
    if isinstance(v, dict):
        if not v:
            return "{}"
        inner = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_indent(e, prefix, indent, level + 1)}"
            for k, e in v.items()
        ]
        return "{\n" + ",\n".join(inner) + "\n" + end + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return (
            "[\n"
            + ",\n".join(pad + _indent(e, prefix, indent, level + 1) for e in v)
            + "\n"
            + end
            + "]"
        )
    if isinstance(v, float) and v == int(v) and abs(v) < 1e21:
        return json.dumps(v).removesuffix(".0")
    return json.dumps(v, ensure_ascii=False)
