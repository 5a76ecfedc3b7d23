"""Running spells: each run is an actor under the ``spells`` supervisor.

A crash, timeout or memory blow-up ends that run with a clear error and never the process.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

import actors

from ._api import Session, Surface, build_surface
from ._config import Config
from ._exceptions import (
    SpellError,
)
from ._services import Services
from .engines import Limits, ScriptValue, engine_for
from .providers import Provider, resolve_default_model
from .tools import Permissions, ToolRegistry, builtin_tools

_log = logging.getLogger("llmspell.spell")

Output = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class RunResult:
    """The outcome of one spell run (what ``llmspell run --json`` prints).

    Attributes:
        status: ``"ok"``, ``"error"``, or ``"stopped"`` (ended by :meth:`Runtime.stop`).
        error_type: the error's class name (``SpellRuntimeError``, ``LimitExceeded`` ...).
        error_line: the spell line the error points at, when known.
    """

    spell: str
    run_id: str
    engine: str
    status: str
    value: ScriptValue = None
    error: str | None = None
    error_type: str | None = None
    error_line: int | None = None
    traceback: str | None = None
    duration: float = 0.0
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)
    output_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SpellSource:
    """A spell to run: its text and the file name errors should name."""

    source: str
    filename: str

    @classmethod
    def from_path(cls, path: str | pathlib.Path) -> SpellSource:
        p = pathlib.Path(path)
        return cls(p.read_text(encoding="utf-8"), str(path))

    @functools.cached_property
    def name(self) -> str:
        return pathlib.Path(self.filename).stem


def _default_log(level: str, message: str, fields: dict[str, Any]) -> None:
    level_no = {"debug": 10, "info": 20, "warn": 30, "error": 40}.get(level, 20)
    _log.log(level_no, "%s %s", message, fields if fields else "")


class _OutputMeter:
    """Passes printed text on and counts it (the engine enforces the output limit)."""

    def __init__(self, sink: Output) -> None:
        self.sink = sink
        self.written = 0

    def __call__(self, text: str) -> None:
        self.written += len(text.encode("utf-8", "surrogatepass"))
        self.sink(text)


@dataclasses.dataclass
class RunRequest:
    spell: SpellSource
    params: dict[str, Any]
    run_id: str
    output: Output
    log: Callable[[str, str, dict[str, Any]], None]
    limits: Limits
    permissions: Permissions | None = None


class SpellRun(actors.Actor):
    """The actor that owns one spell run: engine instance, session, events and hooks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.scope: anyio.CancelScope | None = None

    async def on_receive(self, message: Any) -> RunResult:
        assert isinstance(message, RunRequest)
        try:
            return await self.runtime._execute(message, self)
        finally:
            self.context.stop()  # one run per actor: Runtime.run then finds it ended

    def cancel(self) -> None:
        """End the run now (a resident spell stops listening; main code is cancelled)."""
        if self.scope is not None:
            self.scope.cancel()


