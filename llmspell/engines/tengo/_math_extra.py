"""The function table of Tengo's ``math`` module (Go's ``math`` package names)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._values import Value


def _simpson(fn: Callable[[float], float], a: float, b: float, n: int = 400) -> float:
    h = (b - a) / n
    total = fn(a) + fn(b)
    for i in range(1, n):
        total += fn(a + i * h) * (4 if i % 2 else 2)
    return float(total * h / 3)


def bessel_j(n: int, x: float) -> float:
    """Jn(x) by Bessel's integral (accurate to ~1e-10 for moderate x)."""
    return _simpson(lambda t: math.cos(n * t - x * math.sin(t)), 0.0, math.pi) / math.pi


def bessel_y(n: int, x: float) -> float:
    """Yn(x) by its integral representation; -Inf at 0 and NaN below, as Go's."""
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    first = _simpson(lambda t: math.sin(x * math.sin(t) - n * t), 0.0, math.pi) / math.pi

    def tail(t: float) -> float:
        sign = 1.0 if n % 2 == 0 else -1.0
        return (math.exp(n * t) + sign * math.exp(-n * t)) * math.exp(-x * math.sinh(t))

    upper = max(1.0, math.asinh(50.0 / x) + n / max(x, 1e-9))
    return first - _simpson(tail, 0.0, min(upper, 20.0), 2000) / math.pi


def math_functions(
    f1: Callable[..., Any],
    f2: Callable[..., Any],
    f_arg: Callable[[list[Value], int], float],
    i_arg: Callable[[list[Value], int], int],
    nargs: Callable[..., None],
) -> dict[str, Callable[[list[Value]], Value]]:
    def ilogb(args: list[Value]) -> Value:
        nargs(args, 1)
        x = f_arg(args, 0)
        if x == 0:
            return -(2**31)
        if math.isinf(x):
            return 2**31 - 1
        if math.isnan(x):
            return 2**31 - 1
        return math.frexp(x)[1] - 1

    def inf(args: list[Value]) -> Value:
        nargs(args, 1)
        return math.inf if i_arg(args, 0) >= 0 else -math.inf

    def is_inf(args: list[Value]) -> Value:
        nargs(args, 2)
        x, sign = f_arg(args, 0), i_arg(args, 1)
        return (sign >= 0 and x == math.inf) or (sign <= 0 and x == -math.inf)

    def is_nan(args: list[Value]) -> Value:
        nargs(args, 1)
        return math.isnan(f_arg(args, 0))

    def nan(args: list[Value]) -> Value:
        nargs(args, 0)
        return math.nan

    def signbit(args: list[Value]) -> Value:
        nargs(args, 1)
        return math.copysign(1.0, f_arg(args, 0)) < 0

    def pow10(args: list[Value]) -> Value:
        nargs(args, 1)
        n = i_arg(args, 0)
        if n < -323:
            return 0.0
        if n > 308:
            return math.inf
        return float(10**n) if n >= 0 else 1.0 / 10 ** (-n)

    def ldexp(args: list[Value]) -> Value:
        nargs(args, 2)
        try:
            return math.ldexp(f_arg(args, 0), i_arg(args, 1))
        except OverflowError:
            return math.copysign(math.inf, f_arg(args, 0))

    def jn(args: list[Value]) -> Value:
        nargs(args, 2)
        return bessel_j(i_arg(args, 0), f_arg(args, 1))

    def yn(args: list[Value]) -> Value:
        nargs(args, 2)
        return bessel_y(i_arg(args, 0), f_arg(args, 1))

    def gamma(x: float) -> float:
        if x == 0 or (x < 0 and x == math.floor(x)):
            return math.nan if x < 0 else math.copysign(math.inf, x)
        return math.gamma(x)

    def logb(x: float) -> float:
        if x == 0:
            return -math.inf
        if math.isinf(x):
            return math.inf
        return float(math.frexp(x)[1] - 1)

    def go_max(x: float, y: float) -> float:
        if (math.isinf(x) and x > 0) or (math.isinf(y) and y > 0):
            return math.inf
        if math.isnan(x) or math.isnan(y):
            return math.nan
        return max(x, y)

    def go_min(x: float, y: float) -> float:
        if (math.isinf(x) and x < 0) or (math.isinf(y) and y < 0):
            return -math.inf
        if math.isnan(x) or math.isnan(y):
            return math.nan
        return min(x, y)

    def cbrt(x: float) -> float:
        return math.copysign(abs(x) ** (1 / 3), x) if x == x else x

    out: dict[str, Callable[[list[Value]], Value]] = {
        "abs": f1(abs),
        "acos": f1(math.acos),
        "acosh": f1(math.acosh),
        "asin": f1(math.asin),
        "asinh": f1(math.asinh),
        "atan": f1(math.atan),
        "atan2": f2(math.atan2),
        "atanh": f1(math.atanh),
        "cbrt": f1(cbrt),
        "ceil": f1(lambda x: float(math.ceil(x)) if math.isfinite(x) else x),
        "copysign": f2(math.copysign),
        "cos": f1(math.cos),
        "cosh": f1(math.cosh),
        "dim": f2(lambda x, y: max(x - y, 0.0)),
        "erf": f1(math.erf),
        "erfc": f1(math.erfc),
        "exp": f1(math.exp),
        "exp2": f1(lambda x: 2.0**x),
        "expm1": f1(math.expm1),
        "floor": f1(lambda x: float(math.floor(x)) if math.isfinite(x) else x),
        "gamma": f1(gamma),
        "hypot": f2(math.hypot),
        "ilogb": ilogb,
        "inf": inf,
        "is_inf": is_inf,
        "is_nan": is_nan,
        "j0": f1(lambda x: bessel_j(0, x)),
        "j1": f1(lambda x: bessel_j(1, x)),
        "jn": jn,
        "ldexp": ldexp,
        "log": f1(math.log),
        "log10": f1(math.log10),
        "log1p": f1(math.log1p),
        "log2": f1(math.log2),
        "logb": f1(logb),
        "max": f2(go_max),
        "min": f2(go_min),
        "nan": nan,
        "nextafter": f2(math.nextafter),
        "pow10": pow10,
        "remainder": f2(math.remainder),
        "signbit": signbit,
        "sin": f1(math.sin),
        "sinh": f1(math.sinh),
        "sqrt": f1(math.sqrt),
        "tan": f1(math.tan),
        "tanh": f1(math.tanh),
        "trunc": f1(lambda x: float(math.trunc(x)) if math.isfinite(x) else x),
        "y0": f1(lambda x: bessel_y(0, x)),
        "y1": f1(lambda x: bessel_y(1, x)),
        "yn": yn,
    }
    return out
