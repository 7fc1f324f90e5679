"""Business-hours arithmetic (hub/business_hours.py) and how a bad setting stops the hub."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.business_hours import BusinessHours, BusinessHoursError, configured, parse
from hub.config import load_settings

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = "Mon-Fri 09:00-17:00; Sat 10:00-14:00"


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


@pytest.fixture
def hours() -> BusinessHours:
    return parse(HOURS, "Europe/Berlin", "2026-12-25, 2026-12-26")


def test_a_working_week_is_44_hours(hours: BusinessHours) -> None:
    # Monday 2026-11-30 00:00 to the next Monday: 5 × 8 h + 4 h on Saturday
    assert hours.seconds_between(berlin(2026, 11, 30), berlin(2026, 12, 7)) == 44 * 3600


def test_partial_days_and_nights(hours: BusinessHours) -> None:
    # Monday 16:00 → Tuesday 10:30: one hour on Monday, 1.5 on Tuesday
    assert hours.seconds_between(berlin(2026, 11, 30, 16), berlin(2026, 12, 1, 10, 30)) == 9000
    # Friday 18:00 → Saturday 09:00: nothing
    assert hours.seconds_between(berlin(2026, 12, 4, 18), berlin(2026, 12, 5, 9)) == 0
    # Saturday 13:00 → Monday 09:30: the last Saturday hour and half an hour on Monday
    assert hours.seconds_between(berlin(2026, 12, 5, 13), berlin(2026, 12, 7, 9, 30)) == 5400
    # inside one opening: calendar time
    assert hours.seconds_between(berlin(2026, 12, 1, 9, 0, 1), berlin(2026, 12, 1, 9, 0, 3)) == 2
    # backwards or equal: none
    assert hours.seconds_between(berlin(2026, 12, 2), berlin(2026, 12, 1)) == 0


def test_holidays_are_closed(hours: BusinessHours) -> None:
    # Friday 25 and Saturday 26 December 2026 are holidays: Thursday 16:00 → Monday 10:00
    # is Thursday's last hour and Monday's first
    assert hours.seconds_between(berlin(2026, 12, 24, 16), berlin(2026, 12, 28, 10)) == 7200


def test_a_day_is_eight_hours_when_the_clocks_change() -> None:
    every_day = parse("Mon-Sun 00:00-24:00", "Europe/Berlin")
    # the night of 29 March 2026 has 23 hours, that of 25 October 25 hours
    assert every_day.seconds_between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * 3600
    assert every_day.seconds_between(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * 3600
    office = parse("Mon-Sun 01:00-05:00", "Europe/Berlin")
    # 29 March: 02:00 → 03:00 does not exist, so 01:00–05:00 is three real hours
    assert office.seconds_between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 3 * 3600
    # 25 October: 02:00 → 03:00 happens twice: five real hours
    assert office.seconds_between(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 5 * 3600
    nine_to_five = parse(HOURS, "Europe/Berlin")
    # the Friday before and the Monday after the spring change: 8 h each, same wall clock
    friday = nine_to_five.seconds_between(berlin(2026, 3, 27), berlin(2026, 3, 28))
    monday = nine_to_five.seconds_between(berlin(2026, 3, 30), berlin(2026, 3, 31))
    assert friday == monday == 8 * 3600
    # and the opening follows the wall clock: 09:00 is 08:00 UTC in winter, 07:00 in summer
    assert nine_to_five.next_opening(datetime(2026, 3, 27, 0, tzinfo=UTC)) == \
        datetime(2026, 3, 27, 8, tzinfo=UTC)
    assert nine_to_five.next_opening(datetime(2026, 3, 30, 0, tzinfo=UTC)) == \
        datetime(2026, 3, 30, 7, tzinfo=UTC)


def test_instants_in_any_zone_are_the_same_instant(hours: BusinessHours) -> None:
    start = berlin(2026, 11, 30, 16)
    end = berlin(2026, 12, 1, 10, 30)
    assert hours.seconds_between(start.astimezone(UTC), end.astimezone(ZoneInfo("Asia/Tokyo"))) \
        == 9000


def test_next_opening_and_its_words(hours: BusinessHours) -> None:
    open_now = berlin(2026, 12, 1, 11)
    assert hours.is_open(open_now) and hours.next_opening(open_now) == open_now
    friday_night = berlin(2026, 12, 4, 19)
    assert not hours.is_open(friday_night)
    assert hours.next_opening(friday_night) == berlin(2026, 12, 5, 10)
    saturday_late = berlin(2026, 12, 5, 14)  # closing time is closed
    assert hours.next_opening(saturday_late) == berlin(2026, 12, 7, 9)
    assert hours.describe(berlin(2026, 12, 7, 9)) == "Monday 7 December at 09:00 (Europe/Berlin)"
    # Christmas Eve after hours: the holidays and the Sunday are skipped
    assert hours.next_opening(berlin(2026, 12, 24, 18)) == berlin(2026, 12, 28, 9)


def test_several_ranges_a_day_and_day_lists() -> None:
    hours = parse("Mon,Wed 08:00-12:00, 13:00-17:00; sun 10:00-11:00", "UTC")
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    assert hours.seconds_between(monday, monday + timedelta(days=7)) == (8 * 2 + 1) * 3600
    assert hours.next_opening(monday + timedelta(hours=12, minutes=30)) == \
        monday + timedelta(hours=13)
    assert hours.next_opening(monday + timedelta(days=1)) == monday + timedelta(days=2, hours=8)
    assert hours.holidays == frozenset()


@pytest.mark.parametrize(("spec", "zone", "holidays", "message"), [
    ("", "UTC", "", "SUPPORTHUB_BUSINESS_HOURS is empty"),
    ("Mon-Fry 09:00-17:00", "UTC", "", "days are Mon, Tue"),
    ("Fri-Mon 09:00-17:00", "UTC", "", "a day range runs forward"),
    ("Mon-Fri", "UTC", "", "has no hours"),
    ("Mon-Fri 9-17", "UTC", "", "'9-17' is not HH:MM-HH:MM"),
    ("Mon-Fri 09:00-25:00", "UTC", "", "is not a time of day"),
    ("Mon-Fri 22:00-06:00", "UTC", "", "ends before it starts"),
    ("Mon 09:00-12:00, 11:00-13:00", "UTC", "", "the hours of Mon overlap"),
    ("Mon-Fri 09:00-17:00", "Mars/Olympus", "", "unknown time zone 'Mars/Olympus'"),
    ("Mon-Fri 09:00-17:00", "UTC", "2026-02-30", "SUPPORTHUB_HOLIDAYS: '2026-02-30'"),
])
def test_a_bad_setting_is_named(spec: str, zone: str, holidays: str, message: str) -> None:
    with pytest.raises(BusinessHoursError, match=message.replace("(", r"\(")) as caught:
        parse(spec, zone, holidays)
    assert "\n" not in str(caught.value)


def test_settings_are_read_and_checked() -> None:
    env = {"SUPPORTHUB_BUSINESS_HOURS": HOURS, "SUPPORTHUB_TIMEZONE": "Europe/Berlin",
           "SUPPORTHUB_HOLIDAYS": "2026-12-25"}
    settings = load_settings(env)
    hours = configured(settings.business_hours, settings.timezone, settings.holidays)
    assert hours is not None and hours.holidays == {date(2026, 12, 25)}
    assert configured("", "Europe/Berlin", "") is None
    with pytest.raises(BusinessHoursError, match="unknown time zone"):
        configured("", "Nowhere/Town", "")
    with pytest.raises(BusinessHoursError, match="needs SUPPORTHUB_BUSINESS_HOURS"):
        configured("", "UTC", "2026-12-25")


def test_a_bad_setting_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "db", "migrate"], capture_output=True, text=True,
        env={**os.environ, "SUPPORTHUB_BUSINESS_HOURS": "Mon-Fri 17:00-09:00",
             "SUPPORTHUB_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("supporthub: error: SUPPORTHUB_BUSINESS_HOURS: 'Mon-Fri 17:00-09:00':"
                             " '17:00-09:00' ends before it starts (split hours across midnight"
                             " into two ranges)\n")
