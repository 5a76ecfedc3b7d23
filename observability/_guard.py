"""An observer must never change the operation it watches: its failures are reported, once in
a while, and the operation goes on."""

from __future__ import annotations

import logging

_log = logging.getLogger("observability")
_reported = 0
MAX_REPORTS = 3


def report_failure(where: str) -> None:
    """Log the exception being handled (the first few times), from an ``except`` block."""
    global _reported
    _reported += 1
    if _reported <= MAX_REPORTS:
        _log.exception("observability: %s failed (the operation is not affected)", where)


def failures() -> int:
    """How many failures were reported since the process started."""
    return _reported
