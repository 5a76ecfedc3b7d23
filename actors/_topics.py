"""Topic names and NATS-style subject wildcards, and an index from topics to subscribers.

A topic is a dot-separated list of non-empty tokens: ``agent.researcher.started``. A pattern is
a topic in which a token may be a wildcard:

* ``*`` matches exactly one token (``agent.*.started``);
* ``>`` matches one or more trailing tokens and may only be the last token (``tool.>``).

The rules are NATS's own, ported from nats-server's ``server/sublist.go`` (``IsValidSubject``,
``IsValidPublishSubject``, ``IsValidLiteralSubject``, ``subjectIsLiteral``), so that the local bus
and a NATS backend accept, refuse and match exactly the same subjects:

* a wildcard is a *whole token*: ``foo*``, ``*bar`` and ``a>b`` are ordinary literal tokens,
  valid in patterns and topics alike, and match only themselves;
* the only whitespace refused is what NATS refuses: space, tab, LF, FF and CR (not ``\v``,
  not other Unicode spaces);
* a published topic must be literal: no token may be ``*`` or ``>``.

:class:`TopicIndex` keeps patterns in a token trie and caches, for each published topic, the
tuple of matching items; any change to the index clears the cache. A publish to a known topic
is therefore one dict lookup.
"""

from __future__ import annotations

import re
from typing import Generic, TypeVar

__all__ = [
    "TopicIndex",
    "is_valid_literal_subject",
    "is_valid_publish_subject",
    "is_valid_subject",
    "pattern_regex",
    "split_pattern",
    "split_topic",
    "subject_is_literal",
    "topic_matches",
]

T = TypeVar("T")

PWC = "*"
"""The partial wildcard token: exactly one token."""
FWC = ">"
"""The full wildcard token: one or more tokens, last only."""
_WHITESPACE = frozenset(" \t\n\f\r")  # sublist.go: strings.ContainsAny(t, "\t\n\f\r ")

#: The cache is cleared when it grows past this many distinct topics.
_CACHE_LIMIT = 4096


def _problem(subject: str) -> str | None:
    """Why ``subject`` is not a valid subject (``isValidSubject``), or None when it is."""
    if not subject:
        return "is empty"
    after_fwc = False
    for token in subject.split("."):
        if not token:
            return "has an empty token (leading, trailing or '..')"
        if after_fwc:
            return "has a token after '>': '>' is allowed only as the last token"
        if token == FWC:
            after_fwc = True
        elif not _WHITESPACE.isdisjoint(token):
            return f"has whitespace in token {token!r}"
    return None


def is_valid_subject(subject: str) -> bool:
    """NATS ``IsValidSubject``: a valid subscription pattern (wildcards allowed)."""
    return _problem(subject) is None


def subject_is_literal(subject: str) -> bool:
    """NATS ``subjectIsLiteral``: no token is exactly ``*`` or ``>`` (validity not checked)."""
    return not any(token in (PWC, FWC) for token in subject.split("."))


def is_valid_publish_subject(subject: str) -> bool:
    """NATS ``IsValidPublishSubject``: valid and literal, so a message may be published to it."""
    return is_valid_subject(subject) and subject_is_literal(subject)


def is_valid_literal_subject(subject: str) -> bool:
    """NATS ``IsValidLiteralSubject``: no empty token and no wildcard token.

    Like NATS's, this checks tokens only, not whitespace: use :func:`is_valid_publish_subject`
    to validate a topic before publishing.
    """
    return all(token and token not in (PWC, FWC) for token in subject.split("."))


def _check(text: str, what: str) -> list[str]:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    problem = _problem(text)
    if problem is not None:
        raise ValueError(f"{what} {text!r} {problem}")
    return text.split(".")


def split_topic(topic: str) -> tuple[str, ...]:
    """Validate a topic that is published to (:func:`is_valid_publish_subject`); its tokens.

    Raises:
        ValueError: the topic is empty, has an empty token or NATS whitespace, or has a
            wildcard token (``*`` or ``>``).
        TypeError: the topic is not a string.
    """
    tokens = _check(topic, "topic")
    for token in tokens:
        if token in (PWC, FWC):
            raise ValueError(f"topic {topic!r} contains wildcard {token!r}; only patterns may")
    return tuple(tokens)


def split_pattern(pattern: str) -> tuple[str, ...]:
    """Validate a subscription pattern (:func:`is_valid_subject`) and return its tokens.

    Raises:
        ValueError: the pattern is empty, has an empty token or NATS whitespace, or has a
            token after ``>``.
        TypeError: the pattern is not a string.
    """
    return tuple(_check(pattern, "pattern"))


