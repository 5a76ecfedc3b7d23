"""Tool parameter schemas: the shorthand, binding positional arguments, validation.

A tool's parameters are a JSON Schema object. Spells may write them in a shorthand, one entry
per parameter with ``required`` inside it::

    {location = {type = "string", required = true, description = "a city"}}

or as a list of ``{name = ..., type = ...}`` entries, which keeps the order even where a
script's tables do not. Either becomes
``{"type": "object", "properties": {...}, "required": [...], "additionalProperties": false}``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._exceptions import ParameterError

if TYPE_CHECKING:
    from jsonschema.exceptions import (  # type: ignore[import-untyped, unused-ignore]
        ValidationError,
    )

    from ._tool import Tool

_SCHEMA_KEYWORDS = frozenset(
    {"$schema", "$id", "$defs", "definitions", "title", "description", "properties",
     "required", "additionalProperties", "patternProperties", "examples"}
)  # fmt: skip
_JSON_TYPES = {
    dict: "object", list: "array", str: "string", bool: "boolean",
    int: "integer", float: "number", type(None): "null",
}  # fmt: skip


def normalize_parameters(
    parameters: Mapping[str, Any] | list[Any] | None,
    *,
    function: str = "tools.register",
    check: bool = True,
) -> dict[str, Any]:
    """Return ``parameters`` as a full JSON Schema object, properties in declared order.

    Args:
        parameters: None (no parameters), the shorthand mapping, a list of
            ``{name, type, ...}`` entries, or a full JSON Schema object (``type="object"``).
        function: the API function named in errors.
        check: check the schemas against the JSON Schema metaschema (builtin tools skip
            this at start-up; a test checks theirs).

    Raises:
        ParameterError: the parameters are neither form, or (with ``check``) a schema in
            them is invalid.
    """
    if parameters is None or (isinstance(parameters, list | Mapping) and not parameters):
        return {"type": "object", "properties": {}}
    if isinstance(parameters, list):
        return _from_list(parameters, function, check)
    if not isinstance(parameters, Mapping):
        raise ParameterError(function, "parameters", "must be a table of parameter descriptions")
    if isinstance(parameters.get("type"), str) or (
        "type" not in parameters
        and isinstance(parameters.get("properties"), Mapping)
        and set(parameters) <= _SCHEMA_KEYWORDS
    ):
        return _from_schema(parameters, function, check)
    return _from_shorthand(parameters.items(), function, check)


def _from_list(entries: list[Any], function: str, check: bool) -> dict[str, Any]:
    items = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            problem = f"entry {i + 1} must be a table with a 'name' and a 'type'"
            raise ParameterError(function, "parameters", problem)
        items.append((entry["name"], {k: v for k, v in entry.items() if k != "name"}))
    return _from_shorthand(items, function, check)


def _from_shorthand(items: Any, function: str, check: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in items:
        where = f"parameters.{name}"
        if not isinstance(name, str) or not name:
            raise ParameterError(function, "parameters", "has a parameter without a string name")
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            problem = f"must be a table like {{type='string'}}, got {type_name(spec)}"
            raise ParameterError(function, where, problem)
        prop = copy.deepcopy(dict(spec))
        flag = prop.pop("required", False)
        if not isinstance(flag, bool):
            raise ParameterError(function, f"{where}.required", "must be true or false")
        if flag:
            required.append(name)
        if check:
            _check(prop, function, where)
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _from_schema(parameters: Mapping[str, Any], function: str, check: bool) -> dict[str, Any]:
    schema = copy.deepcopy(dict(parameters))
    schema.setdefault("type", "object")
    if schema["type"] != "object":
        problem = f"must describe an object (type='object'), got type={schema['type']!r}"
        raise ParameterError(function, "parameters", problem)
    properties = schema.setdefault("properties", {})
    if not isinstance(properties, dict):
        raise ParameterError(function, "parameters.properties", "must be a table")
    required = list(schema.get("required") or [])
    for name, prop in properties.items():
        if isinstance(prop, dict) and isinstance(prop.get("required"), bool):
            if prop.pop("required") and name not in required:
                required.append(name)  # a draft-3 style flag, common in hand-written schemas
    for name in required:
        if name not in properties:
            problem = f"names {name!r}, which is not in 'properties'"
            raise ParameterError(function, "parameters.required", problem)
    if required:
        schema["required"] = required
    if check:
        _check(schema, function, "parameters")
    return schema


def _check(schema: dict[str, Any], function: str, where: str) -> None:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped, unused-ignore]

    from ._regex import RegexError, compile_regex, schema_patterns

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ParameterError(function, where, f"is not a valid schema: {exc.message}") from None
    for place, pattern in schema_patterns(schema, where):
        try:
            compile_regex(pattern)
        except RegexError as exc:
            raise ParameterError(function, place, str(exc)) from None


def type_name(value: Any) -> str:
    """The JSON/script name of ``value``'s type (``"string"``, ``"object"``, ...)."""
    for cls, name in _JSON_TYPES.items():
        if type(value) is cls:
            return name
    return "array" if isinstance(value, tuple) else type(value).__name__


