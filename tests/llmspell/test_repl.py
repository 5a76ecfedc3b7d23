"""``llmspell repl`` driven as a user drives it: through a pseudo-terminal, keys and all.

Each test starts one ``llmspell repl`` process whose controlling terminal is a pty (so Ctrl-C
typed into it is a real SIGINT and ``readline`` edits lines), types lines and reads what the
terminal shows. Several behaviours share a process: start-up is the slow part.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import re
import select
import subprocess
import sys
import termios
import time

import pytest

from llmspell import IncompleteInput, SpellSyntaxError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

WAIT = 60.0  # generous: a loaded 2-core machine starts Python slowly; only a hang reaches it


def _controlling_tty() -> None:  # in the child, before exec: the pty becomes its terminal
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``llmspell repl ARGS`` on a pty: :meth:`type` a line, :meth:`expect` what shows."""

    def __init__(self, tmp_path: pathlib.Path, *args: str) -> None:
        self.master, slave = os.openpty()
        env = {
            **os.environ,
            "LLMSPELL_HISTORY": str(tmp_path / "history"),
            "LLMSPELL_STATE": str(tmp_path / "state.db"),
            "TERM": "dumb",
            "NO_COLOR": "1",
        }
        env.pop("LLMSPELL_MODEL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmspell", "repl", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=tmp_path,
            preexec_fn=_controlling_tty,
        )
        os.close(slave)
        self.seen = ""  # everything shown so far
        self.pos = 0  # where the next expect starts looking

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def line(self, text: str) -> None:
        self.type(text + "\r")

    def expect(self, pattern: str) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) shows after the last match; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + WAIT
        while True:
            found = regex.search(self.seen, self.pos)
            if found is not None:
                self.pos = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not self._read(0.2)):
                raise AssertionError(f"{pattern!r} never showed; the terminal shows:\n{self.seen}")
            self._read(min(left, 1.0))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the child closed the terminal
            return False
        self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def prompt(self) -> None:
        self.expect(r"(?m)^> $")

    def ctrl_c(self, shows: str) -> None:
        """Type Ctrl-C until ``shows`` shows. CPython's readline reacts to SIGINT only when it
        interrupts its wait for a key: one arriving while readline is still drawing the
        prompt (a test types at machine speed, right as the prompt shows) is noted but acted
        on only at the next signal or key. A person does not press Ctrl-C within
        microseconds of the prompt; a test may, so it presses again, as a person would."""
        for _ in range(10):
            self.type("\x03")
            try:
                self.expect_within(shows, 3.0)
                return
            except AssertionError:
                continue
        self.expect(shows)

    def expect_within(self, pattern: str, seconds: float) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + seconds
        while True:
            found = regex.search(self.seen, self.pos)
            if found is not None:
                self.pos = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} did not show within {seconds} s")
            self._read(min(left, 0.5))

    def ctrl_d(self) -> None:
        """Type Ctrl-D at an empty prompt. A ^D that reaches the terminal just before readline
        switches it to its own mode can be lost by the line discipline (as a human would find
        when typing ahead): repeat it until the process ends."""
        for _ in range(10):
            self.type("\x04")
            try:
                self.proc.wait(timeout=3)
                return
            except subprocess.TimeoutExpired:
                continue

    def exit_code(self) -> int:
        try:
            code = self.proc.wait(timeout=WAIT)
        finally:
            os.close(self.master)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def terminal(tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    made: list[Terminal] = []

    def start(*args: str) -> Terminal:
        made.append(Terminal(tmp_path, *args))
        return made[-1]

    yield start
    for term in made:
        term.close()


@pytest.mark.slow
def test_lua_session_values_multiline_errors_state_handlers_and_history(terminal, tmp_path):  # type: ignore[no-untyped-def]
    term = terminal()
    term.expect(r"llmspell repl \(lua\)")
    term.prompt()
    term.line("6 * 7")  # an expression's value
    term.expect(r"\n42\n")
    term.prompt()
    term.line("function twice(n)")  # an unfinished statement continues
    term.expect(r"(?m)^\.\. $")
    term.line("  return n * 2")
    term.expect(r"(?m)^\.\. $")
    term.line("end")
    term.prompt()
    term.line("twice(21.5)")
    term.expect(r"\n43\.0\n")
    term.line('error("boom")')  # an error is shown, and the session goes on
    term.expect(r"error: stdin:1: boom")
    term.prompt()
    term.line("counter = 10")  # globals persist between inputs
    term.prompt()
    term.line("counter + 5")
    term.expect(r"\n15\n")
    term.line('events.on("repl.ping", function(e) print("pong " .. e.n) end)')
    term.prompt()
    term.line('events.emit("repl.ping", {n = 7})')  # the handler runs between inputs
    term.expect(r"pong 7")
    term.line('print("shown", 1)')
    term.expect(r"shown\t1")
    term.line("local x = ")
    term.expect(r"(?m)^\.\. $")
    term.ctrl_c(r"(?m)^> $")  # Ctrl-C drops the unfinished input, and the session stays
    term.line("state.set('n', 3); state.get('n')")  # not an expression: no value printed
    term.prompt()
    term.line("state.get('n')")
    term.expect(r"\n3\n")
    term.ctrl_d()  # Ctrl-D leaves
    assert term.exit_code() == 0
    history = (tmp_path / "history").read_text()
    assert "twice(21.5)" in history and "counter + 5" in history


@pytest.mark.slow
def test_js_session_await_completion_values_and_declarations(terminal):  # type: ignore[no-untyped-def]
    term = terminal("--js")
    term.expect(r"llmspell repl \(javascript\)")
    term.line("const base = 40")
    term.prompt()
    term.line("base + 2")  # a top-level const persists; the completion value is printed
    term.expect(r"\n42\n")
    term.line('const r = await llm.complete("hello there")')  # top-level await
    term.prompt()
    term.line("r.content")
    term.expect(r'\n"\[offline model\] You said: hello there"\n')
    term.line("function add(a, b) {")
    term.expect(r"(?m)^\.\. $")
    term.line("  return a + b")
    term.line("}")
    term.prompt()
    term.line("await sleep(0); add(base, 3)")
    term.expect(r"\n43\n")
    term.line("null.foo")
    term.expect(r"error: stdin:1: TypeError: cannot read property 'foo' of null")
    term.prompt()
    term.line("({list: [1, 2], ok: true})")
    term.expect(r'\n\{"list": \[1, 2\], "ok": true\}\n')
    term.line(".exit")
    assert term.exit_code() == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("engine", "spin", "after"),
    [("--lua", "while true do end", "1 + 1"), ("--js", "for (;;) {}", "1 + 1")],
)
def test_limits_and_ctrl_c_end_the_input_not_the_session(terminal, engine, spin, after):  # type: ignore[no-untyped-def]
    term = terminal(engine, "--cpu-seconds", "1")
    term.prompt()
    term.line(spin)
    term.expect(r"error: cpu limit exceeded: the spell used more than 1 s of CPU time")
    term.prompt()
    term.line(after)
    term.expect(r"\n2\n")
    term.prompt()
    # (each input prints first, so that Ctrl-C comes while it runs, never before it starts)
    term.line('print("waiting"); ' + ("sleep(30)" if engine == "--lua" else "await sleep(30)"))
    term.expect(r"(?m)^waiting$")
    term.type("\x03")  # Ctrl-C stops an input waiting on an API call
    term.expect(r"interrupted")
    term.prompt()
    term.line(after)
    term.expect(r"\n2\n")
    term.ctrl_d()
    assert term.exit_code() == 0
    # ... and one running code, under a CPU limit that a loaded machine cannot reach before the
    # Ctrl-C does (under 1 s, a CI run once saw the limit end the spin first)
    term = terminal(engine, "--cpu-seconds", "60")
    term.prompt()
    term.line(
        'print("spinning"); ' + spin.replace("while true", "while 1 < 2").replace("(;;)", "(;1;)")
    )
    term.expect(r"(?m)^spinning$")
    term.type("\x03")
    term.expect(r"interrupted")
    term.prompt()
    term.line(after)
    term.expect(r"\n2\n")
    term.ctrl_d()
    assert term.exit_code() == 0


