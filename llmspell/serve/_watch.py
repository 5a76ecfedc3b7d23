"""Hot reload: watch the spells directory and bring changed names in line with it.

watchfiles reports changes in batches once the directory has been quiet for
``reload_debounce`` seconds (default 0.3 s, so an edit is live well within 2 s). The kind of
change is not trusted (editors save by writing, by truncating then writing, or by renaming a
temporary file over the old one): every name a batch touches is re-read from the directory by
:meth:`Daemon.refresh`, which loads, reloads or unloads it. Set ``WATCHFILES_FORCE_POLLING=1``
where file events do not arrive (some bind mounts and network file systems).
"""

from __future__ import annotations

import logging
import pathlib
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from ..engines import extensions

if TYPE_CHECKING:
    from ._daemon import Daemon

_log = logging.getLogger("llmspell.serve")


def changed_names(paths: set[str], directory: pathlib.Path) -> set[str]:
    """The spell names that ``paths`` (changed files) may concern: files directly in
    ``directory`` with a spell extension, hidden files left out."""
    suffixes = set(extensions())
    names = set()
    for text in paths:
        path = pathlib.Path(text)
        if path.parent == directory and path.suffix in suffixes and not path.name.startswith("."):
            names.add(path.stem)
    return names


async def watch_spells(
    daemon: Daemon, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Reload what changes in the daemon's spells directory until cancelled.

    Reports started once the watcher is live (its first batch, empty after a quarter second
    without changes), so that a scan of the directory made after that misses nothing.
    """
    from watchfiles import awatch

    directory = daemon.catalog.directory
    debounce = int(daemon.settings.reload_debounce * 1000)
    watcher = awatch(
        directory,
        debounce=debounce,
        step=50,
        recursive=False,
        watch_filter=None,
        rust_timeout=250,
        yield_on_timeout=True,
    )
    live = False
    async for changes in watcher:
        if not live:
            live = True
            task_status.started()
        names = changed_names({path for _, path in changes}, directory)
        for name in sorted(names):
            try:
                await daemon.refresh(name)
            except Exception:  # a bug of ours must not end hot reload for every spell
                _log.exception("reloading spell %s failed", name)
