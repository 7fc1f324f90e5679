"""The reports (admins): ``/admin/reports`` and ``GET /api/v1/reports/…``.

The store folds its events into cycles and article rows (hub/store/rules_reports.py); the
figures are hub/reports.py's. A window is ``from``/``to`` (ISO dates, both days included, in
``SUPPORTHUB_TIMEZONE``; default the last 7 days); a malformed date, ``to`` before ``from``,
an unknown channel or agent is a 422 naming the parameter.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from hub import business_hours, reports
from hub.auth import admin_page, require_user
from hub.core import Hub, hub_of
from hub.cycles import Cycle
from hub.errors import ApiError
from hub.model import Role, id_in_text

STATIC = Path(__file__).parent / "static"
DEFAULT_DAYS = 7
MAX_HOURLY_DAYS = 31

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Window:
    first: date  # both days included, in the report's zone
    last: date
    since: datetime
    until: datetime


def _zone(hub: Hub) -> ZoneInfo:
    return ZoneInfo(hub.settings.timezone or "UTC")


def _day(request: web.Request, name: str) -> date | None:
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, f"parameter '{name}' must be a date (YYYY-MM-DD), not {text!r}"
                       ) from None


def window(request: web.Request, zone: ZoneInfo, now: datetime) -> Window:
    last = _day(request, "to") or now.astimezone(zone).date()
    first = _day(request, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise ApiError(422, "parameter 'to' is before 'from'")
    since = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = last + timedelta(days=1)
    return Window(first, last, since, datetime(end.year, end.month, end.day, tzinfo=zone))


async def _cycles(request: web.Request, hub: Hub, span: Window) -> list[Cycle]:
    """The window's cycles, narrowed to ``channel`` and ``agent_id`` when given."""
    channel = request.query.get("channel")
    if channel is not None and channel not in hub.channels:
        raise ApiError(422, f"parameter 'channel': unknown channel {channel!r}")
    agent_text = request.query.get("agent_id")
    agent_id = None
    if agent_text is not None:
        agent_id = id_in_text(agent_text)
        if agent_id is None:
            raise ApiError(422, "parameter 'agent_id' must be a user id")
        if await hub.store.get_user(agent_id) is None:
            raise ApiError(422, f"parameter 'agent_id': no user {agent_id}")
    cycles = await hub.store.report_cycles(span.since.timestamp(), span.until.timestamp())
    return [c for c in cycles
            if (channel is None or c.channel == channel)
            and (agent_id is None or agent_id in (c.resolved_by, c.first_reply_agent))]


def _hours(hub: Hub) -> business_hours.BusinessHours | None:
    s = hub.settings
    return business_hours.configured(s.business_hours, s.timezone, s.holidays)


def _now(hub: Hub) -> datetime:
    return datetime.fromtimestamp(hub.store.clock(), UTC)


async def _admin(request: web.Request) -> Hub:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    return hub


@routes.get("/api/v1/reports/summary")
async def summary(request: web.Request) -> web.Response:
    hub = await _admin(request)
    span = window(request, _zone(hub), _now(hub))
    cycles = await _cycles(request, hub, span)
    agents = [reports.AgentName(u.id, u.name) for u in await hub.store.list_users()]
    return web.json_response({
        "from": span.first.isoformat(), "to": span.last.isoformat(),
        "timezone": _zone(hub).key, "business_hours": hub.settings.business_hours or None,
        **reports.summary(cycles, _hours(hub), agents)})


@routes.get("/api/v1/reports/articles")
async def articles(request: web.Request) -> web.Response:
    hub = await _admin(request)
    span = window(request, _zone(hub), _now(hub))
    rows = reports.sort_articles(
        await hub.store.report_articles(span.since.timestamp(), span.until.timestamp()))
    return web.json_response({"from": span.first.isoformat(), "to": span.last.isoformat(),
                              "articles": [{
        "article_id": r.article_id, "title": r.title, "answers": r.answers,
        "unhelpful": r.unhelpful, "handoffs": r.handoffs, "deflected": r.deflected,
        "deflection_rate": r.deflection_rate} for r in rows]})


@routes.get("/api/v1/reports/timeseries")
async def timeseries(request: web.Request) -> web.Response:
    hub = await _admin(request)
    metric = request.query.get("metric", "")
    if metric not in reports.METRICS:
        raise ApiError(422, "parameter 'metric' must be one of " + ", ".join(reports.METRICS))
    interval = request.query.get("interval", "day")
    if interval not in reports.INTERVALS:
        raise ApiError(422, "parameter 'interval' must be hour or day")
    zone = _zone(hub)
    span = window(request, zone, _now(hub))
    if interval == "hour" and (span.last - span.first).days >= MAX_HOURLY_DAYS:
        raise ApiError(422, f"parameter 'interval': hour needs a window of at most"
                            f" {MAX_HOURLY_DAYS} days")
    cycles = await _cycles(request, hub, span)
    points = reports.timeseries(cycles, metric, interval, zone, span.since, span.until)
    return web.json_response({"metric": metric, "interval": interval,
                              "points": [{"start": p.start.isoformat(), "value": p.value}
                                         for p in points]})


@routes.get("/api/v1/reports/export.csv")
async def export_csv(request: web.Request) -> web.Response:
    hub = await _admin(request)
    span = window(request, _zone(hub), _now(hub))
    cycles = await _cycles(request, hub, span)
    hours = _hours(hub)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(reports.CSV_COLUMNS)
    for cycle in cycles:
        writer.writerow(reports.csv_row(cycle, hours))
    name = f"supporthub-cycles-{span.first.isoformat()}-{span.last.isoformat()}.csv"
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


async def reports_page(request: web.Request) -> web.StreamResponse:
    return await admin_page(request, hub_of(request).store, STATIC / "reports.html")


def reports_routes() -> list[Any]:
    return [web.get("/admin/reports", reports_page),
            web.static("/static/reports", STATIC), *routes]