def test_piped_input_runs_without_prompts(tmp_path: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llmspell", "repl"],
        input="x = 2\nx ^ 10\nfunction f()\nreturn 'ok'\nend\nf()\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "LLMSPELL_STATE": ":memory:"},
        timeout=WAIT,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "1024.0\nok\n", "")


@pytest.mark.anyio
async def test_incomplete_inputs_are_told_apart_from_wrong_ones() -> None:
    from llmspell import open_runtime

    async with open_runtime(state=":memory:") as runtime:
        for engine, unfinished, wrong in [
            ("lua", ["function f()", "x = ", "t = {1,", "1 +", "if a then"], ["x = = 1", "1 2"]),
            ("js", ["function f() {", "let a = [1,", "/* note", "f(`a"], ["x = = 1", "1 2"]),
        ]:
            async with runtime.open_session(engine, output=lambda text: None) as session:
                for source in unfinished:
                    with pytest.raises(IncompleteInput):
                        await session.evaluate(source)
                for source in wrong:
                    with pytest.raises(SpellSyntaxError) as caught:
                        await session.evaluate(source)
                    assert not isinstance(caught.value, IncompleteInput), source


@pytest.mark.anyio
async def test_a_handler_over_its_limit_is_told_and_the_session_goes_on() -> None:
    import anyio

    from llmspell import Limits, open_runtime

    notices: list[str] = []
    async with open_runtime(state=":memory:", limits=Limits(cpu_seconds=0.3)) as runtime:
        async with runtime.open_session(
            "lua", output=lambda text: None, notice=notices.append
        ) as session:
            await session.evaluate('events.on("spin", function() while true do end end)')
            await session.evaluate('events.emit("spin", {})')
            await anyio.wait_all_tasks_blocked()  # the handler has run (and hit the limit)
            assert await session.evaluate("6 * 7") == 42
            assert notices == [
                "an event handler failed: cpu limit exceeded: "
                "the spell used more than 0.3 s of CPU time"
            ]
            assert await session.evaluate("2 + 2") == 4  # told once


