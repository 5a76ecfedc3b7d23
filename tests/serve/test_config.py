"""The daemon's settings and a spell's own configuration: parsed strictly, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmspell import ConfigError, load_config
from llmspell.serve import ServeSettings, SpellConfig, load_settings
from llmspell.serve._catalog import Catalog, LoadError
from llmspell.serve._spellconfig import parse_header, parse_table, spell_config


def test_a_header_holds_the_spells_settings() -> None:
    source = """#!/usr/bin/env llmspell
-- a comment first
-- llmspell: resident, allow=fs.read, concurrency=4
-- llmspell: timeout=30, cpu_seconds=0.5, allow=net.http, http_hosts=a.example b.example
x = 1
-- llmspell: concurrency=99
print("hi")
"""
    header = parse_header(source, "s.lua")
    assert header == {
        "resident": True,
        "allow": ("fs.read", "net.http"),
        "concurrency": 4,
        "timeout": 30.0,
        "cpu_seconds": 0.5,
        "http_hosts": ("a.example", "b.example"),
    }
    js = parse_header("// llmspell: resident=false, memory_mb=32\nconsole.log(1)", "s.js")
    assert js == {"resident": False, "memory_mb": 32.0}


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("-- llmspell: concurency=4", "unknown key 'concurency'"),
        ("-- llmspell: concurrency=four", "concurrency must be a number"),
        ("-- llmspell: concurrency=1.5", "whole number"),
        ("-- llmspell: timeout=0", "timeout must be positive"),
        ("-- llmspell: concurrency=2, concurrency=3", "concurrency is given twice"),
        ("-- llmspell: workspace", "expected KEY=VALUE"),
        ("-- llmspell: resident=maybe", "resident must be true or false"),
    ],
)
def test_a_bad_header_is_an_error_naming_file_line_and_key(line: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_header(f"-- intro\n{line}\nreturn 1", "bad.lua")
    assert named in str(caught.value)
    assert str(caught.value).startswith("bad.lua:2:")


def test_the_operators_table_wins_key_by_key() -> None:
    header = parse_header("-- llmspell: concurrency=4, timeout=30, allow=fs.read\n", "s.lua")
    table = parse_table({"concurrency": 2, "allow": ["fs"]}, "llmspell.toml [spells.s]")
    assert spell_config(header, table) == SpellConfig(concurrency=2, timeout=30.0, allow=("fs",))
    with pytest.raises(ConfigError, match=r"\[spells.s\]: unknown key 'resdent'"):
        parse_table({"resdent": True}, "llmspell.toml [spells.s]")


def test_settings_come_from_the_table_then_the_environment_then_flags(tmp_path: Path) -> None:
    settings = load_settings(
        {"port": 9000, "grace": 5, "concurrency": 3},
        {"LLMSPELL_PORT": "9001", "LLMSPELL_LOG_FORMAT": "json"},
        {"port": 9002, "grace": None, "spells": str(tmp_path)},
    )
    assert (settings.port, settings.grace, settings.concurrency) == (9002, 5.0, 3)
    assert settings.log_format == "json" and settings.spells == tmp_path
    with pytest.raises(ConfigError, match="unknown key 'prot'"):
        load_settings({"prot": 1}, {}, {})
    with pytest.raises(ConfigError, match="LLMSPELL_TOKEN only"):
        load_settings({"token": "x"}, {}, {})
    with pytest.raises(ConfigError, match="LLMSPELL_GRACE: grace must be a number"):
        load_settings({}, {"LLMSPELL_GRACE": "soon"}, {})


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.2", "192.168.1.5", "example.com", "::"])
def test_any_address_but_loopback_needs_a_token(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="LLMSPELL_TOKEN"):
        ServeSettings(spells=tmp_path, host=host).check()
    ServeSettings(spells=tmp_path, host=host, token="t").check()
    for loopback in ("127.0.0.1", "::1", "localhost"):
        ServeSettings(spells=tmp_path, host=loopback).check()


def test_the_config_file_carries_serve_and_spells_tables(tmp_path: Path) -> None:
    file = tmp_path / "llmspell.toml"
    file.write_text("[serve]\nport = 1234\n[spells.report]\nconcurrency = 2\n")
    config = load_config(file, env={})
    assert config.serve == {"port": 1234}
    assert config.spells == {"report": {"concurrency": 2}}
    file.write_text("serve = 3\n")
    with pytest.raises(ConfigError, match="serve must be a table"):
        load_config(file, env={})


def _catalog(tmp_path: Path, **spells: str) -> Catalog:
    directory = tmp_path / "spells"
    directory.mkdir()
    for name, source in spells.items():
        (directory / name).write_text(source)
    known = frozenset({"fs.read", "fs.write"})
    return Catalog(ServeSettings(spells=directory), load_config(env={}), known)


def test_a_spell_loads_with_its_limits_and_permissions(tmp_path: Path) -> None:
    catalog = _catalog(
        tmp_path, **{"a.lua": "-- llmspell: allow=fs.read, cpu_seconds=2, memory_mb=8\nreturn 1"}
    )
    version = catalog.load("a")
    assert version.limits.cpu_seconds == 2.0 and version.limits.memory_bytes == 8 << 20
    assert version.permissions.grants("fs.read") and not version.permissions.grants("fs.write")
    assert version.concurrency == ServeSettings().concurrency


@pytest.mark.parametrize(
    ("files", "name", "error"),
    [
        ({"x.lua": "return 1", "x.js": "1"}, "x", "several files for spell 'x': x.js, x.lua"),
        ({"b.lua": "return ("}, "b", "b.lua"),
        ({"c.lua": "-- llmspell: allow=db.write\nreturn 1"}, "c", "db.write"),
        ({"d.lua": "\udcff"}, "d", "not UTF-8"),
        ({}, "../etc/passwd", "not a spell name"),
        ({}, "missing", "no file for spell"),
    ],
)
def test_a_spell_that_does_not_load_says_why(
    tmp_path: Path, files: dict[str, str], name: str, error: str
) -> None:
    directory = tmp_path / "spells"
    directory.mkdir()
    for file, source in files.items():
        (directory / file).write_bytes(source.encode("utf-8", "surrogateescape"))
    catalog = Catalog(ServeSettings(spells=directory), load_config(env={}), frozenset({"fs.read"}))
    with pytest.raises(LoadError) as caught:
        catalog.load(name)
    assert error in str(caught.value)


def test_nats_comes_from_the_table_the_environment_or_the_flag(tmp_path: Path) -> None:
    table = {"nats": "nats://127.0.0.1:4222", "nats_ack_wait": 5, "spells": str(tmp_path)}
    settings = load_settings(table, {}, {}).check()
    assert (settings.nats, settings.nats_ack_wait) == ("nats://127.0.0.1:4222", 5.0)
    env = {"LLMSPELL_NATS": "nats://10.0.0.1:4222", "LLMSPELL_QUEUE_CONCURRENCY": "2"}
    settings = load_settings(table, env, {"nats": "tls://n.example:4443"})
    assert (settings.nats, settings.queue_concurrency) == ("tls://n.example:4443", 2)
    assert ServeSettings().nats is None  # alone unless asked


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"nats": "http://127.0.0.1:4222"}, "--nats 'http://127.0.0.1:4222': expected a NATS"),
        ({"nats": "nats://"}, "expected a NATS server URL"),
        ({"nats_ack_wait": 0}, "nats_ack_wait must be positive"),
        ({"queue_concurrency": 0}, "queue_concurrency must be positive"),
    ],
)
def test_bad_nats_settings_are_named(tmp_path: Path, values: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings({"spells": str(tmp_path), **values}, {}, {}).check()
