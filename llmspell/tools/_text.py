"""Text tools: count tokens, split text, fill ``{{name}}`` templates."""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import anyio

from .._exceptions import LimitExceeded, ToolError
from ._tool import Tool, ToolContext

_PIECE_BYTES = 64  # what one string of a result is charged besides its characters
_COUNT_CHUNK = 1 << 16  # characters tokenized at a time (bounded memory; cancellable between)

_CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
# Compiled by re's own cache on first use (not on every run's start-up).
_WORDS = r"\w+|[^\w\s]"
_PLACEHOLDER = r"\{\{\s*([\w.-]+)\s*\}\}"


def _cl100k_candidates() -> list[Path]:
    import hashlib  # here, and below: loaded by the first count, not by every spell's start
    import importlib.util
    import tempfile

    key = hashlib.sha1(_CL100K_URL.encode()).hexdigest()  # tiktoken's cache file name
    dirs = [os.environ.get(v) for v in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")]
    dirs.append(os.path.join(tempfile.gettempdir(), "data-gym-cache"))
    spec = importlib.util.find_spec("litellm")  # litellm ships a copy; found without importing
    for location in (spec.submodule_search_locations or []) if spec else []:
        dirs.append(os.path.join(location, "litellm_core_utils", "tokenizers"))
    return [Path(d, key) for d in dirs if d]


@functools.cache
def cl100k_encoding() -> Any | None:
    """tiktoken's cl100k_base from a local, hash-checked copy; None if there is none.

    Never downloads: ``tiktoken.get_encoding`` would fetch the file when it is not cached.
    """
    try:
        import tiktoken
    except ImportError:
        return None
    import base64
    import hashlib

    for path in _cl100k_candidates():
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
            continue
        ranks = {
            base64.b64decode(tok): int(rank)
            for tok, rank in map(bytes.split, data.splitlines())
            if tok
        }
        return tiktoken.Encoding(
            "cl100k_base",
            pat_str=_CL100K_PATTERN,
            mergeable_ranks=ranks,
            special_tokens={"<|endoftext|>": 100257},
        )
    return None


def _fits(ctx: ToolContext, tool: str, size: int) -> None:
    """Refuse a result of about ``size`` bytes that the calling run could not hold."""
    if ctx.max_bytes is not None and size > ctx.max_bytes:
        raise LimitExceeded(
            "memory",
            f"{tool}: the result needs more than the run's memory limit of {ctx.max_bytes} bytes",
        )


def _chunks(text: str) -> list[tuple[int, int]]:
    """Spans of about ``_COUNT_CHUNK`` characters, cut just before whitespace where there is
    some, so that words are not split (tokens, pre-split on spaces, then count the same)."""
    spans, start = [], 0
    while start < len(text):
        end = min(start + _COUNT_CHUNK, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start + 1, end), text.rfind("\n", start + 1, end))
            end = cut if cut > start else end
        spans.append((start, end))
        start = end
    return spans


async def text_count_tokens(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Count tokens with cl100k_base when available offline, else words and punctuation.

    The count runs in a worker thread a chunk at a time: the event loop stays free, memory
    stays bounded by a chunk, and a cancelled call (the run's deadline) stops at the next chunk.
    """
    text: str = args["text"]
    encoding = await anyio.to_thread.run_sync(cl100k_encoding)
    stop = threading.Event()

    def count() -> int:
        total = 0
        for start, end in _chunks(text):
            if stop.is_set():
                break
            piece = text[start:end]
            if encoding is not None:
                total += len(encoding.encode(piece, disallowed_special=()))
            else:
                total += sum(1 for _ in re.finditer(_WORDS, piece))
        return total

    try:
        tokens = await anyio.to_thread.run_sync(count, abandon_on_cancel=True)
    finally:
        stop.set()
    method = "words" if encoding is None else "cl100k_base"
    return {"tokens": tokens, "method": method, "characters": len(text)}


async def text_split(args: dict[str, Any], ctx: ToolContext) -> list[str]:
    """Split on a separator, into chunks of at most ``chunk_size`` characters, or both."""
    text: str = args["text"]
    separator: str | None = args.get("separator")
    size: int | None = args.get("chunk_size")
    if separator == "":
        raise ToolError("text_split", "separator must not be empty")
    pieces_count = text.count(separator if separator is not None else "\n") + 1
    if size is not None:
        pieces_count = max(pieces_count, len(text) // size + 1)
    _fits(ctx, "text_split", len(text) + pieces_count * _PIECE_BYTES)
    if size is None:
        return text.split(separator if separator is not None else "\n")
    joiner = separator if separator is not None else ""
    pieces = text.split(separator) if separator is not None else [text]
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        for part in [piece[i : i + size] for i in range(0, len(piece), size)] or [""]:
            if current is not None and len(current) + len(joiner) + len(part) <= size:
                current += joiner + part
            else:
                if current is not None:
                    chunks.append(current)
                current = part
    if current is not None:
        chunks.append(current)
    return chunks


async def text_template(args: dict[str, Any], ctx: ToolContext) -> str:
    """Replace ``{{name}}`` (or ``{{a.b}}``) placeholders with values from ``vars``."""
    variables: dict[str, Any] = args.get("vars") or {}
    template: str = args["template"]
    produced = len(template)

    def fill(match: re.Match[str]) -> str:
        nonlocal produced
        value: Any = variables
        for part in match[1].split("."):
            if not isinstance(value, dict) or part not in value:
                known = ", ".join(variables) or "none"
                problem = f"template variable {match[1]!r} is not defined (vars: {known})"
                raise ToolError("text_template", problem)
            value = value[part]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        produced += len(text)
        _fits(ctx, "text_template", produced)
        return text

    return re.sub(_PLACEHOLDER, fill, template)


_TEXT = {"type": "string", "required": True}

TEXT_TOOLS = [
    Tool(
        name="text_count_tokens",
        description="Count the tokens in a text (cl100k_base when available, else words and "
        "punctuation marks). Returns {tokens, method, characters}.",
        parameters={"text": _TEXT},
        handler=text_count_tokens,
    ),
    Tool(
        name="text_split",
        description="Split a text on a separator (default: newline), or into chunks of at "
        "most chunk_size characters; with both, pieces are packed into chunks.",
        parameters={
            "text": _TEXT,
            "separator": {"type": "string"},
            "chunk_size": {"type": "integer", "minimum": 1},
        },
        handler=text_split,
    ),
    Tool(
        name="text_template",
        description="Fill {{name}} placeholders (dots reach into objects: {{user.name}}) with "
        "values from vars.",
        parameters={"template": _TEXT, "vars": {"type": "object", "default": {}}},
        handler=text_template,
    ),
]
