"""What the reports mean: the figures, as pure functions over the events the store records.

A conversation is measured per **cycle**: from its first customer message (``opened``) or
its reopening (``reopened``: a customer message after a resolution) to its resolution.

- first response: the cycle's first ``queued`` → its first public agent reply after it;
- resolution: cycle start → ``resolved``; a reopened cycle counts again, from its reopening;
- bot-handled: the bot decided on a question in the cycle (an ``answer``, ``suggest`` or
  ``fallback`` event); contained: bot-handled and never queued;
- per article: its direct answers; those followed in the same cycle by "didn't help" about
  it (``unhelpful``), or by a handoff (``queued``); deflected: followed by neither;
- CSAT: surveys sent (``csat_asked``), answered (``csat_answered``, score 1–5), credited to
  the agent who resolved the cycle; the rating's optional comment (``csat_commented``).

Medians are the middle value (the mean of the two middle ones for an even count); p90 is the
nearest rank (the ⌈0.9·n⌉-th smallest). A rate whose denominator is 0 is None.
The store computes :class:`Cycle` rows with SQL that follows :func:`fold_cycles` (the tests
hold the two to each other); everything after that is here.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.business_hours import BusinessHours
from hub.cycles import BOT_OUTCOMES, ArticleFigures, Cycle, Event


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    return sorted(values)[math.ceil(0.9 * len(values)) - 1]


def fold_cycles(events: Iterable[Event]) -> list[Cycle]:
    """The cycles the events describe (the definition the store's SQL follows)."""
    by_cycle: dict[tuple[int, int], list[Event]] = {}
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        by_cycle.setdefault((event.conversation_id, event.cycle), []).append(event)
    cycles = []
    for (conversation_id, number), items in sorted(by_cycle.items()):
        start = next((e for e in items if e.kind in ("opened", "reopened")), None)
        if start is None:
            continue  # a cycle that began before the events were recorded
        queued = next((e.at for e in items if e.kind == "queued"), None)
        reply = next((e for e in items if e.kind == "agent_reply"
                      and queued is not None and e.at >= queued), None)
        resolved = next((e for e in items if e.kind == "resolved"), None)
        answered = next((e for e in items if e.kind == "csat_answered"), None)
        comment = next((e for e in items if e.kind == "csat_commented"), None)
        cycles.append(Cycle(
            conversation_id, number, start.channel, start.at, start.kind == "reopened",
            queued=queued,
            first_reply=reply.at if reply else None,
            first_reply_agent=reply.agent_id if reply else None,
            resolved=resolved.at if resolved else None,
            resolved_by=resolved.agent_id if resolved else None,
            bot_handled=any(e.kind in BOT_OUTCOMES for e in items),
            csat_sent=any(e.kind == "csat_asked" for e in items),
            csat_score=answered.score if answered else None,
            csat_comment=comment.note if comment else None))
    return cycles


def fold_articles(events: Iterable[Event]) -> list[ArticleFigures]:
    """Per article: direct answers and what followed them in their cycle (the definition
    the store's SQL follows), the most failing first."""
    by_cycle: dict[tuple[int, int], list[Event]] = {}
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        by_cycle.setdefault((event.conversation_id, event.cycle), []).append(event)
    counts: dict[int, list[int]] = {}
    for items in by_cycle.values():
        for i, event in enumerate(items):
            if event.kind != "answer" or event.article_id is None:
                continue
            later = items[i + 1:]
            unhelpful = any(e.kind == "unhelpful" and e.article_id == event.article_id
                            for e in later)
            handoff = any(e.kind == "queued" for e in later)
            row = counts.setdefault(event.article_id, [0, 0, 0, 0])
            row[0] += 1
            row[1] += unhelpful
            row[2] += handoff
            row[3] += not (unhelpful or handoff)
    return sort_articles(ArticleFigures(a, row[0], row[1], row[2], row[3])
                         for a, row in counts.items())


def sort_articles(rows: Iterable[ArticleFigures]) -> list[ArticleFigures]:
    """What fails most first: most answers not deflected, then the lowest rate, then id."""
    return sorted(rows, key=lambda r: (-(r.answers - r.deflected), r.deflection_rate or 0.0,
                                       r.article_id))


# the summary ---------------------------------------------------------------------------
Durations = Callable[[Cycle], tuple[float, float] | None]  # (start, end) of a duration
Business = Callable[[float, float], float]  # business seconds between two instants


def business_seconds(hours: BusinessHours | None) -> Business | None:
    """Business seconds between instants (seconds since the epoch), remembered: a summary
    asks for each cycle's durations overall, by channel and by agent."""
    if hours is None:
        return None
    known: dict[tuple[float, float], float] = {}

    def between(start: float, end: float) -> float:
        found = known.get((start, end))
        if found is None:
            found = known[start, end] = hours.seconds_between_epoch(start, end)
        return found

    return between


def _spread(values: list[float]) -> tuple[float | None, float | None]:
    """(median, p90), sorting once."""
    if not values:
        return None, None
    values.sort()
    n = len(values)
    middle = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return middle, values[math.ceil(0.9 * n) - 1]


def _durations(cycles: Sequence[Cycle], span: Durations,
               business: Business | None) -> dict[str, Any]:
    spans = [s for s in (span(c) for c in cycles) if s is not None]
    calendar = _spread([end - start for start, end in spans])
    inside = _spread([business(start, end) for start, end in spans]) if business \
        else (None, None)
    return {"count": len(spans), "median_s": calendar[0], "p90_s": calendar[1],
            "median_business_s": inside[0], "p90_business_s": inside[1]}


def _first_response(c: Cycle) -> tuple[float, float] | None:
    return (c.queued, c.first_reply) if c.queued is not None and c.first_reply is not None \
        else None


def _resolution(c: Cycle) -> tuple[float, float] | None:
    return (c.started, c.resolved) if c.resolved is not None else None


def _instant(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def csat_figures(cycles: Sequence[Cycle]) -> dict[str, Any]:
    sent = sum(c.csat_sent for c in cycles)
    scores = [c.csat_score for c in cycles if c.csat_score is not None]
    return {"sent": sent, "answered": len(scores), "response_rate": rate(len(scores), sent),
            "average": statistics.fmean(scores) if scores else None,
            "satisfied_rate": rate(sum(s >= 4 for s in scores), len(scores))}


def figures(cycles: Sequence[Cycle], business: Business | None) -> dict[str, Any]:
    """The summary's figures over these cycles."""
    handoffs = bot_handled = contained = reopened = 0
    for c in cycles:
        if c.queued is not None:
            handoffs += 1
        elif c.bot_handled:
            contained += 1
        bot_handled += c.bot_handled
        reopened += c.reopened
    return {
        "conversations": len({c.conversation_id for c in cycles}),
        "cycles": len(cycles),
        "handoffs": handoffs,
        "handoff_rate": rate(handoffs, len(cycles)),
        "bot_handled": bot_handled,
        "contained": contained,
        "containment_rate": rate(contained, bot_handled),
        "first_response": _durations(cycles, _first_response, business),
        "resolution": _durations(cycles, _resolution, business),
        "reopened": reopened,
        "csat": csat_figures(cycles),
    }


@dataclass(frozen=True, slots=True)
class AgentName:
    id: int
    name: str


def summary(cycles: Sequence[Cycle], hours: BusinessHours | None,
            agents: Iterable[AgentName] = ()) -> dict[str, Any]:
    """The summary: the figures, by channel, and by agent (the agent who resolved a cycle
    is credited with its resolution and its CSAT; first responses go to who replied)."""
    business = business_seconds(hours)
    by_channel: dict[str, list[Cycle]] = {}
    resolved: dict[int, list[Cycle]] = {}
    replied: dict[int, list[Cycle]] = {}
    for c in cycles:
        by_channel.setdefault(c.channel, []).append(c)
        if c.resolved_by is not None:
            resolved.setdefault(c.resolved_by, []).append(c)
        if c.first_reply_agent is not None:
            replied.setdefault(c.first_reply_agent, []).append(c)
    names = {a.id: a.name for a in agents}
    by_agent = [{
        "agent_id": agent_id, "name": names.get(agent_id, ""),
        "resolved": len(resolved.get(agent_id, ())),
        "first_response": _durations(replied.get(agent_id, []), _first_response, business),
        "resolution": _durations(resolved.get(agent_id, []), _resolution, business),
        "csat": csat_figures(resolved.get(agent_id, [])),
    } for agent_id in sorted(resolved.keys() | replied.keys())]
    return {**figures(cycles, business),
            "by_channel": {ch: figures(cs, business) for ch, cs in sorted(by_channel.items())},
            "by_agent": by_agent,
            "csat_comments": csat_comments(cycles, names)}


COMMENTS_SHOWN = 20


def csat_comments(cycles: Sequence[Cycle], names: dict[int, str],
                  limit: int = COMMENTS_SHOWN) -> list[dict[str, Any]]:
    """The survey's comments, the latest resolution first (the rating's and the resolving
    agent's beside each)."""
    commented = sorted((c for c in cycles if c.csat_comment is not None),
                       key=lambda c: (c.resolved or c.started, c.conversation_id, c.cycle),
                       reverse=True)
    return [{"conversation_id": c.conversation_id, "cycle": c.cycle, "channel": c.channel,
             "resolved": None if c.resolved is None else _instant(c.resolved).isoformat(),
             "score": c.csat_score, "comment": c.csat_comment, "resolved_by": c.resolved_by,
             "agent": names.get(c.resolved_by, "") if c.resolved_by is not None else ""}
            for c in commented[:limit]]


# over time -------------------------------------------------------------------------------
METRICS: dict[str, Callable[[Sequence[Cycle]], float | None]] = {
    "conversations": lambda cs: float(len({c.conversation_id for c in cs})),
    "cycles": lambda cs: float(len(cs)),
    "handoff_rate": lambda cs: rate(sum(c.queued is not None for c in cs), len(cs)),
    "containment_rate": lambda cs: rate(sum(c.contained for c in cs),
                                        sum(c.bot_handled for c in cs)),
    "first_response_median_s": lambda cs: median(
        [s for s in (c.first_response_s for c in cs) if s is not None]),
    "resolution_median_s": lambda cs: median(
        [s for s in (c.resolution_s for c in cs) if s is not None]),
    "csat_average": lambda cs: csat_figures(cs)["average"],
    "csat_response_rate": lambda cs: csat_figures(cs)["response_rate"],
}
INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class Point:
    start: datetime  # the bucket's start, in the report's zone
    value: float | None


def timeseries(cycles: Sequence[Cycle], metric: str, interval: str, zone: ZoneInfo,
               since: datetime, until: datetime) -> list[Point]:
    """``metric`` over the cycles that started in each hour or day (of ``zone``'s wall
    clock) from ``since`` to ``until``; an empty bucket is 0 for counts, None for the rest."""
    measure = METRICS[metric]
    buckets: list[datetime] = []
    local = since.astimezone(zone)
    start = local.replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        start = start.replace(hour=0)
    while start < until:
        buckets.append(start)
        start = _next_bucket(start, interval, zone)
    starts = [b.timestamp() for b in buckets]
    grouped: list[list[Cycle]] = [[] for _ in buckets]
    for c in cycles:
        if since.timestamp() <= c.started < until.timestamp():
            grouped[bisect.bisect_right(starts, c.started) - 1].append(c)
    counts = metric in ("conversations", "cycles")
    return [Point(b, measure(cs) if cs or counts else None) for b, cs in zip(buckets, grouped,
                                                                             strict=True)]


def _next_bucket(start: datetime, interval: str, zone: ZoneInfo) -> datetime:
    if interval == "hour":  # an hour of real time (a DST day has 23 or 25 of them)
        return (start.astimezone(UTC) + INTERVALS["hour"]).astimezone(zone)
    day = start.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone)


# the export ------------------------------------------------------------------------------
CSV_COLUMNS = ("conversation_id", "cycle", "channel", "started", "reopened", "queued",
               "first_reply", "resolved", "first_response_s", "first_response_business_s",
               "resolution_s", "resolution_business_s", "bot_handled", "contained",
               "resolved_by", "csat_sent", "csat_score", "csat_comment")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    """A customer's words as a cell a spreadsheet shows and never runs as a formula."""
    if text is None:
        return ""
    return "'" + text if text.startswith(_FORMULA) else text


def csv_row(c: Cycle, hours: BusinessHours | None) -> list[str]:
    def when(at: float | None) -> str:
        return "" if at is None else _instant(at).isoformat()

    def seconds(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    def business(span: tuple[float, float] | None) -> str:
        if span is None or hours is None:
            return ""
        return seconds(hours.seconds_between(_instant(span[0]), _instant(span[1])))

    return [str(c.conversation_id), str(c.cycle), c.channel, when(c.started),
            str(c.reopened).lower(), when(c.queued), when(c.first_reply), when(c.resolved),
            seconds(c.first_response_s), business(_first_response(c)),
            seconds(c.resolution_s), business(_resolution(c)),
            str(c.bot_handled).lower(), str(c.contained).lower(),
            "" if c.resolved_by is None else str(c.resolved_by), str(c.csat_sent).lower(),
            "" if c.csat_score is None else str(c.csat_score), _cell(c.csat_comment)]
