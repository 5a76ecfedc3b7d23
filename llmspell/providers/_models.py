"""Which model a request goes to: the default model's resolution and the offline model's name
(what a run needs at start-up, without the value types of :mod:`._types`)."""

from __future__ import annotations

import os

OFFLINE_MODEL = "offline/llmspell"
"""The built-in offline model: no network, no API key, deterministic replies."""

MODEL_ENV = "LLMSPELL_MODEL"
"""Environment variable naming the default model."""


def resolve_default_model(explicit: str | None = None, config_model: str | None = None) -> str:
    """Pick the model a spell uses when its request names none.

    Precedence: the ``--model`` flag (``explicit``), then ``LLMSPELL_MODEL``, then the config
    file's model (``config_model``), then :data:`OFFLINE_MODEL`.

    Args:
        explicit: the model given on the command line, if any.
        config_model: the model from ``llmspell.toml``, if any.

    Returns:
        A litellm model name such as ``"openai/gpt-4o-mini"``.
    """
    for candidate in (explicit, os.environ.get(MODEL_ENV), config_model):
        if candidate and candidate.strip():
            return candidate.strip()
    return OFFLINE_MODEL


def is_offline_model(model: str) -> bool:
    """Whether ``model`` is served by the built-in offline model (``offline/...``)."""
    return model.startswith("offline/")
