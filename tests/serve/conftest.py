from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def anyio_backend() -> str:
    """The daemon runs on asyncio (uvicorn, litellm)."""
    return "asyncio"


@pytest.fixture(autouse=True, scope="module")
def _no_daemon_left() -> Iterator[None]:
    """A failing test may leave its daemon running: kill it (by its own pid) at the end of
    the module."""
    from .daemonproc import STARTED

    yield
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
