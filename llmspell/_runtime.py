"""Running spells: each run is an actor under the ``spells`` supervisor.

A crash, timeout or memory blow-up ends that run with a clear error and never the process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

import actors

from ._api import build_surface
from ._config import Config
from ._exceptions import ConfigError
from ._ops import (
    NO_HEADERS,
    Attachable,
    Observer,
    Operations,
    RunRequest,
    RunResult,
    Session,
    SessionLink,
    SpellMetrics,
    SpellRun,
    SpellSource,
)
from .engines import Limits, engines
from .providers import Provider, resolve_default_model
from .state import DEFAULT_STATE_PATH, SqliteStateStore, StateStore, create_state_store
from .tools import Permissions, ToolRegistry, builtin_tools

_log = logging.getLogger("llmspell.spell")

Output = Callable[[str], None]
LogSink = Callable[[str, str, dict[str, Any]], None]
_LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}


def _default_log(level: str, message: str, fields: dict[str, Any]) -> None:
    _log.log(_LEVELS.get(level, 20), "%s %s", message, fields if fields else "")


async def _close_shielded(store: StateStore) -> None:
    with anyio.CancelScope(shield=True):
        await store.aclose()


class Runtime:
    """Runs spells on an actor system. Create with :func:`open_runtime`.

    Attributes:
        system: the actor system (bus, hooks) the spells run on.
        ops: the operations the runs share (provider, tools, permissions, observer).
        limits: the sandbox limits of runs that do not pass their own.
    """

    def __init__(self, ops: Operations, spells: actors.SupervisorRef, *, limits: Limits) -> None:
        self.ops = ops
        self.system = ops.system
        self.limits = limits
        self._spells = spells
        self._surface = build_surface()

    def stop(self, run_id: str) -> bool:
        """Stop the run ``run_id`` (resident or not); False if no such run is active."""
        cancel = self.ops.active.get(run_id)
        if cancel is None:
            return False
        cancel()
        return True

    def interrupt(self, reason: str = "interrupted", run_id: str | None = None) -> int:
        """Interrupt the run ``run_id`` (every active run if None): its script stops within
        about 100 ms even while it computes, and the run ends with ``SpellInterrupted``.
        Safe to call from a signal handler. Returns how many runs were interrupted."""
        targets = list(self.ops.interrupts.items())
        count = 0
        for rid, interrupt in targets:
            if run_id is None or rid == run_id:
                interrupt(reason)
                count += 1
        return count

    @property
    def active_runs(self) -> tuple[str, ...]:
        """The ids of the runs in progress."""
        return tuple(self.ops.active)

    async def run(
        self,
        spell: SpellSource | str | pathlib.Path,
        *,
        params: dict[str, Any] | None = None,
        output: Output | None = None,
        log: LogSink | None = None,
        limits: Limits | None = None,
        permissions: Permissions | None = None,
        run_id: str | None = None,
        resident: bool = False,
        headers: Mapping[str, str] | None = None,
        session: SessionLink | None = None,
    ) -> RunResult:
        """Run a spell to completion.

        The run ends when the spell's main code has returned and nothing is left to do (no
        event queued for its handlers, no handler running); ``limits.timeout_seconds`` bounds
        all of it. With ``resident=True`` (the daemon's mode) a spell that still has event
        handlers keeps handling events until it removes them or is stopped.

        ``output`` receives the spell's printed text as it is produced; without it the text is
        collected into the result's ``output``. ``limits`` and ``permissions`` override the
        runtime's for this run only; ``headers`` is the trace context the run nests under.
        ``session`` is for :meth:`open_session`: the run serves it once its main code returned.
        Errors inside the spell never raise here: they are in the returned result.
        """
        if not isinstance(spell, SpellSource):
            spell = SpellSource.from_path(spell)
        printed: list[str] | None = None
        if output is None:
            printed = []
            output = printed.append
        request = RunRequest(
            spell=spell,
            params=dict(params or {}),
            run_id=run_id or os.urandom(6).hex(),
            output=output,
            log=log or _default_log,
            limits=limits or self.limits,
            permissions=permissions or self.ops.permissions,
            make_api=self._surface.api,
            resident=resident,
            headers=headers or NO_HEADERS,
            session=session,
            printed=printed,
        )
        ref = await self._spells.spawn(
            SpellRun, self.ops, name=f"spell:{spell.name}:{request.run_id}", restart="temporary"
        )
        try:
            result: RunResult = await ref.ask(request, timeout=None)
        except BaseException:  # cancelled while waiting: the run ends too
            self.stop(request.run_id)
            with anyio.CancelScope(shield=True):
                await ref.stop()
            raise
        await ref.stop()  # the actor ended itself after the run: this only forgets it
        if printed is not None:  # the run's own result has it; one a hook made may not
            text = "".join(printed)
            if result.output != text:
                result = dataclasses.replace(result, output=text)
        return result

    @asynccontextmanager
    async def open_session(
        self,
        engine: str = "lua",
        *,
        output: Output,
        params: dict[str, Any] | None = None,
        log: LogSink | None = None,
        limits: Limits | None = None,
        permissions: Permissions | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> AsyncIterator[Session]:
        """Open a session for a REPL: a resident run of an empty spell named ``repl`` (its
        state scope is ``spell:repl``) in which :meth:`Session.evaluate` runs inputs.

        The run goes through the same hooks, events, API, permissions and limits as
        :meth:`run`; ``limits.cpu_seconds`` and ``timeout_seconds`` apply to each input.
        Handlers the inputs register keep running between inputs, until the session closes.

        Args:
            engine: an engine's name or extension, ``"lua"`` or ``"js"`` (an engine without
                :meth:`ScriptInstance.evaluate` fails at the first input).
            output: receives what the inputs and handlers print.
            notice: told when the session had to start a fresh run (a JS input that hit a
                limit ends its instance).
        """
        extensions = {e.name: e.extensions[0] for e in engines()}
        extensions |= {ext.lstrip("."): ext for ext in list(extensions.values())}
        if engine not in extensions:
            known = ", ".join(sorted(extensions))
            raise ConfigError(f"unknown engine {engine!r} (known: {known})")
        spell = SpellSource("", f"repl{extensions[engine]}")
        error: Exception | None = None
        async with anyio.create_task_group() as tg:

            async def start(link: SessionLink) -> None:
                async def serve() -> None:
                    try:
                        result = await self.run(
                            spell,
                            params=params,
                            output=output,
                            log=log,
                            limits=limits,
                            permissions=permissions,
                            resident=True,
                            session=link,
                        )
                    finally:
                        link.ready.set()
                    link.ended(result)

                tg.start_soon(serve)

            session = Session(start, notice or (lambda message: _log.info("%s", message)))
            try:
                await session.start()
                yield session
            except Exception as exc:  # re-raised below, not wrapped in an ExceptionGroup
                error = exc
            finally:
                session.close()
        if error is not None:
            raise error


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
    observability: Observer | None = None,
    state: StateStore | str | os.PathLike[str] | None = None,
    event_log: actors.EventLog | str | os.PathLike[str] | None = None,
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
        observability: watches every operation: the observability layer's tracing and
            metrics (``observability.create_observer(...)``), or any :class:`llmspell.Observer`.
            If it has a ``spell_metrics`` (a :class:`llmspell.SpellMetrics`), the spells'
            ``metrics.*`` calls record there; if it is :class:`llmspell.Attachable`, it is
            attached to the actor system while the runtime is open.
        state: the state store (the caller closes it), or the path of one to open on first
            use and close with the runtime (``":memory:"``: keep nothing); default:
            ``config.state``, else ``.llmspell/state.db`` under the current directory. Durable
            workflows record their runs in the same database.
        event_log: log the bus's events durably (an :class:`actors.EventLog`, or a database
            path, usually the state database); only for a system this call creates.
    """
    config = config or Config()
    async with AsyncExitStack() as stack:
        if system is None:
            system = await stack.enter_async_context(actors.open_system(event_log=event_log))
        if tools is None:
            tools = ToolRegistry(builtin_tools())
        if permissions is None:
            permissions = Permissions.from_flags(
                allow=config.allow,
                workspace=config.workspace,
                http_hosts=config.http_hosts,
                http_allow_private=config.http_allow_private,
                known=tools.permissions(),
            )
        if provider is None:
            provider = Provider(
                default_model=resolve_default_model(model, config_model=config.model),
                fallbacks=config.fallbacks,
            )
        spells = await system.spawn_supervisor(
            name="spells", strategy="one_for_one", max_restarts=1000, period=1.0
        )
        workers = await system.spawn_supervisor(
            name="tools", strategy="one_for_one", max_restarts=100, period=1.0
        )
        if isinstance(state, StateStore):
            store = state
        else:  # opened on first use: a runtime whose spells keep no state creates no file
            store = create_state_store(state or config.state or DEFAULT_STATE_PATH)
            stack.push_async_callback(_close_shielded, store)
        ops = Operations(
            system,
            workers,
            provider=provider,
            tools=tools,
            permissions=permissions,
            notice=notice,
            observer=observability,
            state=store,
            state_path=store.path if isinstance(store, SqliteStateStore) else ":memory:",
            metrics=_spell_metrics(observability),
        )
        stack.push_async_callback(ops.aclose)
        if isinstance(observability, Attachable):
            stack.callback(observability.attach(system))
        yield Runtime(ops, spells, limits=limits or config.limits)


def _spell_metrics(observability: Observer | None) -> SpellMetrics | None:
    metrics: SpellMetrics | None = getattr(observability, "spell_metrics", None)
    return metrics


__all__ = ["RunResult", "Runtime", "Session", "SpellSource", "open_runtime"]
