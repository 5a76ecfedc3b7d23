from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def anyio_backend() -> str:
    """The daemon runs on asyncio (uvicorn, litellm)."""
    return "asyncio"
