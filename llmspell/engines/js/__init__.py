"""The JavaScript engine: spells run in QuickJS (quickjs-ng), one Context per instance.

Importing this package is cheap: quickjs and the bridge are imported on the first
:meth:`JsEngine.open` or :meth:`JsEngine.check`. How it works (the modules of this package hold
the pieces):

* **No Python callables in the Context.** quickjs-ng refuses every call into Python while a
  time limit is set (verified: ``InternalError: Can not call into Python with a time limit
  set``), and the time limit is the only thing that stops a runaway loop or regex. So API
  functions are pure JS stubs (``prelude.js``) that queue ``[id, op, args]`` and return a
  Promise; ``json.encode``/``json.decode`` run in JS (``pyjson.js``) because spells call
  them without ``await``.
* **A driver task owns the Context** (:mod:`._instance`). Each *turn* it hands the Context one
  batch (settled API calls, callback invocations, released functions), runs pending jobs until
  none is left, and takes the queue: output, new requests, finished invocations, unhandled
  rejections. Requests run concurrently in the driver's task group (``Promise.all`` really
  overlaps; a few idle workers are kept because a hand-off costs far less than a new task);
  ``sync_api`` functions run inline, in order with the output.
* **Callbacks.** A script function reaching Python becomes a :class:`ScriptFunction`; calling
  it posts an invocation to the driver, so it runs while the main code is suspended in an API
  call and may itself call the API. Python's handle is released when garbage-collected.
* **Limits.** Every entry into QuickJS gets ``set_time_limit`` with what is left of
  ``min(CPU budget, wall clock)``, and the thread CPU time of each turn is added to the
  instance's total, so the budget holds across turns and callbacks. QuickJS's interrupt cannot
  be caught (``try``/``finally`` do not run). Memory is QuickJS's heap limit; output is counted
  by ``api.output`` (and capped in JS). Any limit ends the instance: pending API calls are
  cancelled and every waiting caller gets :class:`LimitExceeded`.
* **Errors** keep the spell's file name and line (:mod:`._errors`). An API call that rejects
  while nothing handles its Promise (no ``await``/``then``/``catch``/combinator by the time the
  pending jobs ran out, as in Node) fails the run. A run waiting on a Promise that nothing can
  settle fails at once ("deadlock") unless Python still holds one of its functions.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from .._base import Api, Engine, Limits, ScriptInstance
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
