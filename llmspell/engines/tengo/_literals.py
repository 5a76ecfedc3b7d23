"""Go's literal syntax as Tengo's parser reads it: ``strconv.Unquote``, ``UnquoteChar``,
``ParseInt(s, 0, 64)`` and ``ParseFloat``."""

from __future__ import annotations


class _Unquote(ValueError):
    pass


_SIMPLE_ESC = {
    "a": 7,
    "b": 8,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
}


def _unquote_char(s: str, i: int, quote: str) -> tuple[int, bool, int]:
    """Go's ``strconv.UnquoteChar`` at ``s[i]``: (value, is_byte, next index)."""
    c = s[i]
    if c == quote and quote in "'\"":
        raise _Unquote
    if c != "\\":
        return ord(c), False, i + 1
    if i + 1 >= len(s):
        raise _Unquote
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESC:
        return _SIMPLE_ESC[c], False, i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + n]
        if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise _Unquote
        v = int(digits, 16)
        if c == "x":
            return v, True, i + n
        if v > 0x10FFFF or 0xD800 <= v < 0xE000:
            raise _Unquote
        return v, False, i + n
    if c in "01234567":
        digits = s[i - 1 : i + 2]
        if len(digits) < 3 or any(d not in "01234567" for d in digits):
            raise _Unquote
        v = int(digits, 8)
        if v > 255:
            raise _Unquote
        return v, True, i + 2
    if c in "'\"":
        if c != quote:
            raise _Unquote
        return ord(c), False, i
    raise _Unquote


def unquote(lit: str) -> str:
    """Go's ``strconv.Unquote`` for string literals; bytes that are not UTF-8 are kept as
    surrogate escapes. Raises ValueError when invalid."""
    if len(lit) < 2 or lit[0] != lit[-1]:
        raise _Unquote
    quote, body = lit[0], lit[1:-1]
    if quote == "`":
        if "`" in body:
            raise _Unquote
        return body.replace("\r", "")
    if quote not in "\"'":
        raise _Unquote
    if "\\" not in body and quote not in body and "\n" not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == "\n":
            raise _Unquote
        v, is_byte, i = _unquote_char(body, i, quote)
        if is_byte or v < 0x80:
            out.append(v)
        else:
            out += chr(v).encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def unquote_char_literal(lit: str) -> int | None:
    """The rune of a char literal ``'x'``, or None when it is not exactly one character."""
    if len(lit) < 3:
        return None
    body = lit[1:-1]
    try:
        v, _, nxt = _unquote_char(body, 0, "'")
    except (_Unquote, IndexError):
        return None
    if nxt != len(body):
        return None
    return v


def parse_int(lit: str) -> int:
    """Go's ``strconv.ParseInt(lit, 0, 64)``."""
    text = lit
    if "_" in text:
        # underscores only between digits (or after a base prefix), as Go requires
        body = text[2:] if text[:2].lower() in ("0x", "0b", "0o") else text
        if body.startswith("_") or body.endswith("_") or "__" in body:
            raise ValueError(lit)
        text = text.replace("_", "")
    low = text.lower()
    if low.startswith("0x"):
        v = int(text[2:], 16)
    elif low.startswith("0b"):
        v = int(text[2:], 2)
    elif low.startswith("0o"):
        v = int(text[2:], 8)
    elif len(text) > 1 and text[0] == "0":
        v = int(text[1:], 8)
    else:
        v = int(text, 10)
    if v > 0x7FFFFFFFFFFFFFFF:
        raise OverflowError(lit)
    return v


def parse_float(lit: str) -> float:
    """Go's ``strconv.ParseFloat(lit, 64)`` (decimal and hexadecimal forms)."""
    text = lit.replace("_", "")
    if text[:2].lower() == "0x":
        v = float.fromhex(text)
    else:
        v = float(text)
    if v in (float("inf"), float("-inf")):
        raise OverflowError(lit)
    return v
