"""The shipped spells (``spells/``) run offline in both engines and say what they should.

Each spell's output is compared line by line with what a user must see: the feature working on
the offline model. Comparing Lua with JS alone passed while both ended on the same error.
"""

from __future__ import annotations

import pathlib

import pytest

from llmspell import open_runtime
from llmspell.providers import Provider
from llmspell.tools import Permissions

pytestmark = pytest.mark.anyio

SPELLS = pathlib.Path(__file__).resolve().parents[2] / "spells"
LANGUAGE = {"lua": "Lua", "js": "JavaScript", "tengo": "Tengo"}

# What each spell prints, in order; {file} is the spell's path, {language} Lua or JavaScript.
EXPECTED = {
    "hello": [
        'heard hello.greeted: {"who":"world"}',
        'heard hello.greeted: {"who":"{language}"}',
        "hello, world, {language}! (2 greetings heard)",
    ],
    "custom_tool": [
        "Lisbon: 19°C, 66.2°F",
        "caught: tool 'weather': {file}:14: unknown city Atlantis",
        '[offline model] Tool results: weather: {"city": "Lisbon", "temperature": 19, "unit": "C"}',
    ],
    "hooks": [
        "[checked] [offline model] You said: Say hello (system prompt: Answer in one line.)",
        "refused call: llm.complete: llm.before_generate cancelled: prompt mentions a forbidden topic",
        "2 + 2 = 4",
        "refused tool: tool 'calculator': refused by a hook: no exponentiation, please",
    ],
    "research_agent": [
        "question: How many words are in 'the quick brown fox'? Use a tool.",
        "answer:   [offline model] Tool results: text_count_tokens: "
        '{"characters": 19, "method": "cl100k_base", "tokens": 4}',
        "tools:    text_count_tokens",
    ],
    "streaming": [
        "chunk 1: [offline model] You ",
        "chunk 2: said: Write two ",
        "chunk 3: sentences about octopuses. ",
        "chunk 4: (system prompt: You ",
        "chunk 5: are a concise ",
        "chunk 6: science writer.)",
        "done: 6 chunks, 38 tokens, model offline/llmspell",
    ],
    "files": [
        "found: hello.js, hello.lua, hello.tengo",
        "hello.lua starts with: -- hello.lua — the first spell: params, log, json, events and hooks.",
        "refused: tool 'file_read': path '../README.md' escapes the workspace ('..' is not allowed)",
    ],
    "notes": ["1. buy milk", "1 note(s), run #1"],
    "observed": ["[offline model] Tool results: calculator: 42"],
    "structured": [
        "name=Ada Lovelace age=36 occupation=mathematician",
        'complete: {"age":36,"name":"Ada Lovelace","occupation":"mathematician"}',
    ],
}
# Lines that show an error on purpose (a caught tool error, hooks refusing): nothing else may.
DELIBERATE = ("caught: ", "refused call: ", "refused tool: ", "refused: ")
# As their Run: lines say: files.* runs with `--allow fs.read --workspace spells`, notes.* with
# `-p add="buy milk"` (on a fresh, in-memory state store here).
GRANTS = {"files": Permissions.from_flags(allow=["fs.read"], workspace=SPELLS)}
PARAMS = {"notes": {"add": "buy milk"}}


def test_every_shipped_spell_is_checked_in_every_language() -> None:
    files = {p.name for p in SPELLS.iterdir() if p.suffix in (".lua", ".js", ".tengo")}
    assert files == {f"{name}.{ext}" for name in EXPECTED for ext in LANGUAGE}


@pytest.mark.parametrize("ext", sorted(LANGUAGE))
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_the_spell_shows_its_feature_working_offline(name: str, ext: str) -> None:
    path = f"spells/{name}.{ext}"
    chunks: list[str] = []
    async with open_runtime(
        provider=Provider(default_model="offline/llmspell"), state=":memory:"
    ) as rt:
        result = await rt.run(
            SPELLS / f"{name}.{ext}",
            output=chunks.append,
            permissions=GRANTS.get(name),
            params=PARAMS.get(name),
        )
    assert result.ok, result.error
    lines = "".join(chunks).replace(str(SPELLS / f"{name}.{ext}"), path).splitlines()
    expected = [
        line.replace("{file}", path).replace("{language}", LANGUAGE[ext]) for line in EXPECTED[name]
    ]
    assert lines == expected
    for line in lines:
        if not line.startswith(DELIBERATE):
            assert "error" not in line.lower() and "unknown" not in line.lower(), line


@pytest.mark.parametrize("ext", sorted(LANGUAGE))
async def test_files_without_the_grant_says_how_to_grant_it(ext: str) -> None:
    async with open_runtime(
        provider=Provider(default_model="offline/llmspell"), state=":memory:"
    ) as rt:
        result = await rt.run(SPELLS / f"files.{ext}")
    assert result.ok and result.value == {"granted": False}
    assert result.output == (
        "not granted: tool 'file_list': permission 'fs.read' not granted; "
        "run with --allow fs.read\n"
    )
