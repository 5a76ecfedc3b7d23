"""One spell in one QuickJS Context, and the driver task that owns it (see the package)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import quickjs  # type: ignore[import-untyped]

from ..._exceptions import LimitExceeded, SpellClosedError, SpellError, SpellRuntimeError
from .._base import (
    Api,
    ApiCache,
    InstanceStatistics,
    Limits,
    OutputMeter,
    ScriptFunction,
    ScriptInstance,
    ScriptValue,
    call_sync,
    is_sync_api,
    limit_exceeded,
)
from ._codec import BridgeError, Codec, Op, api_op, dumps, no_functions
from ._errors import (
    SKIP,
    clone,
    compile_check,
    engine_error,
    failed_message,
    script_error,
    syntax_error,
)
from ._prelude import LINE_PAD, PRELUDE
from ._pyjson import json_messages

logger = logging.getLogger("llmspell.engines.js")

_SALVAGE_SECONDS = 0.05
_IDLE_WORKERS = 4
_NATIVE_JSON = ("encode", "decode")  # json.* functions the prelude implements (sync in JS)


def _bind(api: Api, codec: Codec) -> dict[str, Any]:
    """Register the Api's functions as ops of ``codec``; return the spec's ``ns`` and ``fn``."""
    namespaces = []
    for ns_name, ns in api.namespaces.items():
        fns = [
            [
                name,
                codec.add_op(api_op(fn, f"{ns_name}.{name}")),
                int(ns_name == "json" and name in _NATIVE_JSON and is_sync_api(fn)),
            ]
            for name, fn in ns.functions.items()
        ]
        dyn = -1 if ns.dynamic is None else codec.add_op(api_op(ns.dynamic, ns_name, True))
        namespaces.append([ns_name, fns, dyn, dict(ns.values)])
    functions = [[name, codec.add_op(api_op(fn, name))] for name, fn in api.functions.items()]
    return {"ns": namespaces, "fn": functions}


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every instance opened with the same Api shares (see :class:`ApiCache`).

    Attributes:
        ops: the API functions, in op order.
        messages: the error messages of Python's json functions, for the in-engine json.
        members: the spec's ``"ns":...,"fn":...`` text; None when the namespaces' values hold
            host objects or functions, which each instance's codec must encode itself.
    """

    ops: tuple[Op, ...]
    messages: str
    members: str | None


def _derive_plan(api: Api) -> _Plan:
    codec = Codec(no_functions)
    members = _bind(api, codec)
    flagged, text = codec.encode(members)
    messages = "{}"
    if any(native for _, fns, _, _ in members["ns"] for _, _, native in fns):
        encode = api.namespaces["json"].functions.get("encode")
        messages = json_messages(encode, _JsFunction.__name__)
    # Shared as text only when plain: no markers, and no key the decoder would take for one.
    shareable = not flagged and "\\u0000" not in text
    return _Plan(tuple(codec.ops), messages, text[1:-1] if shareable else None)


_plans = ApiCache(_derive_plan)


class _Waiter:
    """A Python caller waiting for the script: run_main or a ScriptFunction call."""

    __slots__ = ("deadline", "error", "event", "value")

    def __init__(self, deadline: float | None) -> None:
        self.event = anyio.Event()
        self.deadline = deadline
        self.value: ScriptValue = None
        self.error: BaseException | None = None

    def resolve(self, value: ScriptValue) -> None:
        self.value = value
        self.event.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.event.set()


class _Slot:
    """An idle worker waiting for its next request."""

    __slots__ = ("event", "job")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.job: tuple[int, Op, list[Any], str] | None = None


class _JsFunction(ScriptFunction):
    """A spell's function held by Python; calls go through the instance's driver."""

    def __init__(self, instance: _JsInstance, fid: int) -> None:
        self._instance = instance
        self._codec = instance._codec
        self._fid = fid
        self._count = 1  # times the script sent it while this handle lived

    async def __call__(self, *args: ScriptValue) -> ScriptValue:
        return await self._instance._invoke(self._fid, args)

    def __repr__(self) -> str:
        return f"<script function #{self._fid} of {self._instance._filename}>"

    def __del__(self) -> None:
        instance = self._instance
        if not instance._closed:
            instance._releases.append(f"[3,{self._fid},{self._count}]")


