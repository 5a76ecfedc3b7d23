"""Tengo's ``text`` module: Go's ``strings``/``strconv`` functions and RE2 regular
expressions (``google-re2``: linear-time matching, Go's syntax; Python's ``re`` backtracks and
would let a pattern hang the run). Indexes are byte offsets, as in Go."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]

from . import _index, _ops
from ._builtins import arg_error, parse_go_float
from ._parser import unquote
from ._stdlib import error_value, i_arg, nargs, s_arg, uf
from ._values import INT_MAX, INT_MIN, ImmArray, ImmMap, Value, VMError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_MAX_LEN = 2147483647


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def compile_re(pattern: str) -> Any:
    """A compiled RE2 pattern, or a Tengo error value."""
    try:
        return re2.compile(_b(pattern), _OPTIONS)
    except re2.error as exc:
        msg = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(msg, bytes):
            msg = msg.decode("utf-8", "replace")
        return error_value(f"error parsing regexp: {msg}")


def _spans(m: Any) -> list[tuple[int, int]]:
    return [m.span(i) for i in range(m.re.groups + 1)]


def _match_maps(text: bytes, spans: list[tuple[int, int]]) -> list[Value]:
    return [
        ImmMap({"text": _s(text[a:b]), "begin": a, "end": b}) for a, b in spans if a >= 0 and b >= 0
    ]


def _find(rx: Any, text: bytes, count: int | None) -> Value:
    if count is None:
        m = rx.search(text)
        if m is None:
            return None
        return [_match_maps(text, _spans(m))]
    out: list[Value] = []
    for m in rx.finditer(text):
        if 0 <= count <= len(out):
            break
        out.append(_match_maps(text, _spans(m)))
    return out if out else None


def _expand(template: bytes, m: Any) -> bytes:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``$$``."""
    names = m.re.groupindex

    def group(ref: bytes) -> bytes:
        key = ref.decode()
        idx: int | None = int(key) if key.isdigit() else names.get(key)
        if idx is None or idx > m.re.groups:
            return b""
        g = m.group(idx)
        return g if g is not None else b""

    return re.sub(
        rb"\$(\$|\{(\w+)\}|(\w+))",
        lambda x: b"$" if x.group(1) == b"$" else group(x.group(2) or x.group(3)),
        template,
    )


def _replace(rx: Any, text: bytes, repl: bytes) -> bytes:
    out = []
    last = 0
    for m in rx.finditer(text):
        a, b = m.span()
        out.append(text[last:a])
        out.append(_expand(repl, m))
        last = b
    out.append(text[last:])
    return b"".join(out)


def _split(rx: Any, text: bytes, n: int) -> list[Value]:
    if n == 0:
        return []
    if rx.pattern == b"" and text:
        pieces = [text[i : i + 1] for i in range(len(text))]
    else:
        pieces = []
        last = 0
        for m in rx.finditer(text):
            a, b = m.span()
            if b == 0 and a == 0:
                continue
            if n > 0 and len(pieces) == n - 1:
                break
            pieces.append(text[last:a])
            last = b
        pieces.append(text[last:])
    return [_s(p) for p in pieces]


def _regexp_object(rx: Any) -> ImmMap:
    def match(args: list[Value]) -> Value:
        nargs(args, 1)
        return rx.search(_b(s_arg(args, 0))) is not None

    def find(args: list[Value]) -> Value:
        nargs(args, 1, 2)
        return _find(rx, _b(s_arg(args, 0)), i_arg(args, 1) if len(args) == 2 else None)

    def replace(args: list[Value]) -> Value:
        nargs(args, 2)
        return _s(_replace(rx, _b(s_arg(args, 0)), _b(s_arg(args, 1))))

    def split(args: list[Value]) -> Value:
        nargs(args, 1, 2)
        return _split(rx, _b(s_arg(args, 0)), i_arg(args, 1) if len(args) == 2 else -1)

    return ImmMap(
        {
            "match": uf("match", match),
            "find": uf("find", find),
            "replace": uf("replace", replace),
            "split": uf("split", split),
        }
    )


def _with_re(
    fn: Callable[[Any, list[Value]], Value], counts: tuple[int, ...]
) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        nargs(args, *counts)
        rx = compile_re(s_arg(args, 0))
        if not hasattr(rx, "search"):
            return rx
        return fn(rx, args)

    return call


def _ss(fn: Callable[[str, str], Value]) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        nargs(args, 2)
        return fn(s_arg(args, 0), s_arg(args, 1))

    return call


def _s1(fn: Callable[[str], Value]) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        nargs(args, 1)
        return fn(s_arg(args, 0))

    return call


def _go_split(s: str, sep: str, n: int, after: bool) -> list[Value]:
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if n > 0 and len(chars) > n:
            chars = [*chars[: n - 1], "".join(chars[n - 1 :])]
        return list(chars)
    parts = s.split(sep, n - 1 if n > 0 else -1)
    if after:
        parts = [p + sep for p in parts[:-1]] + parts[-1:]
    return list(parts)


def _count(s: str, sub: str) -> int:
    if sub == "":
        return len(_index.runes(s)) + 1
    return s.count(sub)


