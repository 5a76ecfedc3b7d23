"""The ``llmspell`` command line.

Exit codes: 0 success, 1 the spell failed (syntax, runtime error, limit), 2 usage error
(bad flags, missing file, bad configuration), 130 interrupted, 141 standard output was closed
(``llmspell run x.lua | head -1``: the run ends quietly at its next ``print``, with the status
a shell reports for ``cat`` ended by SIGPIPE, 128 + 13).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from . import __version__, _cli_events, _cli_observe, _cli_repl, _cli_serve, _cli_types
from ._cli_common import CONFIG_HELP, add_run_flags, run_permissions, run_settings
from ._cli_common import params as _params
from ._cli_state import add_state_parser, open_existing_store, state_command
from ._exceptions import ConfigError, LimitExceeded

EXIT_OK, EXIT_SPELL_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CLOSED_OUTPUT = 141  # 128 + SIGPIPE: what a shell reports for `cat` whose reader went away


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, as wide as argparse makes it, measured without shutil: argparse
    makes a formatter for every flag added, and its ``shutil.get_terminal_size`` would bring
    shutil (with bz2, lzma and zlib) into every run's start-up."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = _columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


def _columns() -> int:
    """``shutil.get_terminal_size().columns``: ``COLUMNS``, else the terminal's, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)  # (sub-parsers are _Parsers too)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse exits 2 too; keep its message short
        self.print_usage(sys.stderr)
        print(f"llmspell: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``command``, only that command's sub-parser (the
    others cost a run's start-up some 4% for flags it never reads)."""
    parser = _Parser(
        prog="llmspell",
        description="Run spells: Lua or JavaScript programs that drive LLMs, tools and events.",
    )
    parser.add_argument("--version", action="version", version=f"llmspell {__version__}")
    parser.add_argument("--config", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in _COMMAND_PARSERS.items():
        if command is None or command == name:
            add(sub)
    return parser


def _add_run(sub: Any) -> None:
    run = sub.add_parser("run", help="run a spell (.lua or .js)")
    run.add_argument("file", help="the spell file")
    add_run_flags(run)
    run.add_argument("--json", action="store_true", help="print the result and summary as JSON")
    run.add_argument(
        "--log-events",
        action="store_true",
        help="keep the run's events in the state database (read them with llmspell events tail)",
    )
    _cli_observe.add_flags(run)


def _add_tools(sub: Any) -> None:
    tools = sub.add_parser("tools", help="list the tools spells can call, with parameters")
    tools.add_argument("--json", action="store_true", help="print as JSON")


def _add_models(sub: Any) -> None:
    models = sub.add_parser("models", help="list known models with context window and price")
    models.add_argument("provider", nargs="?", help="only this provider (e.g. openai)")
    models.add_argument("--json", action="store_true", help="print as JSON")


def _add_check(sub: Any) -> None:
    check = sub.add_parser("check", help="report syntax errors and unknown API names")
    check.add_argument("file", nargs="+", help="spell files")


def _add_workflows(sub: Any) -> None:
    from . import _cli_workflows

    _cli_workflows.add_parser(sub)


# Each command's sub-parser, in the order `llmspell --help` lists them.
_COMMAND_PARSERS: dict[str, Callable[[Any], None]] = {
    "run": _add_run,
    "tools": _add_tools,
    "models": _add_models,
    "check": _add_check,
    "repl": _cli_repl.add_parser,
    "types": _cli_types.add_parser,
    "state": add_state_parser,
    "events": _cli_events.add_parser,
    "workflows": _add_workflows,
    "serve": _cli_serve.add_parser,
}


def _command(argv: list[str]) -> str | None:
    """The command ``argv`` names, when it is plain to see (only ``--config F`` before it);
    else None (help, version, an unknown command or flag: the whole parser reads it)."""
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            next(args, None)
        elif not arg.startswith("--config="):
            return arg if arg in _COMMAND_PARSERS else None
    return None


class _SpellOutput:
    """Writes what the spell prints to ``stream`` as it comes.

    When the reader goes away (``| head -1``) the write fails with a broken pipe; the run then
    ends at once with a limit error, which a spell cannot catch (a ``pcall(print, ...)`` loop
    ends too), and the CLI exits quietly with :data:`EXIT_CLOSED_OUTPUT`.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False

    def __call__(self, text: str) -> None:
        if not self.closed:
            try:
                self.stream.write(text)
                self.stream.flush()
                return
            except BrokenPipeError:
                self.closed = True
        raise LimitExceeded("output", "standard output was closed")


def _closed_output() -> int:
    """Stdout's reader went away: silence the rest (and Python's flush at exit) quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind sys.stdout: nothing to flush
        pass
    return EXIT_CLOSED_OUTPUT


def _notice(message: str) -> None:
    print(f"llmspell: {message}", file=sys.stderr, flush=True)


def _print_log(level: str, message: str, fields: dict[str, Any]) -> None:
    extra = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
    print(f"[{level}] {message}" + (f" {extra}" if extra else ""), file=sys.stderr, flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    import anyio

    from ._runtime import SpellSource, open_runtime
    from .engines import engine_for
    from .tools import ToolRegistry, builtin_tools

    config, limits = run_settings(args)
    params = _params(args.param)
    path = pathlib.Path(args.file)
    engine_for(path)  # an unknown extension is a usage error, before anything starts
    try:
        spell = SpellSource.from_path(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read spell: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    output = _SpellOutput(sys.stderr if args.json else sys.stdout)
    tools = ToolRegistry(builtin_tools())
    permissions = run_permissions(args, config, tools)
    uses_litellm = _uses_litellm(spell.source, args.model, config.model)
    if uses_litellm:
        threading.Thread(target=_import_litellm, name="import litellm", daemon=True).start()

    event_log = None
    if args.log_events:
        from ._config import state_path

        event_log = state_path(None, config)
        if event_log == ":memory:" or event_log.endswith(".json"):
            raise ConfigError(f"--log-events: needs an SQLite state database, not {event_log!r}")

    observed = _cli_observe.Observed.wanted(args)
    interrupted = False

    async def main() -> Any:
        nonlocal interrupted
        if observed is not None:
            observed.serve()
        runtime: Any = None
        loop = asyncio.get_running_loop()

        def on_sigint(signum: int, frame: Any) -> None:
            # The first Ctrl-C interrupts the script (even one computing: the engine polls
            # for it) and lets the run end cleanly; a second one stops waiting for that.
            nonlocal interrupted
            if interrupted or runtime is None:
                raise KeyboardInterrupt
            interrupted = True
            runtime.interrupt("SIGINT")  # a script computing stops at its next check
            for run_id in runtime.active_runs:
                runtime.stop(run_id)  # one waiting in an API call is cancelled
            loop.call_soon_threadsafe(_nothing)  # wake a loop asleep in select(): it cancels

        previous = _install_sigint(on_sigint)
        try:
            async with open_runtime(
                config,
                limits=limits,
                model=args.model,
                permissions=permissions,
                tools=tools,
                notice=_notice,
                event_log=event_log,
                observability=observed.observer if observed is not None else None,
            ) as runtime:
                await open_existing_store(runtime.ops.state)  # a damaged file: an error now
                if not uses_litellm:  # the event loop and the runtime have loaded too
                    _resume_gc()
                return await runtime.run(spell, params=params, output=output, log=_print_log)
        finally:
            _restore_sigint(previous)
            if observed is not None:
                await observed.stop_serving()

    result = anyio.run(main)
    if interrupted:
        print("llmspell: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if observed is not None:
        observed.report()
    if output.closed:
        return EXIT_CLOSED_OUTPUT if output.stream is sys.stderr else _closed_output()
    if args.json:
        print(_json_text(result.to_json()))
    elif not result.ok:
        print(f"error: {result.error}", file=sys.stderr)
        if result.traceback:
            print(result.traceback, file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_SPELL_ERROR


def _not_utf8(path: pathlib.Path, exc: UnicodeDecodeError) -> ConfigError:
    """The usage error for a spell file that is not UTF-8: names the file and the byte."""
    bad = exc.object[exc.start]
    problem = f"not UTF-8 text (byte {exc.start} is 0x{bad:02x}); save it as UTF-8"
    return ConfigError(f"{path}: {problem}")


def _nothing() -> None:
    pass


def _install_sigint(handler: Any) -> Any:
    """Handle SIGINT with ``handler`` (in the main thread only); return what was there."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(previous: Any) -> None:
    import signal

    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)


def _uses_litellm(source: str, model: str | None, config_model: str | None) -> bool:
    """Whether a spell will most likely call a litellm model: it mentions ``llm.`` and the
    default model is not the offline one (which never needs litellm)."""
    from .providers import is_offline_model, resolve_default_model

    return "llm." in source and not is_offline_model(resolve_default_model(model, config_model))


def _import_litellm() -> None:
    """Import litellm in the background while the engine starts and the spell runs up to its
    first call (which then waits for the import to finish instead of starting it)."""
    from .providers import load_litellm

    try:
        load_litellm()
    except Exception:  # the first call imports it again and reports why it fails
        pass
    finally:
        _resume_gc()


# -- the process -------------------------------------------------------------------------------

_gc_paused = False


def _resume_gc() -> None:
    """End the start-up pause of the garbage collector (see :func:`console`), once."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()  # what start-up made lives until exit: later collections skip it
        gc.enable()


def _json_text(value: Any) -> str:
    """``value`` as readable JSON (non-ASCII as itself); a lone surrogate (a JS string may hold
    one) is written as its ``\\uXXXX`` escape, which JSON allows and UTF-8 cannot encode."""
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    # (re's own cache compiles the pattern on first use: not on every run's start-up)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


def console() -> NoReturn:
    """The ``llmspell`` console script: :func:`main` in a process of its own.

    Owning the process, it spends less of its start-up on the garbage collector. Collection is
    paused while modules load (module-level objects live until exit: the collector finds
    nothing to free, yet it costs about a third of litellm's import), then resumed with those
    objects frozen, before the spell runs or once a background import of litellm is done. At
    exit everything left is frozen, so the interpreter's last collections have little to walk.
    """
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True
    code = main()
    _resume_gc()
    gc.freeze()
    sys.exit(code)


def _cmd_tools(args: argparse.Namespace) -> int:
    from .tools import builtin_tools

    tools = sorted(builtin_tools(), key=lambda t: t.name)
    if args.json:
        print(json.dumps([t.describe() for t in tools], indent=2))
        return EXIT_OK
    for tool in tools:
        perm = f"  [needs --allow {tool.permission}]" if tool.permission else ""
        print(f"{tool.name}{perm}\n    {tool.description}")
        props = tool.parameters.get("properties", {})
        required = set(tool.parameters.get("required", []))
        for name, schema in props.items():
            flag = "required" if name in required else "optional"
            desc = schema.get("description", "")
            print(f"    - {name} ({schema.get('type', 'any')}, {flag}) {desc}".rstrip())
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from .providers import Provider

    models = Provider().models(provider=args.provider)
    if args.json:
        print(json.dumps(models, indent=2))
        return EXIT_OK
    print(f"{'model':<52} {'context':>9} {'$/1M in':>9} {'$/1M out':>9}")
    for m in models:
        cin = m.get("input_cost_per_token") or 0.0
        cout = m.get("output_cost_per_token") or 0.0
        ctx = m.get("context_window") or 0
        print(f"{m['name']:<52} {ctx:>9} {cin * 1e6:>9.3f} {cout * 1e6:>9.3f}")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from ._api import describe_api
    from ._check import check_source

    api = describe_api()
    status = EXIT_OK
    for name in args.file:
        path = pathlib.Path(name)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read spell: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, exc) from None
        problems = check_source(source, str(path), api)
        for problem in problems:
            print(problem)
        if problems:
            status = EXIT_SPELL_ERROR
        else:
            print(f"{path}: ok")
    return status


def _cmd_state(args: argparse.Namespace) -> int:
    from ._config import load_config

    return state_command(args, load_config(args.config))


def _cmd_workflows(args: argparse.Namespace) -> int:
    from . import _cli_workflows
    from ._config import load_config

    return _cli_workflows.run(args, load_config(args.config))


def _cmd_repl(args: argparse.Namespace) -> int:
    _resume_gc()  # a session lives as long as the user types
    return _cli_repl.run(args)


def _cmd_serve(args: argparse.Namespace) -> int:
    _resume_gc()  # a daemon makes garbage for as long as it lives: collect it
    return _cli_serve.run(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``llmspell`` console script."""
    if argv is None:
        argv = sys.argv[1:]
    args = _parser(_command(argv)).parse_args(argv)
    commands = {
        "run": _cmd_run,
        "check": _cmd_check,
        "tools": _cmd_tools,
        "models": _cmd_models,
        "state": _cmd_state,
        "events": _cli_events.run,
        "workflows": _cmd_workflows,
        "serve": _cmd_serve,
        "repl": _cmd_repl,
        "types": _cli_types.run,
    }
    if args.command is None:
        _parser().print_help()
        return EXIT_USAGE
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        print(f"llmspell: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("llmspell: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `llmspell models | head`: the reader has all it wanted
        return _closed_output()
