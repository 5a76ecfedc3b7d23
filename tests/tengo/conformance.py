"""Running Tengo's translated test cases (``data/*.json``) against our interpreter."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

from llmspell.engines.tengo._compiler import CompileError, Modules, compile_main
from llmspell.engines.tengo._parser import ParseError
from llmspell.engines.tengo._runtime import Context, run_program
from llmspell.engines.tengo._stdlib import NATIVE as STDLIB_NATIVE
from llmspell.engines.tengo._stdlib import SOURCES as STDLIB_SOURCES
from llmspell.engines.tengo._stdlib import module as stdlib_module
from llmspell.engines.tengo._values import Char, Error, ImmArray, ImmMap, Time, VMError

DATA = pathlib.Path(__file__).resolve().parent / "data"


def load(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


def decode(v: list[Any]) -> Any:
    """A tagged value of the data files → our runtime value."""
    tag = v[0]
    if tag == "int" or tag == "str":
        return v[1]
    if tag == "bool":
        return bool(v[1])
    if tag == "float":
        x = v[1]
        return (
            {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(x, x)
            if isinstance(x, str)
            else float(x)
        )
    if tag == "char":
        return Char(v[1])
    if tag == "bytes":
        return bytes.fromhex(v[1])
    if tag == "undefined":
        return None
    if tag == "array":
        return [decode(e) for e in v[1]]
    if tag == "iarray":
        return ImmArray([decode(e) for e in v[1]])
    if tag == "map":
        return {k: decode(e) for k, e in v[1].items()}
    if tag == "imap":
        return ImmMap({k: decode(e) for k, e in v[1].items()})
    if tag == "error":
        return Error(decode(v[1]))
    raise ValueError(tag)


def same(a: Any, b: Any) -> bool:
    """Deep equality with exact types (Go's reflect.DeepEqual on Tengo objects)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (ImmArray, ImmMap, Error)):
        return same(a.v, b.v)
    if isinstance(a, Char):
        return a.v == b.v
    if isinstance(a, Time):
        return a.ns == b.ns
    return bool(a == b)


def zero(v: Any) -> Any:
    """Go's ``objectZeroCopy``: a zero value of the same type."""
    t = type(v)
    return (
        {
            int: 0,
            float: 0.0,
            bool: False,
            str: "",
            bytes: b"",
            type(None): None,
        }.get(t, None)
        if t not in (list, dict, Char, ImmArray, ImmMap, Error)
        else {
            list: lambda: [],
            dict: lambda: {},
            Char: lambda: Char(0),
            ImmArray: lambda: ImmArray([]),
            ImmMap: lambda: ImmMap({}),
            Error: lambda: Error(None),
        }[t]()
    )


def _modules(opts: dict[str, Any]) -> tuple[Modules, dict[str, Any]]:
    sources = {}
    builtin: dict[str, Any] = {}
    for name, mod in opts.get("modules", {}).items():
        if isinstance(mod, str):
            sources[name] = mod
        elif "stdlib_source" in mod:
            sources[name] = STDLIB_SOURCES[mod["stdlib_source"]]
        else:
            builtin[name] = {k: decode(v) for k, v in mod["builtin"].items()}
    native = set(builtin)
    if opts.get("stdlib"):
        native |= STDLIB_NATIVE
        sources = {**STDLIB_SOURCES, **sources}
    return Modules(sources, frozenset(native)), builtin


def run(src: str, opts: dict[str, Any], symbols: dict[str, Any]) -> dict[str, Any]:
    modules, builtin = _modules(opts)

    def factory(name: str, ctx: Context) -> ImmMap:
        if name in builtin:
            return ImmMap({**builtin[name], "__module_name__": name})
        return stdlib_module(name, ctx)

    program = compile_main(src, "test", modules, tuple(symbols))
    g = run_program(program, Context(factory), symbols)
    return {name: g[program.names[name]] for name in symbols}


def error_text(exc: Exception) -> str:
    if isinstance(exc, VMError):
        return exc.render()
    return str(exc)


def run_case(case: dict[str, Any]) -> None:
    """Raise AssertionError when ``case`` (a vm.json entry) does not behave as Tengo's."""
    opts = case.get("opts", {})
    symbols = {k: decode(v) for k, v in opts.get("symbols", {}).items()}
    if "error" in case:
        try:
            run(case["src"], opts, symbols)
        except (ParseError, CompileError, VMError) as exc:
            text = error_text(exc)
            assert case["error"].strip() in text, (
                f"error {text!r} does not contain {case['error']!r}"
            )
            return
        raise AssertionError(f"no error; expected {case['error']!r}")
    expected = decode(case["expect"])
    symbols["out"] = zero(expected)
    got = run(case["src"], opts, symbols)["out"]
    assert same(got, expected), f"first pass: got {got!r}, expected {expected!r}"
    if opts.get("skip2nd"):
        return
    module_opts = dict(opts)
    module_opts["modules"] = {
        **opts.get("modules", {}),
        "__code__": f"out := undefined; {case['src']}; export out",
    }
    if type(expected) is list:
        expected = ImmArray(expected)
    elif type(expected) is dict:
        expected = ImmMap(expected)
    symbols["out"] = zero(expected)
    got = run('out = import("__code__")', module_opts, symbols)["out"]
    assert same(got, expected), f"second pass: got {got!r}, expected {expected!r}"


def run_stdlib_case(case: dict[str, Any]) -> None:
    """A ``module(t, name).call(...)...expect(...)`` chain of Tengo's stdlib tests."""
    from llmspell.engines.tengo._runtime import set_active

    ctx = Context()
    previous = set_active(ctx)
    try:
        obj: Any = stdlib_module(case["module"], ctx)
        try:
            for name, args in case["calls"]:
                fn = obj.v[name]
                obj = fn.fn([decode(a) for a in args])
        except VMError as exc:
            assert case.get("error"), f"unexpected error: {exc.message}"
            return
    finally:
        set_active(previous)
    assert not case.get("error"), f"no error; got {obj!r}"
    expected = decode(case["expect"])
    assert same(obj, expected), f"got {obj!r}, expected {expected!r}"
