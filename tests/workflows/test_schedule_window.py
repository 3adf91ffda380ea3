"""Schedule windows, pure: every answer for a given local time (2026-12-07 is a Monday)."""

from __future__ import annotations

from datetime import datetime

import pytest

from floradrop.workflows.schedule_window import WindowError, parse


def at(day: int, hhmm: str) -> datetime:
    """December 2026: day 7 is a Monday, 11 a Friday, 12 a Saturday, 13 a Sunday."""
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(2026, 12, day, hours, minutes)


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (at(7, "21:59"), False),
        (at(7, "22:00"), True),
        (at(7, "23:59"), True),
        (at(8, "00:00"), True),
        (at(8, "06:59"), True),
        (at(8, "07:00"), False),
        (at(8, "12:00"), False),
    ],
)
def test_overnight_every_day(when: datetime, is_open: bool) -> None:
    window = parse("22:00-07:00")
    assert window is not None
    assert window.is_open(when) is is_open


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (at(7, "08:59"), False),
        (at(7, "09:00"), True),
        (at(11, "17:59"), True),
        (at(11, "18:00"), False),
        (at(12, "10:00"), False),  # Saturday
        (at(13, "10:00"), False),  # Sunday
    ],
)
def test_weekdays_office_hours(when: datetime, is_open: bool) -> None:
    window = parse("Mon-Fri 09:00-18:00")
    assert window is not None
    assert window.is_open(when) is is_open


def test_an_overnight_span_belongs_to_the_day_it_starts() -> None:
    window = parse("Fri 22:00-02:00")
    assert window is not None
    assert window.is_open(at(11, "23:00"))  # Friday night
    assert window.is_open(at(12, "01:30"))  # Saturday early: Friday's window
    assert not window.is_open(at(12, "23:00"))  # Saturday night
    assert not window.is_open(at(7, "01:00"))  # Monday early: Sunday had no window


def test_whole_days_lists_wrapping_ranges_and_several_spans() -> None:
    weekend = parse("Sat,Sun")
    assert weekend is not None
    assert weekend.is_open(at(12, "00:00")) and weekend.is_open(at(13, "23:59"))
    assert not weekend.is_open(at(11, "23:59"))
    wrap = parse("fri-MON 10:00-11:00")
    assert wrap is not None
    assert {d for d in range(7, 14) if wrap.is_open(at(d, "10:30"))} == {7, 11, 12, 13}
    both = parse(["Mon-Fri 22:00-07:00", "Saturday, Sunday"])
    assert both is not None
    assert both.is_open(at(12, "14:00")) and both.is_open(at(8, "03:00"))
    assert not both.is_open(at(8, "12:00"))
    assert parse("Mon-Fri 22:00-07:00; Saturday, Sunday") == both


def test_next_open_and_in_words() -> None:
    window = parse("Mon-Fri 09:00-18:00")
    assert window is not None
    assert window.next_open(at(7, "10:00")) == at(7, "10:00")  # open: now
    assert window.next_open(at(7, "07:15")) == at(7, "09:00")
    assert window.next_open(at(7, "19:00")) == at(8, "09:00")
    assert window.next_open(at(11, "18:00")) == at(14, "09:00")  # Friday evening: Monday
    assert window.describe_next(at(7, "07:15")) == "at 09:00"
    assert window.describe_next(at(7, "19:00")) == "tomorrow at 09:00"
    assert window.describe_next(at(12, "10:00")) == "Monday at 09:00"


def test_always_is_no_window() -> None:
    assert parse("always") is None
    assert parse(" Always ") is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty"),
        ("22-07", "not a time of day"),
        ("25:00-07:00", "not a time of day"),
        ("09:61-10:00", "not a time of day"),
        ("09:00-09:00", "same time"),
        ("24:00-07:00", "start at 00:00"),
        ("Mon-Fry 09:00-18:00", "'Fry' is not a day"),
        ("weekdays", "'weekdays' is not a day"),
        ("at nine", "is not a day"),
        ("09:00 to 18:00", "cannot read"),
    ],
)
def test_bad_windows_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(WindowError, match=says):
        parse(text)
