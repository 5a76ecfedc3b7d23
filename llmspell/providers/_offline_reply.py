"""What the offline model says: deterministic replies built from the conversation alone.

* Tools offered and no tool result since the last user message: call the tool whose name and
  description share the most words with the prompt (else the first), with its arguments filled
  from the prompt: a quoted phrase, else what the prompt says beyond the tool's own words
  ("What is the weather in Lisbon?" gives a weather tool's ``city`` "Lisbon").
* Tool results present: a text answer that summarises them.
* A JSON schema asked for: JSON built from the schema that validates against it; strings and
  numbers are taken from the prompt in order ("Ada Lovelace, 36, mathematician" fills
  ``name``, ``age`` and ``occupation``).
* Otherwise: ``[offline model] You said: ...``, echoing the prompt (and a hint of the system
  prompt).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

PREFIX = "[offline model]"
_ECHO = 200
MAX_REPLY = 1 << 20
"""The most characters a structured offline reply may take (a model's output is bounded too):
a schema asking for more (``minLength: 3e9``, ``minItems: 2e8``) is refused, not built."""


class ReplyTooLarge(ValueError):
    """A response schema asks for more than :data:`MAX_REPLY` characters (refused like a
    provider's HTTP 400)."""

    status_code = 400


_WORD = re.compile(r"[a-z0-9]+")
_TEXT_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")
_SEGMENT = re.compile(r"[^,;\n]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”")
_MATH = re.compile(r"[-+*/^%().\d\s]*\d[-+*/^%().\d\s]*[-+*/^%][-+*/^%().\d\s]*\d[-+*/^%().\d\s]*")
_URL = re.compile(r"https?://\S+")
_PATH = re.compile(r"[\w.-]*[/\\][\w./\\-]+|[\w-]+\.[a-zA-Z0-9]{1,5}\b")
_STOP = frozenset(
    "a about an and any are as at be by can could did do does for from get give how i in is it "
    "its me my now of on or please right show some tell that the there this to today tonight use "
    "using was what when where which who why will with would you your".split()
)


@dataclasses.dataclass(frozen=True)
class OfflineReply:
    """A reply: text and/or tool calls as ``(id, name, JSON arguments)``."""

    content: str | None
    tool_calls: tuple[tuple[str, str, str], ...] = ()


def text_of(content: object) -> str:
    """The text of a message's ``content`` (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        return " ".join(part for part in parts if part)
    return str(content)


def respond(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    response_format: dict[str, Any] | None = None,
    tool_choice: object = None,
) -> OfflineReply:
    """The offline model's deterministic reply to a conversation."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    prompt = text_of(messages[last_user].get("content")) if last_user >= 0 else ""
    results = [m for m in messages[last_user + 1 :] if m.get("role") == "tool"]
    if tools and not results and tool_choice != "none":
        tool = _choose_tool(tools, prompt, tool_choice)
        if tool is not None:
            previous = sum(len(m.get("tool_calls") or []) for m in messages)
            parameters = tool.get("parameters") or {}
            arguments = arguments_for(parameters, prompt, _vocabulary(tool, parameters))
            call = (f"call_{previous + 1}", str(tool.get("name", "")), json.dumps(arguments))
            return OfflineReply(None, (call,))
    summary = _summarise(messages, results)
    schema = _schema_of(response_format)
    if schema is not None:
        return OfflineReply(json.dumps(value_for(schema, f"{prompt} {summary}".strip())))
    if results:
        return OfflineReply(f"{PREFIX} Tool results: {summary}")
    system = next((text_of(m.get("content")) for m in messages if m.get("role") == "system"), "")
    reply = f"{PREFIX} You said: {prompt[:_ECHO]}" if prompt else f"{PREFIX} (no user message)"
    if system:
        reply += f" (system prompt: {system[:80]})"
    return OfflineReply(reply)


def _schema_of(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if not response_format:
        return None
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    if response_format.get("type") == "json_object":
        return {"type": "object", "properties": {"response": {"type": "string"}}}
    return None


def _summarise(messages: list[dict[str, Any]], results: list[dict[str, Any]]) -> str:
    names = {
        call.get("id"): (call.get("function") or {}).get("name", "tool")
        for m in messages
        for call in m.get("tool_calls") or []
    }
    parts = []
    for result in results:
        name = result.get("name") or names.get(result.get("tool_call_id"), "tool")
        parts.append(f"{name}: {_canonical(text_of(result.get('content')))[:_ECHO]}")
    return "; ".join(parts)


def _canonical(text: str) -> str:
    """A JSON tool result with its keys sorted (a Lua table has no key order), else ``text``."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _words(text: str) -> set[str]:
    """Content words, crudely stemmed: "calculate" and "calculator" both give "calcul"."""
    words = _WORD.findall(_CAMEL.sub(" ", text).replace("_", " ").lower())
    return {word.removesuffix("s")[:6] for word in words if word not in _STOP}


def _choose_tool(
    tools: list[dict[str, Any]], prompt: str, tool_choice: object
) -> dict[str, Any] | None:
    functions = [t.get("function") or t for t in tools]
    if isinstance(tool_choice, dict):
        wanted = (tool_choice.get("function") or {}).get("name")
        return next((f for f in functions if f.get("name") == wanted), None)
    asked = _words(prompt)
    scores = [
        len(asked & _words(f"{f.get('name', '')} {f.get('description', '')}")) for f in functions
    ]
    return functions[scores.index(max(scores))] if functions else None


def _vocabulary(tool: dict[str, Any], parameters: dict[str, Any]) -> frozenset[str]:
    """The words a tool's declaration uses (name, description, parameter names and texts)."""
    parts = [str(tool.get("name", "")), str(tool.get("description", ""))]
    for name, schema in (parameters.get("properties") or {}).items():
        parts += [str(name), str(schema.get("description", "")) if isinstance(schema, dict) else ""]
    return frozenset(_words(" ".join(parts)))


def arguments_for(
    parameters: dict[str, Any], prompt: str, vocabulary: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Arguments for a tool with JSON Schema ``parameters``, filled from the prompt.

    ``vocabulary`` holds the tool's own words (see :func:`_vocabulary`): a string argument is
    what the prompt says beyond them and beyond filler words.
    """
    value = _Builder(parameters, prompt, vocabulary).build({"type": "object", **parameters}, "")
    return value if isinstance(value, dict) else {}


def value_for(schema: dict[str, Any], prompt: str) -> Any:
    """A value that validates against ``schema``, built deterministically from ``prompt``."""
    return _Builder(schema, prompt).build(schema, "")


def _content(text: str, vocabulary: frozenset[str]) -> str | None:
    """The phrase of ``text`` beyond ``vocabulary`` and filler words: of the runs of such words,
    the first holding a capitalised word past the first (a name: "Lisbon", "New York"), else
    the first; None when nothing is left."""
    runs: list[tuple[int, int, bool]] = []  # (start, end, has a capitalised word)
    for index, match in enumerate(_TEXT_WORD.finditer(text)):
        word = match.group(0)
        lowered = re.split(r"['\u2019]", word.lower())[0]  # "what's" is "what"
        if lowered in _STOP or _NUMBER.fullmatch(word) or _words(word) <= vocabulary:
            runs.append((-1, -1, False))
            continue
        named = index > 0 and word[0].isupper()
        if runs and runs[-1][0] >= 0:
            start, _, had = runs[-1]
            runs[-1] = (start, match.end(), had or named)
        else:
            runs.append((match.start(), match.end(), named))
    found = [run for run in runs if run[0] >= 0]
    if not found:
        return None
    start, end, _ = next((run for run in found if run[2]), found[0])
    return text[start:end]


class _Builder:
    def __init__(
        self, root: dict[str, Any], prompt: str, vocabulary: frozenset[str] | None = None
    ) -> None:
        self.root = root
        self.prompt = prompt
        self.vocabulary = vocabulary
        self.numbers = _NUMBER.findall(prompt)
        self.used_numbers = 0
        # "Ada Lovelace, 36, mathematician": one text part per string, in order
        parts = [p.strip() for p in _SEGMENT.findall(prompt)]
        self.segments = [p for p in parts if p and not _NUMBER.fullmatch(p)]
        self.used_segments = 0
        self.spent = 0  # characters of the reply so far

    def build(self, schema: dict[str, Any], name: str, depth: int = 0) -> Any:
        schema = self._resolve(schema)
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return self.build({**schema, key: None, **schema[key][0]}, name, depth)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "default" in schema:
            return schema["default"]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None and "properties" in schema:
            kind = "object"
        elif kind is None:
            kind = "array" if "items" in schema else "string"
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            item = schema.get("items") if isinstance(schema.get("items"), dict) else {}
            count = max(1, self._size(schema, "minItems", name))
            values = []
            for _ in range(count):
                values.append(self.build(item or {}, name, depth + 1))
                self._charge(2, name)
            return values
        self._charge(8, name)
        if kind in ("number", "integer"):
            return self._number(schema, kind == "integer")
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        text = self._string(schema, name)
        self._charge(len(text), name)
        return text

    def _size(self, schema: dict[str, Any], keyword: str, name: str) -> int:
        """``schema[keyword]`` (a count or length), refused past what a reply may hold."""
        value = schema.get(keyword, 0)
        try:
            size = int(value)
        except (TypeError, ValueError, OverflowError):
            size = MAX_REPLY + 1 if value == float("inf") else 0
        if size > MAX_REPLY - self.spent:
            raise ReplyTooLarge(
                f"the offline model cannot answer: {keyword} {value!r} of {name!r} needs more"
                f" than the {MAX_REPLY} characters a reply may hold"
            )
        return size

    def _charge(self, size: int, name: str) -> None:
        self.spent += size
        if self.spent > MAX_REPLY:
            raise ReplyTooLarge(
                f"the offline model cannot answer: the schema (at {name!r}) asks for more than"
                f" the {MAX_REPLY} characters a reply may hold"
            )

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = self.root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return {**target, **rest} if isinstance(target, dict) else rest

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        if depth > 8:
            return {}
        names = schema.get("required") or list(properties)
        return {name: self.build(properties.get(name) or {}, name, depth + 1) for name in names}

    def _number(self, schema: dict[str, Any], integer: bool) -> int | float:
        value = 0.0
        if self.used_numbers < len(self.numbers):
            value = float(self.numbers[self.used_numbers])
            self.used_numbers += 1
        if "minimum" in schema:
            value = max(value, float(schema["minimum"]))
        if "maximum" in schema:
            value = min(value, float(schema["maximum"]))
        if integer or value.is_integer():
            return int(value)
        return value

    def _string(self, schema: dict[str, Any], name: str) -> str:
        lowered = name.lower()
        found: str | None = None
        if any(key in lowered for key in ("expr", "formula", "equation", "calc", "math")):
            found = _first(_MATH, self.prompt)
        elif any(key in lowered for key in ("url", "uri", "link")):
            found = _first(_URL, self.prompt)
        elif any(key in lowered for key in ("path", "file", "dir", "folder")):
            found = _first(_PATH, self.prompt)
        if found is None:
            quoted = _QUOTED.search(self.prompt)
            found = next(g for g in quoted.groups() if g) if quoted else self._text()
        text = found.strip() or "offline"
        text = text.ljust(self._size(schema, "minLength", name), ".")
        return text[: int(schema["maxLength"])] if "maxLength" in schema else text

    def _text(self) -> str:
        """A string from the prompt: the next of several comma-separated parts, else the whole;
        for a tool's argument, only what goes beyond the tool's own words."""
        text = self.prompt
        if len(self.segments) > 1 and self.used_segments < len(self.segments):
            text = self.segments[self.used_segments]
            self.used_segments += 1
        if self.vocabulary is not None:
            text = _content(text, self.vocabulary) or text
        return text[:_ECHO]


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(0).strip() if match else None
