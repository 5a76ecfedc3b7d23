"""The JavaScript engine: spells run in QuickJS (quickjs-ng), one Context per instance.

Importing this package is cheap: quickjs and the bridge are imported on the first
:meth:`JsEngine.open` or :meth:`JsEngine.check`. How it works (the modules of this package hold
the pieces):

* **One way into Python.** The prelude (``prelude.js``) takes the one Python function the
  host adds, ``HOST``, before any spell code runs. API functions are JS stubs calling it:
  ``sync_api`` functions (``llm.agent``, ``events.on``, ``json.*``, ``log.*`` ...) run there
  and then and return their value, no Promise; the others start their call and return a
  Promise the host settles later. ``print``/``console.*`` go through it too.
* **A driver task owns the Context** (:mod:`._instance`). Each *turn* hands the Context one
  batch (settled API calls, callback invocations, released functions), runs pending jobs until
  none is left, and takes the queue: finished invocations, unhandled rejections. The task that
  posts a message (an API call that finished, a caller of a script function) runs the turn
  itself when none is in progress, so a round trip needs no switch to the driver. Started
  calls run concurrently (``Promise.all`` really overlaps) on a few workers that take them in
  order, spawning a task only when a call has to wait.
* **Callbacks.** A script function reaching Python becomes a :class:`ScriptFunction`; calling
  it posts an invocation, so it runs while the main code is suspended in an API call and may
  itself call the API. Python's handle is released when garbage-collected. The calls an
  invocation's code makes run in its caller's context (:mod:`contextvars`: the trace context,
  the actor or event delivery it came from), as in Lua, where the caller's task runs them:
  each message carries the context its code belongs to (the caller's for an invocation, the
  call's for a result), a turn applies messages in runs of one context, each followed by the
  jobs it queued, inside that context, and a worker sets a call's context around its await.
  So code a callback resumes after ``await`` stays the callback's.
* **Limits.** quickjs-ng's own time limit would refuse every call into Python, so the engine
  installs its own interrupt handler (:mod:`._interrupt`): it stops the script once the thread
  has used what is left of the CPU budget, or at the wall-clock deadline; the thread CPU time
  of each turn is added to the instance's total, so the budget holds across turns and
  callbacks. QuickJS's interrupt cannot be caught (``try``/``finally`` do not run). Memory is
  QuickJS's heap limit; output is counted by the shared :class:`OutputMeter`. A limit hit in
  Python while the script runs (output, an API function raising it) makes the script spin
  until the interrupt handler ends it. Any limit ends the instance: pending API calls are
  cancelled and every waiting caller gets :class:`LimitExceeded`.
* **Errors** keep the spell's file name and line (:mod:`._errors`). An API call that rejects
  while nothing handles its Promise (no ``await``/``then``/``catch``/combinator by the end of
  the next turn, or when the run has nothing else to do) fails the run. A run waiting on a
  Promise that nothing can settle fails at once ("deadlock") unless Python still holds one of
  its functions.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from .._base import Api, Engine, Limits, ScriptInstance

if TYPE_CHECKING:
    from .._facts import SourceFacts


class JsEngine(Engine):
    """Runs ``.js`` spells in a quickjs-ng sandbox."""

    name = "javascript"
    extensions = (".js", ".mjs")

    def check(self, source: str, filename: str) -> None:
        """Compile ``source`` without running it; raise SpellSyntaxError with file and line."""
        from ._errors import compile_check, syntax_error

        problem = compile_check(source)
        if problem:
            raise syntax_error(filename, problem)

    def facts(self, source: str, filename: str) -> SourceFacts:
        """The names ``source`` uses (see :class:`SourceFacts`): a tokenizer and a walk; the
        language's own globals are read off a fresh QuickJS context."""
        from ._errors import builtin_globals
        from ._scope import source_facts

        return source_facts(source, builtin_globals())

    def open(
        self, source: str, filename: str, api: Api, limits: Limits
    ) -> AbstractAsyncContextManager[ScriptInstance]:
        """Load ``source`` into a fresh Context exposing ``api``; see :class:`Engine`."""
        from ._instance import open_instance

        return open_instance(source, filename, api, limits)


ENGINE = JsEngine
