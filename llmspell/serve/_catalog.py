"""The spells a daemon hosts: one entry per name, each holding the version that serves.

A spell is a file directly in the spells directory whose extension names an engine
(``report.lua`` is the spell ``report``). Loading a file reads it, parses its header, builds
its limits and permissions and checks its syntax; the result is a :class:`Version`, immutable,
so a run holds on to the version it started with while a newer one replaces it in the entry.
A file that fails to load leaves the entry's current version serving and records the error.

The name in a URL is looked up in :attr:`Catalog.entries`, never joined to a path.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pathlib
import re
import time
from typing import Any

from .._config import Config
from .._exceptions import ConfigError, SpellSyntaxError
from .._runtime import SpellSource
from ..engines import Limits, engine_for, extensions
from ..tools import Permissions
from ._settings import ServeSettings
from ._spellconfig import SpellConfig, parse_header, parse_table, spell_config

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""What a spell's name may be: it is a URL path segment and a state scope."""
MAX_SOURCE_BYTES = 1024 * 1024


class LoadError(Exception):
    """A spell file could not be loaded; the message says why."""


@dataclasses.dataclass(frozen=True)
class Version:
    """One loaded version of a spell: what a run needs, fixed when it starts."""

    name: str
    path: pathlib.Path
    source: str
    digest: str
    engine: str
    config: SpellConfig
    limits: Limits
    permissions: Permissions
    concurrency: int
    loaded: float

    @functools.cached_property
    def spell(self) -> SpellSource:
        """What the runtime runs (made once per version: its name is worked out once)."""
        return SpellSource(self.source, self.path.name)


@dataclasses.dataclass
class Entry:
    """A spell name and what is known about it (what ``GET /spells`` reports)."""

    name: str
    version: Version | None = None
    error: str | None = None
    error_time: float | None = None
    reload_failed: bool = False
    runs: int = 0
    failures: int = 0
    active: int = 0
    state: str = "ready"
    """``ready``; resident spells: ``starting``, ``running``, ``restarting``, ``stopped``,
    ``failed``."""
    restarts: int = 0

    @property
    def status(self) -> str:
        if self.version is None:
            return "failed"
        return self.state if self.version.config.resident else "ready"

    def describe(self) -> dict[str, Any]:
        version = self.version
        return {
            "name": self.name,
            "file": version.path.name if version else None,
            "engine": version.engine if version else None,
            "version": version.digest if version else None,
            "status": self.status,
            "resident": bool(version and version.config.resident),
            "last_error": self.error,
            "last_error_time": self.error_time,
            "reload_failed": self.reload_failed,
            "runs": self.runs,
            "failures": self.failures,
            "active": self.active,
            "concurrency": version.concurrency if version else None,
            "restarts": self.restarts,
            "loaded": version.loaded if version else None,
        }

    def failed(self, message: str) -> None:
        self.error, self.error_time = message, time.time()


class Catalog:
    """The daemon's spells by name, loaded from ``settings.spells``.

    Args:
        settings: the daemon's settings (the directory, default concurrency).
        config: the runtime configuration (base limits and permissions, ``[spells.*]``).
        known_permissions: the permissions the tools declare (an unknown grant is an error).
    """

    def __init__(
        self, settings: ServeSettings, config: Config, known_permissions: frozenset[str]
    ) -> None:
        self.directory = settings.spells.resolve()
        self.settings = settings
        self.config = config
        self.known = known_permissions
        self.entries: dict[str, Entry] = {}
        self.tables: dict[str, dict[str, Any]] = {}
        for name, table in config.spells.items():  # checked once, at start
            self.tables[name] = parse_table(table, f"{config.source} [spells.{name}]")

    def unknown_tables(self) -> list[str]:
        """``[spells.<name>]`` tables that name no spell file (likely a typo)."""
        return sorted(set(self.tables) - set(self.entries))

    def files_for(self, name: str) -> list[pathlib.Path]:
        """The spell files in the directory that are called ``name``."""
        return sorted(
            self.directory / f"{name}{ext}"
            for ext in extensions()
            if (self.directory / f"{name}{ext}").is_file()
        )

    def names_on_disk(self) -> set[str]:
        """Every spell name the directory holds a file for."""
        suffixes = set(extensions())
        return {
            path.stem
            for path in self.directory.iterdir()
            if path.suffix in suffixes and not path.name.startswith(".") and path.is_file()
        }

    def load(self, name: str) -> Version:
        """Load the one file called ``name``.

        Raises:
            LoadError: no file, several files, or the file does not load (the reason).
        """
        if not NAME.fullmatch(name):
            raise LoadError(
                f"{name!r} is not a spell name (letters, digits, '_' and '-', starting with "
                "a letter or digit)"
            )
        files = self.files_for(name)
        if not files:
            raise LoadError(f"no file for spell {name!r} in {self.directory}")
        if len(files) > 1:
            listed = ", ".join(f.name for f in files)
            raise LoadError(f"several files for spell {name!r}: {listed}; keep one")
        return self._load_file(name, files[0])

    def _load_file(self, name: str, path: pathlib.Path) -> Version:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LoadError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
        if len(data) > MAX_SOURCE_BYTES:
            raise LoadError(f"{path.name}: larger than {MAX_SOURCE_BYTES} bytes")
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LoadError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
        engine = engine_for(path)
        try:
            header = parse_header(source, path.name)
            spell = spell_config(header, self.tables.get(name, {}))
            limits = self._limits(spell)
            permissions = self._permissions(spell)
        except ConfigError as exc:
            raise LoadError(str(exc)) from None
        try:
            engine.check(source, path.name)
        except SpellSyntaxError as exc:
            raise LoadError(str(exc)) from None
        return Version(
            name=name,
            path=path,
            source=source,
            digest=hashlib.sha256(data).hexdigest()[:16],
            engine=engine.name,
            config=spell,
            limits=limits,
            permissions=permissions,
            concurrency=spell.concurrency or self.settings.concurrency,
            loaded=time.time(),
        )

    def _limits(self, spell: SpellConfig) -> Limits:
        changes: dict[str, Any] = {}
        if spell.timeout is not None:
            changes["timeout_seconds"] = spell.timeout
        if spell.cpu_seconds is not None:
            changes["cpu_seconds"] = spell.cpu_seconds
        if spell.memory_mb is not None:
            changes["memory_bytes"] = int(spell.memory_mb * 2**20)
        if spell.output_bytes is not None:
            changes["output_bytes"] = spell.output_bytes
        return dataclasses.replace(self.config.limits, **changes)

    def _permissions(self, spell: SpellConfig) -> Permissions:
        config = self.config
        return Permissions.from_flags(
            allow=[*config.allow, *spell.allow],
            workspace=spell.workspace or config.workspace or ".",
            http_hosts=[*config.http_hosts, *spell.http_hosts],
            http_allow_private=config.http_allow_private,
            known=self.known,
        )

    def entry(self, name: str) -> Entry:
        """The entry for ``name``, created empty if new."""
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = Entry(name)
        return entry

    def describe(self) -> list[dict[str, Any]]:
        return [self.entries[name].describe() for name in sorted(self.entries)]
