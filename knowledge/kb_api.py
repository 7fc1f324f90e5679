"""Admin API for the knowledge base beyond articles: unanswered questions, synonyms and
thresholds, export. All routes are for admins only."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.auth import require_user
from hub.core import HUB, Hub
from hub.errors import ApiError, field, json_body
from hub.model import NewArticle, Role
from knowledge import settings as kb_settings
from knowledge.articles_api import article_json, new_article
from knowledge.exporter import FORMATS, export_text
from knowledge.unanswered import group

routes = web.RouteTableDef()


async def _admin(request: web.Request) -> Hub:
    hub = request.app[HUB]
    await require_user(request, hub.store, Role.ADMIN)
    return hub


def _ids(body: dict[str, Any]) -> list[int]:
    ids = field(body, "ids", list)
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ApiError(422, "field 'ids' must be a non-empty list of integers")
    return ids


@routes.get("/api/v1/kb/unanswered")
async def unanswered(request: web.Request) -> web.Response:
    """Fallbacks and unhelpful answers, grouped by similarity, most asked first."""
    hub = await _admin(request)
    entries = await hub.store.list_unanswered()
    return web.json_response({"groups": [g.json() for g in group(entries)]})


@routes.post("/api/v1/kb/unanswered/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    hub = await _admin(request)
    count = await hub.store.dismiss_unanswered(_ids(await json_body(request)))
    return web.json_response({"dismissed": count})


@routes.post("/api/v1/kb/unanswered/phrasing")
async def add_phrasing(request: web.Request) -> web.Response:
    """Add an unanswered question as a phrasing of an article, and dismiss the group."""
    hub = await _admin(request)
    body = await json_body(request)
    ids = _ids(body)
    article_id = field(body, "article_id", int)
    text = field(body, "text", str).strip()
    if not text:
        raise ApiError(422, "field 'text' is empty")
    current = await hub.store.get_article(article_id)
    if current is None:
        raise ApiError(422, f"field 'article_id': no article {article_id}")
    base = new_article(current)
    questions = tuple(dict.fromkeys([*base.questions, text]))
    updated = await hub.store.update_article(
        article_id, NewArticle(base.title, questions, base.answer, base.tags, base.status,
                               base.sms_answer))
    await hub.store.dismiss_unanswered(ids)
    await hub.knowledge_changed()
    return web.json_response(article_json(updated))


def _settings_json(hub: Hub) -> dict[str, Any]:
    return {
        "synonyms": hub.knowledge.synonyms,
        "thresholds": kb_settings.thresholds_json(hub.knowledge.thresholds),
        "default_thresholds": kb_settings.thresholds_json(hub.knowledge.default_thresholds),
    }


@routes.get("/api/v1/kb/settings")
async def get_settings(request: web.Request) -> web.Response:
    hub = await _admin(request)
    return web.json_response(_settings_json(hub))


@routes.put("/api/v1/kb/settings")
async def put_settings(request: web.Request) -> web.Response:
    """``{"synonyms": {...}}`` and/or ``{"thresholds": {...}}`` (``null``: the defaults)."""
    hub = await _admin(request)
    body = await json_body(request)
    unknown = set(body) - {"synonyms", "thresholds"}
    if unknown:
        raise ApiError(422, f"field '{sorted(unknown)[0]}' is unknown")
    changes: dict[str, str] = {}
    try:
        if "synonyms" in body:
            changes[kb_settings.SYNONYMS] = json.dumps(
                kb_settings.parse_synonyms(body["synonyms"] or {}))
        if "thresholds" in body:
            changes[kb_settings.THRESHOLDS] = json.dumps(
                kb_settings.parse_thresholds(body["thresholds"] or {}))
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    for key, value in changes.items():
        await hub.store.set_kb_setting(key, value)
    if changes:
        await hub.knowledge_changed()
    return web.json_response(_settings_json(hub))


@routes.get("/api/v1/kb/export")
async def export(request: web.Request) -> web.Response:
    """Every article as JSON (``?format=json``, the default) or CSV (``?format=csv``)."""
    hub = await _admin(request)
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(422, f"format must be one of {', '.join(FORMATS)}")
    text = export_text(await hub.store.list_articles(), fmt)
    return web.Response(
        text=text, content_type="text/csv" if fmt == "csv" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="articles.{fmt}"'},
    )

