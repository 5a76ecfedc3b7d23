"""Tengo's scanner, ported from ``parser/scanner.go``: bytes in, ``(token, literal, pos)`` out.

Positions are Tengo's ``Pos``: 1 + the byte offset in the source (0 means no position).
Semicolons are inserted at line ends after the tokens Go inserts them after.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Callable

from . import _token as T

SCAN_COMMENTS = 1
DONT_INSERT_SEMIS = 2
_BOM = 0xFEFF
_EOF = -1


class SourceFile:
    """Line starts of one source, to turn a Pos into (line, column)."""

    __slots__ = ("lines", "name", "size")

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.lines = [0]

    def add_line(self, offset: int) -> None:
        if offset > self.lines[-1] and offset < self.size:
            self.lines.append(offset)

    def position(self, pos: int) -> tuple[int, int]:
        """(line, column), both 1-based, of ``pos``; (0, 0) for no position."""
        if pos <= 0:
            return 0, 0
        offset = pos - 1
        i = bisect.bisect_right(self.lines, offset) - 1
        return i + 1, offset - self.lines[i] + 1

    def line_start(self, line: int) -> int:
        return self.lines[line - 1] + 1


def is_letter(ch: int) -> bool:
    return (
        97 <= ch <= 122
        or 65 <= ch <= 90
        or ch == 95
        or (ch >= 0x80 and unicodedata.category(chr(ch)).startswith("L"))
    )


def is_digit(ch: int) -> bool:
    return 48 <= ch <= 57 or (ch >= 0x80 and unicodedata.category(chr(ch)) == "Nd")


def digit_val(ch: int) -> int:
    if 48 <= ch <= 57:
        return ch - 48
    if 97 <= ch <= 102:
        return ch - 97 + 10
    if 65 <= ch <= 70:
        return ch - 65 + 10
    return 16


def decode_rune(src: bytes, i: int) -> tuple[int, int]:
    """(rune, width) of the UTF-8 sequence at ``src[i]``; (0xFFFD, 1) when invalid."""
    b0 = src[i]
    if b0 < 0x80:
        return b0, 1
    for width in (2, 3, 4):
        try:
            return ord(src[i : i + width].decode("utf-8")), width
        except UnicodeDecodeError:
            continue
    return 0xFFFD, 1


def strip_cr(b: bytes, comment: bool) -> bytes:
    out = bytearray()
    n = len(b)
    for j, ch in enumerate(b):
        if (
            ch != 13
            or (
                comment
                and len(out) > 2
                and out[-1] == 42  # '*'
                and j + 1 < n
                and b[j + 1] == 47
            )  # '/'
        ):
            out.append(ch)
    return bytes(out)


class Scanner:
    """Scans one source; errors go to ``on_error(pos, message)``."""

    def __init__(
        self,
        file: SourceFile,
        src: bytes,
        on_error: Callable[[int, str], None] | None,
        mode: int = 0,
    ) -> None:
        self.file = file
        self.src = src
        self.on_error = on_error
        self.mode = mode
        self.ch = 32
        self.offset = 0
        self.read_offset = 0
        self.insert_semi = False
        self.error_count = 0
        self.next()
        if self.ch == _BOM:
            self.next()

    # characters ----------------------------------------------------------------------------

    def next(self) -> None:
        src = self.src
        if self.read_offset < len(src):
            self.offset = self.read_offset
            if self.ch == 10:
                self.file.add_line(self.offset)
            r, w = src[self.read_offset], 1
            if r == 0:
                self.error(self.offset, "illegal character NUL")
            elif r >= 0x80:
                r, w = decode_rune(src, self.read_offset)
                if r == 0xFFFD and w == 1:
                    self.error(self.offset, "illegal UTF-8 encoding")
                elif r == _BOM and self.offset > 0:
                    self.error(self.offset, "illegal byte order mark")
            self.read_offset += w
            self.ch = r
        else:
            self.offset = len(src)
            if self.ch == 10:
                self.file.add_line(self.offset)
            self.ch = _EOF

    def peek(self) -> int:
        if self.read_offset < len(self.src):
            return self.src[self.read_offset]
        return 0

    def error(self, offset: int, msg: str) -> None:
        if self.on_error is not None:
            self.on_error(offset + 1, msg)
        self.error_count += 1

    # tokens --------------------------------------------------------------------------------

    def scan(self) -> tuple[int, str, int]:
        """The next token: (token, literal, pos)."""
        while (
            self.ch == 32
            or self.ch == 9
            or (self.ch == 10 and not self.insert_semi)
            or self.ch == 13
        ):
            self.next()
        pos = self.offset + 1
        insert_semi = False
        ch = self.ch
        literal = ""
        if is_letter(ch) if ch >= 0 else False:
            literal = self._identifier()
            tok = T.KEYWORDS.get(literal, T.IDENT)
            if tok in _SEMI_WORDS:
                insert_semi = True
        elif 48 <= ch <= 57 or (ch == 46 and 48 <= self.peek() <= 57):
            insert_semi = True
            tok, literal = self._number()
        else:
            self.next()
            if ch == _EOF:
                if self.insert_semi:
                    self.insert_semi = False
                    return T.SEMICOLON, "\n", pos
                tok = T.EOF
            elif ch == 10:
                self.insert_semi = False
                return T.SEMICOLON, "\n", pos
            elif ch == 34:  # "
                insert_semi = True
                tok = T.STRING
                literal = self._string()
            elif ch == 39:  # '
                insert_semi = True
                tok = T.CHAR
                literal = self._rune()
            elif ch == 96:  # `
                insert_semi = True
                tok = T.STRING
                literal = self._raw_string()
            elif ch == 58:  # :
                tok = self._switch2(T.COLON, T.DEFINE)
            elif ch == 46:  # .
                tok = T.PERIOD
                if self.ch == 46 and self.peek() == 46:
                    self.next()
                    self.next()
                    tok = T.ELLIPSIS
            elif ch in _SINGLE:
                tok = _SINGLE[ch]
                if ch == 59:
                    literal = ";"
                if tok in (T.RPAREN, T.RBRACK, T.RBRACE):
                    insert_semi = True
            elif ch == 43:  # +
                tok = self._switch3(T.ADD, T.by_name("AddAssign"), 43, T.INC)
                insert_semi = tok == T.INC
            elif ch == 45:  # -
                tok = self._switch3(T.SUB, T.by_name("SubAssign"), 45, T.DEC)
                insert_semi = tok == T.DEC
            elif ch == 42:
                tok = self._switch2(T.MUL, T.by_name("MulAssign"))
            elif ch == 47:  # /
                if self.ch == 47 or self.ch == 42:
                    if self.insert_semi and self._find_line_end():
                        self.ch = 47
                        self.offset = pos - 1
                        self.read_offset = self.offset + 1
                        self.insert_semi = False
                        return T.SEMICOLON, "\n", pos
                    comment = self._comment()
                    if self.mode & SCAN_COMMENTS == 0:
                        self.insert_semi = False
                        return self.scan()
                    tok = T.COMMENT
                    literal = comment
                else:
                    tok = self._switch2(T.QUO, T.by_name("QuoAssign"))
            elif ch == 37:
                tok = self._switch2(T.REM, T.by_name("RemAssign"))
            elif ch == 94:
                tok = self._switch2(T.XOR, T.by_name("XorAssign"))
            elif ch == 60:
                tok = self._switch4(T.LESS, T.LESS_EQ, 60, T.SHL, T.by_name("ShlAssign"))
            elif ch == 62:
                tok = self._switch4(T.GREATER, T.GREATER_EQ, 62, T.SHR, T.by_name("ShrAssign"))
            elif ch == 61:
                tok = self._switch2(T.ASSIGN, T.EQUAL)
            elif ch == 33:
                tok = self._switch2(T.NOT, T.NOT_EQUAL)
            elif ch == 38:  # &
                if self.ch == 94:
                    self.next()
                    tok = self._switch2(T.AND_NOT, T.AND_NOT_ASSIGN)
                else:
                    tok = self._switch3(T.AND, T.by_name("AndAssign"), 38, T.LAND)
            elif ch == 124:
                tok = self._switch3(T.OR, T.by_name("OrAssign"), 124, T.LOR)
            else:
                if ch != _BOM:
                    self.error(pos - 1, f"illegal character {_go_u(ch)}")
                insert_semi = self.insert_semi
                tok = T.ILLEGAL
                literal = chr(ch)
        if self.mode & DONT_INSERT_SEMIS == 0:
            self.insert_semi = insert_semi
        return tok, literal, pos

    def _find_line_end(self) -> bool:
        offs = self.offset - 1
        try:
            while self.ch == 47 or self.ch == 42:
                if self.ch == 47:
                    return True
                self.next()
                while self.ch >= 0:
                    ch = self.ch
                    if ch == 10:
                        return True
                    self.next()
                    if ch == 42 and self.ch == 47:
                        self.next()
                        break
                while self.ch in (32, 9, 13) or (self.ch == 10 and not self.insert_semi):
                    self.next()
                if self.ch < 0 or self.ch == 10:
                    return True
                if self.ch != 47:
                    return False
                self.next()
            return False
        finally:
            self.ch = 47
            self.offset = offs
            self.read_offset = offs + 1
            self.next()

    def _comment(self) -> str:
        offs = self.offset - 1
        num_cr = 0
        if self.ch == 47:
            self.next()
            while self.ch != 10 and self.ch >= 0:
                if self.ch == 13:
                    num_cr += 1
                self.next()
        else:
            self.next()
            terminated = False
            while self.ch >= 0:
                ch = self.ch
                if ch == 13:
                    num_cr += 1
                self.next()
                if ch == 42 and self.ch == 47:
                    self.next()
                    terminated = True
                    break
            if not terminated:
                self.error(offs, "comment not terminated")
        lit = self.src[offs : self.offset]
        if num_cr > 0 and len(lit) >= 2 and lit[1] == 47 and lit[-1] == 13:
            lit = lit[:-1]
            num_cr -= 1
        if num_cr > 0:
            lit = strip_cr(lit, lit[1] == 42)
        return lit.decode("utf-8", "replace")

    def _identifier(self) -> str:
        offs = self.offset
        while self.ch >= 0 and (is_letter(self.ch) or is_digit(self.ch)):
            self.next()
        return self.src[offs : self.offset].decode("utf-8", "replace")

    def _digits(self, base: int) -> None:
        while self.ch == 95 or digit_val(self.ch) < base:
            self.next()

    def _number(self) -> tuple[int, str]:
        offs = self.offset
        tok = T.INT
        base = 10
        if self.ch == 48:
            low = self.peek() | 0x20
            if low in (98, 111, 120):  # b o x
                base = {98: 2, 111: 8, 120: 16}[low]
                self.next()
                self.next()
        self._digits(base)
        if self.ch == 46 and base in (10, 16):
            tok = T.FLOAT
            self.next()
            self._digits(base)
        if self.ch in (101, 69, 112, 80):  # e E p P
            tok = T.FLOAT
            self.next()
            if self.ch in (45, 43):
                self.next()
            start = self.offset
            self._digits(10)
            if start == self.offset:
                self.error(start, "exponent has no digits")
        return tok, self.src[offs : self.offset].decode()

    def _escape(self, quote: int) -> bool:
        offs = self.offset
        ch = self.ch
        if ch in (97, 98, 102, 110, 114, 116, 118, 92, quote):  # a b f n r t v \ quote
            self.next()
            return True
        if 48 <= ch <= 55:
            n, base, maxv = 3, 8, 255
        elif ch == 120:  # x
            self.next()
            n, base, maxv = 2, 16, 255
        elif ch == 117:  # u
            self.next()
            n, base, maxv = 4, 16, 0x10FFFF
        elif ch == 85:  # U
            self.next()
            n, base, maxv = 8, 16, 0x10FFFF
        else:
            self.error(
                offs, "escape sequence not terminated" if ch < 0 else "unknown escape sequence"
            )
            return False
        x = 0
        while n > 0:
            d = digit_val(self.ch)
            if d >= base:
                msg = f"illegal character {_go_u(self.ch)} in escape sequence"
                if self.ch < 0:
                    msg = "escape sequence not terminated"
                self.error(self.offset, msg)
                return False
            x = x * base + d
            self.next()
            n -= 1
        if x > maxv or 0xD800 <= x < 0xE000:
            self.error(offs, "escape sequence is invalid Unicode code point")
            return False
        return True

    def _rune(self) -> str:
        offs = self.offset - 1
        valid = True
        n = 0
        while True:
            ch = self.ch
            if ch == 10 or ch < 0:
                if valid:
                    self.error(offs, "rune literal not terminated")
                    valid = False
                break
            self.next()
            if ch == 39:
                break
            n += 1
            if ch == 92 and not self._escape(39):
                valid = False
        if valid and n != 1:
            self.error(offs, "illegal rune literal")
        return self.src[offs : self.offset].decode("utf-8", "replace")

    def _string(self) -> str:
        offs = self.offset - 1
        while True:
            ch = self.ch
            if ch == 10 or ch < 0:
                self.error(offs, "string literal not terminated")
                break
            self.next()
            if ch == 34:
                break
            if ch == 92:
                self._escape(34)
        return self.src[offs : self.offset].decode("utf-8", "surrogateescape")

    def _raw_string(self) -> str:
        offs = self.offset - 1
        has_cr = False
        while True:
            ch = self.ch
            if ch < 0:
                self.error(offs, "raw string literal not terminated")
                break
            self.next()
            if ch == 96:
                break
            if ch == 13:
                has_cr = True
        lit = self.src[offs : self.offset]
        if has_cr:
            lit = strip_cr(lit, False)
        return lit.decode("utf-8", "surrogateescape")

    def _switch2(self, tok0: int, tok1: int) -> int:
        if self.ch == 61:
            self.next()
            return tok1
        return tok0

    def _switch3(self, tok0: int, tok1: int, ch2: int, tok2: int) -> int:
        if self.ch == 61:
            self.next()
            return tok1
        if self.ch == ch2:
            self.next()
            return tok2
        return tok0

    def _switch4(self, tok0: int, tok1: int, ch2: int, tok2: int, tok3: int) -> int:
        if self.ch == 61:
            self.next()
            return tok1
        if self.ch == ch2:
            self.next()
            if self.ch == 61:
                self.next()
                return tok3
            return tok2
        return tok0


_SEMI_WORDS = frozenset(
    (T.IDENT, T.BREAK, T.CONTINUE, T.RETURN, T.EXPORT, T.TRUE, T.FALSE, T.UNDEFINED)
)
_SINGLE = {
    44: T.COMMA,
    63: T.QUESTION,
    59: T.SEMICOLON,
    40: T.LPAREN,
    41: T.RPAREN,
    91: T.LBRACK,
    93: T.RBRACK,
    123: T.LBRACE,
    125: T.RBRACE,
}


def _go_u(ch: int) -> str:
    """Go's ``%#U``: ``U+0040 '@'``."""
    if ch < 0:
        return "U+FFFFFFFFFFFFFFFF"
    text = f"U+{ch:04X}"
    c = chr(ch)
    return f"{text} '{c}'" if c.isprintable() else text
