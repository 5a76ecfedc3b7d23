"""Tengo's tokens: the same names, order and precedences as ``github.com/d5/tengo/v2/token``."""

from __future__ import annotations

NAMES = (
    "Illegal EOF Comment _literalBeg Ident Int Float Char String _literalEnd _operatorBeg "
    "Add Sub Mul Quo Rem And Or Xor Shl Shr AndNot AddAssign SubAssign MulAssign QuoAssign "
    "RemAssign AndAssign OrAssign XorAssign ShlAssign ShrAssign AndNotAssign LAnd LOr Inc Dec "
    "Equal Less Greater Assign Not NotEqual LessEq GreaterEq Define Ellipsis LParen LBrack "
    "LBrace Comma Period RParen RBrack RBrace Semicolon Colon Question _operatorEnd "
    "_keywordBeg Break Continue Else For Func Error Immutable If Return Export True False In "
    "Undefined Import _keywordEnd"
).split()
"""Token names by value (``NAMES[t]``), exactly as the Go constants."""

_V = {name: i for i, name in enumerate(NAMES)}
ILLEGAL, EOF, COMMENT = _V["Illegal"], _V["EOF"], _V["Comment"]
IDENT, INT, FLOAT, CHAR, STRING = _V["Ident"], _V["Int"], _V["Float"], _V["Char"], _V["String"]
ADD, SUB, MUL, QUO, REM = _V["Add"], _V["Sub"], _V["Mul"], _V["Quo"], _V["Rem"]
AND, OR, XOR, SHL, SHR, AND_NOT = _V["And"], _V["Or"], _V["Xor"], _V["Shl"], _V["Shr"], _V["AndNot"]
ADD_ASSIGN, AND_NOT_ASSIGN = _V["AddAssign"], _V["AndNotAssign"]
LAND, LOR, INC, DEC = _V["LAnd"], _V["LOr"], _V["Inc"], _V["Dec"]
EQUAL, LESS, GREATER, ASSIGN, NOT = _V["Equal"], _V["Less"], _V["Greater"], _V["Assign"], _V["Not"]
NOT_EQUAL, LESS_EQ, GREATER_EQ = _V["NotEqual"], _V["LessEq"], _V["GreaterEq"]
DEFINE, ELLIPSIS = _V["Define"], _V["Ellipsis"]
LPAREN, LBRACK, LBRACE, COMMA, PERIOD = (
    _V["LParen"],
    _V["LBrack"],
    _V["LBrace"],
    _V["Comma"],
    _V["Period"],
)
RPAREN, RBRACK, RBRACE, SEMICOLON, COLON, QUESTION = (
    _V["RParen"],
    _V["RBrack"],
    _V["RBrace"],
    _V["Semicolon"],
    _V["Colon"],
    _V["Question"],
)
BREAK, CONTINUE, ELSE, FOR, FUNC = (
    _V["Break"],
    _V["Continue"],
    _V["Else"],
    _V["For"],
    _V["Func"],
)
ERROR, IMMUTABLE, IF, RETURN, EXPORT = (
    _V["Error"],
    _V["Immutable"],
    _V["If"],
    _V["Return"],
    _V["Export"],
)
TRUE, FALSE, IN, UNDEFINED, IMPORT = (
    _V["True"],
    _V["False"],
    _V["In"],
    _V["Undefined"],
    _V["Import"],
)

_TEXT = (
    "+ - * / % & | ^ << >> &^ += -= *= /= %= &= |= ^= <<= >>= &^= && || ++ -- == < > = ! != "
    "<= >= := ... ( [ { , . ) ] } ; : ?"
).split()
STRINGS = {i: n.upper() for i, n in enumerate(NAMES[:10]) if not n.startswith("_")}
STRINGS.update({ADD + i: text for i, text in enumerate(_TEXT)})
STRINGS.update({i: NAMES[i].lower() for i in range(BREAK, _V["_keywordEnd"])})

KEYWORDS = {STRINGS[i]: i for i in range(BREAK, _V["_keywordEnd"])}

PRECEDENCE = {LOR: 1, LAND: 2}
PRECEDENCE.update(dict.fromkeys((EQUAL, NOT_EQUAL, LESS, LESS_EQ, GREATER, GREATER_EQ), 3))
PRECEDENCE.update(dict.fromkeys((ADD, SUB, OR, XOR), 4))
PRECEDENCE.update(dict.fromkeys((MUL, QUO, REM, SHL, SHR, AND, AND_NOT), 5))

COMPOUND = {ADD_ASSIGN + i: ADD + i for i in range(AND_NOT_ASSIGN - ADD_ASSIGN + 1)}
"""Compound assignment token → its binary operator (``+=`` → ``+``)."""


def string(tok: int) -> str:
    """The token's text as Go's ``Token.String()`` writes it."""
    return STRINGS.get(tok) or f"token({tok})"


def is_literal(tok: int) -> bool:
    return _V["_literalBeg"] < tok < _V["_literalEnd"]


def is_operator(tok: int) -> bool:
    return _V["_operatorBeg"] < tok < _V["_operatorEnd"]


def is_keyword(tok: int) -> bool:
    return _V["_keywordBeg"] < tok < _V["_keywordEnd"]


def by_name(name: str) -> int:
    """The token with Go name ``name`` (``"Add"``)."""
    return _V[name]
