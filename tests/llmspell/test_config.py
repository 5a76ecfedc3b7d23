"""Configuration: llmspell.toml, LLMSPELL_* variables, and clear errors naming what is wrong."""

from __future__ import annotations

import pathlib
import re

import pytest

from llmspell import ConfigError
from llmspell._config import load_config


def test_file_then_environment(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "llmspell.toml"
    path.write_text(
        'model = "openai/a"\nfallbacks = ["openai/b"]\n[limits]\nmemory_mb = 8\ncpu_seconds = 2\n'
        '[permissions]\nallow = ["fs.read"]\nhttp_hosts = ["example.com"]\n'
    )
    config = load_config(path, env={"LLMSPELL_MODEL": "openai/c", "LLMSPELL_TIMEOUT_SECONDS": "9"})
    assert config.model == "openai/c" and config.fallbacks == ("openai/b",)
    assert config.limits.memory_bytes == 8 * 2**20 and config.limits.cpu_seconds == 2
    assert config.limits.timeout_seconds == 9
    assert config.allow == ("fs.read",) and config.http_hosts == ("example.com",)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("modle = 'x'\n", {}, "unknown key 'modle'"),
        ("[limits]\ncpu_seconds = -1\n", {}, "cpu_seconds: must be a positive number"),
        ("model = \n", {}, "llmspell.toml"),
        ("", {"LLMSPELL_MEMORY_MB": "lots"}, "LLMSPELL_MEMORY_MB: must be a number"),
    ],
)
def test_errors_name_the_key(tmp_path: pathlib.Path, text: str, env: dict, message: str) -> None:
    path = tmp_path / "llmspell.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env=env)


def test_missing_explicit_file_is_an_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml", env={})


def test_the_state_path_from_the_file_then_the_environment(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "llmspell.toml"
    path.write_text('[state]\npath = "data/state.db"\n')
    assert load_config(path, env={}).state == "data/state.db"
    assert load_config(path, env={"LLMSPELL_STATE": ":memory:"}).state == ":memory:"
    assert load_config(tmp_path / "llmspell.toml", env={}).state == "data/state.db"
    path.write_text("")
    assert load_config(path, env={}).state is None  # the runtime's default


@pytest.mark.parametrize(
    "text", ['[state]\nfile = "x.db"\n', 'state = "x.db"\n', "[state]\npath = 3\n"]
)
def test_a_bad_state_table_names_it(tmp_path: pathlib.Path, text: str) -> None:
    path = tmp_path / "llmspell.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"\[state\]"):
        load_config(path, env={})


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_runtime_refuses_a_permission_no_tool_declares(anyio_backend: str) -> None:
    """``allow = ["fs.raed"]`` in llmspell.toml is a typo, not a silently useless grant; a
    permission that a tool passed in declares is fine."""
    from llmspell import Config, open_runtime
    from llmspell.tools import Tool, ToolRegistry

    with pytest.raises(
        ConfigError, match=re.escape("unknown permission 'fs.raed'; known: fs.read")
    ):
        async with open_runtime(Config(allow=("fs.raed",))):
            pass

    async def handler(args: dict, ctx: object) -> str:
        return "ok"

    db = Tool("db_write", "write the db", {}, handler, permission="db.write", source="python")
    async with open_runtime(Config(allow=("db",)), tools=ToolRegistry([db])) as rt:
        assert rt.ops.permissions.grants("db.write")