class _JsInstance(ScriptInstance):
    """One spell in one QuickJS Context, driven by :meth:`_drive`."""

    def __init__(self, source: str, filename: str, api: Api, limits: Limits) -> None:
        self._filename = filename
        self._api = api
        self._context = api.context
        self._limits = limits
        self._print = OutputMeter(api.output, limits)
        self._codec = Codec(lambda fid: _JsFunction(self, fid))
        self._inbox: list[str] = []
        self._releases: list[str] = []
        self._wake = anyio.Event()
        self._waiters: dict[int, _Waiter] = {}
        self._next_invocation = 1
        self._inflight = 0
        self._main_started = False
        self._main_settling = False
        self._fatal: SpellError | None = None
        self._closed = False
        self._cpu_used = 0.0
        self._api_calls = 0
        self._turn_deadline: float | None = None
        self._js_kind = "cpu"
        self._js_left = 0.0
        self._js_start = 0.0
        self._tg: anyio.abc.TaskGroup | None = None
        self._idle_workers: list[_Slot] = []
        self._ctx: Any = quickjs.Context()
        self._ctx.set_memory_limit(limits.memory_bytes)
        self._bridge: Any = self._load(source)

    # Setup and teardown -------------------------------------------------------------------

    def _load(self, source: str) -> Any:
        spec = self._spec()
        start = self._begin_js()
        try:
            init = self._enter(self._ctx.eval, PRELUDE)
            result = self._enter(init, spec, dumps("\n" * LINE_PAD + source))
        finally:
            self._cpu_used += time.thread_time() - start
        if isinstance(result, str):
            self._free()
            info = json.loads(result)
            if info["name"] != "SyntaxError":
                raise self._script_error(info)
            problem = compile_check(source) or f"SyntaxError: {info['message']}"
            raise syntax_error(self._filename, problem)
        return result

    def _spec(self) -> str:
        codec, api = self._codec, self._api
        plan = _plans(api)
        if plan.members is not None:
            codec.ops.extend(plan.ops)
            flagged, values = codec.encode(dict(api.values))
            text = f'{{{plan.members},"val":{values}}}'
        else:  # namespace values that need this instance's codec (host objects, functions)
            members = _bind(api, codec)
            flagged, text = codec.encode({**members, "val": dict(api.values)})
        return (
            f'{{"file":{dumps(self._filename)},"skip":{SKIP},"jm":{plan.messages},'
            f'"out":{self._limits.output_bytes},"f":{int(flagged)},"api":{text}}}'
        )

    def _close(self) -> None:
        self._closed = True
        for waiter in self._waiters.values():
            waiter.fail(SpellClosedError(f"{self._filename}: the spell instance was closed"))
        self._waiters.clear()
        self._wake.set()

    def _free(self) -> None:
        self._closed = True
        self._bridge = None
        self._ctx = None
        self._tg = None
        self._codec.detach()

    # Public API ---------------------------------------------------------------------------

    async def run_main(self) -> ScriptValue:
        """Run the spell's top level; see :meth:`ScriptInstance.run_main`."""
        self._check_usable()
        if self._main_started:
            raise RuntimeError("run_main() can be called once per instance")
        self._main_started = True
        waiter = _Waiter(self._new_deadline())
        self._waiters[0] = waiter
        self._post("[2]")
        return await self._wait(0, waiter)

    def statistics(self) -> InstanceStatistics:
        """CPU seconds used by the script, its heap size now, API calls made."""
        memory = self._ctx.memory()["malloc_size"] if self._ctx is not None else 0
        return InstanceStatistics(self._cpu_used, memory, self._api_calls)

    async def _invoke(self, fid: int, args: Sequence[ScriptValue]) -> ScriptValue:
        self._check_usable()
        flagged, text = self._codec.encode(list(args))
        invocation = self._next_invocation
        self._next_invocation += 1
        main = self._waiters.get(0)
        waiter = _Waiter(main.deadline if main is not None else self._new_deadline())
        self._waiters[invocation] = waiter
        self._post(f"[1,{invocation},{fid},{int(flagged)},{text}]")
        return await self._wait(invocation, waiter)

    def _check_usable(self) -> None:
        if self._closed:
            raise SpellClosedError(f"{self._filename}: the spell instance is closed")
        if self._fatal is not None:
            raise SpellClosedError(f"{self._filename}: the spell's run ended: {self._fatal}")

    def _new_deadline(self) -> float | None:
        timeout = self._limits.timeout_seconds
        return None if timeout is None else time.monotonic() + timeout

    async def _wait(self, key: int, waiter: _Waiter) -> ScriptValue:
        try:
            if waiter.deadline is None:
                await waiter.event.wait()
            else:
                with anyio.move_on_after(waiter.deadline - time.monotonic()):
                    await waiter.event.wait()
                if not waiter.event.is_set():
                    error = self._limit_exceeded("timeout")
                    self._die(error)
                    if not waiter.event.is_set():
                        waiter.fail(error)
        finally:
            if self._waiters.get(key) is waiter:
                del self._waiters[key]
        if waiter.error is not None:
            raise waiter.error
        return waiter.value

    def _post(self, message: str) -> None:
        self._inbox.append(message)
        self._wake.set()

    def _die(self, error: SpellError) -> None:
        if self._fatal is not None or self._closed:
            return
        self._fatal = error
        first = True
        for waiter in self._waiters.values():
            waiter.fail(error if first else clone(error))
            first = False
        self._waiters.clear()
        self._wake.set()

    # The driver ---------------------------------------------------------------------------

    async def _drive(self) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            while self._fatal is None and not self._closed:
                if self._inbox:
                    try:
                        self._turn()
                    except SpellError as exc:
                        self._die(self._salvage_output(exc))
                        break
                    except Exception as exc:
                        logger.exception("JS bridge failure in %s", self._filename)
                        self._die(
                            SpellRuntimeError(self._filename, None, f"internal error: {exc!r}")
                        )
                        break
                    if self._inbox:
                        await anyio.lowlevel.checkpoint()
                    continue
                self._idle()
                if self._fatal is None and not self._closed and not self._inbox:
                    await self._wake.wait()
                    self._wake = anyio.Event()
            # Idle workers just return; only calls still in flight are cancelled (cancelling
            # idle tasks too would leave their frames in reference cycles for the GC).
            for slot in self._idle_workers:
                slot.event.set()
            self._idle_workers.clear()
            if self._inflight:
                tg.cancel_scope.cancel()

    def _idle(self) -> None:
        """Nothing to feed the script: finish run_main, or detect a deadlock."""
        if self._inflight:
            return
        main = self._waiters.get(0)
        if main is not None and self._main_settling:
            self._main_settling = False
            del self._waiters[0]
            main.event.set()
            return
        if self._waiters and not self._codec.live_functions():
            error = SpellRuntimeError(
                self._filename,
                None,
                "deadlock: the spell awaits a Promise that nothing can settle",
            )
            if main is not None:
                self._die(error)
            else:
                for waiter in self._waiters.values():
                    waiter.fail(clone(error))

    def _turn(self) -> None:
        releases, self._releases = self._releases, []
        batch, self._inbox = self._inbox, []
        if releases:
            batch = releases + batch
        deadlines = [w.deadline for w in self._waiters.values() if w.deadline is not None]
        self._turn_deadline = min(deadlines) if deadlines else None
        ctx, bridge, enter = self._ctx, self._bridge, self._enter
        start = self._begin_js()
        try:
            enter(bridge, 1, "[" + ",".join(batch) + "]")
            while enter(ctx.execute_pending_job):
                pass
            text = enter(bridge, 2, None)
        finally:
            self._cpu_used += time.thread_time() - start
        self._process(text)

    def _begin_js(self) -> float:
        """Start a stretch of script execution; returns the thread CPU clock.

        Within the stretch each entry gets what is left of ``min(cpu budget, wall clock)``
        minus the wall time already spent in the stretch (wall >= CPU, so this never lets
        the script past its budget); the CPU time of the whole stretch is added at its end.
        """
        left = self._limits.cpu_seconds - self._cpu_used
        self._js_kind = "cpu"
        if self._turn_deadline is not None:
            wall = self._turn_deadline - time.monotonic()
            if wall < left:
                left, self._js_kind = wall, "timeout"
        self._js_left = left
        self._js_start = time.monotonic()
        return time.thread_time()

    def _enter(self, fn: Any, *args: Any) -> Any:
        """Call into QuickJS with the stretch's remaining time as its interrupt limit."""
        left = self._js_left - (time.monotonic() - self._js_start)
        if left <= 0:
            raise self._limit_exceeded(self._js_kind)
        self._ctx.set_time_limit(left)
        try:
            return fn(*args)
        except quickjs.JSException as exc:
            raise engine_error(
                exc, self._js_kind, self._turn_deadline, self._filename, self._limits
            ) from None

    def _process(self, text: str) -> None:
        try:
            entries = json.loads(text)
            for entry in entries:
                kind = entry[0]
                if kind == 1:
                    self._request(entry[1], entry[2], entry[3], entry[4])
                elif kind == 0:
                    self._output(entry[1])
                elif kind == 2:
                    self._completed(entry[1], entry[2], entry[3], entry[4])
                elif kind == 3:
                    self._unhandled(entry[1])
                elif kind == 5:
                    raise self._limit_exceeded("output")
                else:
                    raise BridgeError(f"unknown message {kind!r}")
        except (BridgeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise SpellRuntimeError(
                self._filename, None, f"internal bridge error: {exc!r}"
            ) from exc

    def _output(self, text: str) -> None:
        self._print(text)

    # Requests from the script -------------------------------------------------------------

    def _request(self, call_id: int, op_index: int, flagged: int, args: list[Any]) -> None:
        op = self._codec.ops[op_index]
        if flagged:
            args = self._codec.decode(args)
        self._api_calls += 1
        label = f"{op.label}.{args[0]}" if op.dynamic and args else op.label
        if not op.sync:
            self._inflight += 1
            job = (call_id, op, args, label)
            if self._idle_workers:
                slot = self._idle_workers.pop()
                slot.job = job
                slot.event.set()
            else:
                assert self._tg is not None
                self._tg.start_soon(self._worker, job)
            return
        try:
            value = call_sync(op.fn, [self._context, *args] if op.context else args, label)
        except LimitExceeded:
            raise
        except Exception as exc:
            self._inbox.append(failed_message(call_id, exc, label))
        else:
            self._inbox.append(self._settled(call_id, value, label))

    async def _worker(self, job: tuple[int, Op, list[Any], str]) -> None:
        """Run API requests; stay around (up to a few idle) for the next one.

        Handing a request to an idle worker costs a fraction of spawning a task.
        """
        while True:
            await self._run_request(*job)
            if len(self._idle_workers) >= _IDLE_WORKERS:
                return
            slot = _Slot()
            self._idle_workers.append(slot)
            await slot.event.wait()
            if slot.job is None:  # the driver is done
                return
            job = slot.job

    async def _run_request(self, call_id: int, op: Op, args: list[Any], label: str) -> None:
        try:
            if op.context:
                value = await op.fn(self._context, *args)
            else:
                value = await op.fn(*args)
        except LimitExceeded as exc:
            self._inflight -= 1
            self._die(exc)
            return
        except Exception as exc:
            message = failed_message(call_id, exc, label)
        except BaseException:
            self._inflight -= 1
            raise
        else:
            message = self._settled(call_id, value, label)
        self._inflight -= 1
        self._post(message)

    def _settled(self, call_id: int, value: ScriptValue, label: str) -> str:
        try:
            flagged, text = self._codec.encode(value)
        except (TypeError, RecursionError) as exc:
            return failed_message(call_id, TypeError(f"{label}: {exc} (in its result)"), label)
        return f"[0,{call_id},1,{int(flagged)},{text}]"

    # Results from the script --------------------------------------------------------------

    def _completed(self, invocation: int, ok: int, flagged: int, value: Any) -> None:
        if not ok:
            error = self._script_error(value)
            if invocation == 0 or isinstance(error, LimitExceeded):
                self._die(error)
            elif (waiter := self._waiters.get(invocation)) is not None:
                waiter.fail(error)
            return
        waiter = self._waiters.get(invocation)
        if waiter is None:
            return
        result = self._codec.decode(value) if flagged else value
        if invocation == 0:
            waiter.value = result
            self._main_settling = True
        else:
            waiter.resolve(result)

    def _unhandled(self, info: dict[str, Any]) -> None:
        error = self._script_error(info, "Uncaught (in promise) ")
        if 0 in self._waiters or isinstance(error, LimitExceeded):
            self._die(error)
        elif self._waiters:
            for waiter in self._waiters.values():
                waiter.fail(clone(error))
        else:
            logger.warning("%s", error)

    # Error mapping ------------------------------------------------------------------------

    def _limit_exceeded(self, kind: str) -> LimitExceeded:
        return limit_exceeded(kind, self._limits)

    def _script_error(self, info: dict[str, Any], prefix: str = "") -> SpellError:
        return script_error(info, self._filename, self._limits, prefix)

    def _salvage_output(self, error: SpellError) -> SpellError:
        """After a fatal error, still deliver what the spell printed before it."""
        if self._ctx is None or (isinstance(error, LimitExceeded) and error.limit == "output"):
            return error
        try:
            self._ctx.set_time_limit(_SALVAGE_SECONDS)
            entries = json.loads(self._bridge(2, None))
            for entry in entries:
                if entry[0] == 0:
                    self._print(entry[1])
                elif entry[0] == 5:
                    return self._limit_exceeded("output")
        except LimitExceeded as exc:
            return exc
        except Exception:
            pass
        return error


@contextlib.asynccontextmanager
async def open_instance(
    source: str, filename: str, api: Api, limits: Limits
) -> AsyncIterator[ScriptInstance]:
    """What :meth:`JsEngine.open` returns: the instance, with its driver task running."""
    instance = _JsInstance(source, filename, api, limits)
    error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(instance._drive)
            try:
                yield instance
            except Exception as exc:  # re-raised below, not wrapped in an ExceptionGroup
                error = exc
            finally:
                instance._close()  # the driver sees it and returns
    finally:
        instance._free()
    if error is not None:
        raise error
