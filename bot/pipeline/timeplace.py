"""When in the day and where: an event's time and place, read from the words near its date.

``find_time("9.30am to 1pm, the Brew House, Preston")`` is ``"09:30–13:00"`` and
``find_place`` of the same words is ``"the Brew House, Preston"``. Both lean the way the
merge step does: no answer beats a wrong one. A time needs am/pm, a colon ("14:00") or
"noon"; a bare "12" or "10.00" is not a time, and a range must end after it starts. A
place needs a clear cue:

- ``venue: …``;
- online, with the tool when named: "online via Teams", "on Zoom" → "Online (Teams)";
  "held online", "an online workshop" → "Online" ("apply online" is not a place);
- "at the Brew House", "at Preston Guild Hall", ", the Brew House, Preston": a capitalised
  name that ends in a venue word (House, Hall, Centre, …), or one that follows "at the"
  and is followed by a town;
- "in Preston": one or two capitalised words that are not a month, a weekday, a language
  or another word that often follows "in" in a capital (In Brief, in Partnership), after
  a word of coming together ("join us in", "an event in", "see you in"), a date, a time
  or a venue; "a function in Go" is no place;
- "… and online" after a place: both.

An "at" after a capitalised word is not read: in headline case ("Excellence in
Nursing", "Join Us at the Hall") capitals say nothing.
"""

from __future__ import annotations

import re

__all__ = ["find_place", "find_time", "join_places"]

#: Longest place kept: a sentence that runs on is not a place.
PLACE_MAX = 100

# -- time ---------------------------------------------------------------------------------

_TOKEN = (r"(?:(?P<{g}noon>(?:12\s*)?(?:noon|midday))"
          r"|(?P<{g}h>[01]?\d|2[0-3])(?:(?P<{g}sep>[:.])(?P<{g}m>[0-5]\d))?"
          r"(?:\s*(?P<{g}ap>[ap])\.?m\b\.?)?)")
_TIME = re.compile(
    r"(?<![\w£$€.:/-])" + _TOKEN.format(g="a")
    + r"(?:\s*(?:-|–|—|to|until|till)\s*" + _TOKEN.format(g="b") + r")?(?![\w:/])",
    re.IGNORECASE)


def _clock(m: re.Match[str], g: str, ap: str | None = None) -> tuple[int, int] | None:
    """(hour, minute) of one side of a match; ``ap`` is the other side's am/pm, for a
    side that has none ("12-1pm")."""
    if m.group(g + "noon"):
        return 12, 0
    hour, minute = int(m.group(g + "h")), int(m.group(g + "m") or 0)
    ap = (m.group(g + "ap") or ap or "").lower()
    if ap:
        if not 1 <= hour <= 12:
            return None
        return (hour % 12 + (12 if ap == "p" else 0)), minute
    return hour, minute


def _explicit(m: re.Match[str], g: str) -> bool:
    """A side that is a time on its own: am/pm, noon, or hh:mm with a colon."""
    return bool(m.group(g + "noon") or m.group(g + "ap") or m.group(g + "sep") == ":")


def find_time(text: str) -> str | None:
    """The first time or time range in ``text``, as "14:00" or "09:30–13:00"."""
    for m in _TIME.finditer(text):
        if m.group("bh") is None and m.group("bnoon") is None:  # a single time
            if not _explicit(m, "a"):
                continue
            start = _clock(m, "a")
            if start:
                return f"{start[0]:02d}:{start[1]:02d}"
            continue
        if not (_explicit(m, "b") or (m.group("asep") and m.group("bsep"))):
            continue  # "10-12 September", "1-2"
        end = _clock(m, "b")
        start = _clock(m, "a", None if m.group("anoon") else m.group("bap"))
        if start and end and start >= end and not m.group("aap") and m.group("bap"):
            start = _clock(m, "a", "a")  # "11-1pm" is 11am to 1pm
        if start and end and start < end:
            return f"{start[0]:02d}:{start[1]:02d}–{end[0]:02d}:{end[1]:02d}"
    return None


# -- place --------------------------------------------------------------------------------

_TOOLS = {"teams": "Teams", "ms teams": "Teams", "microsoft teams": "Teams", "zoom": "Zoom",
          "google meet": "Google Meet", "webex": "Webex"}
_TOOL = r"(?-i:(?P<tool>(?:MS\s+|Microsoft\s+)?Teams|Zoom|Google\s+Meet|Webex))\b"
ONLINE = re.compile(
    r"\b(?:online\s+)?(?:via|on|using|over|through)\s+" + _TOOL
    + r"|\b(?:held|hosted|takes?\s+place|taking\s+place|join\s+us|runs?|running|live)\s+online\b"
    + r"|\bonline\s+(?:event|webinar|session|workshop|seminar|masterclass|meet[- ]?up|"
      r"conference|briefing|launch)s?\b",
    re.IGNORECASE)
HYBRID = re.compile(r"(?:\band|&)\s+online\b", re.IGNORECASE)
VENUE = re.compile(r"\bvenue\s*[:–—-]\s*(?P<venue>[^.;()\n]{3,100})", re.IGNORECASE)

_CAP = r"[A-Z][\w'’&]*(?:-[A-Za-z]+)*"
_NAME = rf"(?P<the>[Tt]he\s+)?(?P<name>{_CAP}(?:\s+(?:(?:of|and|&)\s+)?{_CAP}){{0,5}})"
_TOWN = r"(?P<town>[A-Z][a-z]+(?:[\s-](?:(?:upon|on|under|le)-)?[A-Z][a-z]+)?)"
AT = re.compile(rf"(?:\b[Aa]t|,)\s+{_NAME}(?:,\s*{_TOWN})?(?=$|[\s.,;:!?)])")
IN = re.compile(rf"\b[Ii]n\s+{_TOWN}(?=$|[\s.,;:!?)])")

