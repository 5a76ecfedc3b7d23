"""Calling functions: compiled closures, native builtins, spread arguments, tail calls.

A call checks the argument count the way Tengo's VM does (variadic parameters collect the rest
into an array), counts one step of the run's budget, and bounds the depth of nested calls
(``stack overflow`` past :data:`MAX_FRAMES`). An error inside the callee gets the call's
position appended to its trace, as Tengo's ``at ...`` lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _ast as A
from ._values import MAX_FRAMES, Builtin, Cell, Closure, ImmArray, VMError, type_name

BREAK, CONTINUE, RETURN, TAIL = 1, 2, 3, 4


def bind(info: Any, args: list[Any]) -> list[Any]:
    """The parameter values for ``args`` (variadic rolled up); raises VMError."""
    n = len(args)
    nparams = info.nparams
    if info.var_args:
        real = nparams - 1
        if n >= real:
            args = [*args[:real], list(args[real:])]
            n = nparams
        else:
            raise VMError(f"wrong number of arguments: want>={real}, got={n}")
    elif n != nparams:
        raise VMError(f"wrong number of arguments: want={nparams}, got={n}")
    return args


def call_closure(fn: Closure, args: list[Any], g: list[Any]) -> Any:
    info = fn.info
    if info.var_args or len(args) != info.nparams:
        args = bind(info, args)
    f = [fn, g, None, *args]
    extra = info.nlocals - info.nparams
    if extra:
        f.extend([None] * extra)
    for slot in info.cells:
        f[slot] = Cell(f[slot])
    ctx = g[0]
    ctx.steps -= 1
    if ctx.steps <= 0:
        ctx.tick()
    depth = ctx.depth = ctx.depth + 1
    if depth >= MAX_FRAMES:
        ctx.depth -= 1
        raise VMError("stack overflow")
    body = info.body
    try:
        while body(f) == TAIL:
            pass
    finally:
        ctx.depth -= 1
    return f[2]


def call_value(fn: Any, args: list[Any], g: list[Any]) -> Any:
    """Call any callable value (raises VMError ``not callable: ...``)."""
    t = type(fn)
    if t is Closure:
        return call_closure(fn, args, g)
    if t is Builtin:
        return fn.fn(args)
    custom = getattr(fn, "tengo_call", None)
    if custom is not None:
        return custom(args)
    raise VMError(f"not callable: {type_name(fn)}")


def _spread(args: list[Any]) -> list[Any]:
    last = args[-1]
    t = type(last)
    if t is list:
        return [*args[:-1], *last]
    if t is ImmArray:
        return [*args[:-1], *last.v]
    raise VMError(f"not an array: {type_name(last)}")


def compile_call(comp: Any, node: A.CallExpr) -> Callable[[list[Any]], Any]:
    fn_ev = comp.expr(node.func)
    arg_evs = [comp.expr(a) for a in node.args]
    file, pos = comp.file, node.pos()
    spread = bool(node.ellipsis)
    n = len(arg_evs)

    def invoke(f: list[Any], fn: Any, args: list[Any]) -> Any:
        if spread:
            try:
                args = _spread(args)
            except VMError as exc:
                raise exc.at(file, pos) from None
        t = type(fn)
        try:
            if t is Closure:
                return call_closure(fn, args, f[1])
            if t is Builtin:
                r = fn.fn(args)
                return r
            return call_value(fn, args, f[1])
        except VMError as exc:
            if t is Builtin and exc.where is None:
                _builtin_message(exc, fn)
            raise exc.frame(file, pos) from None

    from ._inline import inline_call

    fast = inline_call(comp, node, fn_ev, arg_evs, invoke)
    if fast is not None:
        return fast

    if n == 0 and not spread:

        def call0(f: list[Any]) -> Any:
            fn = fn_ev(f)
            if type(fn) is Closure and fn.info.nparams == 0 and not fn.info.var_args:
                try:
                    return call_closure(fn, [], f[1])
                except VMError as exc:
                    raise exc.frame(file, pos) from None
            return invoke(f, fn, [])

        return call0
    if n == 1 and not spread:
        (a0,) = arg_evs

        def call1(f: list[Any]) -> Any:
            fn = fn_ev(f)
            args = [a0(f)]
            if type(fn) is Closure:
                try:
                    return call_closure(fn, args, f[1])
                except VMError as exc:
                    raise exc.frame(file, pos) from None
            return invoke(f, fn, args)

        return call1
    if n == 2 and not spread:
        a0, a1 = arg_evs

        def call2(f: list[Any]) -> Any:
            fn = fn_ev(f)
            args = [a0(f), a1(f)]
            if type(fn) is Closure:
                try:
                    return call_closure(fn, args, f[1])
                except VMError as exc:
                    raise exc.frame(file, pos) from None
            return invoke(f, fn, args)

        return call2

    def calln(f: list[Any]) -> Any:
        fn = fn_ev(f)
        return invoke(f, fn, [a(f) for a in arg_evs])

    return calln


def _builtin_message(exc: VMError, fn: Builtin) -> None:
    """Tengo's wording for a native function's argument errors."""
    msg = exc.message
    if msg == "wrong number of arguments":
        exc.message = f"wrong number of arguments in call to '{fn.type_name()}'"
    elif msg.startswith("invalid type for argument '") and " in call to " not in msg:
        head, rest = msg.split(": expected ", 1) if ": expected " in msg else (msg, "")
        exc.message = f"{head} in call to '{fn.type_name()}': expected {rest}"
    exc.args = (exc.message,)


def compile_tail_return(
    comp: Any, node: A.CallExpr, discard: bool = False
) -> Callable[[list[Any]], Any] | None:
    """``return f(...)`` where ``f`` may be the running function: reuse the frame. With
    ``discard``, a final ``f(...)`` statement (the function then returns undefined)."""
    if node.ellipsis:
        return None
    call = compile_call(comp, node)
    fn_ev = comp.expr(node.func)
    arg_evs = [comp.expr(a) for a in node.args]

    def ret(f: list[Any]) -> Any:
        fn = fn_ev(f)
        if fn is f[0]:
            info = fn.info
            args = [a(f) for a in arg_evs]
            if len(args) == info.nparams and not info.var_args:
                f[3 : 3 + len(args)] = args
                for slot in info.cells:
                    f[slot] = Cell(f[slot])
                ctx = f[1][0]
                ctx.steps -= 1
                if ctx.steps <= 0:
                    ctx.tick()
                return TAIL
        value = call(f)
        f[2] = None if discard else value
        return RETURN

    return ret
