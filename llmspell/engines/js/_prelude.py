"""The JavaScript half of the bridge: ``prelude.js`` and ``check.js``.

``prelude.js`` is evaluated once in every fresh QuickJS context; its header describes the bridge
protocol. ``check.js`` compiles a spell without running it (``llmspell check``).
"""

from __future__ import annotations

import os

# Lines the host puts before the spell's first line (the async function header takes 2 more).
LINE_PAD = 1000


def _read(name: str) -> str:
    with open(os.path.join(os.path.dirname(__file__), name), encoding="utf-8") as file:
        return file.read()


PRELUDE = _read("prelude.js")
"""The bridge; its value is ``init(spec, source)``."""

CHECK = _read("check.js")
"""A function ``(sourceJson) -> ''`` or the compile error and its stack."""

# Frames at lines <= LINE_PAD + 2 are hidden as the prelude's: it must stay shorter.
assert PRELUDE.count("\n") < LINE_PAD, "the prelude outgrew LINE_PAD"