def topic_matches(pattern: str, topic: str) -> bool:
    """Return whether ``topic`` matches ``pattern`` (both validated).

    Example:
        >>> topic_matches("order.*", "order.created"), topic_matches("order.>", "order")
        (True, False)
    """
    ptoks, ttoks = split_pattern(pattern), split_topic(topic)
    if ptoks[-1] == ">":
        if len(ttoks) < len(ptoks):
            return False
        ptoks = ptoks[:-1]
        ttoks = ttoks[: len(ptoks)]
    elif len(ttoks) != len(ptoks):
        return False
    return all(p in ("*", t) for p, t in zip(ptoks, ttoks, strict=True))


def pattern_regex(pattern: str) -> str | None:
    """Translate a validated pattern into a regular expression for ``re.fullmatch``.

    Returns ``None`` for ``">"``, which matches every topic. Used where patterns are matched one
    topic at a time outside a :class:`TopicIndex` (reading the event log, for one).

    Example:
        >>> regex = pattern_regex("order.*")
        >>> bool(re.fullmatch(regex, "order.created")), bool(re.fullmatch(regex, "order.a.b"))
        (True, False)
    """
    tokens = split_pattern(pattern)
    if tokens == (">",):
        return None
    parts = [".+" if t == ">" else "[^.]+" if t == "*" else re.escape(t) for t in tokens]
    return r"\.".join(parts)


class _Node(Generic[T]):
    """A trie node: literal children, a ``*`` child, items ending here and ``>`` items."""

    __slots__ = ("children", "here", "rest", "star")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.star: _Node[T] | None = None
        self.here: dict[T, int] = {}  # items whose pattern ends at this node -> sequence no.
        self.rest: dict[T, int] = {}  # items whose pattern is this node's path + ">"

    def empty(self) -> bool:
        return not (self.children or self.star or self.here or self.rest)


class TopicIndex(Generic[T]):
    """Map patterns to items; find every item whose pattern matches a topic.

    Items are returned in the order they were added, each at most once per pattern it was
    added with. Items must be hashable (compared by identity for plain objects).
    """

    __slots__ = ("_cache", "_root", "_seq")

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._cache: dict[str, tuple[T, ...]] = {}
        self._seq = 0

    def add(self, pattern: str, item: T) -> None:
        """Index ``item`` under ``pattern`` (validated with :func:`split_pattern`)."""
        node = self._root
        tokens = split_pattern(pattern)
        for token in tokens[:-1] if tokens[-1] == ">" else tokens:
            if token == "*":
                if node.star is None:
                    node.star = _Node()
                node = node.star
            else:
                node = node.children.setdefault(token, _Node())
        self._seq += 1
        (node.rest if tokens[-1] == ">" else node.here)[item] = self._seq
        self._cache.clear()

    def remove(self, pattern: str, item: T) -> None:
        """Remove ``item`` from ``pattern``; a no-op if it is not there."""
        tokens = split_pattern(pattern)
        is_rest = tokens[-1] == ">"
        path: list[tuple[_Node[T], str]] = []
        node: _Node[T] | None = self._root
        for token in tokens[:-1] if is_rest else tokens:
            assert node is not None
            path.append((node, token))
            node = node.star if token == "*" else node.children.get(token)
            if node is None:
                return
        assert node is not None
        if (node.rest if is_rest else node.here).pop(item, None) is None:
            return
        self._cache.clear()
        for parent, token in reversed(path):  # prune empty branches
            if not node.empty():
                break
            if token == "*":
                parent.star = None
            else:
                del parent.children[token]
            node = parent

    def lookup(self, topic: str) -> tuple[T, ...]:
        """Return the items matching ``topic``, oldest first (cached until the next change).

        Raises:
            ValueError: ``topic`` is not a valid published topic.
        """
        found = self._cache.get(topic)
        if found is not None:
            return found
        tokens = split_topic(topic)
        hits: dict[T, int] = {}
        self._collect(self._root, tokens, 0, hits)
        found = tuple(sorted(hits, key=hits.__getitem__))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[topic] = found
        return found

    def _collect(self, node: _Node[T], tokens: tuple[str, ...], i: int, hits: dict[T, int]) -> None:
        if i == len(tokens):
            hits.update(node.here)
            return
        if node.rest:
            hits.update(node.rest)
        child = node.children.get(tokens[i])
        if child is not None:
            self._collect(child, tokens, i + 1, hits)
        if node.star is not None:
            self._collect(node.star, tokens, i + 1, hits)
