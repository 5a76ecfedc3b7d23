"""Translate Tengo's Go test cases into data files (a dev tool; CI only reads the data).

Usage: python tests/tengo/translate.py /path/to/tengo/checkout-or-bare-git-dir

Reads ``vm_test.go``, ``parser/parser_test.go``, ``parser/scanner_test.go`` and the stdlib
tests (``stdlib/*_test.go``: their ``module(t, name).call(...).expect(...)`` chains) from
Tengo's repository (a bare git directory works: files are read with ``git show HEAD:path``) and
writes ``tests/tengo/data/*.json``. Calls of the vm tests' helpers (``testEquality``,
``testEnumModule``, ``testAllocsLimit``) are expanded as the helpers do. A case whose arguments are not constant Go expressions (built in a
Go loop, computed by Go code, or using a Go type defined by the test) is written with a
``skip`` reason instead of an expectation, so pass rates count it.

Values are tagged lists: ``["int", 1]``, ``["float", 1.5 | "nan" | "inf" | "-inf"]``,
``["char", 97]``, ``["str", "x"]``, ``["bytes", "hex"]``, ``["bool", true]``, ``["undefined"]``,
``["array", [...]]``, ``["iarray", [...]]``, ``["map", {...}]``, ``["imap", {...}]``,
``["error", value]``. Syntax trees are the Go tests' builder calls as lists:
``["binaryExpr", x, y, ["tok", "Add"], ["p", 1, 3]]``.
"""

from __future__ import annotations

import json
import math
import pathlib
import re
import subprocess
import sys
from typing import Any

from gosyntax import Char, Dynamic, Go, enclosing_func, find_calls, read_args, tokenize

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE / "data"

_ERRORS = {
    "ErrStackOverflow": "stack overflow",
    "ErrObjectAllocLimit": "object allocation limit exceeded",
    "ErrIndexOutOfBounds": "index out of bounds",
    "ErrInvalidIndexType": "invalid index type",
    "ErrInvalidIndexValueType": "invalid index value type",
    "ErrInvalidIndexOnError": "invalid index on error",
    "ErrInvalidOperator": "invalid operator",
    "ErrWrongNumArguments": "wrong number of arguments",
    "ErrBytesLimit": "exceeding bytes size limit",
    "ErrStringLimit": "exceeding string size limit",
    "ErrNotIndexable": "not indexable",
    "ErrNotIndexAssignable": "not index-assignable",
    "ErrNotImplemented": "not implemented",
    "ErrInvalidRangeStep": "range step must be greater than 0",
}
_CONSTS = {
    "math.MaxInt64": 2**63 - 1,
    "math.MinInt64": -(2**63),
    "math.MaxInt32": 2**31 - 1,
    "math.MinInt32": -(2**31),
    "math.MaxUint8": 255,
    "tengo.MaxStringLen": 2147483647,
    "tengo.MaxBytesLen": 2147483647,
}


