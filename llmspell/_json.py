"""JSON encoders made once: ``json.JSONEncoder.encode`` builds its C encoder anew on every call,
a cost paid on every state write and workflow checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any


def encoder(
    default: Callable[[Any], Any],
    *,
    ensure_ascii: bool,
    allow_nan: bool,
    separators: tuple[str, str],
) -> Callable[[Any], str]:
    """What ``json.JSONEncoder(...).encode`` returns for these options, with its C encoder made
    once. Without a markers dict, a value that contains itself fails with RecursionError (not
    ValueError)."""
    if c_make_encoder is None:  # (a Python without the C accelerator)
        return json.JSONEncoder(
            ensure_ascii=ensure_ascii, allow_nan=allow_nan, separators=separators, default=default
        ).encode
    item_separator, key_separator = separators
    strings = encode_basestring_ascii if ensure_ascii else encode_basestring
    chunks = c_make_encoder(
        None, default, strings, None, key_separator, item_separator, False, False, allow_nan
    )
    return lambda value: "".join(chunks(value, 0))
