"""The tool record and the context a tool call runs in."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._exceptions import ParameterError
from ._schema import normalize_parameters

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

    from ._permissions import Permissions

ToolHandler = Callable[[dict[str, Any], "ToolContext"], Awaitable[Any]]
"""An async function receiving one dict of named arguments and the call's context."""

ToolSource = Literal["builtin", "python", "script"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclasses.dataclass
class ToolContext:
    """What a tool call may know about its caller.

    Attributes:
        permissions: what the call may touch (workspace, granted permissions, hosts).
        run_id: the spell run making the call, if any.
        caller: the spell or agent name making the call, if any.
        headers: the trace context of the call (what a tool's own calls should nest under).
        max_bytes: the most memory the call may make the host hold for its result (the
            calling run's memory limit); a tool refuses work whose result would not fit.
    """

    permissions: Permissions
    run_id: str | None = None
    caller: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_bytes: int | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Tool:
    """A named, described, schema-checked async function that spells and agents can call.

    ``parameters`` may be given in the DESIGN shorthand or as a full JSON Schema object; it is
    stored normalised (see `normalize_parameters`). Tools compare and hash by identity.

    Attributes:
        name: 1-64 letters, digits, ``_`` or ``-`` (the limit LLM function-calling APIs set).
        description: what the tool does, written for a model choosing a tool.
        parameters: a JSON Schema object describing the named arguments, properties in
            declared order (positional arguments bind in that order).
        handler: ``async handler(args, ctx)``.
        permission: the permission a caller needs (``"fs.read"``, ``"fs.write"``,
            ``"net.http"``, ...); None means always allowed.
        timeout: seconds a call may take before it fails with a `ToolError`.
        source: ``"builtin"``, ``"python"`` or ``"script"``.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    handler: ToolHandler
    permission: str | None = None
    timeout: float = 30.0
    source: ToolSource = "builtin"

    def __post_init__(self) -> None:
        fn = "Tool"
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ParameterError(fn, "name", "must be 1-64 letters, digits, '_' or '-'")
        if not isinstance(self.description, str):
            raise ParameterError(fn, "description", "must be a string")
        if not callable(self.handler):
            raise ParameterError(fn, "handler", "must be an async function (args, ctx)")
        if not (isinstance(self.timeout, int | float) and self.timeout > 0):
            raise ParameterError(fn, "timeout", "must be a positive number of seconds")
        if self.source not in ("builtin", "python", "script"):
            raise ParameterError(fn, "source", "must be 'builtin', 'python' or 'script'")
        schema = normalize_parameters(
            self.parameters, function=f"tool {self.name!r}", check=self.source != "builtin"
        )
        object.__setattr__(self, "parameters", schema)

    @functools.cached_property
    def validator(self) -> Draft202012Validator:
        """The JSON Schema validator for ``parameters``, built on first use."""
        from ._regex import re2_validator

        validator: Draft202012Validator = re2_validator()(self.parameters)
        return validator

    def describe(self) -> dict[str, Any]:
        """Return ``{name, description, parameters, permission, source}``."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "permission": self.permission,
            "source": self.source,
        }
