"""The built-in tools, each declaring the permission it needs."""

from __future__ import annotations

from ._calculator import CALCULATOR_TOOLS
from ._datetime import DATETIME_TOOLS
from ._files import FILE_TOOLS
from ._http import HTTP_TOOLS
from ._json_query import JSON_TOOLS
from ._text import TEXT_TOOLS
from ._tool import Tool


def builtin_tools() -> list[Tool]:
    """Every built-in tool.

    ``file_read``, ``file_list``, ``file_search`` need ``fs.read``; ``file_write`` needs
    ``fs.write``; ``http_fetch`` needs ``net.http``; ``calculator``, ``datetime``,
    ``json_query`` and the ``text_*`` tools need nothing.
    """
    return [
        *FILE_TOOLS, *HTTP_TOOLS, *CALCULATOR_TOOLS, *DATETIME_TOOLS, *JSON_TOOLS, *TEXT_TOOLS,
    ]  # fmt: skip
