"""The tool registry: look-up, permissions, validation, timeouts, failures, public API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

import llmspell.tools
from llmspell._exceptions import ConfigError, ParameterError, ToolError
from llmspell.tools import Permissions, Tool, ToolContext, ToolRegistry, builtin_tools

pytestmark = pytest.mark.anyio


async def _echo(args: dict[str, Any], ctx: ToolContext) -> Any:
    return {"args": args, "run": ctx.run_id}


def echo_tool(name: str = "echo", **kw: Any) -> Tool:
    params = {
        "text": {"type": "string", "required": True},
        "times": {"type": "integer", "default": 1},
    }
    return Tool(name=name, description="Echo.", parameters=params, handler=_echo, **kw)


def ctx(**kw: Any) -> ToolContext:
    return ToolContext(Permissions(**kw), run_id="r1", caller="test")


def test_public_api_is_pinned() -> None:
    assert sorted(llmspell.tools.__all__) == sorted(
        [
            "FS_READ", "FS_WRITE", "NET_HTTP", "Permissions", "Tool", "ToolContext",
            "ToolHandler", "ToolRegistry", "Workspace", "bind_arguments", "builtin_tools",
            "normalize_parameters", "tool", "validate_arguments",
        ]
    )  # fmt: skip
    for name in llmspell.tools.__all__:
        assert getattr(llmspell.tools, name) is not None


def test_builtins_declare_their_permissions() -> None:
    permissions = {t.name: t.permission for t in builtin_tools()}
    assert permissions == {
        "file_read": "fs.read", "file_write": "fs.write", "file_list": "fs.read",
        "file_search": "fs.read", "http_fetch": "net.http", "calculator": None,
        "datetime": None, "json_query": None, "text_count_tokens": None,
        "text_split": None, "text_template": None,
    }  # fmt: skip
    for t in builtin_tools():
        assert t.description and t.source == "builtin"


async def test_invoke_validates_fills_defaults_and_returns() -> None:
    registry = ToolRegistry([echo_tool()])
    assert await registry.invoke("echo", {"text": "hi"}, ctx()) == {
        "args": {"text": "hi", "times": 1},
        "run": "r1",
    }


async def test_whole_floats_become_ints_for_integer_parameters() -> None:
    registry = ToolRegistry([echo_tool()])
    result = await registry.invoke("echo", {"text": "hi", "times": 3.0}, ctx())
    assert result["args"]["times"] == 3 and isinstance(result["args"]["times"], int)


async def test_invalid_arguments_raise_parameter_error() -> None:
    registry = ToolRegistry([echo_tool()])
    with pytest.raises(ParameterError, match=re.escape("tools.echo: parameter 'text' is required")):
        await registry.invoke("echo", {}, ctx())


def test_registry_bookkeeping_and_errors() -> None:
    registry = ToolRegistry([echo_tool()])
    with pytest.raises(ToolError, match="already registered"):
        registry.register(echo_tool())
    replacement = echo_tool(timeout=2)
    registry.register(replacement, replace=True)
    assert registry.get("echo") is replacement
    registry.register(echo_tool("echo2", source="script"))
    assert registry.names() == ["echo", "echo2"]
    assert "echo2" in registry and len(registry) == 2
    assert registry.list()[1] == {
        "name": "echo2",
        "description": "Echo.",
        "parameters": registry.get("echo2").parameters,
        "permission": None,
        "source": "script",
    }
    copy = registry.copy()
    copy.unregister("echo2")
    assert registry.names() == ["echo", "echo2"] and copy.names() == ["echo"]
    with pytest.raises(ToolError, match="unknown tool"):
        copy.unregister("echo2")


def test_unknown_tool_suggests_close_names() -> None:
    registry = ToolRegistry(builtin_tools())
    with pytest.raises(
        ToolError,
        match=re.escape(
            "tool 'file_raed': unknown tool; "
            "did you mean 'file_read', 'file_write' or 'file_search'?"
        ),
    ):
        registry.get("file_raed")
    with pytest.raises(ToolError, match=r"did you mean 'calculator'\?"):
        registry.get("calculater")
    with pytest.raises(ToolError, match="known tools: calculator, datetime"):
        registry.get("zzz")
    with pytest.raises(ToolError, match="no tools are registered"):
        ToolRegistry().get("x")


async def test_permission_denied_says_which_flag_grants_it() -> None:
    registry = ToolRegistry([echo_tool("reader", permission="fs.read")])
    with pytest.raises(ToolError) as info:
        await registry.invoke("reader", {"text": "x"}, ctx())
    assert str(info.value) == (
        "tool 'reader': permission 'fs.read' not granted; run with --allow fs.read"
    )
    granted = await registry.invoke("reader", {"text": "x"}, ctx(allow=frozenset({"fs.read"})))
    assert granted["args"]["text"] == "x"


async def test_permission_is_checked_before_validation() -> None:
    registry = ToolRegistry([echo_tool("reader", permission="fs.read")])
    with pytest.raises(ToolError, match="not granted"):
        await registry.invoke("reader", {}, ctx())


def test_grants_covers_prefixes_and_star() -> None:
    assert Permissions().grants(None)
    assert not Permissions().grants("fs.read")
    assert Permissions(allow=frozenset({"fs"})).grants("fs.write")
    assert not Permissions(allow=frozenset({"fs.read"})).grants("fs.write")
    assert not Permissions(allow=frozenset({"f"})).grants("fs.read")
    assert Permissions(allow=frozenset({"*"})).grants("net.http")


def test_from_flags(tmp_path: Path) -> None:
    perms = Permissions.from_flags(
        allow=["fs.read,net.http", "fs.write"],
        workspace=tmp_path,
        http_hosts=["Example.COM.", "*.api.test"],
        http_allow_private=True,
        max_response_bytes=10,
    )
    assert perms.allow == {"fs.read", "net.http", "fs.write"}
    assert perms.workspace == tmp_path.resolve()
    assert perms.http_allow_hosts == ("example.com", "*.api.test")
    assert perms.http_allow_private and perms.max_response_bytes == 10
    assert perms.max_file_bytes == Permissions().max_file_bytes
    with pytest.raises(ConfigError, match="not a permission name"):
        Permissions.from_flags(allow=["FS READ"])
    with pytest.raises(ConfigError, match="not a directory"):
        Permissions.from_flags(workspace=tmp_path / "missing")
    with pytest.raises(ConfigError, match="not a host name"):
        Permissions.from_flags(http_hosts=["http://x/"])
    with pytest.raises(ConfigError, match="positive"):
        Permissions.from_flags(max_file_bytes=0)


async def test_a_hanging_tool_times_out() -> None:
    async def hang(args: dict[str, Any], ctx: ToolContext) -> None:
        await anyio.Event().wait()

    registry = ToolRegistry(
        [Tool(name="hang", description="", parameters={}, handler=hang, timeout=0.01)]
    )
    with pytest.raises(ToolError, match=r"tool 'hang': timed out after 0.01s"):
        await registry.invoke("hang", {}, ctx())


async def test_a_raising_tool_becomes_a_tool_error() -> None:
    async def boom(args: dict[str, Any], ctx: ToolContext) -> None:
        raise RuntimeError("disk on fire")

    async def keyerror(args: dict[str, Any], ctx: ToolContext) -> None:
        raise KeyError("missing")

    async def nested(args: dict[str, Any], ctx: ToolContext) -> None:
        raise ToolError("other", "inner failure")

    registry = ToolRegistry(
        Tool(name=n, description="", parameters={}, handler=h)
        for n, h in [("boom", boom), ("keyerror", keyerror), ("nested", nested)]
    )
    with pytest.raises(ToolError, match="tool 'boom': disk on fire") as info:
        await registry.invoke("boom", {}, ctx())
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ToolError, match="tool 'keyerror': KeyError: 'missing'"):
        await registry.invoke("keyerror", {}, ctx())
    with pytest.raises(ToolError, match="tool 'nested': tool 'other': inner failure"):
        await registry.invoke("nested", {}, ctx())


async def test_outside_cancellation_is_not_swallowed() -> None:
    started = anyio.Event()

    async def hang(args: dict[str, Any], ctx: ToolContext) -> None:
        started.set()
        await anyio.Event().wait()

    registry = ToolRegistry([Tool(name="hang", description="", parameters={}, handler=hang)])
    async with anyio.create_task_group() as tg:
        tg.start_soon(registry.invoke, "hang", {}, ctx())
        await started.wait()
        tg.cancel_scope.cancel()
    assert tg.cancel_scope.cancelled_caught
