"""Stdlib behaviour Tengo's Go tests check only against Go's own runtime (its random number
generator, ``time.Now``): checked here by properties and fixed times instead."""

from __future__ import annotations

from typing import Any

from .conformance import run


def out(src: str) -> Any:
    return run(src, {"stdlib": True}, {"out": None})["out"]


def test_rand_stays_in_range_and_seeds_repeat() -> None:
    got = out(
        """
        rand := import("rand")
        a := []
        for i := 0; i < 200; i++ { a = append(a, rand.intn(10)) }
        r1 := rand.rand(42)
        r2 := rand.rand(42)
        p := rand.perm(5)
        out = [a, r1.int() == r2.int(), rand.float() < 1.0, p]
        """
    )
    assert all(0 <= x < 10 for x in got[0]) and len(set(got[0])) > 1
    assert got[1] is True and got[2] is True
    assert sorted(got[3]) == [0, 1, 2, 3, 4]


def test_times_format_parse_and_arithmetic() -> None:
    got = out(
        """
        times := import("times")
        t := times.date(1982, 9, 28, 19, 21, 44, 999, "UTC")
        p := times.parse(times.format_rfc3339, "2006-01-02T15:04:05+07:00")
        out = [times.time_format(t, times.format_rfc3339_nano),
               times.time_format(t, "Mon Jan _2 3:04PM 2006"),
               times.time_year(t), times.time_month(t), times.time_weekday(t),
               times.time_unix(p), times.sub(times.add(t, times.hour), t),
               times.duration_string(90 * times.minute + 500 * times.millisecond),
               times.parse_duration("1h2m3.5s"), times.month_string(9),
               is_error(times.parse("2006", "nope")), t < times.add(t, 1)]
        """
    )
    assert got == [
        "1982-09-28T19:21:44.000000999Z",
        "Tue Sep 28 7:21PM 1982",
        1982,
        9,
        2,
        1136189045,
        3600000000000,
        "1h30m0.5s",
        3723500000000,
        "September",
        True,
        True,
    ]


def test_math_and_text_conversions() -> None:
    got = out(
        """
        math := import("math")
        text := import("text")
        out = [math.floor(2.7), math.abs(-3), math.pow(2, 10), math.max(1, 2.5),
               text.parse_int("ff", 16, 64), text.format_int(255, 2), text.itoa(-5),
               text.atoi("12x").value, text.quote("a\\n"), text.unquote(`"b\\t"`),
               text.format_float(3.14159, "f", 2, 64), text.substr("héllo", 1, 3)]
        """
    )
    assert got == [
        2.0,
        3.0,
        1024.0,
        2.5,
        255,
        "11111111",
        "-5",
        'strconv.Atoi: parsing "12x": invalid syntax',
        '"a\\n"',
        "b\t",
        "3.14",
        "é",
    ]
