"""Time values and Tengo's ``times`` module (Go's ``time`` package: layouts such as
``"2006-01-02T15:04:05Z07:00"``, durations in nanoseconds, months 1-12)."""

from __future__ import annotations

import datetime as _dt
import re
import time as _time
import zoneinfo
from collections.abc import Callable
from typing import Any

from . import _token as T
from ._builtins import arg_error
from ._stdlib import error_value, i_arg, nargs, s_arg, uf
from ._values import ZERO_TIME_NS, Time, Value, VMError

NS = 10**9
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_DAYS = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday".split()


def _local_zone(ns: int) -> tuple[int, str]:
    secs = ns // NS
    try:
        lt = _time.localtime(secs)
        return lt.tm_gmtoff or 0, lt.tm_zone or "UTC"
    except (OverflowError, OSError, ValueError):
        return 0, "UTC"


def from_unix(sec: int, nsec: int) -> Time:
    ns = sec * NS + nsec
    off, zone = _local_zone(ns)
    return Time(ns, off, zone)


def now() -> Time:
    return from_unix(0, _time.time_ns())


def _fields(t: Time) -> _dt.datetime:
    """The wall clock of ``t`` in its own zone (microsecond precision; ns kept apart)."""
    secs = (t.ns // NS) + t.offset
    return _dt.datetime(1, 1, 1) + _dt.timedelta(seconds=secs - (ZERO_TIME_NS // NS))


def _nanos(t: Time) -> int:
    return t.ns % NS


def _offset_text(off: int, colon: bool, z: bool) -> str:
    if z and off == 0:
        return "Z"
    sign = "-" if off < 0 else "+"
    h, m = divmod(abs(off) // 60, 60)
    return f"{sign}{h:02d}:{m:02d}" if colon else f"{sign}{h:02d}{m:02d}"


_LAYOUT = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|Z07:00|Z0700|Z07|-07:00|-0700|-07|"
    r"[.,][09]+|15|06|01|02|03|04|05|_2|1|2|3|4|5|PM|pm"
)


def go_format(t: Time, layout: str) -> str:
    d = _fields(t)
    ns = _nanos(t)
    hour12 = d.hour % 12 or 12

    def token(m: re.Match[str]) -> str:
        k = m.group()
        if k[0] in ".,":
            digits = f"{ns:09d}"[: len(k) - 1]
            if k[1] == "9":
                digits = digits.rstrip("0")
                return k[0] + digits if digits else ""
            return k[0] + digits
        table: dict[str, Callable[[], str]] = {
            "January": lambda: _MONTHS[d.month - 1],
            "Jan": lambda: _MONTHS[d.month - 1][:3],
            "Monday": lambda: _DAYS[(d.weekday() + 1) % 7],
            "Mon": lambda: _DAYS[(d.weekday() + 1) % 7][:3],
            "MST": lambda: t.zone,
            "2006": lambda: f"{d.year:04d}",
            "Z07:00": lambda: _offset_text(t.offset, True, True),
            "Z0700": lambda: _offset_text(t.offset, False, True),
            "Z07": lambda: _offset_text(t.offset, False, True)[:3],
            "-07:00": lambda: _offset_text(t.offset, True, False),
            "-0700": lambda: _offset_text(t.offset, False, False),
            "-07": lambda: _offset_text(t.offset, False, False)[:3],
            "15": lambda: f"{d.hour:02d}",
            "06": lambda: f"{d.year % 100:02d}",
            "01": lambda: f"{d.month:02d}",
            "02": lambda: f"{d.day:02d}",
            "03": lambda: f"{hour12:02d}",
            "04": lambda: f"{d.minute:02d}",
            "05": lambda: f"{d.second:02d}",
            "_2": lambda: f"{d.day:2d}",
            "1": lambda: str(d.month),
            "2": lambda: str(d.day),
            "3": lambda: str(hour12),
            "4": lambda: str(d.minute),
            "5": lambda: str(d.second),
            "PM": lambda: "PM" if d.hour >= 12 else "AM",
            "pm": lambda: "pm" if d.hour >= 12 else "am",
        }
        return table[k]()

    return _LAYOUT.sub(token, layout)


def time_string(t: Time) -> str:
    """Go's ``Time.String()``."""
    return go_format(t, "2006-01-02 15:04:05.999999999 -0700 MST")


def time_format_rfc3339(t: Time, nano: bool = False) -> str:
    return go_format(
        t, "2006-01-02T15:04:05.999999999Z07:00" if nano else "2006-01-02T15:04:05Z07:00"
    )


def go_parse(layout: str, value: str) -> Time:
    """Go's ``time.Parse`` for the common layout elements (raises ValueError)."""
    pattern = []
    names: list[str] = []
    pos = 0
    for m in _LAYOUT.finditer(layout):
        pattern.append(re.escape(layout[pos : m.start()]))
        k = m.group()
        pos = m.end()
        rx = {
            "January": "(?P<month_name>[A-Za-z]+)",
            "Jan": "(?P<month_abbr>[A-Za-z]{3})",
            "Monday": "[A-Za-z]+",
            "Mon": "[A-Za-z]{3}",
            "MST": "(?P<zone>[A-Z]{3,5}|[+-]\\d{2,4})",
            "2006": "(?P<year>\\d{4})",
            "06": "(?P<year2>\\d{2})",
            "01": "(?P<month>\\d{2})",
            "1": "(?P<month>\\d{1,2})",
            "02": "(?P<day>\\d{2})",
            "_2": " ?(?P<day>\\d{1,2})",
            "2": "(?P<day>\\d{1,2})",
            "15": "(?P<hour>\\d{2})",
            "03": "(?P<hour12>\\d{2})",
            "3": "(?P<hour12>\\d{1,2})",
            "04": "(?P<minute>\\d{2})",
            "4": "(?P<minute>\\d{1,2})",
            "05": "(?P<second>\\d{2})",
            "5": "(?P<second>\\d{1,2})",
            "PM": "(?P<ampm>AM|PM)",
            "pm": "(?P<ampm>am|pm)",
        }.get(k)
        if rx is None and k[0] in ".,":
            rx = "(?:[.,](?P<frac>\\d+))?" if k[1] == "9" else f"[.,](?P<frac>\\d{{{len(k) - 1}}})"
        if rx is None:  # zone offsets
            rx = "(?P<offset>Z|[+-]\\d{2}(?::?\\d{2})?)"
        if "(?P<" in rx:
            name = rx.split("(?P<")[1].split(">")[0]
            if name in names:
                rx = re.sub(r"\(\?P<\w+>", "(?:", rx)
            names.append(name)
        pattern.append(rx)
    pattern.append(re.escape(layout[pos:]))
    found = re.fullmatch("".join(pattern), value)
    if found is None:
        raise ValueError(f'parsing time "{value}" as "{layout}": cannot parse')
    g = found.groupdict()
    year = (
        int(g.get("year") or 0)
        if g.get("year")
        else (2000 + int(g["year2"]) if g.get("year2") else 0)
    )
    month = 1
    if g.get("month"):
        month = int(g["month"])
    elif g.get("month_name") or g.get("month_abbr"):
        text = (g.get("month_name") or g.get("month_abbr") or "")[:3].lower()
        month = [x[:3].lower() for x in _MONTHS].index(text) + 1
    day = int(g.get("day") or 1)
    hour = int(g.get("hour") or 0)
    if g.get("hour12"):
        hour = int(g["hour12"]) % 12 + (12 if (g.get("ampm") or "").lower() == "pm" else 0)
    minute, second = int(g.get("minute") or 0), int(g.get("second") or 0)
    frac = g.get("frac") or ""
    nanos = int((frac + "000000000")[:9]) if frac else 0
    offset = 0
    zone = "UTC"
    off = g.get("offset")
    if off and off != "Z":
        digits = off[1:].replace(":", "")
        offset = (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60) * (
            -1 if off[0] == "-" else 1
        )
        zone = ""
    wall = _dt.datetime(year or 1, month, day, hour, minute, second)
    secs = int((wall - _dt.datetime(1970, 1, 1)).total_seconds()) - offset
    t = Time(secs * NS + nanos, offset, zone or _offset_text(offset, False, False))
    if year == 0 and not g.get("year"):
        t = Time(t.ns, offset, t.zone)
    return t


def time_binop(op: int, a: Time, b: Any) -> Any:
    if type(b) is int:
        if op == T.ADD:
            return a if b == 0 else Time(a.ns + b, a.offset, a.zone)
        if op == T.SUB:
            return a if b == 0 else Time(a.ns - b, a.offset, a.zone)
    elif type(b) is Time:
        if op == T.SUB:
            return a.ns - b.ns
        if op == T.LESS:
            return a.ns < b.ns
        if op == T.GREATER:
            return a.ns > b.ns
        if op == T.LESS_EQ:
            return a.ns <= b.ns
        if op == T.GREATER_EQ:
            return a.ns >= b.ns
    return NotImplemented


def duration_string(d: int) -> str:
    """Go's ``Duration.String()``."""
    if d == 0:
        return "0s"
    sign = "-" if d < 0 else ""
    u = abs(d)
    if u < NS:
        for unit, size in (("ns", 1), ("µs", 1000), ("ms", 10**6)):
            if u < size * 1000:
                whole, frac = divmod(u, size)
                text = str(whole)
                if frac:
                    text += "." + f"{frac:0{len(str(size)) - 1}d}".rstrip("0")
                return sign + text + unit
    secs, frac = divmod(u, NS)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    text = f"{s}" + ("." + f"{frac:09d}".rstrip("0") if frac else "") + "s"
    if h:
        return f"{sign}{h}h{m}m{text}"
    if m:
        return f"{sign}{m}m{text}"
    return sign + text


_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 10**6,
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
}


def parse_duration(s: str) -> int:
    if s in ("0", "+0", "-0"):
        return 0
    m = re.fullmatch(r"([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", s)
    if not m:
        raise ValueError(f'time: invalid duration "{s}"')
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", s):
        total += float(num) * _UNITS[unit]
    return int(-total if m.group(1) == "-" else total)


def _t_arg(args: list[Value], i: int) -> Time:
    v = args[i]
    if type(v) is Time:
        return v
    if type(v) is int:
        return from_unix(v, 0)
    raise arg_error(("first", "second", "third")[i], "time(compatible)", v)


def _in_zone(t: Time, name: str) -> Time:
    if name in ("UTC", ""):
        return Time(t.ns, 0, "UTC")
    if name == "Local":
        off, zone = _local_zone(t.ns)
        return Time(t.ns, off, zone)
    tz = zoneinfo.ZoneInfo(name)
    dt = _EPOCH + _dt.timedelta(microseconds=t.ns // 1000)
    local = dt.astimezone(tz)
    delta = local.utcoffset()
    return Time(t.ns, int(delta.total_seconds()) if delta else 0, local.tzname() or name)


def times_module(ctx: Any) -> dict[str, Value]:
    attrs: dict[str, Value] = {
        "format_ansic": "Mon Jan _2 15:04:05 2006",
        "format_unix_date": "Mon Jan _2 15:04:05 MST 2006",
        "format_ruby_date": "Mon Jan 02 15:04:05 -0700 2006",
        "format_rfc822": "02 Jan 06 15:04 MST",
        "format_rfc822z": "02 Jan 06 15:04 -0700",
        "format_rfc850": "Monday, 02-Jan-06 15:04:05 MST",
        "format_rfc1123": "Mon, 02 Jan 2006 15:04:05 MST",
        "format_rfc1123z": "Mon, 02 Jan 2006 15:04:05 -0700",
        "format_rfc3339": "2006-01-02T15:04:05Z07:00",
        "format_rfc3339_nano": "2006-01-02T15:04:05.999999999Z07:00",
        "format_kitchen": "3:04PM",
        "format_stamp": "Jan _2 15:04:05",
        "format_stamp_milli": "Jan _2 15:04:05.000",
        "format_stamp_micro": "Jan _2 15:04:05.000000",
        "format_stamp_nano": "Jan _2 15:04:05.000000000",
        "nanosecond": 1,
        "microsecond": 1000,
        "millisecond": 10**6,
        "second": NS,
        "minute": 60 * NS,
        "hour": 3600 * NS,
    }
    for i, name in enumerate(_MONTHS):
        attrs[name.lower()] = i + 1

    def sleep(args: list[Value]) -> Value:
        nargs(args, 1)
        ctx.sleep(i_arg(args, 0) / NS)
        return None

    def pd(args: list[Value]) -> Value:
        nargs(args, 1)
        try:
            return parse_duration(s_arg(args, 0))
        except ValueError as exc:
            return error_value(str(exc))

    def t1(fn: Callable[[Time], Value]) -> Callable[[list[Value]], Value]:
        def call(args: list[Value]) -> Value:
            nargs(args, 1)
            return fn(_t_arg(args, 0))

        return call

    def d1(fn: Callable[[int], Value]) -> Callable[[list[Value]], Value]:
        def call(args: list[Value]) -> Value:
            nargs(args, 1)
            return fn(i_arg(args, 0))

        return call

    def date(args: list[Value]) -> Value:
        if len(args) not in (7, 8):
            raise VMError("wrong number of arguments")
        y, mo, d, h, mi, s, n = (i_arg(args, i) if i < 3 else _int(args[i], i) for i in range(7))
        months = mo - 1
        y += months // 12
        base = _dt.datetime(y, months % 12 + 1, 1) + _dt.timedelta(
            days=d - 1, hours=h, minutes=mi, seconds=s
        )
        secs = int((base - _dt.datetime(1970, 1, 1)).total_seconds())
        if len(args) == 8:
            zone_t = _in_zone(Time(secs * NS), s_arg(args, 7))
        else:
            off, zone = _local_zone(secs * NS)
            zone_t = Time(secs * NS, off, zone)
        return Time(secs * NS - zone_t.offset * NS + n, zone_t.offset, zone_t.zone)

    def unix(args: list[Value]) -> Value:
        nargs(args, 2)
        return from_unix(i_arg(args, 0), i_arg(args, 1))

    def parse(args: list[Value]) -> Value:
        nargs(args, 2)
        try:
            return go_parse(s_arg(args, 0), s_arg(args, 1))
        except ValueError as exc:
            return error_value(str(exc))

    def add(args: list[Value]) -> Value:
        nargs(args, 2)
        t = _t_arg(args, 0)
        return Time(t.ns + i_arg(args, 1), t.offset, t.zone)

    def add_date(args: list[Value]) -> Value:
        nargs(args, 4)
        t = _t_arg(args, 0)
        d = _fields(t)
        months = d.month - 1 + i_arg(args, 2)
        year = d.year + i_arg(args, 1) + months // 12
        base = _dt.datetime(year, months % 12 + 1, 1) + _dt.timedelta(
            days=d.day - 1 + i_arg(args, 3), hours=d.hour, minutes=d.minute, seconds=d.second
        )
        secs = int((base - _dt.datetime(1970, 1, 1)).total_seconds()) - t.offset
        return Time(secs * NS + _nanos(t), t.offset, t.zone)

    def two(fn: Callable[[Time, Time], Value]) -> Callable[[list[Value]], Value]:
        def call(args: list[Value]) -> Value:
            nargs(args, 2)
            return fn(_t_arg(args, 0), _t_arg(args, 1))

        return call

    def time_format(args: list[Value]) -> Value:
        nargs(args, 2)
        return go_format(_t_arg(args, 0), s_arg(args, 1))

    def in_location(args: list[Value]) -> Value:
        nargs(args, 2)
        try:
            return _in_zone(_t_arg(args, 0), s_arg(args, 1))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            return error_value(f"unknown time zone {s_arg(args, 1)}" if exc else "")

    def month_string(args: list[Value]) -> Value:
        nargs(args, 1)
        m = i_arg(args, 0)
        return _MONTHS[m - 1] if 1 <= m <= 12 else f"%!Month({m})"

    table: dict[str, Callable[[list[Value]], Value]] = {
        "sleep": sleep,
        "parse_duration": pd,
        "since": t1(lambda t: now().ns - t.ns),
        "until": t1(lambda t: t.ns - now().ns),
        "duration_hours": d1(lambda d: d / (3600 * NS)),
        "duration_minutes": d1(lambda d: d / (60 * NS)),
        "duration_nanoseconds": d1(lambda d: d),
        "duration_seconds": d1(lambda d: d / NS),
        "duration_string": d1(duration_string),
        "month_string": month_string,
        "date": date,
        "now": _now,
        "parse": parse,
        "unix": unix,
        "add": add,
        "add_date": add_date,
        "sub": two(lambda a, b: a.ns - b.ns),
        "after": two(lambda a, b: a.ns > b.ns),
        "before": two(lambda a, b: a.ns < b.ns),
        "time_year": t1(lambda t: _fields(t).year),
        "time_month": t1(lambda t: _fields(t).month),
        "time_day": t1(lambda t: _fields(t).day),
        "time_weekday": t1(lambda t: (_fields(t).weekday() + 1) % 7),
        "time_hour": t1(lambda t: _fields(t).hour),
        "time_minute": t1(lambda t: _fields(t).minute),
        "time_second": t1(lambda t: _fields(t).second),
        "time_nanosecond": t1(_nanos),
        "time_unix": t1(lambda t: t.ns // NS),
        "time_unix_nano": t1(lambda t: t.ns),
        "time_format": time_format,
        "time_location": t1(lambda t: "UTC" if t.offset == 0 and t.zone == "UTC" else "Local"),
        "time_string": t1(time_string),
        "is_zero": t1(lambda t: t.ns == ZERO_TIME_NS),
        "to_local": t1(lambda t: _in_zone(t, "Local")),
        "to_utc": t1(lambda t: Time(t.ns, 0, "UTC")),
        "in_location": in_location,
    }
    attrs.update({name: uf(name, fn) for name, fn in table.items()})
    return attrs


def _now(args: list[Value]) -> Value:
    nargs(args, 0)
    return now()


def _int(v: Value, i: int) -> int:
    from ._index import to_int

    n = to_int(v)
    if n is None:
        raise arg_error(
            ("first", "second", "third", "fourth", "fifth", "sixth", "seventh")[i],
            "int(compatible)",
            v,
        )
    return n
