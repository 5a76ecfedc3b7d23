"""Topic validation and NATS wildcard matching, checked against a reference matcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors._topics import TopicIndex, split_pattern, split_topic, topic_matches


def reference_match(pattern: list[str], topic: list[str]) -> bool:
    """The NATS rule, written the obvious way: ``*`` one token, ``>`` one or more at the end."""
    if not pattern:
        return not topic
    if pattern[0] == ">":
        return len(topic) >= 1
    if not topic:
        return False
    return pattern[0] in ("*", topic[0]) and reference_match(pattern[1:], topic[1:])


literals = st.sampled_from(["a", "b", "c"])
topics = st.lists(literals, min_size=1, max_size=5)
patterns = st.builds(
    lambda head, tail: head + tail,
    st.lists(st.sampled_from(["a", "b", "c", "*"]), min_size=0, max_size=5),
    st.sampled_from([[], [">"]]),
).filter(bool)


@given(patterns, topics)
def test_matches_like_the_reference(pattern: list[str], topic: list[str]) -> None:
    assert topic_matches(".".join(pattern), ".".join(topic)) == reference_match(pattern, topic)


@given(st.lists(patterns, max_size=12), st.lists(topics, min_size=1, max_size=8))
def test_index_finds_exactly_the_matching_patterns_in_order(
    pats: list[list[str]], tops: list[list[str]]
) -> None:
    index: TopicIndex[int] = TopicIndex()
    for i, pattern in enumerate(pats):
        index.add(".".join(pattern), i)
    for topic in tops:
        expected = tuple(i for i, p in enumerate(pats) if reference_match(p, topic))
        assert index.lookup(".".join(topic)) == expected
        assert index.lookup(".".join(topic)) == expected  # the cached answer too


@given(st.lists(patterns, min_size=1, max_size=10), st.data())
def test_removal_updates_lookups(pats: list[list[str]], data: st.DataObject) -> None:
    index: TopicIndex[int] = TopicIndex()
    for i, pattern in enumerate(pats):
        index.add(".".join(pattern), i)
    removed = data.draw(st.sets(st.integers(0, len(pats) - 1)))
    topic = data.draw(topics)
    index.lookup(".".join(topic))  # fill the cache before changing the index
    for i in removed:
        index.remove(".".join(pats[i]), i)
    expected = tuple(
        i for i, p in enumerate(pats) if i not in removed and reference_match(p, topic)
    )
    assert index.lookup(".".join(topic)) == expected


def test_removing_everything_prunes_the_trie() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("a.*.c.>", "x")
    index.remove("a.*.c.>", "x")
    index.remove("a.*.c.>", "x")  # already gone: no-op
    index.remove("never.added", "x")
    assert index.lookup("a.b.c.d") == ()
    assert index._root.empty()


def test_examples() -> None:
    assert topic_matches("order.*", "order.created")
    assert not topic_matches("order.*", "order.created.eu")
    assert topic_matches("order.>", "order.created.eu")
    assert not topic_matches("order.>", "order")
    assert topic_matches(">", "anything.at.all")
    assert topic_matches("agent.*.started", "agent.researcher.started")


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("", "empty"),
        ("a..b", "empty token"),
        (".a", "empty token"),
        ("a.", "empty token"),
        ("a.*", "wildcard"),
        ("a.>", "wildcard"),
        ("a.b c", "whitespace"),
    ],
)
def test_invalid_topics_are_rejected_with_the_reason(topic: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        split_topic(topic)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "empty"),
        ("a..b", "empty token"),
        ("a.>.b", "last token"),
        ("a*.b", "wildcard inside"),
        ("a.b>", "wildcard inside"),
    ],
)
def test_invalid_patterns_are_rejected_with_the_reason(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        split_pattern(pattern)


def test_non_strings_are_rejected() -> None:
    with pytest.raises(TypeError):
        split_topic(b"a.b")  # type: ignore[arg-type]
