"""``llmspell state get|set|keys|delete``: what an operator types, sees, and the exit codes."""

from __future__ import annotations

import json
import pathlib

import anyio
import pytest

from llmspell._cli import main
from llmspell.state import SqliteStateStore


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["state", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_set_get_keys_delete(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "state.db")
    assert run(capsys, "set", "greeting", "hello", "--state", db) == (0, "", "")
    assert run(capsys, "set", "n", "42", "--state", db)[0] == 0
    assert run(capsys, "set", "quoted", '"42"', "--state", db)[0] == 0
    assert run(capsys, "set", "context", '{"topic": "qc"}', "--state", db)[0] == 0
    assert run(capsys, "set", "context.user", "Ada", "--state", db)[0] == 0
    assert run(capsys, "get", "greeting", "--state", db) == (0, "hello\n", "")
    assert run(capsys, "get", "greeting", "--json", "--state", db) == (0, '"hello"\n', "")
    assert run(capsys, "get", "context.user", "--state", db) == (0, "Ada\n", "")
    code, out, _ = run(capsys, "get", "context", "--state", db)
    assert json.loads(out) == {"topic": "qc", "user": "Ada"} and "\n  " in out  # pretty
    assert run(capsys, "keys", "--state", db) == (0, "context\ngreeting\nn\nquoted\n", "")
    assert run(capsys, "keys", "g", "--json", "--state", db) == (0, '["greeting"]\n', "")
    assert run(capsys, "delete", "n", "--state", db) == (0, "", "")
    code, out, err = run(capsys, "delete", "n", "--state", db)
    assert code == 1 and "no value at 'n' in scope 'global'" in err

    async def stored() -> dict[str, object]:
        async with SqliteStateStore(db) as store:
            return await store.items("global")

    assert anyio.run(stored) == {
        "greeting": "hello",
        "quoted": "42",
        "context": {"topic": "qc", "user": "Ada"},
    }


def test_scopes_and_the_json_file_store(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    assert run(capsys, "set", "runs", "3", "--scope", "spell:report", "--state", str(path))[0] == 0
    assert run(capsys, "keys", "--state", str(path)) == (0, "", "")
    assert run(capsys, "keys", "--scope", "spell:report", "--state", str(path))[1] == "runs\n"
    assert json.loads(path.read_text()) == {"spell:report": {"runs": 3}}


def test_the_store_comes_from_the_environment_and_the_config(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMSPELL_STATE", str(tmp_path / "env.db"))
    assert run(capsys, "set", "a", "1")[0] == 0
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("LLMSPELL_STATE")
    (tmp_path / "llmspell.toml").write_text('[state]\npath = "conf.json"\n')
    assert run(capsys, "set", "a", "2")[0] == 0
    assert json.loads((tmp_path / "conf.json").read_text()) == {"global": {"a": 2}}
    (tmp_path / "llmspell.toml").unlink()
    assert run(capsys, "set", "a", "3")[0] == 0
    assert (tmp_path / ".llmspell" / "state.db").exists()  # the default


def test_reading_a_store_that_does_not_exist_creates_nothing(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "none.db"
    code, out, err = run(capsys, "get", "a", "--state", str(db))
    assert code == 1 and out == "" and "no state store at" in err and str(db) in err
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "a..b"], "state.get: parameter 'path' 'a..b' is not a valid path"),
        (["set", "x", "not json", "--json"], "VALUE is not JSON"),
        (["get", "a", "--scope", ""], "parameter 'scope'"),
    ],
)
def test_bad_input_is_a_usage_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    db = str(tmp_path / "state.db")
    assert run(capsys, "set", "a", "1", "--state", db)[0] == 0
    code, _, err = run(capsys, *args, "--state", db)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_corrupt_database_is_named_without_a_traceback(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"not sqlite at all " * 300)
    code, _, err = run(capsys, "keys", "--state", str(db))
    assert code == 2
    assert (
        err
        == f"llmspell: error: state store '{db}': is not a SQLite database (is it the right file?)\n"
    )


def test_help_says_how_values_are_read(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["state", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "read as JSON when it parses as JSON" in out and "spell:NAME" in out
    assert "get" in out and "set" in out and "keys" in out and "delete" in out


def test_run_takes_a_state_flag(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    spell = tmp_path / "counter.lua"
    spell.write_text("print(state.update('runs', function(n) return (n or 0) + 1 end))\n")
    db = str(tmp_path / "runs.db")
    for expected in ("1\n", "2\n"):
        assert main(["run", str(spell), "--state", db]) == 0
        assert capsys.readouterr().out == expected
    assert run(capsys, "get", "runs", "--scope", "spell:counter", "--state", db)[1] == "2\n"


@pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
def test_the_notes_spell_remembers_across_runs(
    ext: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spell = str(pathlib.Path(__file__).resolve().parents[2] / "spells" / f"notes.{ext}")
    db = str(tmp_path / "state.db")
    assert main(["run", spell, "--state", db, "-p", "add=buy milk"]) == 0
    assert capsys.readouterr().out == "1. buy milk\n1 note(s), run #1\n"
    assert main(["run", spell, "--state", db, "-p", "add=call Ada", "-p", "user=ada"]) == 0
    assert capsys.readouterr().out == "1. buy milk\n2. call Ada\n2 note(s), run #2\n"
    assert main(["run", spell, "--state", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == {"keys": ["stats.runs"], "runs": 3}
    assert run(capsys, "get", "note_count", "--scope", "user:ada", "--state", db)[1] == "2\n"
    assert run(capsys, "get", "last_spell", "--state", db)[1] == "notes\n"


def test_run_reports_a_damaged_state_file_before_the_spell_starts(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spell = tmp_path / "hello.lua"
    spell.write_text("print('started')\n")
    db = tmp_path / "state.db"
    db.write_bytes(b"not sqlite at all " * 300)
    assert main(["run", str(spell), "--state", str(db)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err
        == f"llmspell: error: state store '{db}': is not a SQLite database (is it the right file?)\n"
    )
    assert main(["run", str(spell), "--state", str(tmp_path / "new.db")]) == 0
    assert capsys.readouterr().out == "started\n"
    assert not (tmp_path / "new.db").exists()  # created when a spell first uses state
