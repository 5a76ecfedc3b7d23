"""Native modules (placeholder)."""

from __future__ import annotations

from typing import Any

from ._values import ImmMap

NAMES = ("fmt", "text", "math", "times", "json", "rand", "base64", "hex", "enum")


def module(name: str, ctx: Any) -> ImmMap:
    raise KeyError(name)