def read_source(repo: pathlib.Path, path: str) -> str:
    if (repo / path).exists():
        return (repo / path).read_text()
    return subprocess.run(
        ["git", f"--git-dir={repo}", "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


# values ----------------------------------------------------------------------------------------


def const(v: Any) -> Any:
    """A Go constant expression's Python value (str, int, float, bool, Char)."""
    if isinstance(v, (str, int, float, bool, Char)):
        return v
    if isinstance(v, Go):
        if v.kind == "sel" and v.name in _CONSTS:
            return _CONSTS[v.name]
        if v.kind == "call" and v.name in ("int64", "int", "int32", "uint8") and len(v.args) == 1:
            x = const(v.args[0])
            return x.value if isinstance(x, Char) else int(x)
        if v.kind == "call" and v.name == "float64" and len(v.args) == 1:
            x = const(v.args[0])
            return float(x.value if isinstance(x, Char) else x)
        if v.kind == "call" and v.name in ("rune", "byte") and len(v.args) == 1:
            x = const(v.args[0])
            return Char(x.value if isinstance(x, Char) else int(x))
        if v.kind == "call" and v.name == "fmt.Sprintf":
            return _sprintf(*[const(a) for a in v.args])
        if v.kind == "call" and v.name == "strings.Repeat" and len(v.args) == 2:
            return const(v.args[0]) * const(v.args[1])
        if v.kind == "mcall" and v.name == "Error" and isinstance(v.args[0], Go):
            name = v.args[0].name.removeprefix("tengo.")
            if name in _ERRORS:
                return _ERRORS[name]
    raise Dynamic(f"not a constant: {_show(v)}")


def _sprintf(fmt: str, *args: Any) -> str:
    it = iter(args)

    def sub(m: re.Match[str]) -> str:
        verb = m.group(1)
        if verb == "%":
            return "%"
        a = next(it)
        if verb == "q":
            return json.dumps(a)
        if isinstance(a, Char):
            a = chr(a.value) if verb == "c" else a.value
        return str(a)

    return re.sub(r"%[-+ 0#]*\d*(?:\.\d+)?([dsvqfc%])", sub, fmt)


def _show(v: Any) -> str:
    if isinstance(v, Go):
        return v.name or v.kind
    return repr(v)


def _float(x: float) -> Any:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def obj(v: Any) -> list[Any]:
    """Go's ``toObject(v)`` as a tagged value."""
    if isinstance(v, bool):
        return ["bool", v]
    if isinstance(v, Char):
        return ["char", v.value]
    if isinstance(v, int):
        return ["int", v]
    if isinstance(v, float):
        return ["float", _float(v)]
    if isinstance(v, str):
        return ["str", v]
    if not isinstance(v, Go):
        raise Dynamic(f"unknown value {v!r}")
    if v.kind == "sel":
        if v.name == "tengo.UndefinedValue":
            return ["undefined"]
        if v.name in ("tengo.TrueValue", "tengo.FalseValue"):
            return ["bool", v.name == "tengo.TrueValue"]
    if v.kind == "composite":
        name = v.name.lstrip("&")
        if name in ("ARR", "IARR"):
            return ["array" if name == "ARR" else "iarray", [obj(e) for e in v.args]]
        if name in ("MAP", "IMAP"):
            if v.keys is None and v.args:
                raise Dynamic("map without keys")
            keys = [const(k) for k in (v.keys or [])]
            return [
                "map" if name == "MAP" else "imap",
                {k: obj(e) for k, e in zip(keys, v.args, strict=True)},
            ]
        if name == "[]byte":
            return ["bytes", bytes(_byte(const(e)) for e in v.args).hex()]
        if name.startswith("tengo."):
            return _tengo_object(name[6:], v)
    if v.kind == "call":
        if v.name == "[]byte" and len(v.args) == 1:
            return ["bytes", const(v.args[0]).encode("utf-8", "surrogateescape").hex()]
        if v.name == "errorObject" and len(v.args) == 1:
            return ["error", obj(v.args[0])]
    return obj(const(v))


def _byte(x: Any) -> int:
    return x.value if isinstance(x, Char) else int(x)


def _tengo_object(type_name: str, v: Go) -> list[Any]:
    fields = dict(zip([getattr(k, "name", k) for k in (v.keys or [])], v.args, strict=True))
    value = fields.get("Value")
    if type_name == "Int":
        return ["int", const(value) if value is not None else 0]
    if type_name == "Float":
        return ["float", _float(float(const(value))) if value is not None else 0.0]
    if type_name == "String":
        return ["str", const(value) if value is not None else ""]
    if type_name == "Char":
        return ["char", _byte(const(value)) if value is not None else 0]
    if type_name == "Error":
        return ["error", obj(value) if value is not None else ["undefined"]]
    if type_name == "Array":
        return ["array", [obj(e) for e in value.args] if isinstance(value, Go) else []]
    if type_name == "ImmutableArray":
        return ["iarray", [obj(e) for e in value.args] if isinstance(value, Go) else []]
    if type_name in ("Map", "ImmutableMap"):
        tag = "map" if type_name == "Map" else "imap"
        if not isinstance(value, Go):
            return [tag, {}]
        keys = [const(k) for k in (value.keys or [])]
        return [tag, {k: obj(e) for k, e in zip(keys, value.args, strict=True)}]
    if type_name == "Bytes":
        return ["bytes", obj(value)[1] if value is not None else ""]
    raise Dynamic(f"Go object tengo.{type_name}")


def opts(v: Any) -> dict[str, Any]:
    """``Opts().Stdlib().Module(...)...`` → {"stdlib", "modules", "symbols", ...}."""
    out: dict[str, Any] = {}
    if v is None:
        return out
    chain = []
    while isinstance(v, Go) and v.kind == "mcall":
        chain.append(v)
        v = v.args[0]
    if not (isinstance(v, Go) and v.kind == "call" and v.name == "Opts"):
        raise Dynamic(f"options {_show(v)}")
    for call in reversed(chain):
        args = call.args[1:]
        if call.name == "Stdlib":
            out["stdlib"] = True
        elif call.name == "Skip2ndPass":
            out["skip2nd"] = True
        elif call.name == "MaxAllocs":
            out["max_allocs"] = const(args[0])
        elif call.name == "Module":
            name = const(args[0])
            try:
                src = const(args[1])
            except Dynamic:
                src = _builtin_module(args[1])
            out.setdefault("modules", {})[name] = src
        elif call.name == "Symbol":
            out.setdefault("symbols", {})[const(args[0])] = obj(args[1])
        else:
            raise Dynamic(f"option {call.name}")
    return out


def _builtin_module(v: Any) -> dict[str, Any]:
    """``&tengo.BuiltinModule{Attrs: map[string]tengo.Object{...}}`` of plain values."""
    if not (
        isinstance(v, Go) and v.kind == "composite" and v.name.lstrip("&") == "tengo.BuiltinModule"
    ):
        raise Dynamic(f"module {_show(v)}")
    attrs = v.args[0]
    if not isinstance(attrs, Go):
        raise Dynamic("module attrs")
    keys = [const(k) for k in (attrs.keys or [])]
    return {"builtin": {k: obj(e) for k, e in zip(keys, attrs.args, strict=True)}}


# syntax trees ----------------------------------------------------------------------------------


def tree(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, Char):
        return v.value
    if isinstance(v, Go):
        if v.kind == "call" and v.name == "p" and len(v.args) == 2:
            return ["p", const(v.args[0]), const(v.args[1])]
        if (v.kind == "sel" and v.name == "token.NoPos") or (
            v.kind == "ident" and v.name == "NoPos"
        ):
            return ["nopos"]
        if v.kind == "sel" and v.name.startswith("token."):
            return ["tok", v.name[6:]]
        if v.kind == "call":
            return [v.name, *[tree(a) for a in v.args]]
    raise Dynamic(f"tree node {_show(v)}")


# files -----------------------------------------------------------------------------------------


def cases(src: str, names: tuple[str, ...], convert: Any) -> list[dict[str, Any]]:
    tokens = tokenize(src)
    at = {pos: i for i, (_, _, pos) in enumerate(tokens)}
    out = []
    for name, paren, line in find_calls(src, names):
        if src[:paren].rstrip().endswith("func " + name):
            continue  # the helper's own definition
        if re.search(r"^\s*//", src[src.rfind("\n", 0, paren) + 1 : paren]):
            continue  # commented out
        case: dict[str, Any] = {"test": enclosing_func(src, paren), "line": line, "kind": name}
        fstart = src.rfind("\nfunc ", 0, paren)
        limits = re.findall(r"tengo\.Max(?:String|Bytes)Len = (\w+)", src[fstart:paren])
        if limits and limits[-1] != "2147483647":
            case["skip"] = "depends on Go-side size limits (tengo.MaxStringLen/MaxBytesLen)"
            out.append(case)
            continue
        try:
            args = read_args(tokens, at[paren])
            case.update(convert(name, args))
        except Dynamic as exc:
            case["skip"] = f"computed by Go code ({exc})"
        out.append(case)
    return out


def vm_case(name: str, args: list[Any]) -> dict[str, Any]:
    source = const(args[1])
    if name in ("expectErrorIs", "expectErrorAs"):
        raise Dynamic(f"{name} compares Go error values")
    out = {"src": source, "opts": opts(args[2])}
    if name == "expectRun":
        out["expect"] = obj(args[3])
    else:
        out["error"] = const(args[3])
    return out


HELPERS = ("testEquality", "testEnumModule", "testAllocsLimit")


def helper_cases(src: str) -> list[dict[str, Any]]:
    """The vm tests' helper functions, expanded at each call site as the Go code does."""
    tokens = tokenize(src)
    at = {pos: i for i, (_, _, pos) in enumerate(tokens)}
    out: list[dict[str, Any]] = []
    for name, paren, line in find_calls(src, HELPERS):
        if src[:paren].rstrip().endswith("func " + name) or paren not in at:
            continue  # the helper's own definition, or a mention inside a comment or string
        base = {"test": enclosing_func(src, paren), "line": line, "via": name}
        try:
            args = read_args(tokens, at[paren])
            if name == "testEquality":
                lhs, rhs, expected = const(args[1]), const(args[2]), const(args[3])
                for a, op, b, want in (
                    (lhs, "==", rhs, expected),
                    (rhs, "==", lhs, expected),
                    (lhs, "!=", rhs, not expected),
                    (rhs, "!=", lhs, not expected),
                ):
                    out.append(
                        {
                            **base,
                            "kind": "expectRun",
                            "src": f"out = {a} {op} {b}",
                            "opts": {},
                            "expect": ["bool", want],
                        }
                    )
            elif name == "testEnumModule":
                out.append(
                    {
                        **base,
                        "kind": "expectRun",
                        "src": 'enum := import("enum"); ' + const(args[1]),
                        "opts": {"modules": {"enum": {"stdlib_source": "enum"}}},
                        "expect": obj(args[2]),
                    }
                )
            else:
                out.append(
                    {
                        **base,
                        "kind": "expectRun",
                        "src": const(args[1]),
                        "opts": {"skip2nd": True},
                        "expect": ["undefined"],
                    }
                )
                out.append(
                    {
                        **base,
                        "kind": "expectError",
                        "src": const(args[1]),
                        "skip": "MaxAllocs counts Go VM object allocations; our limit is in bytes",
                    }
                )
        except Dynamic as exc:
            out.append({**base, "skip": f"computed by Go code ({exc})"})
    return out


def parser_case(name: str, args: list[Any]) -> dict[str, Any]:
    source = const(args[1])
    if name == "expectParse":
        fn = args[2]
        if not (isinstance(fn, Go) and fn.kind == "func"):
            raise Dynamic("expected tree")
        return {"src": source, "expect": tree(fn.args[0])}
    if name == "expectParseString":
        return {"src": source, "expect": const(args[2])}
    return {"src": source}


def scanner_cases(src: str) -> dict[str, Any]:
    body = src[src.index("var testCases = [...]struct") :]
    body = body[: body.index("\n\t}\n")]
    tokens = tokenize(body)
    out = []
    from gosyntax import Reader

    r = Reader(tokens, 0)
    while r.peek()[1] != "{" or r.t[r.i + 1][1] != "{":
        r.take()
    r.take("{")
    while r.peek()[1] == "{":
        r.take("{")
        tok = r.expr()
        r.take(",")
        lit = const(r.expr())
        if r.peek()[1] == ",":
            r.take()
        r.take("}")
        if r.peek()[1] == ",":
            r.take()
        out.append([tok.name.removeprefix("token."), lit])
    strip = re.findall(
        r'\{("(?:[^"\\]|\\.)*"), ("(?:[^"\\]|\\.)*")\}', src[src.index("func TestStripCR") :]
    )
    return {"tokens": out, "strip_cr": [[json.loads(a), json.loads(b)] for a, b in strip]}


def stdlib_cases(src: str, path: str) -> list[dict[str, Any]]:
    """``module(t, "name").call("fn", args...)....expect(value)`` / ``.expectError()`` chains."""
    from gosyntax import Reader

    tokens = tokenize(src)
    at = {pos: i for i, (_, _, pos) in enumerate(tokens)}
    out = []
    first_func = src.find("\nfunc ")
    top_env = _definitions(src, tokens, at, r"^(?:var |const |\t)(\w+)\s*=\s", 0, first_func, {})
    for m in re.finditer(r"\bmodule\(t,", src):
        if re.search(r"^\s*//", src[src.rfind("\n", 0, m.start()) + 1 : m.start()]):
            continue
        line = src.count("\n", 0, m.start()) + 1
        case: dict[str, Any] = {"test": enclosing_func(src, m.start()), "line": line, "file": path}
        fstart = src.rfind("\nfunc ", 0, m.start())
        limits = re.findall(r"tengo\.Max(?:String|Bytes)Len = (\w+)", src[fstart : m.start()])
        if limits and limits[-1] != "2147483647":
            case["skip"] = "depends on Go-side size limits (tengo.MaxStringLen/MaxBytesLen)"
            out.append(case)
            continue
        env = _definitions(src, tokens, at, r"^\t(\w+)\s*:?=\s", fstart, m.start(), top_env)
        try:
            chain = Reader(tokens, at[m.start()], env).expr()
            case.update(_chain(chain))
        except Dynamic as exc:
            case["skip"] = f"computed by Go code ({exc})"
        except (ValueError, KeyError, IndexError) as exc:
            case["skip"] = f"not a module call chain ({exc})"
        out.append(case)
    return out


def _definitions(
    src: str,
    tokens: list[Any],
    at: dict[int, int],
    pattern: str,
    start: int,
    end: int,
    base: dict[str, Any],
) -> dict[str, Any]:
    """Simple Go variable definitions (``var x = ...`` / ``x := ...``) between ``start`` and
    ``end`` whose values are constant expressions; later ones override earlier ones."""
    from gosyntax import Reader

    env = dict(base)
    for m in re.finditer(pattern, src[start:end], re.MULTILINE):
        first = start + m.end()
        while src[first] == " ":
            first += 1
        if first not in at:
            continue
        try:
            env[m.group(1)] = Reader(tokens, at[first], env).expr()
        except (Dynamic, ValueError, KeyError, IndexError):
            env.pop(m.group(1), None)
    return env


def _chain(v: Any) -> dict[str, Any]:
    steps: list[Any] = []
    while isinstance(v, Go) and v.kind == "mcall":
        steps.append(v)
        v = v.args[0]
    if not (isinstance(v, Go) and v.kind == "call" and v.name == "module"):
        raise Dynamic("chain does not start with module()")
    steps.reverse()
    if not steps or steps[-1].name not in ("expect", "expectError"):
        raise Dynamic("chain without expect")
    out: dict[str, Any] = {"module": const(v.args[1]), "calls": []}
    for step in steps[:-1]:
        if step.name != "call":
            raise Dynamic(f"method {step.name}")
        out["calls"].append([const(step.args[1]), [_stdlib_obj(a) for a in step.args[2:]]])
    last = steps[-1]
    if last.name == "expectError":
        out["error"] = True
    else:
        out["expect"] = _stdlib_obj(last.args[1])
    return out


def _stdlib_obj(v: Any) -> list[Any]:
    """The stdlib tests' ``object(v)``: ``toObject`` plus ``[]int`` → array."""
    if isinstance(v, Go) and v.kind == "composite" and v.name == "[]int":
        return ["array", [["int", const(e)] for e in v.args]]
    if isinstance(v, Go) and v.kind == "composite" and v.name == "[]string":
        return ["array", [["str", const(e)] for e in v.args]]
    return obj(v)


STDLIB_TESTS = (
    "stdlib/base64_test.go",
    "stdlib/fmt_test.go",
    "stdlib/hex_test.go",
    "stdlib/json_test.go",
    "stdlib/rand_test.go",
    "stdlib/text_regexp_test.go",
    "stdlib/text_test.go",
    "stdlib/times_test.go",
)


def main(repo: pathlib.Path) -> None:
    DATA.mkdir(exist_ok=True)
    vm_src = read_source(repo, "vm_test.go")
    vm = [
        c
        for c in cases(
            vm_src, ("expectRun", "expectError", "expectErrorIs", "expectErrorAs"), vm_case
        )
        if c["test"] not in HELPERS  # the helpers' own bodies: expanded at their call sites
    ]
    vm += helper_cases(vm_src)
    parser = cases(
        read_source(repo, "parser/parser_test.go"),
        ("expectParse", "expectParseError", "expectParseString"),
        parser_case,
    )
    scanner = scanner_cases(read_source(repo, "parser/scanner_test.go"))
    stdlib = [c for path in STDLIB_TESTS for c in stdlib_cases(read_source(repo, path), path)]
    for name, data in (("vm", vm), ("parser", parser), ("scanner", scanner), ("stdlib", stdlib)):
        path = DATA / f"{name}.json"
        path.write_text(json.dumps(data, indent=1, ensure_ascii=True) + "\n")
        if isinstance(data, list):
            skipped = sum(1 for c in data if "skip" in c)
            print(f"{path.name}: {len(data)} cases, {skipped} not translatable")
        else:
            print(f"{path.name}: {len(data['tokens'])} tokens")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
