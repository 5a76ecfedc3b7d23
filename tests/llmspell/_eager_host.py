"""An API of :func:`eager_api` functions (started from inside the spell's code) for the
eager-call tests of every engine."""

from __future__ import annotations

import contextvars
from typing import Any

import anyio
import anyio.lowlevel

from llmspell._exceptions import LimitExceeded, ParameterError
from llmspell.engines import Api, HostObject, Namespace, ScriptFunction, eager_api, sync_api


class EagerHost:
    """``e.now`` finishes where it starts, ``e.later`` waits once, ``e.held`` until
    ``release`` is set; ``e.bad``, ``e.later_bad`` fail (at once / after waiting), ``e.huge``
    returns what cannot cross, ``e.over`` hits a limit; ``e.mark()`` (sync) records how many
    had started; any other ``e.<name>`` is the dynamic ``key``. ``o.obj:m`` is ``method``
    (``later``, or ``now``) as a host object's method."""

    def __init__(self, method: str = "later") -> None:
        self.release = anyio.Event()
        self.started: list[str] = []
        self.marks: list[int] = []
        self.cleaned = 0
        self.output: list[str] = []
        self.callback: ScriptFunction | None = None
        self.var: contextvars.ContextVar[str] = contextvars.ContextVar("eager", default="none")

        @eager_api
        async def now(value: Any = None) -> Any:
            self.started.append(f"now {value}")
            return [value, self.var.get()]

        @eager_api
        async def later(value: Any = None) -> Any:
            self.started.append(f"later {value}")
            await anyio.lowlevel.checkpoint()
            return [value, self.var.get()]

        @eager_api
        async def held(callback: ScriptFunction) -> str:
            self.callback = callback
            try:
                await self.release.wait()
            finally:
                self.cleaned += 1
            return "released"

        @eager_api
        async def bad(value: Any = None) -> None:
            raise ParameterError("e.bad", "value", "is wrong")

        @eager_api
        async def later_bad(value: Any = None) -> None:
            await anyio.lowlevel.checkpoint()
            raise KeyError("late")

        @eager_api
        async def huge() -> Any:
            return {1, 2}  # (a set cannot cross)

        @eager_api
        async def over() -> None:
            raise LimitExceeded("output", "raised by an eager API function")

        @eager_api
        async def key(name: str, value: Any = None) -> Any:
            await anyio.lowlevel.checkpoint()
            return f"{name}={value}"

        @sync_api
        async def mark() -> None:
            self.marks.append(len(self.started))

        functions = {"now": now, "later": later, "held": held, "bad": bad, "later_bad": later_bad}
        functions |= {"huge": huge, "over": over, "mark": mark}
        self.api = Api(
            namespaces={
                "e": Namespace(functions, dynamic=key),
                "o": Namespace({}, values={"obj": HostObject("thing", {"m": functions[method]})}),
            },
            functions={},
            values={},
            output=self.output.append,
        )
