"""Tengo's standard library modules (``stdlib/*.go``), the safe ones: fmt, text, math, times,
json, rand, base64, hex, and enum (Tengo source). There is no ``os`` module.

Native modules are built per run (fmt prints through the run's output, rand keeps its state)
as immutable maps of ``user-function`` values, as Tengo's ``BuiltinModule.AsImmutableMap``.
Functions follow Tengo's argument conversions (``ToString``, ``ToInt64``, ...) and return
Tengo error values for failures the Go functions report as errors.
"""

from __future__ import annotations

import base64
import binascii
import math
import pathlib
import random as _random
from collections.abc import Callable
from typing import Any

from . import _index, _ops
from ._builtins import WRONG_ARGS, arg_error, parse_go_float
from ._gofmt import go_format
from ._values import Builtin, Error, ImmMap, Value, VMError

NAMES = ("fmt", "text", "math", "times", "json", "rand", "base64", "hex", "enum")
"""Every stdlib module name; ``enum`` is written in Tengo (see :data:`SOURCES`)."""
NATIVE = frozenset(NAMES) - {"enum"}
SOURCES = {"enum": (pathlib.Path(__file__).with_name("enum.tengo")).read_text()}

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


# argument helpers --------------------------------------------------------------------------


def nargs(args: list[Value], *counts: int) -> None:
    if len(args) not in counts:
        raise VMError(WRONG_ARGS)


def s_arg(args: list[Value], i: int) -> str:
    v = args[i]
    if v is None:
        raise arg_error(ORDINALS[i], "string(compatible)", v)
    return _ops.to_string_plain(v)


def i_arg(args: list[Value], i: int) -> int:
    v = _index.to_int(args[i])
    if v is None:
        raise arg_error(ORDINALS[i], "int(compatible)", args[i])
    return v


def f_arg(args: list[Value], i: int) -> float:
    v = args[i]
    t = type(v)
    if t is float:
        return float(v)
    if t is int:
        return float(v)
    if t is str:
        f = parse_go_float(v)
        if f is not None:
            return f
    raise arg_error(ORDINALS[i], "float(compatible)", v)


def y_arg(args: list[Value], i: int) -> bytes:
    v = args[i]
    if type(v) is bytes:
        return bytes(v)
    if type(v) is str:
        return str(v).encode("utf-8", "surrogateescape")
    raise arg_error(ORDINALS[i], "bytes/string", v)


def error_value(message: str) -> Error:
    return Error(message)


def uf(name: str, fn: Callable[[list[Value]], Value]) -> Builtin:
    return Builtin(name, fn, "user")


def as_module(name: str, attrs: dict[str, Value]) -> ImmMap:
    return ImmMap({**attrs, "__module_name__": name})


# fmt ---------------------------------------------------------------------------------------


def _fmt(ctx: Any) -> dict[str, Value]:
    def print_args(args: list[Value]) -> str:
        return "".join("" if a is None else _ops.to_string_plain(a) for a in args)

    def fmt_print(args: list[Value]) -> Value:
        ctx.output(print_args(args))
        return None

    def fmt_println(args: list[Value]) -> Value:
        ctx.output(print_args(args) + "\n")
        return None

    def sprintf(args: list[Value]) -> Value:
        if not args:
            raise VMError(WRONG_ARGS)
        if type(args[0]) is not str:
            raise arg_error("format", "string", args[0])
        if len(args) == 1:
            return args[0]
        s = go_format(args[0], args[1:])
        ctx.alloc_str(s)
        return s

    def printf(args: list[Value]) -> Value:
        ctx.output(sprintf(args))
        return None

    return {
        "print": uf("print", fmt_print),
        "printf": uf("printf", printf),
        "println": uf("println", fmt_println),
        "sprintf": uf("sprintf", sprintf),
    }


# math ----------------------------------------------------------------------------------------


def _f1(fn: Callable[[float], float]) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        nargs(args, 1)
        try:
            return float(fn(f_arg(args, 0)))
        except (ValueError, OverflowError):
            return _nan_or_inf(fn, f_arg(args, 0))

    return call


def _nan_or_inf(fn: Callable[[float], float], x: float) -> float:
    if fn in (math.log, math.log10, math.log2) and x == 0:
        return -math.inf
    if fn in (math.exp, math.cosh, math.sinh, math.expm1) and x > 0:
        return math.inf
    return math.nan


def _f2(fn: Callable[[float, float], float]) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        nargs(args, 2)
        try:
            return float(fn(f_arg(args, 0), f_arg(args, 1)))
        except (ValueError, OverflowError, ZeroDivisionError):
            return math.nan

    return call


def _go_mod(x: float, y: float) -> float:
    return math.fmod(x, y)