#: The last word of a name that makes it a place.
VENUE_WORDS = frozenset("""
    house hall centre center library museum theatre theater hotel room rooms church campus
    building park arena stadium gallery university college school court chambers pavilion
    hub exchange works mill barn inn studio studios suite lodge club institute academy
    cathedral abbey castle square quay wharf hq headquarters office offices barracks
""".split())
#: The last word of a name that makes it an occasion, not a place ("at the Annual Summit").
EVENT_WORDS = frozenset("""
    conference summit festival webinar event workshop masterclass awards expo meeting session
    launch celebration seminar forum day week
""".split())
_MONTHS = ("january february march april may june july august september october november "
           "december jan feb mar apr jun jul aug sep sept oct nov dec")
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday"
#: Capitalised words after "in" that are not a town.
NOT_TOWNS = frozenset(f"""
    {_MONTHS} {_WEEKDAYS} spring summer autumn winter english welsh scottish irish gaelic
    cornish british person partnership collaboration association support practice focus brief
    addition response particular total advance order time future health care leadership
    education teams zoom parliament government room the our this that these those a an
    """.split())


#: Words after which "in" opens a place.
IN_AFTER = frozenset("""
    us you we we're be are is held place meet meets meeting event events workshop workshops
    session sessions masterclass masterclasses conference summit seminar festival
    celebration gathering reception lunch breakfast dinner evening afternoon morning day
    hosted hosting run runs running back talk talks centre
""".split())


def _is_town(name: str | None) -> bool:
    return bool(name) and not any(w.casefold() in NOT_TOWNS
                                  for w in re.split(r"[\s-]+", name or ""))


def _after_capital(text: str, start: int) -> bool:
    """The word before ``start`` is capitalised: "Excellence in Nursing", "Join Us at the
    Hall" are headline case, where capitals mark nothing."""
    before = text[:start].split()
    return bool(before) and before[-1][:1].isupper()


def _in_after(text: str, start: int) -> bool:
    """An "in" that can open a place: first in its words, or after a date, a time, a venue
    or a word of coming together ("join us in", "an event in", "see you in"), not after
    any word ("a function in Go")."""
    before = text[:start].split()
    if not before:
        return True
    word = before[-1].strip(".,;:!?()").casefold()
    return (word in IN_AFTER or word in VENUE_WORDS or word in NOT_TOWNS
            or any(c.isdigit() for c in word))


def _clean(place: str) -> str | None:
    place = " ".join(place.split()).strip(" ,;:-–—")
    return place if 3 <= len(place) <= PLACE_MAX else None


def _online(text: str) -> str | None:
    m = ONLINE.search(text)
    if m is None:
        return None
    tool = m.group("tool")
    return f"Online ({_TOOLS[' '.join(tool.split()).casefold()]})" if tool else "Online"


def _physical(text: str) -> tuple[str | None, str | None]:
    """(a named venue, a town) in ``text``: "the Brew House, Preston" gives both."""
    venue_m = VENUE.search(text)
    if venue_m:
        return _clean(venue_m.group("venue")), None
    venue = town = None
    for m in AT.finditer(text):
        if m.group(0)[0] != "," and _after_capital(text, m.start()):
            continue
        words = m.group("name").split()
        town = m.group("town") if _is_town(m.group("town")) else None
        ends = [n for n, w in enumerate(words) if w.casefold() in VENUE_WORDS]
        rest = words[ends[-1] + 1:] if ends else []
        if rest and rest[0] != "of" and not (len(rest) <= 2 and _is_town(" ".join(rest))):
            words, town = words[: ends[-1] + 1], None  # "at the Brew House Thursday …"
        if not ends:  # only "at the Foundry, Sheffield" names a place without a venue word
            at_the = m.group("the") and m.group(0)[0] != ","
            if words[-1].casefold() in EVENT_WORDS or not (at_the and town
                                                          and _is_town(" ".join(words))):
                continue
        venue = _clean((m.group("the") or "") + " ".join(words)
                       + (f", {town}" if town else ""))
        break
    town = None
    for m in IN.finditer(text):
        if _is_town(m.group("town")) and _in_after(text, m.start()):
            town = m.group("town")
            break
    return venue, town


def find_place(text: str) -> str | None:
    """Where the words in ``text`` say something happens; None when they do not say
    clearly."""
    return join_places(*find_parts(text))


def join_places(venue: str | None, town: str | None, online: str | None) -> str | None:
    """One place from its parts: the venue with the town when it does not name it, and
    "and Online (Zoom)" for an event that is in both."""
    where = venue or town
    if venue and town and town.casefold() not in venue.casefold():
        where = f"{venue}, {town}"
    if where and online:
        return _clean(f"{where} and {online.lower() if online == 'Online' else online}")
    return where or online


def find_parts(text: str) -> tuple[str | None, str | None, str | None]:
    """(venue, town, online) in ``text``, for joining with the parts of a nearby sentence.
    "… and online" after a place is online too ("at the Hall and online")."""
    venue, town = _physical(text)
    online = _online(text)
    if online is None and (venue or town) and HYBRID.search(text):
        online = "Online"
    return venue, town, online
