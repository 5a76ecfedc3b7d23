"""The real TypeScript compiler for the editor-types tests: npm ``typescript`` at a pinned
version, installed into ``.cache/typescript`` of the repository.

``python -m tests.llmspell._typescript`` installs it (``.ci/run`` does, so CI never skips).
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

TYPESCRIPT_VERSION = "5.9.3"
ROOT = pathlib.Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".cache" / "typescript"
HOW = (
    "the editor-types check needs npm (Node.js) to install the TypeScript compiler: "
    "install Node.js (e.g. apt-get install nodejs npm), or run "
    f"`npm install --prefix .cache/typescript typescript@{TYPESCRIPT_VERSION}`"
)


def installed() -> pathlib.Path | None:
    """``tsc`` of the pinned version if it is installed, else None."""
    tsc = PREFIX / "node_modules" / "typescript" / "bin" / "tsc"
    package = PREFIX / "node_modules" / "typescript" / "package.json"
    if tsc.exists() and f'"version": "{TYPESCRIPT_VERSION}"' in package.read_text():
        return tsc
    return None


def ensure() -> pathlib.Path | str:
    """``tsc`` (installing it with npm when missing), or why it cannot be had."""
    found = installed()
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return HOW
    PREFIX.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(PREFIX),
            "--no-audit",
            "--no-fund",
            "--silent",
            f"typescript@{TYPESCRIPT_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = installed()
    if found is None:
        return f"npm install typescript@{TYPESCRIPT_VERSION} failed: {done.stderr.strip()}\n{HOW}"
    return found


if __name__ == "__main__":
    result = ensure()
    if isinstance(result, str):
        sys.exit(result)
    print(result)
