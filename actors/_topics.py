"""Topic names and NATS-style subject wildcards, and an index from topics to subscribers.

A topic is a dot-separated list of non-empty tokens: ``agent.researcher.started``. A pattern is
a topic in which a token may be a wildcard:

* ``*`` matches exactly one token (``agent.*.started``);
* ``>`` matches one or more trailing tokens and may only be the last token (``tool.>``).

The semantics are those of NATS subjects, so that the local bus and a NATS backend agree.
Published topics may not contain wildcards.

:class:`TopicIndex` keeps patterns in a token trie and caches, for each published topic, the
tuple of matching items; any change to the index clears the cache. A publish to a known topic
is therefore one dict lookup.
"""

from __future__ import annotations

import re
from typing import Generic, TypeVar

__all__ = ["TopicIndex", "pattern_regex", "split_pattern", "split_topic", "topic_matches"]

T = TypeVar("T")

_WHITESPACE = re.compile(r"\s")

#: The cache is cleared when it grows past this many distinct topics.
_CACHE_LIMIT = 4096


def _split(text: str, what: str) -> list[str]:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    if not text:
        raise ValueError(f"empty {what}")
    tokens = text.split(".")
    for token in tokens:
        if not token:
            raise ValueError(f"{what} {text!r} has an empty token (leading, trailing or '..')")
        if _WHITESPACE.search(token):
            raise ValueError(f"{what} {text!r} has whitespace in token {token!r}")
    return tokens


def split_topic(topic: str) -> tuple[str, ...]:
    """Validate a topic that is published to and return its tokens.

    Raises:
        ValueError: the topic is empty, has an empty token or contains a wildcard.
        TypeError: the topic is not a string.
    """
    tokens = _split(topic, "topic")
    for token in tokens:
        if token in ("*", ">"):
            raise ValueError(f"topic {topic!r} contains wildcard {token!r}; only patterns may")
    return tuple(tokens)


def split_pattern(pattern: str) -> tuple[str, ...]:
    """Validate a subscription pattern and return its tokens.

    Raises:
        ValueError: the pattern is empty, has an empty token, uses ``>`` other than as the last
            token, or mixes a wildcard with other characters in one token (``a*``).
        TypeError: the pattern is not a string.
    """
    tokens = _split(pattern, "pattern")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if token == ">" and i != last:
            raise ValueError(f"pattern {pattern!r}: '>' is allowed only as the last token")
        if token not in ("*", ">") and ("*" in token or ">" in token):
            raise ValueError(f"pattern {pattern!r}: wildcard inside token {token!r}")
    return tuple(tokens)


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
