"""Topic validation and NATS wildcard matching, checked against a reference matcher."""

from __future__ import annotations

import re

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors._topics import (
    TopicIndex,
    is_valid_literal_subject,
    is_valid_publish_subject,
    is_valid_subject,
    split_pattern,
    split_topic,
    subject_is_literal,
    topic_matches,
)


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
        ("a.\tb", "whitespace"),
        ("a.\r", "whitespace"),
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
        (">.b", "last token"),
        ("a. ", "whitespace"),
        ("a.b\nc", "whitespace"),
    ],
)
def test_invalid_patterns_are_rejected_with_the_reason(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        split_pattern(pattern)


# -- nats-server's own cases (server/sublist_test.go), as data --------------------------------

# TestSublistValidSubjects: IsValidSubject
NATS_VALID_SUBJECTS = [
    (".", False),
    (".foo", False),
    ("foo.", False),
    ("foo..bar", False),
    (">.bar", False),
    ("foo.>.bar", False),
    ("foo", True),
    ("foo.bar.*", True),
    ("foo.bar.>", True),
    ("*", True),
    (">", True),
    ("foo*", True),
    ("foo**", True),
    ("foo.**", True),
    ("foo*bar", True),
    ("foo.*bar", True),
    ("foo*.bar", True),
    ("*bar", True),
    ("foo>", True),
    ("foo.>>", True),
    ("foo>bar", True),
    ("foo.>bar", True),
    ("foo>.bar", True),
    (">bar", True),
    # testSublistInvalidSubjectsInsert: what Insert (a subscription) refuses
    ("foo.bar..baz", False),
    # isValidSubject's whitespace rule: exactly "\t\n\f\r " and nothing else
    ("foo. ", False),
    ("foo.\t", False),
    ("foo.\n", False),
    ("foo.\f", False),
    ("foo.\r", False),
    ("foo.a b", False),
    ("foo.a\tb", False),
    ("foo.a\x0bb", True),  # vertical tab: not NATS whitespace
    ("foo.\x0b", True),
    ("foo.a\u00a0b", True),  # no-break space
    ("foo.\u2003", True),  # em space
    ("foo.\x85", True),  # next line (NEL)
]

# TestSublistValidLiteralSubjects: IsValidLiteralSubject
NATS_LITERAL_SUBJECTS = [
    ("foo", True),
    (".foo", False),
    ("foo.", False),
    ("foo..bar", False),
    ("foo.bar.*", False),
    ("foo.bar.>", False),
    ("*", False),
    (">", False),
    ("foo*", True),
    ("foo**", True),
    ("foo.**", True),
    ("foo*bar", True),
    ("foo.*bar", True),
    ("foo*.bar", True),
    ("*bar", True),
    ("foo>", True),
    ("foo>>", True),
    ("foo.>>", True),
    ("foo>bar", True),
    ("foo.>bar", True),
    ("foo>.bar", True),
    (">bar", True),
]

# TestSubjectIsLiteral: subjectIsLiteral
NATS_IS_LITERAL = [
    ("foo", True),
    ("foo.bar", True),
    ("foo*.bar", True),
    ("*", False),
    (">", False),
    ("foo.*", False),
    ("foo.>", False),
    ("foo.*.>", False),
    ("foo.*.bar", False),
    ("foo.bar.>", False),
]

# TestSublistMatchLiterals: matchLiteral(literal, subject), plus the match cases of
# testSublistSimple, ...PartialWildcard(AtEnd), ...FullWildcard, ...TwoTokenPubMatchSingleTokenSub
# and ...InsertWithWildcardsAsLiterals, as (published literal, pattern, matches).
NATS_MATCHES = [
    ("foo", "foo", True),
    ("foo", "bar", False),
    ("foo", "*", True),
    ("foo", ">", True),
    ("foo.bar", ">", True),
    ("foo.bar", "foo.>", True),
    ("foo.bar", "bar.>", False),
    ("stats.test.22", "stats.>", True),
    ("stats.test.22", "stats.*.*", True),
    ("foo.bar", "foo", False),
    ("stats.test.foos", "stats.test.foos", True),
    ("stats.test.foos", "stats.test.foo", False),
    ("stats.test", "stats.test.*", False),
    ("stats.test.foos", "stats.*", False),
    ("stats.test.foos", "stats.*.*.foos", False),
    ("*bar", "*bar", True),
    ("foo*", "foo*", True),
    ("foo*bar", "foo*bar", True),
    ("foo.***.bar", "foo.***.bar", True),
    (">bar", ">bar", True),
    ("foo>", "foo>", True),
    ("foo>bar", "foo>bar", True),
    ("foo.>>>.bar", "foo.>>>.bar", True),
    ("foo.bar.baz", "foo.bar.baz", True),
    ("a.b.c", "a.b.c", True),
    ("a.b.c", "a.*.c", True),
    ("a.b.c", "a.b.*", True),
    ("a.b.c", "a.>", True),
    ("foo.bar", "foo", False),
    ("foo.bar", "foo.*-", False),
    ("foo.bar", "foo.>-", False),
    ("foo.*-", "foo.*-", True),
    ("foo.>-", "foo.>-", True),
]


@pytest.mark.parametrize(("subject", "valid"), NATS_VALID_SUBJECTS)
def test_patterns_follow_nats_is_valid_subject(subject: str, valid: bool) -> None:
    assert is_valid_subject(subject) is valid
    if valid:
        assert split_pattern(subject) == tuple(subject.split("."))
    else:
        with pytest.raises(ValueError, match=re.escape(repr(subject))):
            split_pattern(subject)


@pytest.mark.parametrize(("subject", "valid"), NATS_VALID_SUBJECTS)
def test_topics_follow_nats_is_valid_publish_subject(subject: str, valid: bool) -> None:
    publishable = valid and subject_is_literal(subject)
    assert is_valid_publish_subject(subject) is publishable
    if publishable:
        assert split_topic(subject) == tuple(subject.split("."))
    else:
        with pytest.raises(ValueError):
            split_topic(subject)


@pytest.mark.parametrize(("subject", "literal"), NATS_LITERAL_SUBJECTS)
def test_literal_subjects_as_nats(subject: str, literal: bool) -> None:
    assert is_valid_literal_subject(subject) is literal


@pytest.mark.parametrize(("subject", "literal"), NATS_IS_LITERAL)
def test_subject_is_literal_as_nats(subject: str, literal: bool) -> None:
    assert subject_is_literal(subject) is literal


@pytest.mark.parametrize(("topic", "pattern", "matches"), NATS_MATCHES)
def test_matching_as_nats(topic: str, pattern: str, matches: bool) -> None:
    assert topic_matches(pattern, topic) is matches
    index: TopicIndex[str] = TopicIndex()
    index.add(pattern, "sub")
    assert index.lookup(topic) == (("sub",) if matches else ())


@pytest.mark.anyio
async def test_the_bus_accepts_what_nats_accepts_and_refuses_the_rest() -> None:
    """A token like ``foo*`` is a literal for subscribing and publishing alike."""
    import actors

    seen: list[str] = []
    async with actors.open_system() as system:
        system.bus.subscribe("price.foo*", lambda event: seen.append(event.topic))
        system.bus.subscribe("price.*", lambda event: seen.append("any:" + event.topic))
        await system.bus.publish("price.foo*", 1)
        await system.bus.publish("price.foo", 2)
        await system.bus.publish("price.\x0b", 3)  # not NATS whitespace
        with pytest.raises(ValueError, match="whitespace"):
            await system.bus.publish("price.a b", 4)
        with pytest.raises(ValueError, match="whitespace"):
            system.bus.subscribe("price.\t", print)
        await anyio.wait_all_tasks_blocked()
    assert sorted(seen) == sorted(
        ["price.foo*", "any:price.foo*", "any:price.foo", "any:price.\x0b"]
    )


def test_non_strings_are_rejected() -> None:
    with pytest.raises(TypeError):
        split_topic(b"a.b")  # type: ignore[arg-type]
