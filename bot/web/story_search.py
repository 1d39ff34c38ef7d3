"""The Stories page's and ``GET /api/stories``' filters, read from the query string.

Both take the same parameters, so a filtered list is a link anyone can share:
``q`` (words in the title or summary), ``kind``, ``domain``, ``programme``, ``source``,
``tag`` (any tag), ``from`` and ``to`` (publication dates, ``YYYY-MM-DD``, both days
included, in the worker's timezone), ``state`` (``held`` or ``released``) and ``page``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bot.store._search import STATES, StoryFilter
from bot.web.app import InvalidInput

#: Stories per page.
PAGE_SIZE = 50
#: The query parameters that make a filter (``page`` is not one: it moves within it).
PARAMS = ("q", "kind", "domain", "programme", "source", "tag", "from", "to", "state")
#: Longest search text and filter value taken.
MAX_TEXT = 200


#: The publication dates a filter may name: wide, and far from date's own limits.
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 12, 31)


def _day(params: Mapping[str, str], name: str) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"'{name}' must be a date like 2026-12-18, not {value[:40]!r}"
                           ) from None
    if not EARLIEST <= day <= LATEST:  # (a day past the last is still a date, and in range)
        raise InvalidInput(f"'{name}' must be a date between {EARLIEST} and {LATEST}")
    return day


def _start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz))


def read_filter(params: Mapping[str, str], tz: str) -> StoryFilter:
    """The filter a query string asks for; a clear error naming the parameter if it is bad."""
    values = {}
    for name in ("q", "kind", "domain", "programme", "source", "tag"):
        value = (params.get(name) or "").strip()
        if len(value) > MAX_TEXT:
            raise InvalidInput(f"'{name}' is longer than {MAX_TEXT} characters")
        if "\x00" in value:
            raise InvalidInput(f"'{name}' contains a NUL character")
        values[name] = value
    state = (params.get("state") or "").strip()
    if state and state not in STATES:
        raise InvalidInput(f"'state' must be one of {', '.join(STATES)}, not {state[:40]!r}")
    first, last = _day(params, "from"), _day(params, "to")
    if first and last and last < first:
        raise InvalidInput("'to' is before 'from': the date range is empty")
    return StoryFilter(
        text=values["q"], kind=values["kind"], domain=values["domain"],
        programme=values["programme"], source=values["source"], tag=values["tag"],
        published_from=_start(first, tz) if first else None,
        published_before=_start(last + timedelta(days=1), tz) if last else None,
        state=state)


def read_page(params: Mapping[str, str]) -> int:
    """The 1-based page number asked for (1 when none)."""
    value = (params.get("page") or "1").strip()
    if not value.isdigit() or not 0 < int(value) < 1_000_000:
        raise InvalidInput(f"'page' must be a page number from 1, not {value[:20]!r}")
    return int(value)


def page_link(params: Mapping[str, str], page: int) -> str:
    """The Stories page with the same filter, at ``page``."""
    kept = [(name, params[name]) for name in PARAMS if params.get(name)]
    if page > 1:
        kept.append(("page", str(page)))
    return "/stories" + ("?" + urlencode(kept) if kept else "")
