"""Hook points: results, order, sync/async handlers, isolation and fail-closed."""

from __future__ import annotations

from typing import Any

import pytest

from actors import (
    Cancel,
    HookCancelledError,
    HookContext,
    HookRegistry,
    Replace,
)

pytestmark = pytest.mark.anyio

POINT = "order.before_ship"


async def test_no_handlers_returns_the_value_itself() -> None:
    hooks = HookRegistry()
    value = {"prompt": "hi"}
    assert await hooks.run(POINT, value) is value
    assert not hooks.has_handlers(POINT)


async def test_continue_and_modify() -> None:
    hooks = HookRegistry()
    seen: list[Any] = []
    hooks.register(POINT, seen.append)  # returns None: continue unchanged
    hooks.register(POINT, lambda v: {**v, "temperature": 0.2})
    hooks.register(POINT, seen.append)
    result = await hooks.run(POINT, {"prompt": "hi"})
    assert result == {"prompt": "hi", "temperature": 0.2}
    assert seen == [{"prompt": "hi"}, result]


async def test_cancel_by_result_or_by_raising() -> None:
    hooks = HookRegistry()
    after: list[Any] = []
    reg = hooks.register(POINT, lambda v: Cancel("over budget"))
    hooks.register(POINT, after.append, priority=-1)
    with pytest.raises(HookCancelledError) as info:
        await hooks.run(POINT, 1)
    assert (info.value.point, info.value.reason) == (POINT, "over budget")
    reg.cancel()

    def refuse(value: Any) -> None:
        raise HookCancelledError("some.other.point", "not allowed")

    hooks.register(POINT, refuse)
    with pytest.raises(HookCancelledError) as info:
        await hooks.run(POINT, 1)
    assert (info.value.point, info.value.reason) == (POINT, "not allowed")
    assert after == []
    assert hooks.statistics().cancelled == 2


async def test_replace_stops_the_chain_and_is_returned() -> None:
    hooks = HookRegistry()
    later: list[Any] = []
    hooks.register(POINT, lambda v: Replace("cached answer"), priority=5)
    hooks.register(POINT, later.append)
    result = await hooks.run(POINT, "request")
    assert isinstance(result, Replace)
    assert result.result == "cached answer"
    assert later == []
    assert hooks.statistics().replaced == 1


async def test_priority_order_with_ties_in_registration_order() -> None:
    hooks = HookRegistry()
    order: list[str] = []
    for name, priority in [("a", 0), ("b", 10), ("c", 0), ("d", -5), ("e", 10)]:
        hooks.register(POINT, lambda v, name=name: order.append(name), priority=priority)
    await hooks.run(POINT, None)
    assert order == ["b", "e", "a", "c", "d"]


async def test_sync_async_and_context_handlers() -> None:
    hooks = HookRegistry()

    async def add_one(value: int) -> int:
        return value + 1

    class Doubler:
        async def __call__(self, value: int) -> int:
            return value * 2

    contexts: list[HookContext] = []

    def with_context(value: int, ctx: HookContext) -> int:
        contexts.append(ctx)
        return value + int(ctx.data["bonus"])

    hooks.register("tool.before_call", add_one, priority=3)
    hooks.register("tool.before_call", Doubler(), priority=2)
    hooks.register("tool.before_call", with_context, priority=1)
    hooks.register("tool.before_call", lambda v: v - 1)
    values: list[int] = []
    hooks.register("tool.before_call", lambda v, ctx=None: values.append(v))  # value only
    assert await hooks.run("tool.before_call", 1, {"bonus": 10}) == 13  # ((1+1)*2+10)-1
    assert contexts[0].point == "tool.before_call"
    assert contexts[0].data == {"bonus": 10}
    assert values == [13]


async def test_a_raising_handler_is_isolated_and_reported() -> None:
    reports: list[tuple[str, BaseException, str]] = []
    hooks = HookRegistry(on_handler_error=lambda *args: reports.append(args))

    def broken(value: int) -> int:
        raise ValueError("oops")

    hooks.register(POINT, lambda v: v + 1, priority=2)
    hooks.register(POINT, broken, priority=1, name="broken")
    hooks.register(POINT, lambda v: v * 10)
    assert await hooks.run(POINT, 1) == 20  # the operation continues, value unchanged
    ((point, exc, name),) = reports
    assert (point, type(exc), name) == (POINT, ValueError, "broken")
    stats = hooks.statistics()
    assert stats.failed == 1
    assert [h.failed for h in stats.handlers] == [0, 1, 0]


async def test_a_failing_error_callback_does_not_break_the_run() -> None:
    def bad_callback(point: str, exc: BaseException, name: str) -> None:
        raise RuntimeError("callback broken")

    hooks = HookRegistry(on_handler_error=bad_callback)
    hooks.register(POINT, lambda v: 1 / 0)
    assert await hooks.run(POINT, 5) == 5


async def test_fail_closed_cancels_the_operation() -> None:
    hooks = HookRegistry()

    async def guard(value: str) -> None:
        raise ConnectionError("policy server down")

    hooks.register(POINT, guard, fail_closed=True, name="policy")
    with pytest.raises(
        HookCancelledError, match="handler policy failed: policy server down"
    ) as info:
        await hooks.run(POINT, "request")
    assert isinstance(info.value.__cause__, ConnectionError)
    assert hooks.statistics().failed == 1


async def test_unregister_by_registration_or_id() -> None:
    hooks = HookRegistry()
    first = hooks.register(POINT, lambda v: v + 1)
    second = hooks.register(POINT, lambda v: v + 10)
    assert await hooks.run(POINT, 0) == 11
    hooks.unregister(first)
    first.cancel()  # idempotent
    assert await hooks.run(POINT, 0) == 10
    hooks.unregister(second.id)
    hooks.unregister(second.id)
    assert not hooks.has_handlers(POINT)
    assert await hooks.run(POINT, 0) == 0


async def test_statistics() -> None:
    hooks = HookRegistry()
    hooks.register(POINT, lambda v: None, name="noop", priority=3)
    await hooks.run(POINT, 1)
    await hooks.run(POINT, 2)
    await hooks.run("nobody.listens", 3)
    stats = hooks.statistics()
    assert (stats.runs, stats.cancelled, stats.replaced, stats.failed) == (2, 0, 0, 0)
    ((handler,),) = [stats.handlers]
    assert (handler.point, handler.name, handler.priority, handler.calls) == (POINT, "noop", 3, 2)


def test_invalid_registrations() -> None:
    hooks = HookRegistry()
    with pytest.raises(ValueError, match="empty token"):
        hooks.register("llm..x", print)
    with pytest.raises(ValueError, match="wildcard"):
        hooks.register("llm.*", print)
    with pytest.raises(TypeError):
        hooks.register(POINT, "not callable")  # type: ignore[arg-type]
