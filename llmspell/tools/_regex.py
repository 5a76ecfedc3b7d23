"""Regular expressions from spells, through RE2: linear time, whatever the pattern and input.

Python's ``re`` backtracks: ``(a+)+$`` against forty ``a`` and a ``b`` takes minutes, on the
thread that runs it (the event loop, for schema validation). RE2 never backtracks, so a spell's
pattern cannot freeze the process. The price: no backreferences nor lookaround; a pattern RE2
cannot compile is refused with an error naming where it came from.

Tool schemas validate with :func:`re2_validator`, Draft 2020-12 with ``pattern``,
``patternProperties`` and ``additionalProperties`` matching through RE2; ``file_search`` compiles
its ``regex`` here too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

MAX_PROGRAM_BYTES = 8 << 20
"""The memory one compiled pattern may use (RE2's ``max_mem``): a bigger program is refused."""


@functools.cache
def _re2() -> tuple[Any, Any]:
    """RE2 and its options, loaded on first use: a run that compiles no pattern (most) does not
    pay for loading the C++ library at start-up."""
    import re2  # type: ignore[import-untyped, unused-ignore]

    options = re2.Options()
    options.log_errors = False  # RE2 would print each refused pattern on stderr
    options.max_mem = MAX_PROGRAM_BYTES
    return re2, options


class RegexError(ValueError):
    """A pattern RE2 cannot compile (the message says why)."""


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Any:
    """Compile ``pattern`` with RE2 (cached).

    Raises:
        RegexError: RE2 cannot compile it: bad syntax, a backreference or lookaround (which
            RE2 leaves out to stay linear), or a program over :data:`MAX_PROGRAM_BYTES`.
    """
    if not isinstance(pattern, str):
        raise RegexError(f"must be a string, not {type(pattern).__name__}")
    re2, options = _re2()
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(
            f"invalid regular expression {pattern!r} for RE2: {reason} (RE2 has no"
            " backreferences nor lookaround)"
        ) from None


def escape(text: str) -> str:
    """``text`` as a pattern that matches it literally."""
    return str(_re2()[0].escape(text))


def schema_patterns(schema: Any, where: str = "parameters") -> Iterator[tuple[str, str]]:
    """Every regular expression in a JSON Schema: ``(where it is, the pattern)``."""
    if isinstance(schema, Mapping):
        pattern = schema.get("pattern")
        if pattern is not None:
            yield f"{where}.pattern", pattern
        for key, value in schema.items():
            if key == "patternProperties" and isinstance(value, Mapping):
                for name in value:
                    yield f"{where}.patternProperties", name
            if key not in ("pattern", "const", "enum", "default", "examples"):
                yield from schema_patterns(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from schema_patterns(item, f"{where}[{index}]")


def _search(pattern: str, text: str) -> bool:
    return compile_regex(pattern).search(text) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        shown = instance if len(instance) <= 60 else f"{instance[:60]}... ({len(instance)} chars)"
        from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped, unused-ignore]

        yield ValidationError(f"{shown!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = sorted(
        key
        for key in instance
        if key not in properties and not any(_search(p, key) for p in patterns)
    )
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        listed = ", ".join(repr(key) for key in extras)
        from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped, unused-ignore]

        yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")


@functools.cache
def re2_validator() -> Any:
    """Draft 2020-12 validation whose regular expressions run on RE2 (a validator class).

    Built on first use: jsonschema costs tens of milliseconds to import, and a run that calls
    no tool with a schema must not pay them at start-up.
    """
    from jsonschema import Draft202012Validator, validators  # type: ignore[import-untyped, unused-ignore]

    return validators.extend(
        Draft202012Validator,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