def _bindex(s: str, sub: str) -> int:
    return _b(s).find(_b(sub))


def _index_any(s: str, chars: str, last: bool) -> int:
    bs = _b(s)
    best = -1
    pos = 0
    for ch in s:
        w = len(_b(ch))
        if ch in chars:
            if not last:
                return pos
            best = pos
        pos += w
    del bs
    return best


def _fields(s: str) -> list[Value]:
    return list(s.split())


def _title(s: str) -> str:
    out = []
    prev = " "
    for ch in s:
        out.append(ch.upper() if not (prev.isalnum() or prev == "_" or prev == "'") else ch)
        prev = ch
    return "".join(out)


def _trim(s: str, cutset: str, left: bool, right: bool) -> str:
    if left:
        s = s.lstrip(cutset) if cutset else s
    if right:
        s = s.rstrip(cutset) if cutset else s
    return s


def _pad(args: list[Value], left: bool) -> Value:
    nargs(args, 2, 3)
    s = s_arg(args, 0)
    n = i_arg(args, 1)
    if n > _MAX_LEN:
        raise VMError("exceeding string size limit")
    bs = _b(s)
    if len(bs) >= n:
        return s
    pad = _b(s_arg(args, 2)) if len(args) == 3 else b" "
    if not pad:
        return s
    count = (n - len(pad)) // len(pad) + 1
    if left:
        full = pad * count + bs
        return _s(full[len(full) - n :])
    full = bs + pad * count
    return _s(full[:n])


