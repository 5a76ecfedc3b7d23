"""Tools: named, schema-checked async functions that spells and agents call.

A `Tool` pairs a JSON Schema for its named arguments with an async handler and the
permission it needs. A `ToolRegistry` looks tools up and runs them (`ToolRegistry.invoke`):
permission check, validation, the handler under a timeout, every failure a `ToolError`.
Built-in tools (`builtin_tools`) read and write files inside a workspace, fetch allowlisted
URLs, and do arithmetic, dates, JSON queries and text; Python functions become tools with
`tool`; scripts register theirs through the script API.

What a call may touch is set by `Permissions`: nothing risky by default.
"""

from ._builtins import builtin_tools as builtin_tools
from ._decorator import tool as tool
from ._permissions import FS_READ as FS_READ
from ._permissions import FS_WRITE as FS_WRITE
from ._permissions import NET_HTTP as NET_HTTP
from ._permissions import Permissions as Permissions
from ._registry import ToolRegistry as ToolRegistry
from ._schema import bind_arguments as bind_arguments
from ._schema import normalize_parameters as normalize_parameters
from ._schema import validate_arguments as validate_arguments
from ._tool import Tool as Tool
from ._tool import ToolContext as ToolContext
from ._tool import ToolHandler as ToolHandler
from ._workspace import Workspace as Workspace

__all__ = [
    "FS_READ",
    "FS_WRITE",
    "NET_HTTP",
    "Permissions",
    "Tool",
    "ToolContext",
    "ToolHandler",
    "ToolRegistry",
    "Workspace",
    "bind_arguments",
    "builtin_tools",
    "normalize_parameters",
    "tool",
    "validate_arguments",
]