@pytest.mark.anyio
async def test_a_js_input_over_its_limit_gets_a_fresh_session_and_says_so() -> None:
    from llmspell import LimitExceeded, Limits, open_runtime

    notices: list[str] = []
    async with open_runtime(state=":memory:", limits=Limits(cpu_seconds=0.3)) as runtime:
        async with runtime.open_session("js", output=lambda t: None, notice=notices.append) as s:
            await s.evaluate("var kept = 1")
            with pytest.raises(LimitExceeded, match="cpu limit exceeded"):
                await s.evaluate("for (;;) {}")
            assert notices == []
            assert await s.evaluate("typeof kept") == "undefined"
            assert notices == [
                "the session was restarted after that error: earlier definitions are gone"
            ]
            assert s.restarts == 1


def test_repl_flags_are_run_flags_parsed_alike(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from llmspell._cli import main

    spell = tmp_path / "x.lua"
    spell.write_text("return 1")
    for flags, message in [
        (["--cpu-seconds", "0"], "--cpu-seconds: must be positive"),
        (["--allow", "bogus"], "bogus"),
        (["-p", "novalue"], "expected KEY=VALUE"),
    ]:
        for command in (["run", str(spell)], ["repl"]):
            assert main([*command, *flags]) == 2, (command, flags)
            assert message in capsys.readouterr().err, (command, flags)


@pytest.mark.anyio
async def test_errors_name_the_input_and_its_line_in_both_engines() -> None:
    from llmspell import SpellRuntimeError, open_runtime

    async with open_runtime(state=":memory:") as runtime:
        for engine, define, call in [
            ("lua", "function boom(x)\n  return x.y.z\nend", "boom({})"),
            ("js", "function boom(x) {\n  return x.y.z\n}", "boom({})"),
        ]:
            async with runtime.open_session(engine, output=lambda text: None) as session:
                await session.evaluate(define)
                with pytest.raises(SpellRuntimeError) as caught:
                    await session.evaluate(call)
                assert str(caught.value).startswith("stdin:2: "), engine
                assert "stdin:2" in caught.value.traceback and "repl." not in caught.value.traceback
