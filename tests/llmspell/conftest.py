from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def anyio_backend() -> str:
    """The spell runtime's tests run on asyncio (litellm is asyncio-only)."""
    return "asyncio"
