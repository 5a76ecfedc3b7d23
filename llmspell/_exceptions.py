"""Exceptions raised by the spell runtime.

Hierarchy::

    SpellError
    ├── SpellSyntaxError        the spell does not compile (file, line, message)
    │   └── IncompleteInput     ... because it stops mid-statement (a REPL reads on)
    ├── SpellRuntimeError       the spell raised (file, line, message, script traceback)
    ├── LimitExceeded           a sandbox limit ended the run (memory, cpu, timeout, output)
    │   └── SpellInterrupted    the run was interrupted from outside (Ctrl-C, a daemon stopping it)
    ├── SpellClosedError        a callback into a spell whose run has ended
    ├── ParameterError          an API call got a bad argument (names the parameter)
    ├── ProviderError           an LLM call failed after its retries (names model and cause)
    ├── ToolError               a tool failed or refused (names the tool)
    └── ConfigError             bad configuration (file, variable or flag)

Errors from Lua, JS and providers are mapped at the seam (``raise SpellRuntimeError(...) from
exc``), keeping the spell's file name and line.
"""

from __future__ import annotations


class SpellError(Exception):
    """Root of every error raised by the spell runtime."""


class SpellSyntaxError(SpellError):
    """The spell does not compile.

    Attributes:
        filename: the spell's file name as given to the engine.
        line: 1-based line number, or None when the engine does not say.
        message: the engine's message without the location prefix.
        column: 1-based column on that line, or None when the engine does not say.
    """

    def __init__(
        self, filename: str, line: int | None, message: str, column: int | None = None
    ) -> None:
        where = f"{filename}:{line}" if line is not None else filename
        super().__init__(f"{where}: syntax error: {message}")
        self.filename = filename
        self.line = line
        self.message = message
        self.column = column


class IncompleteInput(SpellSyntaxError):
    """The source ends before its statement does (``function f()`` without ``end``; an open
    brace): the engine's own syntax error says so (Lua's ``near <eof>``, QuickJS's ``unexpected
    end of input``). ``llmspell repl`` then reads another line instead of reporting it."""


class SpellRuntimeError(SpellError):
    """The spell raised an error that it did not catch.

    Attributes:
        filename: the spell's file name.
        line: 1-based line of the innermost frame in the spell, or None.
        message: the error message without the location prefix.
        traceback: the script-level traceback as text ("" if unavailable).
    """

    def __init__(self, filename: str, line: int | None, message: str, traceback: str = "") -> None:
        where = f"{filename}:{line}" if line is not None else filename
        super().__init__(f"{where}: {message}")
        self.filename = filename
        self.line = line
        self.message = message
        self.traceback = traceback


class LimitExceeded(SpellError):
    """A sandbox limit ended the run. Scripts cannot catch it.

    Attributes:
        limit: which limit: ``"memory"``, ``"cpu"``, ``"timeout"`` or ``"output"``; or
            ``"interrupt"`` when the user stopped a REPL input (Ctrl-C).
    """

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(f"{limit} limit exceeded: {detail}")
        self.limit = limit
        self.detail = detail


class SpellInterrupted(LimitExceeded):
    """The run was interrupted from outside (``ScriptInstance.interrupt``): SIGINT under
    ``llmspell run``, a daemon stopping the run. Like a limit, it ends the run for good and the
    script cannot catch it; ``limit`` is ``"interrupt"``, ``detail`` the reason given.
    """

    def __init__(self, reason: str) -> None:
        SpellError.__init__(self, f"interrupted: {reason}")
        self.limit = "interrupt"
        self.detail = reason


class SpellClosedError(SpellError):
    """A script function was called after its spell's run ended."""


class ParameterError(SpellError, ValueError):
    """An API call got a bad argument.

    Attributes:
        function: the API function, e.g. ``"llm.complete"``.
        parameter: the parameter's name, e.g. ``"messages"``.
    """

    def __init__(self, function: str, parameter: str, problem: str) -> None:
        super().__init__(f"{function}: parameter '{parameter}' {problem}")
        self.function = function
        self.parameter = parameter
        self.problem = problem


class ProviderError(SpellError):
    """An LLM call failed after its retries and fallbacks.

    Attributes:
        model: the model that was asked last.
        cause: a short description of the cause.
    """

    def __init__(self, model: str, cause: str) -> None:
        super().__init__(f"model {model!r} failed: {cause}")
        self.model = model
        self.cause = cause


class ToolError(SpellError):
    """A tool call failed or was refused.

    Attributes:
        tool: the tool's name.
    """

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(f"tool {tool!r}: {message}")
        self.tool = tool
        self.message = message


class ConfigError(SpellError):
    """Bad configuration: a config file entry, an environment variable or a flag."""