def _go_pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _math() -> dict[str, Value]:
    from ._math_extra import math_functions

    attrs: dict[str, Value] = {
        "e": math.e,
        "pi": math.pi,
        "phi": (1 + math.sqrt(5)) / 2,
        "sqrt2": math.sqrt(2),
        "sqrte": math.sqrt(math.e),
        "sqrtpi": math.sqrt(math.pi),
        "sqrtphi": math.sqrt((1 + math.sqrt(5)) / 2),
        "ln2": math.log(2),
        "log2e": 1 / math.log(2),
        "ln10": math.log(10),
        "log10e": 1 / math.log(10),
        "max_float32": 3.40282346638528859811704183484516925440e38,
        "smallest_nonzero_float32": 1.401298464324817070923729583289916131280e-45,
        "max_float64": 1.79769313486231570814527423731704356798070e308,
        "smallest_nonzero_float64": 4.9406564584124654417656879286822137236505980e-324,
        "max_int": 2**63 - 1,
        "min_int": -(2**63),
        "max_int8": 127,
        "min_int8": -128,
        "max_int16": 32767,
        "min_int16": -32768,
        "max_int32": 2**31 - 1,
        "min_int32": -(2**31),
        "max_int64": 2**63 - 1,
        "min_int64": -(2**63),
    }
    for name, fn in math_functions(_f1, _f2, f_arg, i_arg, nargs).items():
        attrs[name] = uf(name, fn)
    for name, fn2 in (("mod", _go_mod), ("pow", _go_pow)):
        attrs[name] = uf(name, _f2(fn2))
    return attrs


# base64, hex -------------------------------------------------------------------------------


def _codec(
    encode: Callable[[bytes], bytes], decode: Callable[[str], bytes]
) -> tuple[Callable[[list[Value]], Value], Callable[[list[Value]], Value]]:
    def enc(args: list[Value]) -> Value:
        nargs(args, 1)
        return encode(y_arg(args, 0)).decode("ascii")

    def dec(args: list[Value]) -> Value:
        nargs(args, 1)
        try:
            return decode(s_arg(args, 0))
        except (binascii.Error, ValueError) as exc:
            return error_value(str(exc))

    return enc, dec


def _b64(altchars: bytes | None, pad: bool) -> tuple[Any, Any]:
    def encode(data: bytes) -> bytes:
        out = base64.b64encode(data, altchars)
        return out if pad else out.rstrip(b"=")

    def decode(text: str) -> bytes:
        raw = text.encode("ascii", "strict")
        if not pad:
            if b"=" in raw:
                raise ValueError("illegal base64 data at input byte " + str(raw.index(b"=")))
            raw += b"=" * (-len(raw) % 4)
        return base64.b64decode(raw, altchars, validate=True)

    return _codec(encode, decode)


def _base64() -> dict[str, Value]:
    attrs: dict[str, Value] = {}
    for prefix, alt, pad in (
        ("", None, True),
        ("raw_", None, False),
        ("url_", b"-_", True),
        ("raw_url_", b"-_", False),
    ):
        enc, dec = _b64(alt, pad)
        attrs[prefix + "encode"] = uf(prefix + "encode", enc)
        attrs[prefix + "decode"] = uf(prefix + "decode", dec)
    return attrs


def _hex() -> dict[str, Value]:
    enc, dec = _codec(binascii.hexlify, bytes.fromhex)
    return {"encode": uf("encode", enc), "decode": uf("decode", dec)}


# rand --------------------------------------------------------------------------------------


def _rand_functions(rng: _random.Random) -> dict[str, Value]:
    def r_int(args: list[Value]) -> Value:
        nargs(args, 0)
        return rng.getrandbits(63)

    def r_float(args: list[Value]) -> Value:
        nargs(args, 0)
        return rng.random()

    def r_intn(args: list[Value]) -> Value:
        nargs(args, 1)
        n = i_arg(args, 0)
        if n <= 0:
            raise VMError("invalid argument to Intn")
        return rng.randrange(n)

    def r_exp(args: list[Value]) -> Value:
        nargs(args, 0)
        return rng.expovariate(1.0)

    def r_norm(args: list[Value]) -> Value:
        nargs(args, 0)
        return rng.gauss(0.0, 1.0)

    def r_perm(args: list[Value]) -> Value:
        nargs(args, 1)
        n = i_arg(args, 0)
        if n < 0:
            raise VMError("invalid argument to Perm")
        items = list(range(n))
        rng.shuffle(items)
        return items

    def r_seed(args: list[Value]) -> Value:
        nargs(args, 1)
        rng.seed(i_arg(args, 0))
        return None

    def r_read(args: list[Value]) -> Value:
        nargs(args, 1)
        target = args[0]
        if type(target) is not bytes:
            raise arg_error("first", "bytes", target)
        return len(target)

    return {
        name: uf(name, fn)
        for name, fn in (
            ("int", r_int),
            ("float", r_float),
            ("intn", r_intn),
            ("exp_float", r_exp),
            ("norm_float", r_norm),
            ("perm", r_perm),
            ("seed", r_seed),
            ("read", r_read),
        )
    }


def _rand() -> dict[str, Value]:
    attrs = _rand_functions(_random.Random())

    def r_rand(args: list[Value]) -> Value:
        nargs(args, 1)
        return ImmMap(_rand_functions(_random.Random(i_arg(args, 0))))

    attrs["rand"] = uf("rand", r_rand)
    return attrs


# the registry --------------------------------------------------------------------------------


def module(name: str, ctx: Any) -> ImmMap:
    """The native module ``name`` for the run ``ctx`` (KeyError if there is none)."""
    if name == "fmt":
        attrs = _fmt(ctx)
    elif name == "math":
        attrs = _math()
    elif name == "base64":
        attrs = _base64()
    elif name == "hex":
        attrs = _hex()
    elif name == "rand":
        attrs = _rand()
    elif name == "json":
        from ._json import json_module

        attrs = json_module(ctx)
    elif name == "text":
        from ._text import text_module

        attrs = text_module(ctx)
    elif name == "times":
        from ._times import times_module

        attrs = times_module(ctx)
    else:
        raise KeyError(name)
    return as_module(name, attrs)