def text_module(ctx: Any) -> dict[str, Value]:
    def re_match(rx: Any, args: list[Value]) -> Value:
        return rx.search(_b(s_arg(args, 1))) is not None

    def re_find(rx: Any, args: list[Value]) -> Value:
        return _find(rx, _b(s_arg(args, 1)), i_arg(args, 2) if len(args) == 3 else None)

    def re_replace(rx: Any, args: list[Value]) -> Value:
        out = _s(_replace(rx, _b(s_arg(args, 1)), _b(s_arg(args, 2))))
        ctx.alloc_str(out)
        return out

    def re_split(rx: Any, args: list[Value]) -> Value:
        return _split(rx, _b(s_arg(args, 1)), i_arg(args, 2) if len(args) == 3 else -1)

    def re_compile(args: list[Value]) -> Value:
        nargs(args, 1)
        rx = compile_re(s_arg(args, 0))
        return _regexp_object(rx) if hasattr(rx, "search") else rx

    def join(args: list[Value]) -> Value:
        nargs(args, 2)
        arr = args[0]
        if type(arr) not in (list, ImmArray):
            raise arg_error("first", "array", arr)
        items = arr if type(arr) is list else arr.v
        parts = []
        for i, a in enumerate(items):
            if a is None:
                raise arg_error(f"first[{i}]", "string(compatible)", a)
            parts.append(_ops.to_string_plain(a))
        out = s_arg(args, 1).join(parts)
        ctx.alloc_str(out)
        return out

    def repeat(args: list[Value]) -> Value:
        nargs(args, 2)
        s, n = s_arg(args, 0), i_arg(args, 1)
        if n < 0:
            raise VMError("strings: negative Repeat count")
        size = len(_b(s)) * n
        if size > _MAX_LEN:
            raise VMError("exceeding string size limit")
        ctx.charge(size)
        return s * n

    def replace(args: list[Value]) -> Value:
        nargs(args, 4)
        s, old, new, n = s_arg(args, 0), s_arg(args, 1), s_arg(args, 2), i_arg(args, 3)
        if old == "":
            return s  # Go inserts between runes; rare enough to keep the text as is
        out = s.replace(old, new, n if n >= 0 else -1)
        ctx.alloc_str(out)
        return out

    def substr(args: list[Value]) -> Value:
        nargs(args, 2, 3)
        bs = _b(s_arg(args, 0))
        lo = i_arg(args, 1)
        hi = i_arg(args, 2) if len(args) == 3 else len(bs)
        if lo > hi:
            raise VMError("invalid index type")
        lo = min(max(lo, 0), len(bs))
        hi = min(max(hi, 0), len(bs))
        return _s(bs[lo:hi])

    def split_n(after: bool) -> Callable[[list[Value]], Value]:
        def call(args: list[Value]) -> Value:
            nargs(args, 3)
            return _go_split(s_arg(args, 0), s_arg(args, 1), i_arg(args, 2), after)

        return call

    def atoi(args: list[Value]) -> Value:
        nargs(args, 1)
        s = s_arg(args, 0)
        v = _index.parse_go_int(s)
        if v is None:
            return error_value(f"strconv.Atoi: parsing {_ops.go_quote(s)}: invalid syntax")
        return v

    def format_bool(args: list[Value]) -> Value:
        nargs(args, 1)
        if type(args[0]) is not bool:
            raise arg_error("first", "bool", args[0])
        return "true" if args[0] else "false"

    def format_float(args: list[Value]) -> Value:
        nargs(args, 4)
        if type(args[0]) is not float:
            raise arg_error("first", "float", args[0])
        fmt = s_arg(args, 1)
        prec = i_arg(args, 2)
        from ._gofmt import fmt_float

        if prec < 0 and fmt in "fF":
            return _ops.format_float(args[0])
        out = fmt_float(args[0], fmt, "", prec if prec >= 0 else None)
        return out if out is not None else "%" + fmt

    def format_int(args: list[Value]) -> Value:
        nargs(args, 2)
        if type(args[0]) is not int:
            raise arg_error("first", "int", args[0])
        base = i_arg(args, 1)
        if not 2 <= base <= 36:
            raise VMError("strconv: illegal AppendInt/FormatInt base")
        n = args[0]
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        if n == 0:
            return "0"
        out = []
        m = abs(n)
        while m:
            m, r = divmod(m, base)
            out.append(digits[r])
        return ("-" if n < 0 else "") + "".join(reversed(out))

    def itoa(args: list[Value]) -> Value:
        nargs(args, 1)
        return str(i_arg(args, 0))

    def parse_bool(args: list[Value]) -> Value:
        nargs(args, 1)
        if type(args[0]) is not str:
            raise arg_error("first", "string", args[0])
        s = args[0]
        if s in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if s in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        return error_value(f"strconv.ParseBool: parsing {_ops.go_quote(s)}: invalid syntax")

    def parse_float(args: list[Value]) -> Value:
        nargs(args, 2)
        if type(args[0]) is not str:
            raise arg_error("first", "string", args[0])
        v = parse_go_float(args[0])
        if v is None:
            return error_value(
                f"strconv.ParseFloat: parsing {_ops.go_quote(args[0])}: invalid syntax"
            )
        return v

    def parse_int(args: list[Value]) -> Value:
        nargs(args, 3)
        if type(args[0]) is not str:
            raise arg_error("first", "string", args[0])
        s, base, bits = args[0], i_arg(args, 1), i_arg(args, 2)
        try:
            v = int(s.replace("_", "") if base == 0 else s, base)
        except ValueError:
            return error_value(f"strconv.ParseInt: parsing {_ops.go_quote(s)}: invalid syntax")
        bits = bits or 64
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if not lo <= v <= hi or not INT_MIN <= v <= INT_MAX:
            return error_value(f"strconv.ParseInt: parsing {_ops.go_quote(s)}: value out of range")
        return v

    def unquote_fn(args: list[Value]) -> Value:
        nargs(args, 1)
        try:
            return unquote(s_arg(args, 0))
        except ValueError:
            return error_value("invalid syntax")

    table: dict[str, Callable[[list[Value]], Value]] = {
        "re_match": _with_re(re_match, (2,)),
        "re_find": _with_re(re_find, (2, 3)),
        "re_replace": _with_re(re_replace, (3,)),
        "re_split": _with_re(re_split, (2, 3)),
        "re_compile": re_compile,
        "compare": _ss(lambda a, b: (_b(a) > _b(b)) - (_b(a) < _b(b))),
        "contains": _ss(lambda a, b: b in a),
        "contains_any": _ss(lambda a, b: any(c in a for c in b)),
        "count": _ss(_count),
        "equal_fold": _ss(lambda a, b: a.casefold() == b.casefold()),
        "fields": _s1(_fields),
        "has_prefix": _ss(lambda a, b: a.startswith(b)),
        "has_suffix": _ss(lambda a, b: a.endswith(b)),
        "index": _ss(_bindex),
        "index_any": _ss(lambda a, b: _index_any(a, b, False)),
        "join": join,
        "last_index": _ss(lambda a, b: _b(a).rfind(_b(b))),
        "last_index_any": _ss(lambda a, b: _index_any(a, b, True)),
        "repeat": repeat,
        "replace": replace,
        "substr": substr,
        "split": _ss(lambda a, b: _go_split(a, b, -1, False)),
        "split_after": _ss(lambda a, b: _go_split(a, b, -1, True)),
        "split_after_n": split_n(True),
        "split_n": split_n(False),
        "title": _s1(_title),
        "to_lower": _s1(str.lower),
        "to_title": _s1(str.upper),
        "to_upper": _s1(str.upper),
        "pad_left": lambda args: _pad(args, True),
        "pad_right": lambda args: _pad(args, False),
        "trim": _ss(lambda a, b: _trim(a, b, True, True)),
        "trim_left": _ss(lambda a, b: _trim(a, b, True, False)),
        "trim_prefix": _ss(lambda a, b: a[len(b) :] if b and a.startswith(b) else a),
        "trim_right": _ss(lambda a, b: _trim(a, b, False, True)),
        "trim_space": _s1(lambda s: s.strip(" \t\n\r\v\f\x85\xa0")),
        "trim_suffix": _ss(lambda a, b: a[: len(a) - len(b)] if b and a.endswith(b) else a),
        "atoi": atoi,
        "format_bool": format_bool,
        "format_float": format_float,
        "format_int": format_int,
        "itoa": itoa,
        "parse_bool": parse_bool,
        "parse_float": parse_float,
        "parse_int": parse_int,
        "quote": _s1(_ops.go_quote),
        "unquote": unquote_fn,
    }
    return {name: uf(name, fn) for name, fn in table.items()}
