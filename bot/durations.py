"""Human durations and sizes: ``"15m"``, ``"1h30m"``, ``"10MB"`` in config, and
``humanize`` for messages (``"3.2 s"``, ``"2 min"``, ``"1 h 5 min"``)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3}

#: The longest duration Herald accepts (about ten years): longer ones overflow dates (a
#: poll "every 99999999999d" has no next time) and mean nothing for a feed or a retry.
MAX_DURATION = timedelta(days=3650)
DURATION_HELP = "a duration such as '45s', '15m', '1h30m' or '2d' (units s, m, h, d, w)"
SIZE_HELP = "a size such as '512KB' or '10MB' (units B, KB, MB, GB, KiB, MiB, GiB)"


def parse_duration(text: str | timedelta) -> timedelta:
    """Parse ``"1h30m"``-style text into a positive timedelta.

    A bare number is refused: ``every = 15`` could mean seconds or minutes, and read as
    seconds it polled a feed every fifteen seconds. The error suggests the unit."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif not isinstance(text, str):
        if isinstance(text, int | float) and not isinstance(text, bool):
            if text < 0:
                raise ValueError(f"expected a duration above zero, got {text!r}")
            raise ValueError(f"{text} is not a duration; did you mean '{_shown(text)}m'? "
                             f"(write {DURATION_HELP})")
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    else:
        compact = text.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", compact):
            raise ValueError(f"{text!r} is not a duration; did you mean '{compact}m'? "
                             f"(write {DURATION_HELP})")
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(compact):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not compact or pos != len(compact):
            raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    if seconds <= 0:
        raise ValueError(f"expected a duration above zero, got {text!r}")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is too long; the longest duration is "
                         f"{format_duration(MAX_DURATION)} (about ten years)")
    return timedelta(seconds=seconds)


def _shown(number: int | float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def format_duration(value: timedelta) -> str:
    """The shortest ``1h30m`` form of a duration."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def humanize(value: timedelta | float) -> str:
    """A duration (or a number of seconds) for people to read in a message: "340 ms",
    "3.2 s", "42 s", "2 min", "1 h 5 min", "3 d 4 h": seconds below a minute (tenths
    below ten), then whole minutes, hours and minutes, or days and hours."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        return "-" + humanize(-seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds < 0.9995 else "1 s"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def parse_size(text: str | int) -> int:
    """Parse ``"10MB"``-style text (or a number of bytes) into bytes."""
    if isinstance(text, bool):
        raise ValueError(f"expected {SIZE_HELP}, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(text)
        if not match:
            raise ValueError(f"expected {SIZE_HELP}, got {text!r}")
        value = int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
    if value <= 0:
        raise ValueError(f"expected a size above zero, got {text!r}")
    return value
