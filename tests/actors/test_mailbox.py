"""Bounded mailboxes: each overflow policy, and its drop count."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actors

from .helpers import spawn_blocked

pytestmark = pytest.mark.anyio


async def test_wait_policy_tell_raises_and_send_waits_for_room() -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system, mailbox_size=2, overflow="wait")
        ref.tell(1)
        ref.tell(2)
        with pytest.raises(actors.MailboxFullError, match="full"):
            ref.tell(3)
        with pytest.raises(actors.WouldBlock):
            ref.tell_nowait(3)
        async with anyio.create_task_group() as tg:
            tg.start_soon(ref.send, 3)  # waits for room...
            await anyio.wait_all_tasks_blocked()
            assert ref.statistics().mailbox_depth == 2
            release.set()  # ...which comes as the actor catches up
        assert await ref.ask("end") == "end"
        assert seen == [1, 2, 3, "end"]
        assert ref.statistics().dropped == 0


async def test_wait_policy_ask_waits_for_room_within_its_timeout() -> None:
    async with actors.open_system() as system:
        ref, release, _ = await spawn_blocked(system, mailbox_size=1, overflow="wait")
        ref.tell(1)
        with pytest.raises(actors.AskTimeoutError, match="no room"):
            await ref.ask("x", timeout=0.02)
        release.set()
        assert await ref.ask("y") == "y"


async def test_raise_policy_refuses_every_form() -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system, mailbox_size=1, overflow="raise")
        ref.tell(1)
        with pytest.raises(actors.MailboxFullError):
            ref.tell(2)
        with pytest.raises(actors.MailboxFullError):
            await ref.send(2)
        with pytest.raises(actors.MailboxFullError):
            await ref.ask(2)
        release.set()
        await anyio.wait_all_tasks_blocked()  # the actor catches up
        assert await ref.ask("end") == "end"
        assert seen == [1, "end"]
        assert ref.statistics().dropped == 0  # refused, not dropped: the sender knows


async def test_drop_newest_drops_and_counts() -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system, mailbox_size=2, overflow="drop_newest")
        for i in range(5):
            ref.tell(i)
        await ref.send(5)
        with pytest.raises(actors.MailboxFullError):
            await ref.ask("dropped ask")  # an ask cannot be silently dropped
        assert ref.statistics().dropped == 5
        release.set()
        await anyio.wait_all_tasks_blocked()  # the actor catches up
        assert await ref.ask("end") == "end"
        assert seen == [0, 1, "end"]


async def test_drop_oldest_drops_and_counts() -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system, mailbox_size=2, overflow="drop_oldest")
        errors: list[Exception] = []

        async def ask() -> None:
            try:
                await ref.ask("first ask", timeout=None)
            except actors.MailboxFullError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            for i in range(5):
                ref.tell(i)
        assert len(errors) == 1  # the ask was dropped to make room: its caller is told
        assert ref.statistics().dropped == 4
        release.set()
        await anyio.wait_all_tasks_blocked()  # the actor catches up
        assert await ref.ask("end") == "end"
        assert seen == [3, 4, "end"]


async def test_mailbox_validation() -> None:
    async with actors.open_system() as system:
        with pytest.raises(ValueError, match="overflow"):
            await system.spawn(actors.Actor, overflow="sometimes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mailbox_size"):
            await system.spawn(actors.Actor, mailbox_size=0)
        with pytest.raises(ValueError, match="restart"):
            await system.spawn(actors.Actor, restart="sometimes")  # type: ignore[arg-type]


async def test_cancelled_sender_passes_the_room_on() -> None:
    async with actors.open_system() as system:
        ref, release, _ = await spawn_blocked(system, mailbox_size=1)
        ref.tell(0)
        sent: list[Any] = []
        scopes: dict[int, anyio.CancelScope] = {}

        async def send(value: int) -> None:
            with anyio.CancelScope() as scopes[value]:
                await ref.send(value)
                sent.append(value)

        async with anyio.create_task_group() as tg:
            tg.start_soon(send, 1)
            tg.start_soon(send, 2)
            await anyio.wait_all_tasks_blocked()
            scopes[1].cancel()
            release.set()
        await anyio.wait_all_tasks_blocked()  # the actor catches up
        assert await ref.ask("end") == "end"
        assert 2 in sent


@settings(max_examples=25, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=5),
    count=st.integers(min_value=0, max_value=12),
    policy=st.sampled_from(["drop_newest", "drop_oldest"]),
)
async def test_drop_policies_match_a_model(capacity: int, count: int, policy: str) -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system, mailbox_size=capacity, overflow=policy)
        for i in range(count):
            ref.tell(i)
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert await ref.ask("end") == "end"
        kept = (
            list(range(count))[:capacity]
            if policy == "drop_newest"
            else list(range(count))[-capacity:]
        )
        assert seen == [*kept, "end"]
        assert ref.statistics().dropped == count - len(kept)
