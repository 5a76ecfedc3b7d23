"""Errors of the state store.

Hierarchy (all under :class:`~llmspell.SpellError`)::

    StateError                  a state operation failed
    ├── StateValueError         a bad path or value (also a ParameterError); nothing was written
    ├── StateConflictError      update() gave up: other writers kept changing the value
    └── StateFileError          the store's file cannot be used (also a ConfigError): names it
"""

from __future__ import annotations

from .._exceptions import ConfigError, ParameterError, SpellError


class StateError(SpellError):
    """A state operation failed."""


class StateValueError(ParameterError, StateError):
    """A path or value the store refuses; nothing was written.

    Attributes:
        function: the operation, e.g. ``"state.set"``.
        parameter: ``"path"``, ``"value"`` or ``"scope"``.
        path: the path the caller gave (as given, for a bad path).
    """

    def __init__(self, function: str, parameter: str, path: object, problem: str) -> None:
        super().__init__(function, parameter, problem)
        self.path = path


class StateConflictError(StateError):
    """``update`` tried ``attempts`` times and another writer changed the value each time.

    Attributes:
        scope: the scope of the value.
        path: its path.
        attempts: how many times ``fn`` ran.
    """

    def __init__(self, scope: str, path: str, attempts: int) -> None:
        super().__init__(
            f"state.update: {path!r} in scope {scope!r} kept changing under {attempts} attempts; "
            "other writers updated it each time (try again later)"
        )
        self.scope = scope
        self.path = path
        self.attempts = attempts


class StateFileError(StateError, ConfigError):
    """The store's file or database cannot be opened or used.

    Attributes:
        file: the path of the file, as configured.
    """

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"state store {file!r}: {problem}")
        self.file = file
        self.problem = problem
