"""The base of Tengo's syntax tree nodes (see :mod:`._ast`)."""

from __future__ import annotations

from typing import Any


class Node:
    __slots__ = ()

    def pos(self) -> int:
        raise NotImplementedError

    def end(self) -> int:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.string()

    def string(self) -> str:
        raise NotImplementedError


def _s(node: Any) -> str:
    return "<null>" if node is None else node.string()