class Runtime:
    """Runs spells on an actor system. Create with :func:`open_runtime`."""

    def __init__(
        self,
        system: actors.ActorSystem,
        supervisor: Any,
        *,
        limits: Limits,
        surface: Surface,
        services: Services | None = None,
    ) -> None:
        self.system = system
        self.services = services
        self.surface = surface
        self._supervisor = supervisor
        self.limits = limits
        self._active: dict[str, SpellRun] = {}

    def stop(self, run_id: str) -> bool:
        """Stop the run ``run_id`` (resident or not); False if no such run is active."""
        actor = self._active.get(run_id)
        if actor is None:
            return False
        actor.cancel()
        return True

    @property
    def active_runs(self) -> tuple[str, ...]:
        """The ids of the runs in progress."""
        return tuple(self._active)

    async def run(
        self,
        spell: SpellSource | str | pathlib.Path,
        *,
        params: dict[str, Any] | None = None,
        output: Output | None = None,
        log: Callable[[str, str, dict[str, Any]], None] | None = None,
        limits: Limits | None = None,
        permissions: Permissions | None = None,
        run_id: str | None = None,
    ) -> RunResult:
        """Run a spell to completion (for a resident spell: until it stops listening).

        ``limits`` and ``permissions`` override the runtime's for this run only.
        Errors inside the spell never raise here: they are in the returned result.
        """
        if not isinstance(spell, SpellSource):
            spell = SpellSource.from_path(spell)
        request = RunRequest(
            spell=spell,
            params=dict(params or {}),
            run_id=run_id or uuid.uuid4().hex[:12],
            output=output or (lambda text: None),
            log=log or _default_log,
            limits=limits or self.limits,
            permissions=permissions,
        )
        ref = await self._supervisor.spawn(
            SpellRun, self, name=f"spell:{spell.name}:{request.run_id}", restart="temporary"
        )
        try:
            result: RunResult = await ref.ask(request, timeout=None)
        except BaseException:  # cancelled while waiting: the run ends too
            self.stop(request.run_id)
            with anyio.CancelScope(shield=True):
                await ref.stop()
            raise
        await ref.stop()  # the actor ended itself after the run: this only forgets it
        return result

    async def _execute(self, request: RunRequest, actor: SpellRun) -> RunResult:
        spell = request.spell
        started = time.perf_counter()
        engine_name = "?"
        meter = _OutputMeter(request.output)
        session = Session(
            system=self.system,
            run_id=request.run_id,
            spell=spell.name,
            filename=spell.filename,
            params=request.params,
            log=request.log,
            services={"permissions": request.permissions} if request.permissions else None,
        )
        base = {"spell": spell.name, "runId": request.run_id}
        hook_data = {"run_id": request.run_id, "spell": spell.name}
        self._active[request.run_id] = actor
        value: ScriptValue = None
        error: BaseException | None = None
        try:
            engine = engine_for(spell.filename)
            engine_name = engine.name
            api = self.surface.api(session, meter)
            await self.system.hooks.run("spell.before_run", base, hook_data)
            await self.system.bus.publish("spell.started", dict(base, engine=engine_name))
            with anyio.CancelScope() as actor.scope:
                async with engine.open(spell.source, spell.filename, api, request.limits) as inst:
                    value = await inst.run_main()
                    if session.resident:
                        session.log(
                            "info",
                            f"{spell.name} is resident: handling events until its handlers "
                            "are removed (events.off) or the run is stopped",
                            {"subscriptions": len(session.subscriptions)},
                        )
                        await session.wait_idle()
        except (
            Exception
        ) as exc:  # spell errors, cancelling hooks, even a bug of ours: this run only
            error = exc
        finally:
            with anyio.CancelScope(shield=True):
                await session.aclose()
            self._active.pop(request.run_id, None)
        stopped = actor.scope is not None and actor.scope.cancelled_caught and error is None
        if stopped:
            error = SpellError("the run was stopped")
        duration = time.perf_counter() - started
        result = RunResult(
            spell=spell.name,
            run_id=request.run_id,
            engine=engine_name,
            status="ok" if error is None else "stopped" if stopped else "error",
            value=value if error is None else None,
            error=None if error is None else str(error),
            error_type=None if error is None else type(error).__name__,
            error_line=getattr(error, "line", None),
            traceback=getattr(error, "traceback", None) or None,
            duration=duration,
            usage=session.usage.as_dict(),
            output_bytes=meter.written,
        )
        if error is None or stopped:
            await self.system.bus.publish(
                "spell.finished",
                dict(base, status=result.status, duration=duration, usage=result.usage),
            )
        else:
            await self.system.bus.publish(
                "spell.failed", dict(base, error=result.error, errorType=result.error_type)
            )
        await self.system.hooks.run("spell.after_run", result, hook_data)
        return result


@asynccontextmanager
async def open_runtime(
    config: Config | None = None,
    *,
    limits: Limits | None = None,
    model: str | None = None,
    permissions: Permissions | None = None,
    tools: ToolRegistry | None = None,
    provider: Provider | None = None,
    notice: Callable[[str], None] | None = None,
    system: actors.ActorSystem | None = None,
) -> AsyncIterator[Runtime]:
    """Open a spell runtime: an actor system (or ``system``, owned by the caller), a provider,
    the tool registry, and the ``spells`` and ``tools`` supervisors (agents run under the
    latter).

    Args:
        config: settings from :func:`llmspell.load_config`; the other arguments override it.
        limits: sandbox limits for runs that do not pass their own.
        model: the default model (else ``LLMSPELL_MODEL``, the config, the offline model).
        permissions: what tools may do; default from ``config`` (nothing risky granted).
        tools: the shared tools; default: the built-ins.
        provider: the LLM provider; default: litellm with the default model.
        notice: receives one-off notices for the user (e.g. "the offline model answered").
    """
    if system is None:
        async with (
            actors.open_system() as own,
            open_runtime(
                config,
                limits=limits,
                model=model,
                permissions=permissions,
                tools=tools,
                provider=provider,
                notice=notice,
                system=own,
            ) as runtime,
        ):
            yield runtime
        return
    config = config or Config()
    if permissions is None:
        permissions = Permissions.from_flags(
            allow=config.allow,
            workspace=config.workspace,
            http_hosts=config.http_hosts,
            http_allow_private=config.http_allow_private,
        )
    if provider is None:
        provider = Provider(
            default_model=resolve_default_model(model, config_model=config.model),
            fallbacks=config.fallbacks,
        )
    if tools is None:
        tools = ToolRegistry(builtin_tools())
    spells = await system.spawn_supervisor(
        name="spells", strategy="one_for_one", max_restarts=1000, period=1.0
    )
    workers = await system.spawn_supervisor(
        name="tools", strategy="one_for_one", max_restarts=100, period=1.0
    )
    services = Services(
        system, workers, provider=provider, tools=tools, permissions=permissions, notice=notice
    )
    yield Runtime(
        system,
        spells,
        limits=limits or config.limits,
        surface=build_surface(services.namespaces()),
        services=services,
    )


__all__ = ["RunResult", "Runtime", "SpellSource", "open_runtime"]
