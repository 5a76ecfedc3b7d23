"""Tool parameter schemas: shorthand and full forms, positional binding, validation, @tool."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

from llmspell._exceptions import ParameterError
from llmspell.tools import (
    Permissions,
    Tool,
    ToolContext,
    bind_arguments,
    builtin_tools,
    normalize_parameters,
    tool,
    validate_arguments,
)

pytestmark = pytest.mark.anyio


async def _noop(args: dict[str, Any], ctx: ToolContext) -> Any:
    return args


def make(parameters: Any, name: str = "weather") -> Tool:
    return Tool(name=name, description="d", parameters=parameters, handler=_noop)


def test_shorthand_becomes_a_full_schema_in_declared_order() -> None:
    schema = normalize_parameters(
        {
            "location": {"type": "string", "required": True, "description": "a city"},
            "units": {"type": "string", "enum": ["c", "f"], "default": "c"},
            "days": "integer",
        }
    )
    assert schema == {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "a city"},
            "units": {"type": "string", "enum": ["c", "f"], "default": "c"},
            "days": {"type": "integer"},
        },
        "required": ["location"],
        "additionalProperties": False,
    }
    assert list(schema["properties"]) == ["location", "units", "days"]


def test_list_shorthand_keeps_order() -> None:
    schema = normalize_parameters(
        [{"name": "b", "type": "string"}, {"name": "a", "type": "number", "required": True}]
    )
    assert list(schema["properties"]) == ["b", "a"]
    assert schema["required"] == ["a"]


def test_full_schema_is_kept_and_normalisation_is_idempotent() -> None:
    full = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
        "required": ["q"],
    }
    schema = normalize_parameters(full)
    assert schema == full
    assert schema is not full
    assert normalize_parameters(schema) == schema
    assert normalize_parameters(
        normalize_parameters({"x": {"type": "string"}})
    ) == normalize_parameters({"x": {"type": "string"}})


def test_parameter_named_type_is_still_shorthand() -> None:
    schema = normalize_parameters({"type": {"type": "string", "required": True}})
    assert schema["properties"] == {"type": {"type": "string"}}


def test_boolean_required_inside_a_full_schema_is_accepted() -> None:
    schema = normalize_parameters(
        {"type": "object", "properties": {"q": {"type": "string", "required": True}}}
    )
    assert schema["required"] == ["q"]
    assert schema["properties"]["q"] == {"type": "string"}


@pytest.mark.parametrize("empty", [None, {}, []])
def test_no_parameters(empty: Any) -> None:
    assert normalize_parameters(empty) == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("parameters", "parameter", "fragment"),
    [
        ("nonsense", "parameters", "must be a table"),
        ({"x": 5}, "parameters.x", "must be a table like"),
        ({"x": {"type": "strang"}}, "parameters.x", "not a valid schema"),
        ({"x": {"type": "string", "required": "yes"}}, "parameters.x.required", "true or false"),
        ({"type": "array"}, "parameters", "must describe an object"),
        (
            {"type": "object", "properties": {}, "required": ["ghost"]},
            "parameters.required",
            "ghost",
        ),
        ([{"type": "string"}], "parameters", "entry 1"),
    ],
)
def test_nonsense_parameters_are_a_clear_error(
    parameters: Any, parameter: str, fragment: str
) -> None:
    with pytest.raises(ParameterError) as info:
        normalize_parameters(parameters)
    assert info.value.parameter == parameter
    assert fragment in str(info.value)


def test_builtin_tool_schemas_are_valid() -> None:
    # builtin tools skip the metaschema check at start-up; this is where theirs is checked
    for builtin in builtin_tools():
        assert builtin.source == "builtin"
        Draft202012Validator.check_schema(builtin.parameters)


def test_bad_tool_fields_are_refused() -> None:
    with pytest.raises(ParameterError, match="name"):
        make({}, name="has space")
    with pytest.raises(ParameterError, match="timeout"):
        Tool(name="t", description="", parameters={}, handler=_noop, timeout=0)


def test_positional_arguments_bind_in_declared_order() -> None:
    weather = make({"location": {"type": "string"}, "units": {"type": "string"}})
    assert bind_arguments(weather, ("Paris", "c"), None) == {"location": "Paris", "units": "c"}
    assert bind_arguments(weather, ("Paris",), {"units": "f"}) == {
        "location": "Paris",
        "units": "f",
    }
    assert bind_arguments(weather, ("Paris", None), None) == {"location": "Paris"}


def test_one_table_of_named_arguments() -> None:
    weather = make({"location": {"type": "string"}, "units": {"type": "string"}})
    assert bind_arguments(weather, ({"units": "f", "location": "Oslo"},), None) == {
        "units": "f",
        "location": "Oslo",
    }
    assert bind_arguments(weather, (), {"location": "Oslo"}) == {"location": "Oslo"}


def test_a_table_for_an_object_parameter_binds_positionally() -> None:
    query = make({"data": {"type": "object"}, "path": {"type": "string"}}, name="q")
    assert bind_arguments(query, ({"a": 1},), None) == {"data": {"a": 1}}


def test_binding_errors_name_the_problem() -> None:
    weather = make({"location": {"type": "string"}})
    with pytest.raises(
        ParameterError, match=r"got 2 positional arguments; weather takes at most 1 \(location\)"
    ):
        bind_arguments(weather, ("a", "b"), None)
    with pytest.raises(ParameterError, match="'location' was given both"):
        bind_arguments(weather, ("a",), {"location": "b"})


def test_validation_errors_name_tool_and_parameter() -> None:
    weather = make(
        {
            "location": {"type": "string", "required": True},
            "days": {"type": "integer", "minimum": 1},
            "units": {"type": "string", "enum": ["c", "f"]},
        }
    )
    validate_arguments(weather, {"location": "Paris", "days": 3.0})
    cases = [
        ({}, "location", "tools.weather: parameter 'location' is required"),
        ({"location": 5}, "location", "must be string, got integer"),
        ({"location": "x", "days": 0}, "days", "is invalid"),
        ({"location": "x", "units": "k"}, "units", "must be one of 'c', 'f', got 'k'"),
        (
            {"location": "x", "colour": 1},
            "colour",
            "is not a parameter of weather (parameters: location, days, units)",
        ),
    ]
    for args, parameter, fragment in cases:
        with pytest.raises(ParameterError) as info:
            validate_arguments(weather, args)
        assert info.value.function == "tools.weather"
        assert info.value.parameter == parameter
        assert fragment in str(info.value)


def test_nested_validation_errors_have_a_path() -> None:
    t = make(
        {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"type": "object", "required": ["id"]}}
            },
        }
    )
    with pytest.raises(ParameterError) as info:
        validate_arguments(t, {"items": [{"id": 1}, {}]})
    assert info.value.parameter == "items[1].id"


def test_non_table_arguments_are_refused() -> None:
    with pytest.raises(ParameterError, match="must be a table of named arguments"):
        validate_arguments(make({}), ["a"])  # type: ignore[arg-type]


async def test_decorator_builds_schema_from_annotations_and_docstring() -> None:
    @tool(permission="net.http", timeout=5)
    async def weather(
        location: str,
        days: int = 1,
        units: Literal["c", "f"] = "c",
        tags: list[str] | None = None,
        ctx: ToolContext | None = None,
    ) -> dict[str, Any]:
        """Current weather for a city.

        More detail that is not part of the description.

        Args:
            location: the city, e.g. "Paris".
            days (int): how many days,
                counting today.
        """
        assert ctx is not None
        return {"location": location, "days": days, "units": units, "caller": ctx.caller}

    assert weather.name == "weather"
    assert weather.description == "Current weather for a city."
    assert weather.permission == "net.http"
    assert weather.timeout == 5
    assert weather.source == "python"
    assert weather.parameters == {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": 'the city, e.g. "Paris".'},
            "days": {
                "type": "integer",
                "description": "how many days, counting today.",
                "default": 1,
            },
            "units": {"enum": ["c", "f"], "default": "c"},
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        },
        "required": ["location"],
        "additionalProperties": False,
    }
    ctx = ToolContext(Permissions(), caller="spell")
    result = await weather.handler({"location": "Oslo", "days": 2, "units": "f"}, ctx)
    assert result == {"location": "Oslo", "days": 2, "units": "f", "caller": "spell"}


async def test_decorator_runs_sync_functions_and_takes_a_name() -> None:
    @tool("adder", description="Add two numbers.")
    def add(a: float, b: float) -> float:
        return a + b

    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    assert add.name == "adder" and add.description == "Add two numbers."
    assert await add.handler({"a": 1, "b": 2.5}, ToolContext(Permissions())) == 3.5
    assert shout.name == "shout" and shout.description == "Upper-case the text."
    assert await shout.handler({"text": "hi"}, ToolContext(Permissions())) == "HI"


def test_decorator_refuses_what_a_schema_cannot_express() -> None:
    with pytest.raises(ParameterError, match="'args' must be an ordinary named parameter"):

        @tool
        def bad(*args: int) -> None: ...

    with pytest.raises(ParameterError, match="cannot express"):

        @tool
        def worse(x: complex) -> None: ...
