"""The report definitions (hub/reports.py) over hand-made events: every figure worked out by
hand, in calendar and in business time (Mon–Fri 09:00–17:00, Europe/Berlin)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub import reports
from hub.business_hours import parse
from hub.cycles import Event
from hub.reports import AgentName

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = parse("Mon-Fri 09:00-17:00", "Europe/Berlin")
A7, A8 = 7, 8


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """Seconds since the epoch of a wall-clock time in Berlin, in the week of 30 November
    2026 (day 0 is Monday)."""
    base = datetime(2026, 11, 30, tzinfo=BERLIN) + timedelta(days=day)
    return base.replace(hour=hour, minute=minute, second=second).timestamp()


def ev(conversation: int, cycle: int, kind: str, when: float, channel: str = "webchat",
       **extra: Any) -> Event:
    return Event(conversation, cycle, kind, when, channel, **extra)


EVENTS = [
    # 1: the bot answers with article 10, and that is all (contained)
    ev(1, 1, "opened", at(0, 9)),
    ev(1, 1, "answer", at(0, 9, 0, 5), article_id=10),
    # 2, first cycle: article 10 "didn't help", handed off, answered in 60 s, resolved by 7
    ev(2, 1, "opened", at(0, 9, 10)),
    ev(2, 1, "answer", at(0, 9, 10, 5), article_id=10),
    ev(2, 1, "unhelpful", at(0, 9, 10, 10), article_id=10),
    ev(2, 1, "queued", at(0, 9, 10, 20)),
    ev(2, 1, "claimed", at(0, 9, 10, 50), agent_id=A7),
    ev(2, 1, "agent_reply", at(0, 9, 11, 20), agent_id=A7),
    ev(2, 1, "agent_reply", at(0, 9, 15), agent_id=A7),  # not the first: ignored
    ev(2, 1, "resolved", at(0, 9, 20), agent_id=A7),
    ev(2, 1, "csat_asked", at(0, 9, 20)),
    ev(2, 1, "csat_answered", at(0, 9, 25), score=5),
    ev(2, 1, "csat_commented", at(0, 9, 26), note="Quick!"),  # the rating's comment
    # 2, reopened: straight to a person (8), answered in 90 s, resolved, rated 3
    ev(2, 2, "reopened", at(0, 10)),
    ev(2, 2, "queued", at(0, 10, 0, 10)),
    ev(2, 2, "claimed", at(0, 10, 0, 20), agent_id=A8),
    ev(2, 2, "agent_reply", at(0, 10, 1, 40), agent_id=A8),
    ev(2, 2, "resolved", at(0, 10, 30), agent_id=A8),
    ev(2, 2, "csat_asked", at(0, 10, 30)),
    ev(2, 2, "csat_answered", at(0, 10, 35), score=3),
    # 3 (SMS): two fallbacks, queued at 16:30, answered next morning at 09:30, resolved 10:00
    ev(3, 1, "opened", at(0, 16), "sms"),
    ev(3, 1, "fallback", at(0, 16, 0, 1), "sms"),
    ev(3, 1, "fallback", at(0, 16, 29, 59), "sms"),
    ev(3, 1, "queued", at(0, 16, 30), "sms"),
    ev(3, 1, "claimed", at(1, 9, 20), "sms", agent_id=A7),
    ev(3, 1, "agent_reply", at(1, 9, 30), "sms", agent_id=A7),
    ev(3, 1, "resolved", at(1, 10), "sms", agent_id=A7),
    ev(3, 1, "csat_asked", at(1, 10), "sms"),
    # 4 (SMS): article 20 answers, then the customer asks for a person; nobody replies yet
    ev(4, 1, "opened", at(0, 11), "sms"),
    ev(4, 1, "answer", at(0, 11, 0, 1), "sms", article_id=20),
    ev(4, 1, "queued", at(0, 11, 0, 30), "sms"),
    # events of a cycle that began before recording started: no cycle
    ev(5, 1, "resolved", at(0, 12), agent_id=A7),
]


@pytest.fixture
def cycles() -> list[reports.Cycle]:
    return reports.fold_cycles(reversed(EVENTS))  # the order of the rows does not matter


def test_cycles(cycles: list[reports.Cycle]) -> None:
    assert [(c.conversation_id, c.cycle, c.channel, c.reopened) for c in cycles] == [
        (1, 1, "webchat", False), (2, 1, "webchat", False), (2, 2, "webchat", True),
        (3, 1, "sms", False), (4, 1, "sms", False)]
    assert [c.first_response_s for c in cycles] == [None, 60, 90, 17 * 3600, None]
    assert [c.resolution_s for c in cycles] == [None, 600, 1800, 18 * 3600, None]
    assert [c.contained for c in cycles] == [True, False, False, False, False]
    assert [c.csat_score for c in cycles] == [None, 5, 3, None, None]
    assert [c.csat_comment for c in cycles] == [None, "Quick!", None, None, None]


def test_summary_in_calendar_and_business_time(cycles: list[reports.Cycle]) -> None:
    summary = reports.summary(cycles, HOURS, [AgentName(A7, "Seven"), AgentName(A8, "Eight")])
    assert summary["csat_comments"] == [{
        "conversation_id": 2, "cycle": 1, "channel": "webchat",
        "resolved": "2026-11-30T08:20:00+00:00", "score": 5, "comment": "Quick!",
        "resolved_by": A7, "agent": "Seven"}]
    assert {k: v for k, v in summary.items()
            if k not in ("by_channel", "by_agent", "csat_comments")} == {
        "conversations": 4, "cycles": 5, "handoffs": 4, "handoff_rate": 0.8,
        "bot_handled": 4, "contained": 1, "containment_rate": 0.25,
        # 60, 90 and 17 h (business: 60, 90, and 30 min on Monday + 30 on Tuesday)
        "first_response": {"count": 3, "median_s": 90, "p90_s": 61200,
                           "median_business_s": 90, "p90_business_s": 3600},
        # 600, 1800 and 18 h (business: 16:00–17:00 and 09:00–10:00)
        "resolution": {"count": 3, "median_s": 1800, "p90_s": 64800,
                       "median_business_s": 1800, "p90_business_s": 7200},
        "reopened": 1,
        "csat": {"sent": 3, "answered": 2, "response_rate": 2 / 3, "average": 4.0,
                 "satisfied_rate": 0.5},
    }
    webchat, sms = summary["by_channel"]["webchat"], summary["by_channel"]["sms"]
    assert (webchat["conversations"], webchat["cycles"], webchat["handoffs"],
            webchat["handoff_rate"], webchat["bot_handled"], webchat["contained"],
            webchat["containment_rate"]) == (2, 3, 2, 2 / 3, 2, 1, 0.5)
    assert webchat["first_response"] == {"count": 2, "median_s": 75, "p90_s": 90,
                                         "median_business_s": 75, "p90_business_s": 90}
    assert (sms["cycles"], sms["handoff_rate"], sms["containment_rate"]) == (2, 1.0, 0.0)
    assert sms["csat"] == {"sent": 1, "answered": 0, "response_rate": 0.0, "average": None,
                           "satisfied_rate": None}
    seven, eight = summary["by_agent"]
    assert (seven["agent_id"], seven["name"], seven["resolved"]) == (A7, "Seven", 2)
    assert seven["first_response"]["median_s"] == (60 + 61200) / 2
    assert seven["csat"] == {"sent": 2, "answered": 1, "response_rate": 0.5, "average": 5.0,
                             "satisfied_rate": 1.0}
    assert (eight["resolved"], eight["csat"]["average"], eight["csat"]["satisfied_rate"]) == \
        (1, 3.0, 0.0)


def test_without_business_hours_only_calendar_time(cycles: list[reports.Cycle]) -> None:
    summary = reports.summary(cycles, None)
    assert summary["resolution"]["median_business_s"] is None
    assert summary["resolution"]["median_s"] == 1800


def test_nothing_to_measure() -> None:
    summary = reports.summary([], HOURS)
    assert summary["cycles"] == 0 and summary["handoff_rate"] is None
    assert summary["first_response"] == {"count": 0, "median_s": None, "p90_s": None,
                                         "median_business_s": None, "p90_business_s": None}
    assert summary["csat"]["average"] is None and summary["by_agent"] == []


def test_medians_and_p90() -> None:
    assert reports.median([3, 1, 2]) == 2 and reports.median([1, 2, 3, 10]) == 2.5
    assert reports.p90(list(range(1, 11))) == 9  # the 9th of 10
    assert reports.p90(list(range(1, 12))) == 10  # ⌈9.9⌉ = the 10th of 11
    assert reports.p90([5]) == 5


def test_articles_failing_first() -> None:
    rows = reports.fold_articles(EVENTS)
    assert [(r.article_id, r.answers, r.unhelpful, r.handoffs, r.deflected, r.deflection_rate)
            for r in rows] == [(20, 1, 0, 1, 0, 0.0), (10, 2, 1, 1, 1, 0.5)]


def test_unhelpful_about_another_article_does_not_count() -> None:
    rows = reports.fold_articles([
        ev(1, 1, "answer", 1.0, article_id=10), ev(1, 1, "answer", 2.0, article_id=11),
        ev(1, 1, "unhelpful", 3.0, article_id=11),
        ev(1, 2, "queued", 4.0),  # another cycle: not after these answers
    ])
    assert {r.article_id: (r.unhelpful, r.handoffs, r.deflected) for r in rows} == {
        10: (0, 0, 1), 11: (1, 0, 0)}


def test_timeseries_by_hour_and_day(cycles: list[reports.Cycle]) -> None:
    since = datetime(2026, 11, 30, 9, tzinfo=BERLIN)
    hourly = reports.timeseries(cycles, "cycles", "hour", BERLIN, since,
                                since + timedelta(hours=3))
    assert [(p.start.hour, p.value) for p in hourly] == [(9, 2), (10, 1), (11, 1)]
    daily = reports.timeseries(cycles, "containment_rate", "day", BERLIN, since,
                               since + timedelta(days=2))
    assert [(p.start.day, p.value) for p in daily] == [(30, 0.25), (1, None), (2, None)]
    medians = reports.timeseries(cycles, "first_response_median_s", "day", BERLIN, since,
                                 since + timedelta(days=1))
    assert [p.value for p in medians] == [90, None]  # Monday; Tuesday until 09:00


def test_a_day_bucket_follows_the_wall_clock_across_a_clock_change() -> None:
    since = datetime(2026, 10, 24, tzinfo=BERLIN)
    days = reports.timeseries([], "cycles", "day", BERLIN, since, since + timedelta(days=3))
    assert [p.start.isoformat() for p in days] == [
        "2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"]


def test_csv_rows(cycles: list[reports.Cycle]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(reports.CSV_COLUMNS)
    for c in cycles:
        writer.writerow(reports.csv_row(c, HOURS))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    sms = rows[3]
    assert sms["channel"] == "sms" and sms["started"] == "2026-11-30T15:00:00+00:00"
    assert (sms["first_response_s"], sms["first_response_business_s"]) == ("61200", "3600")
    assert (sms["resolution_s"], sms["resolution_business_s"], sms["resolved_by"]) == \
        ("64800", "7200", "7")
    assert (rows[2]["reopened"], rows[2]["csat_score"]) == ("true", "3")
