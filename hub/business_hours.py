"""Business hours: when people answer, and how many of the seconds between two instants fell
inside those hours.

``SUPPORTHUB_BUSINESS_HOURS`` is a list of ``DAYS HH:MM-HH:MM[, HH:MM-HH:MM…]`` separated by
``;`` — ``Mon-Fri 09:00-17:00; Sat 10:00-14:00``, ``Mon,Wed 08:00-12:00, 13:00-17:00`` — read
in ``SUPPORTHUB_TIMEZONE`` (an IANA name, ``zoneinfo``), with ``SUPPORTHUB_HOLIDAYS`` (ISO
dates, comma-separated) closed all day. Hours are local wall-clock times, so a working day is
8 hours also on the days the clocks change: every opening and closing is turned into an
instant with the zone's offset of that date. A range ends after it starts (``24:00`` is
midnight at the end of the day); hours across midnight are two ranges.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_LOOKAHEAD_DAYS = 370  # a year and a bit: every weekday and a year of holidays


class BusinessHoursError(ValueError):
    """A business-hours setting the hub cannot read (the message is one line)."""


@dataclass(frozen=True, slots=True)
class Opening:
    """Open from ``start`` to ``end`` minutes after local midnight (``end`` ≤ 1440)."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class BusinessHours:
    zone: ZoneInfo
    week: tuple[tuple[Opening, ...], ...]  # Monday first, each day's openings in order
    holidays: frozenset[date] = frozenset()

    def openings_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The instants (UTC) the hub opens and closes on this local date."""
        return _openings(self, day)

    def _instant(self, day: date, minutes: int) -> datetime:
        local_day = day + timedelta(days=minutes // 1440)
        wall = time(minutes % 1440 // 60, minutes % 60)
        return datetime.combine(local_day, wall, tzinfo=self.zone).astimezone(UTC)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of business hours in [start, end) (0 when end is not after start)."""
        return self.seconds_between_epoch(start.timestamp(), end.timestamp())

    def seconds_between_epoch(self, start: float, end: float) -> float:
        """The same between two instants in seconds since the epoch (what reports hold)."""
        if end <= start:
            return 0.0
        total = 0.0
        day = datetime.fromtimestamp(start, self.zone).date()
        last = datetime.fromtimestamp(end, self.zone).date()
        one = timedelta(days=1)
        while day <= last:
            for opens, closes in _epoch_openings(self, day):
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += hi - lo
            day += one
        return total

    def is_open(self, at: datetime) -> bool:
        day = at.astimezone(self.zone).date()
        return any(opens <= at < closes for d in (day - timedelta(days=1), day)
                   for opens, closes in self.openings_on(d))

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` when open then, else the next instant the hub opens (None: it never does)."""
        if self.is_open(at):
            return at
        day = at.astimezone(self.zone).date()
        for offset in range(_LOOKAHEAD_DAYS):
            for opens, _ in self.openings_on(day + timedelta(days=offset)):
                if opens > at:
                    return opens
        return None

    def describe(self, at: datetime) -> str:
        """When a person will answer, in words, in the business's zone: ``Monday 30 November
        at 09:00 (Europe/Berlin)``."""
        local = at.astimezone(self.zone)
        return f"{local:%A} {local.day} {local:%B} at {local:%H:%M} ({self.zone.key})"


@functools.lru_cache(maxsize=8192)
def _openings(hours: BusinessHours, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """(remembered: a report asks for the same days again and again)"""
    if day in hours.holidays:
        return ()
    return tuple((hours._instant(day, o.start), hours._instant(day, o.end))
                 for o in hours.week[day.weekday()])


@functools.lru_cache(maxsize=8192)
def _epoch_openings(hours: BusinessHours, day: date) -> tuple[tuple[float, float], ...]:
    return tuple((opens.timestamp(), closes.timestamp()) for opens, closes in _openings(hours, day))


def configured(spec: str, timezone: str, holidays: str) -> BusinessHours | None:
    """The business hours the settings describe, or None when none are set (the time zone
    and holidays are checked all the same)."""
    if spec.strip():
        return parse(spec, timezone, holidays)
    if holidays.strip():
        raise BusinessHoursError("SUPPORTHUB_HOLIDAYS needs SUPPORTHUB_BUSINESS_HOURS")
    parse("Mon 00:00-24:00", timezone)
    return None


def parse(spec: str, timezone: str = "UTC", holidays: str = "") -> BusinessHours:
    """Read the settings; a mistake raises :class:`BusinessHoursError` naming it."""
    try:
        zone = ZoneInfo(timezone.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise BusinessHoursError(
            f"SUPPORTHUB_TIMEZONE: unknown time zone {timezone!r} (an IANA name such as"
            " Europe/Berlin)") from None
    week: list[list[Opening]] = [[] for _ in DAYS]
    groups = [g.strip() for g in spec.split(";") if g.strip()]
    if not groups:
        raise BusinessHoursError("SUPPORTHUB_BUSINESS_HOURS is empty")
    for group in groups:
        days_part, _, ranges_part = group.partition(" ")
        days = _days(days_part, group)
        ranges = [r.strip() for r in ranges_part.split(",") if r.strip()]
        if not ranges:
            raise BusinessHoursError(
                f"SUPPORTHUB_BUSINESS_HOURS: {group!r} has no hours (like 'Mon-Fri 09:00-17:00')")
        for text in ranges:
            opening = _opening(text, group)
            for day in days:
                week[day].append(opening)
    for day, openings in enumerate(week):
        openings.sort(key=lambda o: o.start)
        for before, after in itertools.pairwise(openings):
            if after.start < before.end:
                raise BusinessHoursError(
                    f"SUPPORTHUB_BUSINESS_HOURS: the hours of {DAYS[day].title()} overlap")
    return BusinessHours(zone, tuple(tuple(o) for o in week), _holidays(holidays))


def _days(text: str, group: str) -> list[int]:
    found: list[int] = []
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise BusinessHoursError(
                f"SUPPORTHUB_BUSINESS_HOURS: {group!r}: days are Mon, Tue, Wed, Thu, Fri, Sat,"
                " Sun, a range like Mon-Fri, or a list like Mon,Wed")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise BusinessHoursError(
                f"SUPPORTHUB_BUSINESS_HOURS: {group!r}: a day range runs forward (Mon-Fri)")
        found.extend(range(start, end + 1))
    return found


def _opening(text: str, group: str) -> Opening:
    match = _RANGE.match(text)
    if match is None:
        raise BusinessHoursError(
            f"SUPPORTHUB_BUSINESS_HOURS: {group!r}: {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise BusinessHoursError(
            f"SUPPORTHUB_BUSINESS_HOURS: {group!r}: {text!r} is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise BusinessHoursError(
            f"SUPPORTHUB_BUSINESS_HOURS: {group!r}: {text!r} ends before it starts (split"
            " hours across midnight into two ranges)")
    return Opening(start, end)


def _holidays(text: str) -> frozenset[date]:
    days = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            days.add(date.fromisoformat(part))
        except ValueError:
            raise BusinessHoursError(
                f"SUPPORTHUB_HOLIDAYS: {part!r} is not a date (YYYY-MM-DD)") from None
    return frozenset(days)
