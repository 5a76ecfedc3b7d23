"""Names a package exports but loads on first use (PEP 562's module ``__getattr__``).

    __getattr__, __dir__ = lazy_names(__name__, globals(), {"Workflow": "_workflow"})

A value of the table is the submodule that defines the name, or ``(submodule, attribute)``
when the name exported differs from the one defined. The first access imports the submodule
and keeps the value in the package's namespace, so later ones are plain global lookups.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, namespace: dict[str, Any], table: Mapping[str, str | tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__`` for the lazily loaded names in ``table``."""

    def __getattr__(name: str) -> Any:
        where = table.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = (where, name) if isinstance(where, str) else where
        value = getattr(importlib.import_module(f"{package}.{module}"), attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
