"""Schedule windows: when a folder may start runs. Pure: every answer is a function of the
window and a given local time (no clock is read here).

A window is one or more spans separated by ``;`` (or a list of strings in TOML):

* ``"22:00-07:00"``: every day from 22:00 to 07:00 the next morning;
* ``"Mon-Fri 09:00-18:00"``: weekdays, office hours; days are ``Mon`` … ``Sun`` (or full
  names), as a range (``Fri-Mon`` wraps) or a list (``Mon,Wed,Fri``);
* ``"Sat,Sun"``: those whole days (the same as ``"Sat,Sun 00:00-24:00"``);
* ``"always"``: no window (a folder's way to ignore a global one).

A span that ends at or before its start runs past midnight and belongs to the day it starts
on: ``"Fri 22:00-02:00"`` is open from Friday 22:00 to Saturday 02:00. Times are local.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALWAYS: Final = "always"
_DAY_MINUTES: Final = 24 * 60
_SPAN = re.compile(r"^(?:(?P<days>[A-Za-z][A-Za-z,\- ]*?)\s+)?(?P<hours>\d[\d:]*\s*-\s*[\d:]+)$")
_ONLY_DAYS = re.compile(r"^[A-Za-z][A-Za-z,\- ]*$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
EXAMPLES: Final = '"22:00-07:00", "Mon-Fri 09:00-18:00" or "Sat,Sun"'


class WindowError(ValueError):
    """A window that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class Span:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight; at or before start: the next day

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def is_open(self, now: datetime) -> bool:
        minute = now.hour * 60 + now.minute
        today, yesterday = now.weekday(), (now.weekday() - 1) % 7
        if not self.overnight:
            return today in self.days and self.start <= minute < self.end
        return (today in self.days and minute >= self.start) or (
            yesterday in self.days and minute < self.end
        )


@dataclass(frozen=True)
class Window:
    text: str
    spans: tuple[Span, ...]

    def is_open(self, now: datetime) -> bool:
        return any(span.is_open(now) for span in self.spans)

    def next_open(self, now: datetime) -> datetime:
        """``now`` when open, else the first minute it opens (within the coming week)."""
        if self.is_open(now):
            return now
        candidates = []
        for ahead in range(8):
            day = now.date() + timedelta(days=ahead)
            for span in self.spans:
                if day.weekday() in span.days:
                    at = datetime.combine(day, time(span.start // 60, span.start % 60))
                    at = at.replace(tzinfo=now.tzinfo)
                    if at > now:
                        candidates.append(at)
        return min(candidates)

    def describe_next(self, now: datetime) -> str:
        """``"at 22:00"``, ``"Monday at 09:00"``: when a held run starts, in words."""
        at = self.next_open(now)
        if at.date() == now.date():
            return f"at {at:%H:%M}"
        if at.date() == now.date() + timedelta(days=1):
            return f"tomorrow at {at:%H:%M}"
        return f"{_FULL[at.weekday()].capitalize()} at {at:%H:%M}"


def parse(value: str | Iterable[str]) -> Window | None:
    """The window ``value`` describes; None for ``"always"``. Raises :class:`WindowError`."""
    parts = [value] if isinstance(value, str) else list(value)
    text = "; ".join(p.strip() for p in parts)
    pieces = [p.strip() for part in parts for p in part.split(";") if p.strip()]
    if not pieces:
        raise WindowError("is empty")
    if [p.lower() for p in pieces] == [ALWAYS]:
        return None
    return Window(text, tuple(_span(piece) for piece in pieces))


def _span(piece: str) -> Span:
    if _ONLY_DAYS.match(piece):
        return Span(_days(piece), 0, _DAY_MINUTES)
    match = _SPAN.match(piece)
    if match is None:
        raise WindowError(f"cannot read {piece!r}")
    start_text, end_text = (t.strip() for t in match["hours"].split("-"))
    start, end = _minutes(start_text), _minutes(end_text)
    if start == _DAY_MINUTES:
        raise WindowError(f"{piece!r} starts at 24:00; start at 00:00 instead")
    if start == end:
        raise WindowError(f"{piece!r} starts and ends at the same time")
    days = _days(match["days"]) if match["days"] else frozenset(range(7))
    return Span(days, start, end)


def _minutes(text: str) -> int:
    match = _CLOCK.match(text)
    if match is None:
        raise WindowError(f"{text!r} is not a time of day (write it as HH:MM, e.g. 07:30)")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise WindowError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _day(text: str) -> int:
    name = text.strip().lower()
    for index, (short, full) in enumerate(zip(DAYS, _FULL, strict=True)):
        if name in (short, full):
            return index
    raise WindowError(f"{text.strip()!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat or Sun)")


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        if not item.strip():
            raise WindowError(f"{text.strip()!r} has an empty day")
        if "-" in item:
            first, _, last = item.partition("-")
            a, b = _day(first), _day(last)
            days.update((a + n) % 7 for n in range((b - a) % 7 + 1))
        else:
            days.add(_day(item))
    return frozenset(days)
