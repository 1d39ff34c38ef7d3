"""Durations ("1h30m") and sizes ("10MB") as written in the config file, and durations as
messages show them ("2 min")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.durations import format_duration, humanize, parse_duration, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("45s", timedelta(seconds=45)),
    ("15m", timedelta(minutes=15)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1h 30m", timedelta(hours=1, minutes=30)),
    ("2d", timedelta(days=2)),
    ("1w", timedelta(weeks=1)),
    ("1.5h", timedelta(minutes=90)),
    ("  10M ", timedelta(minutes=10)),
    ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
])
def test_parse_duration_text(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("number", "suggested"), [
    (15, "15m"), (90, "90m"), (5.5, "5.5m"), (0, "0m"), ("15", "15m"), (" 30 ", "30m"),
])
def test_a_bare_number_is_not_a_duration_and_the_error_suggests_a_unit(
        number: float | str, suggested: str) -> None:
    # `every = 15` was read as fifteen seconds: a feed polled every 15 s, not 15 min.
    with pytest.raises(ValueError, match="is not a duration") as info:
        parse_duration(number)
    assert f"did you mean '{suggested}'?" in str(info.value)


@pytest.mark.parametrize("bad", ["", "   ", "abc", "1x", "m", "15m junk", "h1", "1h-5m"])
def test_parse_duration_rejects_text_that_is_not_a_duration(bad: str) -> None:
    with pytest.raises(ValueError, match="expected a duration such as"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["0s", "0m0s"])
def test_parse_duration_rejects_zero(bad: str) -> None:
    with pytest.raises(ValueError, match="above zero"):
        parse_duration(bad)


def test_parse_duration_rejects_a_negative_text() -> None:
    with pytest.raises(ValueError, match="-5m"):
        parse_duration("-5m")


@pytest.mark.parametrize("flag", [True, False])
def test_parse_duration_rejects_booleans(flag: bool) -> None:
    # bool is an int subclass; a TOML `every = true` must not mean one second.
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(flag)


def test_parse_duration_error_says_what_is_allowed() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("soon")
    message = str(info.value)
    assert "'soon'" in message
    assert "15m" in message and "1h30m" in message


@pytest.mark.parametrize(("value", "text"), [
    (timedelta(seconds=45), "45s"),
    (timedelta(minutes=15), "15m"),
    (timedelta(hours=1, minutes=30), "1h30m"),
    (timedelta(days=2), "2d"),
    (timedelta(weeks=2), "14d"),
    (timedelta(days=1, seconds=1), "1d1s"),
    (timedelta(0), "0s"),
])
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize("seconds", [1, 59, 60, 61, 3599, 3600, 5400, 86399, 86400, 90061,
                                     604800, 1234567])
def test_format_then_parse_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("text", ["45s", "15m", "1h30m", "2d", "1d2h3m4s"])
def test_parse_then_format_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


def test_format_duration_drops_fractions_of_a_second() -> None:
    assert format_duration(timedelta(seconds=90.7)) == "1m30s"


@pytest.mark.parametrize(("text", "expected"), [
    ("100", 100),
    ("100B", 100),
    ("512KB", 512_000),
    ("10MB", 10_000_000),
    ("2GB", 2_000_000_000),
    ("1KiB", 1024),
    ("2 mib", 2 * 1024**2),
    ("1GiB", 1024**3),
    ("1.5KB", 1500),
    (" 10 mb ", 10_000_000),
    (4096, 4096),
])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "MB", "10XB", "ten MB", "-5MB", "10 MB extra"])
def test_parse_size_rejects_text_that_is_not_a_size(bad: str) -> None:
    with pytest.raises(ValueError, match="expected a size such as"):
        parse_size(bad)


@pytest.mark.parametrize("bad", ["0", "0MB", 0, -1])
def test_parse_size_rejects_zero_and_negative(bad: str | int) -> None:
    with pytest.raises(ValueError, match="above zero"):
        parse_size(bad)


@pytest.mark.parametrize("flag", [True, False])
def test_parse_size_rejects_booleans(flag: bool) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(flag)


@pytest.mark.parametrize(("value", "text"), [
    (0.34, "340 ms"),
    (3.24, "3.2 s"),
    (42, "42 s"),
    (59.6, "1 min"),
    # What a log line used to show as 0:02:10.297289.
    (timedelta(minutes=2, seconds=10, microseconds=297289), "2 min"),
    (timedelta(minutes=59, seconds=50), "1 h"),
    (timedelta(hours=1, minutes=5), "1 h 5 min"),
    (timedelta(hours=23, minutes=59), "23 h 59 min"),
    (timedelta(days=1), "1 d"),
    (timedelta(days=3, hours=4, minutes=10), "3 d 4 h"),
    (-5, "-5.0 s"),
])
def test_humanize_writes_durations_as_people_read_them(value: timedelta | float, text: str
                                                       ) -> None:
    assert humanize(value) == text