def parameter_names(tool: Tool) -> list[str]:
    """The tool's parameter names in declared order."""
    return list(tool.parameters.get("properties") or {})


def bind_arguments(
    tool: Tool, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Map a call's arguments to one dict of named arguments.

    Positional arguments map to parameters in declared order (``None`` ones, a script's
    ``nil``, are left out so defaults apply); a single mapping whose keys are parameter names
    is taken as the named arguments; ``kwargs`` are named arguments.

    Raises:
        ParameterError: too many positional arguments, or one given twice.
    """
    function = f"tools.{tool.name}"
    names = parameter_names(tool)
    if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
        first = tool.parameters["properties"].get(names[0], {}) if names else {}
        if set(args[0]) <= set(names) or first.get("type") != "object":
            return dict(args[0])
    if len(args) > len(names):
        problem = f"got {len(args)} positional arguments; {tool.name} takes at most {len(names)}"
        listing = f" ({', '.join(names)})" if names else ""
        raise ParameterError(function, "args", problem + listing)
    bound = {name: value for name, value in zip(names, args, strict=False) if value is not None}
    for name, value in (kwargs or {}).items():
        if name in bound:
            raise ParameterError(function, name, "was given both by position and by name")
        bound[name] = value
    return bound


def validate_arguments(tool: Tool, args: Mapping[str, Any]) -> None:
    """Check named arguments against the tool's schema.

    Raises:
        ParameterError: naming ``tools.<tool>`` and the first offending parameter, e.g.
            ``tools.weather: parameter 'location' is required``.
    """
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped, unused-ignore]

    function = f"tools.{tool.name}"
    if not isinstance(args, Mapping):
        raise ParameterError(
            function, "args", f"must be a table of named arguments, got {type_name(args)}"
        )
    error = best_match(tool.validator.iter_errors(dict(args)))
    if error is not None:
        parameter, problem = _explain(error, tool)
        raise ParameterError(function, parameter, problem)


def complete_arguments(tool: Tool, args: Mapping[str, Any]) -> dict[str, Any]:
    """Return validated ``args`` ready for the handler.

    Missing top-level parameters get their ``default``; whole floats given for ``integer``
    parameters (``3.0``, as scripts often pass numbers) become ints.
    """
    filled = dict(args)
    for name, prop in (tool.parameters.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if name not in filled and "default" in prop:
            filled[name] = copy.deepcopy(prop["default"])
        value = filled.get(name)
        if prop.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            filled[name] = int(value)
    return filled


def _explain(error: ValidationError, tool: Tool) -> tuple[str, str]:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    prefix = f"{path}." if path else ""
    instance, expected = error.instance, error.validator_value
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = next((n for n in expected if n not in instance), "?")
        return prefix + missing, "is required"
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = list(
            (error.schema.get("properties") or {}) if isinstance(error.schema, dict) else []
        )
        extra = next((n for n in instance if n not in known), "?")
        listing = ", ".join(known) if known else "none"
        return prefix + str(extra), f"is not a parameter of {tool.name} (parameters: {listing})"
    where = path or "args"
    if error.validator == "type":
        want = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return where, f"must be {want}, got {type_name(instance)}"
    if error.validator == "enum":
        options = ", ".join(repr(v) for v in expected)
        return where, f"must be one of {options}, got {instance!r}"
    return where, f"is invalid: {error.message}"
