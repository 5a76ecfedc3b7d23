"""``calculator``: arithmetic by walking the Python AST of an expression, without ``eval``."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from .._exceptions import ToolError
from ._tool import Tool, ToolContext

MAX_LENGTH = 1000
"""The longest expression accepted."""
MAX_INT_BITS = 4096
"""Integer results may have at most this many bits (about 1,200 digits)."""
MAX_EXPONENT = 10_000
"""The largest exponent ``**`` accepts."""
MAX_FACTORIAL = 500

_NAME = "calculator"
Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}  # fmt: skip
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg,
}  # fmt: skip
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _factorial(n: Number) -> int:
    if not float(n).is_integer() or not 0 <= n <= MAX_FACTORIAL:
        raise ValueError(f"factorial() takes a whole number from 0 to {MAX_FACTORIAL}")
    return math.factorial(int(n))


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs, "round": round, "min": min, "max": max,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "hypot": math.hypot, "degrees": math.degrees,
    "radians": math.radians, "floor": math.floor, "ceil": math.ceil, "factorial": _factorial,
}  # fmt: skip


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression.

    Numbers, ``+ - * / // % **``, unary ``+``/``-``, parentheses, the constants ``pi``, ``e``
    and ``tau``, and the functions in ``_FUNCTIONS``.

    Raises:
        ValueError: a syntax error, anything but arithmetic, division by zero, or a result
            beyond the size bounds.
    """
    if len(expression) > MAX_LENGTH:
        raise ValueError(f"expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"invalid expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError("expression is nested too deeply") from None
    try:
        return _eval(tree.body)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("result is too large") from None
    except RecursionError:
        raise ValueError("expression is nested too deeply") from None


def _eval(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValueError(f"{node.value!r} is not a number")
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in _CONSTANTS:
            raise ValueError(f"unknown name {node.id!r} (known: {', '.join(_CONSTANTS)})")
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.BitXor):
            raise ValueError("'^' is not a power operator here; use '**'")
        if type(node.op) not in _BINARY:
            raise ValueError(f"operator {type(node.op).__name__} is not supported")
        left, right = _eval(node.left), _eval(node.right)
        _check_operands(node.op, left, right)
        return _check(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        fn = _FUNCTIONS.get(node.func.id)
        if fn is None:
            raise ValueError(f"unknown function {node.func.id!r} (known: {', '.join(_FUNCTIONS)})")
        try:
            return _check(fn(*[_eval(arg) for arg in node.args]))
        except TypeError as exc:
            raise ValueError(f"{node.func.id}(): {exc}") from None
        except ValueError as exc:
            if "math domain" in str(exc):
                raise ValueError(f"{node.func.id}(): argument out of its domain") from None
            raise
    raise ValueError(f"unsupported syntax: {ast.unparse(node)[:60]!r}")


def _check_operands(op: ast.operator, left: Number, right: Number) -> None:
    if isinstance(op, ast.Pow):
        if abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if left.bit_length() * right > MAX_INT_BITS:
                raise ValueError("result is too large")
    if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise ValueError("result is too large")


def _check(value: Any) -> Number:
    if isinstance(value, complex):
        raise ValueError("result is a complex number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ValueError("result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("result is too large" if math.isinf(value) else "result is not a number")
    return value  # type: ignore[no-any-return]


async def calculator(args: dict[str, Any], ctx: ToolContext) -> Number:
    """Evaluate ``args["expression"]``."""
    try:
        return evaluate(args["expression"])
    except ValueError as exc:
        raise ToolError(_NAME, str(exc)) from None


CALCULATOR_TOOLS = [
    Tool(
        name="calculator",
        description="Evaluate an arithmetic expression: numbers, + - * / // % ** and "
        "parentheses, constants pi, e, tau and functions " + ", ".join(_FUNCTIONS) + ".",
        parameters={
            "expression": {"type": "string", "required": True, "description": "e.g. '2*(3+4)'"}
        },
        handler=calculator,
    ),
]
