"""Tengo's ``format`` (``formatter.go``, a port of Go's ``fmt``) for Tengo values.

Supports flags ``+ - # 0`` and space, width and precision (also ``*``), and the verbs Tengo
handles: ``%v %T`` for any value, ``%t`` bools, ``%d %b %o %O %x %X %c %q %U`` ints,
``%e %E %f %F %g %G`` floats, ``%s %q %x %X`` strings and bytes. Mismatches render as Go does
(``%!d(string=hi)``, ``%!d(MISSING)``, ``%!(EXTRA int=1)``).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from ._ops import char_str, go_quote, to_str
from ._runtime import charge
from ._values import Char, type_name

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?(.)", re.DOTALL)


def _pad(s: str, width: int | None, minus: bool, zero: bool) -> str:
    if width is None or len(s) >= width:
        return s
    if minus:
        return s + " " * (width - len(s))
    if zero:
        sign = s[0] if s[:1] in "+- " else ""
        body = s[len(sign) :]
        return sign + "0" * (width - len(s)) + body
    return " " * (width - len(s)) + s


def _fmt_int(v: int, verb: str, flags: str, prec: int | None) -> str | None:
    base = {"d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}.get(verb)
    if verb == "c":
        return char_str(v)
    if verb == "q":
        return "'" + go_quote(char_str(v))[1:-1].replace("'", "\\'") + "'"
    if verb == "U":
        s = f"U+{v & 0xFFFFFFFFFFFFFFFF:04X}" if v >= 0 else f"U+{v & 0xFFFFFFFFFFFFFFFF:X}"
        if "#" in flags and 0 <= v <= 0x10FFFF:
            s += f" '{char_str(v)}'"
        return s
    if base is None:
        return None
    digits = format(abs(v), {10: "d", 2: "b", 8: "o", 16: "x"}[base])
    if verb == "X":
        digits = digits.upper()
    if prec is not None:
        digits = digits.rjust(prec, "0") if not (prec == 0 and v == 0) else ""
    prefix = ""
    if "#" in flags or verb == "O":
        prefix = {2: "0b", 8: "0" if verb == "o" else "0o", 16: "0x" if verb == "x" else "0X"}.get(
            base, ""
        )
        if verb == "o" and digits.startswith("0"):
            prefix = ""
    sign = "-" if v < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return str(sign + prefix + digits)


def _shortest(f: float) -> tuple[str, int]:
    """(significant digits, decimal exponent) of the shortest repr: 0.00123 → ("123", -3)."""
    d = Decimal(repr(f)).normalize()
    _, digits, exp = d.as_tuple()
    s = "".join(map(str, digits)) or "0"
    return s, len(s) + int(exp) - 1


def fmt_float(v: float, verb: str, flags: str, prec: int | None) -> str | None:
    if verb not in "eEfFgGv":
        return None
    sign = "-" if (v < 0 or (v == 0 and math.copysign(1, v) < 0)) else ""
    if v != v:
        body = "NaN"
        sign = "+" if "+" in flags else " " if " " in flags else ""
        return sign + body
    if "+" in flags and not sign:
        sign = "+"
    elif " " in flags and not sign:
        sign = " "
    a = abs(v)
    if a == math.inf:
        return "-Inf" if v < 0 else "+Inf"
    lower = verb.lower()
    if lower == "f":
        body = f"{a:.{6 if prec is None else prec}f}"
    elif lower == "e":
        body = _go_exp(f"{a:.{6 if prec is None else prec}e}")
    else:
        if prec is None or verb == "v":
            digits, exp = _shortest(a) if a else ("0", 0)
            eprec = 6 if prec is None else prec
            if verb == "v":
                eprec = 21
            elif eprec > len(digits) and len(digits) >= exp + 1:
                eprec = len(digits)
            if exp < -4 or exp >= eprec:
                mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
                body = f"{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
            else:
                body = format(Decimal(repr(a)), "f") if a else "0"
                if "." in body:
                    body = body.rstrip("0").rstrip(".")
        else:
            body = _go_exp(f"{a:.{max(prec, 1)}g}")
        if verb == "G":
            body = body.upper()
    if verb in "EG":
        body = body.upper()
    return sign + body


def _go_exp(s: str) -> str:
    """Python's ``1e+06`` already matches Go; ``1e+100`` too; keep at least two digits."""
    m = re.match(r"^(.*[eE])([+-])(\d+)$", s)
    if not m:
        return s
    return f"{m.group(1)}{m.group(2)}{int(m.group(3)):02d}"


