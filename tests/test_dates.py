"""Key dates (issue #13): a weekday with its date is one date, a weekday alone is read
forward from the day of posting, and an event takes its time and place from its sentence
or the next. The sentences are our own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.pipeline.dates import extract_dates
from bot.pipeline.timeplace import find_place, find_time

THU = datetime(2026, 9, 10, 9, 0, tzinfo=UTC)  # a Thursday
SAT = datetime(2026, 9, 12, 22, 0, tzinfo=UTC)


def found(text: str, published: datetime = THU) -> list[tuple[str, date]]:
    return [(d.what, d.date) for d in extract_dates(text, published)]


# -- weekdays -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Join us in Preston on Thursday 24 September.",
    "Join us in Preston this Thursday 24 September.",
    "Our workshop is next Thursday (24 September).",
    "The workshop is on Thurs, 24th September 2026.",
    "The workshop is this Thursday, 24/09/2026.",
])
def test_a_weekday_with_its_date_is_one_date(text: str) -> None:
    assert found(text) == [("event", date(2026, 9, 24))]


@pytest.mark.parametrize(("text", "expected"), [
    # Posted on a Thursday: "on Thursday" and "this Thursday" are that day ...
    ("Join us on Thursday for our coaching workshop.", ("event", date(2026, 9, 10))),
    ("Our coaching workshop is this Thursday.", ("event", date(2026, 9, 10))),
    # ... "next Thursday" is a week on.
    ("Our coaching workshop is next Thursday.", ("event", date(2026, 9, 17))),
    ("Join us on Friday for our coaching workshop.", ("event", date(2026, 9, 11))),
    # A weekday earlier in the week is next week's, never the one gone by.
    ("Our webinar is this Wednesday.", ("event", date(2026, 9, 16))),
    ("Join us on Monday for the launch event.", ("event", date(2026, 9, 14))),
    ("Our masterclass is next Tuesday.", ("event", date(2026, 9, 15))),
    ("Applications close on Friday.", ("applications-close", date(2026, 9, 11))),
    ("Send us your nominations by Monday.", ("applications-close", date(2026, 9, 14))),
    ("Please submit your reflections by Wednesday.", ("deadline", date(2026, 9, 16))),
    # The relative words that worked before still do.
    ("See you tmrw at the network meeting!", ("event", date(2026, 9, 11))),
    ("Our celebration is tomorrow.", ("event", date(2026, 9, 11))),
    ("The webinar is today at 2pm.", ("event", date(2026, 9, 10))),
])
def test_a_weekday_alone_is_the_next_such_day_from_publication(
        text: str, expected: tuple[str, date]) -> None:
    assert found(text) == [expected]


def test_a_weekday_alone_never_falls_before_publication() -> None:
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    for offset in range(14):
        published = THU + timedelta(days=offset)
        for n, name in enumerate(names):
            for phrase in (f"Join us on {name} for our workshop.",
                           f"Our workshop is this {name}.", f"Our workshop is next {name}."):
                ((_, day),) = found(phrase, published)
                assert day.weekday() == n, phrase
                assert published.date() <= day < published.date() + timedelta(days=8), \
                    (phrase, published)


@pytest.mark.parametrize("text", [
    "Applications open this month.",  # "mon" is not Monday
    "Next month we will share the results.",
    "The summit was held on Monday.",  # a day gone by
    "On Tuesday the board published its annual report.",  # no cue: news, not a date
    "We announced on Friday that the programme is growing.",
])
def test_weekday_words_that_are_no_key_date(text: str) -> None:
    assert found(text) == []


# -- time and place -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("9.30am to 1pm, the Brew House", "09:30–13:00"),
    ("09:30–13:00", "09:30–13:00"),
    ("09:30 - 13:00", "09:30–13:00"),
    ("from 2pm", "14:00"),
    ("10am-12noon", "10:00–12:00"),
    ("at 6.30pm", "18:30"),
    ("12-1pm", "12:00–13:00"),  # the start takes the end's pm
    ("11-1pm", "11:00–13:00"),  # unless that puts it after the end
    ("noon until 2 p.m.", "12:00–14:00"),
    ("doors at 18:15", "18:15"),
    # Not times.
    ("10-12 September", None),
    ("2026-09-01", None),
    ("tickets £10.00-£15.00", None),
    ("14.00", None),
    ("room 12", None),
    ("2pm-1pm", None),
])
def test_time(text: str, expected: str | None) -> None:
    assert find_time(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("9.30am to 1pm, the Brew House, Preston", "the Brew House, Preston"),
    ("join us at the Brew House, Preston.", "the Brew House, Preston"),
    ("join us in Preston", "Preston"),
    ("we meet at Lancaster University on the day", "Lancaster University"),
    ("we meet at the Foundry, Sheffield.", "the Foundry, Sheffield"),
    ("Venue: Preston Guild Hall (parking on site)", "Preston Guild Hall"),
    ("online via Teams", "Online (Teams)"),
    ("join us on Microsoft Teams", "Online (Teams)"),
    ("a free online workshop", "Online"),
    ("at the Brew House in Preston and online", "the Brew House, Preston and online"),
    # No clear place: none, rather than a wrong one.
    ("apply online by the end of the week", None),
    ("our teams are online", None),
    ("speaking at the Annual Conference, Leeds", None),
    ("Celebrating Excellence in Nursing", None),
    ("I wrote a function in Go", None),
    ("published in English and Welsh", None),
    ("at 6.30pm", None),
])
def test_place(text: str, expected: str | None) -> None:
    assert find_place(text) == expected


def test_event_takes_the_time_and_place_of_its_sentence_or_the_next() -> None:
    (kd,) = extract_dates("Join us in Preston on Thursday 24 September. 9.30am to 1pm, "
                          "the Brew House, Preston.", THU)
    assert (kd.what, kd.date, kd.at_time, kd.place) == (
        "event", date(2026, 9, 24), "09:30–13:00", "the Brew House, Preston")
    (kd,) = extract_dates("Coaching skills workshop\nThe workshop is on 1 October.\n"
                          "It runs 10am-12noon online via Zoom.", THU)
    assert (kd.at_time, kd.place) == ("10:00–12:00", "Online (Zoom)")
    # However far along the sentence the place is, it is read whole.
    (kd,) = extract_dates("Join our coaching workshop on Thursday 24 September, with coffee "
                          "and a light lunch served throughout the day, at the Brew House, "
                          "Preston.", THU)
    assert kd.place == "the Brew House, Preston"
    # A sentence that is only the date takes the words before it as well.
    (kd,) = extract_dates("Our webinar on fair recruitment, on Microsoft Teams.\n"
                          "Weds 16 Sept, 12-1pm.", THU)
    assert (kd.at_time, kd.place) == ("12:00–13:00", "Online (Teams)")


def test_time_and_place_go_to_the_event_they_are_said_of() -> None:
    dates = extract_dates("Applications close on 18 September for our masterclass on "
                          "1 October, 2pm to 4pm at the Brew House, Preston.", THU)
    assert [(d.what, d.at_time, d.place) for d in dates] == [
        ("applications-close", None, None),
        ("event", "14:00–16:00", "the Brew House, Preston")]
    # The sentence before an event that does not open its sentence is another matter.
    (kd,) = extract_dates("Our office in Leeds has moved. Join us on 1 October for a "
                          "workshop.", THU)
    assert kd.place is None
    # Words before and after the date that name different places: neither.
    (kd,) = extract_dates("Our workshop in Chester is on 3 October, and we meet in Leeds "
                          "the week after.", THU)
    assert kd.place is None


def test_a_year_less_date_takes_the_year_of_the_date_after_it_in_its_sentence() -> None:
    """"opens 9 June and closes 29 August 2025" is June 2025, whenever it is read; a date
    in a later month than the one with the year belongs to the year before."""
    read = datetime(2026, 1, 2, 9, tzinfo=UTC)
    found = extract_dates("Recruitment for cohort 53 opens on 9 June and closes at 10am on "
                          "29 August 2025.", read)
    assert {d.date for d in found} == {date(2025, 6, 9), date(2025, 8, 29)}
    across = extract_dates("Applications open 1 December and close 15 January 2027.", read)
    assert {d.date for d in across} == {date(2026, 12, 1), date(2027, 1, 15)}
    alone = extract_dates("Join us on 3 March.", read)
    assert [d.date for d in alone] == [date(2026, 3, 3)]


def test_a_weekday_with_a_year_less_date_chooses_the_year_where_it_falls() -> None:
    """"Thursday 24 September" read in late November 2026 is the Thursday just gone (2026),
    not Friday 24 September 2027; "Friday 24 September" read in June 2026 is 2027's."""
    late = extract_dates("Join us in Preston on Thursday 24 September.",
                         datetime(2026, 11, 29, 9, tzinfo=UTC))
    assert [d.date for d in late] == [date(2026, 9, 24)]
    early = extract_dates("Join us in Preston on Friday 24 September.",
                          datetime(2026, 6, 1, 9, tzinfo=UTC))
    assert [d.date for d in early] == [date(2027, 9, 24)]
    plain = extract_dates("Join us in Preston on 24 September.",
                          datetime(2026, 11, 29, 9, tzinfo=UTC))
    assert [d.date for d in plain] == [date(2027, 9, 24)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Oncology leaders' breakfast on Thursday 24 September, 8am to 9am, the Guild Hall, "
     "Preston.", ("event", date(2026, 9, 24), "08:00–09:00")),
    ("Surgery forum: Wed 10/03/2027, 10:00 to 12:00", ("event", date(2027, 3, 10),
                                                       "10:00–12:00")),
])
def test_a_date_with_its_hours_is_an_event_without_a_cue_word(
        text: str, expected: tuple[str, date, str]) -> None:
    (found,) = extract_dates(text, datetime(2026, 9, 1, 9, tzinfo=UTC))
    assert (found.what, found.date, found.at_time) == expected


def test_a_past_report_with_a_time_is_no_event() -> None:
    assert extract_dates("The report was published on 3 March 2026 at 10am.",
                         datetime(2026, 9, 1, 9, tzinfo=UTC)) == ()
