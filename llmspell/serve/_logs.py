"""The daemon's logs on stderr: text lines, or one JSON object per line (``--log-format json``).

A JSON line has ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, and whatever the
record carries: ``spell`` and ``run_id`` for a spell's own ``log.*`` lines (with their
``fields``), ``spell`` for the daemon's lines about one spell, ``exception`` for a traceback.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

_EXTRAS = ("spell", "run_id", "fields")


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        data: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _EXTRAS:
            value = record.__dict__.get(key)
            if value not in (None, {}):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message [spell=... run_id=... key=value ...]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = []
        for key in ("spell", "run_id"):
            if record.__dict__.get(key) and f"{key}=" not in line:
                extras.append(f"{key}={record.__dict__[key]}")
        fields = record.__dict__.get("fields") or {}
        extras.extend(
            f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in fields.items()
        )
        return line + (" " + " ".join(extras) if extras else "")


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Send every log record (the daemon's, the spells', uvicorn's) to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