def _bad(verb: str, arg: Any) -> str:
    return f"%!{verb}({type_name(arg)}={to_str(arg) if type(arg) is not str else arg})"


def _one(arg: Any, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    t = type(arg)
    if verb == "T":
        s = type_name(arg)
    elif verb == "v" and t is not float:
        s = to_str(arg)
    elif t is bool:
        s = ("true" if arg else "false") if verb in "tv" else _bad(verb, arg)
    elif t is int:
        r = _fmt_int(arg, verb, flags, prec)
        s = r if r is not None else _bad(verb, arg)
        if r is not None and "0" in flags and prec is None and "-" not in flags:
            return _pad(s, width, False, True)
    elif t is float:
        r = fmt_float(arg, verb, flags, prec)
        s = r if r is not None else _bad(verb, arg)
        if (
            r is not None
            and "0" in flags
            and "-" not in flags
            and arg == arg
            and abs(arg) != math.inf
        ):
            return _pad(s, width, False, True)
    elif t is str or t is bytes or t is Char or True:
        text = (
            arg
            if t is str
            else arg.decode("utf-8", "surrogateescape")
            if t is bytes
            else to_str(arg)
        )
        if verb == "s" or (verb == "v"):
            s = text if prec is None else text[:prec]
        elif verb == "q":
            s = go_quote(text if prec is None else text[:prec])
            if "#" in flags and "`" not in text:
                s = "`" + text + "`"
        elif verb in "xX":
            data = text.encode("utf-8", "surrogateescape") if t is not bytes else arg
            if prec is not None:
                data = data[:prec]
            sep = " " if " " in flags else ""
            parts = [format(b, "02x" if verb == "x" else "02X") for b in data]
            if "#" in flags:
                parts = [("0x" if verb == "x" else "0X") + p for p in parts] if sep else parts
                joined = sep.join(parts)
                s = (("0x" if verb == "x" else "0X") + joined) if not sep and parts else joined
            else:
                s = sep.join(parts)
        else:
            s = _bad(verb, arg)
    return _pad(s, width, "-" in flags, "0" in flags and t is str)


def go_format(fmt: str, args: list[Any]) -> str:
    """``format(fmt, args...)`` as Tengo renders it."""
    out: list[str] = []
    pos = 0
    argi = 0
    n = len(args)
    while True:
        i = fmt.find("%", pos)
        if i < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:i])
        m = _DIRECTIVE.match(fmt, i)
        if not m:
            out.append("%!(NOVERB)")
            break
        flags, width_s, prec_s, verb = m.groups()
        pos = m.end()
        if (
            verb == "%"
            and not flags
            and width_s is None
            and prec_s is None
            and "." not in m.group(0)
        ):
            out.append("%")
            continue
        width: int | None = None
        prec: int | None = None
        if width_s == "*":
            if argi < n and type(args[argi]) is int:
                width = args[argi]
                if width < 0:
                    flags += "-"
                    width = -width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        elif width_s:
            width = int(width_s)
        if width is not None and width > 4096:
            charge(width)
        if "." in m.group(0)[: m.group(0).rfind(verb)]:
            if prec_s == "*":
                if argi < n and type(args[argi]) is int:
                    prec = args[argi] if args[argi] >= 0 else None
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                prec = int(prec_s) if prec_s else 0
        if verb == "%":
            out.append("%")
            continue
        if argi >= n:
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_one(args[argi], verb, flags, width, prec))
        argi += 1
    if argi < n:
        extra = ", ".join(
            f"{type_name(a)}={to_str(a) if type(a) is not str else a}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
