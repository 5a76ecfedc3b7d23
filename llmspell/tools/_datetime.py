"""``datetime``: the current time, parsing, formatting, arithmetic and differences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exceptions import ToolError
from ._tool import Tool, ToolContext

if TYPE_CHECKING:  # (imported by the first call: not with every run's built-in tools)
    import datetime as dt

_NAME = "datetime"
_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
OPERATIONS = ("now", "parse", "format", "add", "diff")


def _zone(name: str | None) -> dt.tzinfo:
    import datetime as dt

    if name is None or name.upper() in ("UTC", "Z"):
        return dt.UTC
    import zoneinfo  # loads the time zone machinery only for a spell that names a zone

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            _NAME, f"unknown timezone {name!r} (use an IANA name like 'Europe/Paris')"
        ) from None


def _parse(value: Any, input_format: str | None, zone: dt.tzinfo, what: str) -> dt.datetime:
    import datetime as dt

    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, zone)
    if not isinstance(value, str):
        raise ToolError(_NAME, f"{what} must be a date string or a Unix timestamp")
    try:
        if input_format:
            moment = dt.datetime.strptime(value, input_format)
        else:
            moment = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        hint = "" if input_format else " (expected ISO 8601, e.g. 2024-05-01T12:30:00+02:00)"
        raise ToolError(_NAME, f"cannot parse {what} {value!r}: {exc}{hint}") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _describe(moment: dt.datetime, fmt: str | None) -> dict[str, Any]:
    return {
        "datetime": moment.strftime(fmt) if fmt else moment.isoformat(),
        "iso": moment.isoformat(),
        "timestamp": moment.timestamp(),
        "timezone": str(moment.tzinfo),
        "weekday": moment.strftime("%A"),
    }


async def datetime_tool(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Run one datetime operation (see ``OPERATIONS``)."""
    import datetime as dt

    op = args.get("operation", "now")
    zone = _zone(args.get("timezone"))
    fmt, input_format = args.get("format"), args.get("input_format")
    if op == "now":
        return _describe(dt.datetime.now(zone), fmt)
    if "value" not in args and op != "add":
        raise ToolError(_NAME, f"operation {op!r} needs a 'value'")
    moment = (
        _parse(args["value"], input_format, zone, "value")
        if "value" in args
        else dt.datetime.now(zone)
    )
    if args.get("timezone") is not None:
        moment = moment.astimezone(zone)
    if op in ("parse", "format"):
        return _describe(moment, fmt)
    if op == "add":
        try:
            delta = dt.timedelta(**{unit: args[unit] for unit in _UNITS if unit in args})
            return _describe(moment + delta, fmt)
        except OverflowError:
            raise ToolError(_NAME, "the resulting date is out of range") from None
    if "other" not in args:
        raise ToolError(_NAME, "operation 'diff' needs 'other' (the date to subtract)")
    other = _parse(args["other"], input_format, zone, "other")
    seconds = (moment - other).total_seconds()
    return {"seconds": seconds, "minutes": seconds / 60, "hours": seconds / 3600,
            "days": seconds / 86400}  # fmt: skip


_NUMBER = {"type": "number"}

DATETIME_TOOLS = [
    Tool(
        name="datetime",
        description="Dates and times. operation: 'now' (current time), 'parse' (read value), "
        "'format' (write value with a strftime format), 'add' (value plus weeks/days/hours/"
        "minutes/seconds, which may be negative), 'diff' (value minus other). Returns "
        "{datetime, iso, timestamp, timezone, weekday}, or {seconds, minutes, hours, days} "
        "for diff.",
        parameters={
            "operation": {"type": "string", "enum": list(OPERATIONS), "default": "now"},
            "timezone": {"type": "string", "description": "IANA name, e.g. 'Europe/Paris'"},
            "format": {"type": "string", "description": "strftime format, e.g. '%Y-%m-%d'"},
            "value": {
                "type": ["string", "number"],
                "description": "an ISO 8601 date-time or a Unix timestamp",
            },
            "input_format": {"type": "string", "description": "strptime format of value"},
            "other": {"type": ["string", "number"], "description": "for diff"},
            **{unit: {**_NUMBER, "description": f"for add: {unit} to add"} for unit in _UNITS},
        },
        handler=datetime_tool,
    ),
]
