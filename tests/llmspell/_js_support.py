"""A small script API for the JavaScript engine tests: recording, gated, failing functions."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel

from llmspell._exceptions import LimitExceeded, ParameterError
from llmspell.engines import Api, HostObject, Limits, Namespace, ScriptFunction, sync_api
from llmspell.engines.js import JsEngine

ENGINE = JsEngine()
SMALL = Limits(memory_bytes=16 << 20, cpu_seconds=0.3, timeout_seconds=2.0, output_bytes=4096)


@dataclasses.dataclass
class Harness:
    """An Api plus everything the tests observe or control."""

    output_limit: int = 1 << 20
    output: list[str] = dataclasses.field(default_factory=list)
    calls: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    kept: list[ScriptFunction] = dataclasses.field(default_factory=list)
    gate_reached: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    gate_open: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    source_value: Any = None
    _printed: int = 0
    _barrier_count: int = 0
    _barrier: anyio.Event = dataclasses.field(default_factory=anyio.Event)

    def text(self) -> str:
        return "".join(self.output)

    def write(self, text: str) -> None:
        self._printed += len(text.encode("utf-8", "surrogatepass"))
        if self._printed > self.output_limit:
            raise LimitExceeded("output", f"more than {self.output_limit} bytes")
        self.output.append(text)

    def api(self) -> Api:
        h = self

        async def complete(request: Any = None) -> dict[str, Any]:
            if request is None:
                raise ParameterError("llm.complete", "messages", "is required")
            await anyio.lowlevel.checkpoint()
            return {"content": f"echo: {request}", "usage": {"total_tokens": 3}}

        async def stream(request: Any, on_chunk: ScriptFunction) -> dict[str, Any]:
            for word in str(request).split():
                await on_chunk(word)
            return {"content": request}

        @sync_api
        async def info(message: Any, fields: Any = None) -> None:
            h.calls.append(("log.info", message, fields))

        async def record(*args: Any) -> None:
            await anyio.lowlevel.checkpoint()
            h.calls.append(("record", *args))

        async def echo(value: Any = None) -> Any:
            return value

        @sync_api
        async def sync_echo(value: Any = None) -> Any:
            return value

        async def source() -> Any:
            return h.source_value

        async def fail(message: Any = "it failed") -> None:
            raise ValueError(message)

        async def gate() -> str:
            h.gate_reached.set()
            await h.gate_open.wait()
            return "opened"

        async def barrier(n: int) -> int:
            h._barrier_count += 1
            if h._barrier_count >= n:
                h._barrier.set()
            await h._barrier.wait()
            return h._barrier_count

        async def keep(fn: ScriptFunction) -> None:
            h.kept.append(fn)

        async def call(fn: ScriptFunction, *args: Any) -> Any:
            return await fn(*args)

        async def slow() -> None:
            await anyio.sleep(3600)

        async def hog() -> None:
            raise LimitExceeded("output", "raised by an API function")

        async def make_host(name: str) -> HostObject:
            async def greet(who: Any) -> str:
                return f"{name} greets {who}"

            return HostObject("Agent", {"greet": greet}, {"name": name, "tags": ("a", "b")})

        @sync_api
        async def make_agent(name: Any = None) -> HostObject:
            """Builds only, like llm.agent: marked sync_api, so JS gets the object itself."""
            if not isinstance(name, str):
                raise ParameterError("t.agent", "name", "must be a string")

            async def run(task: Any) -> str:
                await anyio.lowlevel.checkpoint()
                return f"{name} did {task}"

            @sync_api
            async def rename(new: Any) -> str:
                return f"{name} is now {new}"

            return HostObject("agent", {"run": run, "rename": rename}, {"name": name})

        async def dynamic(name: str, *args: Any) -> list[Any]:
            return [name, *args]

        async def tool_list() -> list[str]:
            return ["weather"]

        @sync_api
        async def print_(*args: Any) -> None:
            h.write(" ".join(map(str, args)) + "\n")

        async def sleep(seconds: float) -> None:
            await anyio.sleep(seconds)

        async def parallel(*fns: ScriptFunction) -> list[Any]:
            results: list[Any] = [None] * len(fns)

            async def one(i: int, fn: ScriptFunction) -> None:
                results[i] = await fn()

            async with anyio.create_task_group() as tg:
                for i, fn in enumerate(fns):
                    tg.start_soon(one, i, fn)
            return results

        t = {
            "record": record,
            "echo": echo,
            "syncEcho": sync_echo,
            "agent": make_agent,
            "source": source,
            "fail": fail,
            "gate": gate,
            "barrier": barrier,
            "keep": keep,
            "call": call,
            "slow": slow,
            "hog": hog,
            "host": make_host,
        }
        return Api(
            namespaces={
                "llm": Namespace({"complete": complete, "stream": stream}),
                "log": Namespace({"info": info}, values={"LEVEL": "info"}),
                "t": Namespace(t),
                "tools": Namespace({"list": tool_list}, dynamic=dynamic),
            },
            functions={"print": print_, "sleep": sleep, "parallel": parallel},
            values={"params": {"topic": "quantum", "n": 3, "nested": {"list": [1, 2]}}},
            output=h.write,
        )


async def run(source: str, harness: Harness | None = None, limits: Limits = SMALL) -> Any:
    """Open, run and close one spell; returns run_main's value."""
    harness = harness or Harness()
    with anyio.fail_after(10):
        async with ENGINE.open(source, "spell.js", harness.api(), limits) as instance:
            return await instance.run_main()


async def assert_fresh_instance_works() -> None:
    """After an attack, the process still runs spells normally."""
    harness = Harness()
    value = await run(
        "console.log('fresh'); const r = await llm.complete('ok'); return [r.content, ({}).x]",
        harness,
    )
    assert value == ["echo: ok", None]
    assert harness.text() == "fresh\n"


async def with_gate(
    instance_main: Callable[[], Awaitable[Any]],
    harness: Harness,
    body: Callable[[], Awaitable[None]],
) -> Any:
    """Run main; once it waits in ``t.gate()``, run ``body``, then open the gate."""
    result: list[Any] = []

    async def main() -> None:
        result.append(await instance_main())

    async with anyio.create_task_group() as tg:
        tg.start_soon(main)
        await harness.gate_reached.wait()
        await body()
        harness.gate_open.set()
    return result[0]
