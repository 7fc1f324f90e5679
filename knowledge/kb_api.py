"""Admin API for the knowledge base beyond articles: unanswered questions, synonyms and
thresholds, import and export. All routes are for admins only."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from aiohttp import web

from hub.auth import require_user
from hub.core import HUB, Hub
from hub.errors import ApiError, field, json_body
from hub.model import Role, User, id_in_text
from hub.store.base_kb import RevisionAuthor
from knowledge import settings as kb_settings
from knowledge.articles_api import article_json, new_article
from knowledge.exporter import FORMATS, export_text
from knowledge.importer import MODES, ArticleImportError, import_summary, write_import
from knowledge.unanswered import group
from knowledge.upload import UploadTooLarge, read_upload, rows_from

routes = web.RouteTableDef()


async def _admin(request: web.Request) -> Hub:
    return (await _admin_user(request))[0]


async def _admin_user(request: web.Request) -> tuple[Hub, User]:
    hub = request.app[HUB]
    return hub, await require_user(request, hub.store, Role.ADMIN)


def _ids(body: dict[str, Any]) -> list[int]:
    ids = field(body, "ids", list)
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ApiError(422, "field 'ids' must be a non-empty list of integers")
    return ids


@routes.get("/api/v1/kb/unanswered")
async def unanswered(request: web.Request) -> web.Response:
    """Fallbacks and unhelpful answers, grouped by similarity, most asked first;
    ``?article_id=`` keeps those about one article (its answers that did not help: the
    reports page links each failing article here)."""
    hub = await _admin(request)
    raw = request.query.get("article_id")
    article_id = None
    if raw is not None:
        article_id = id_in_text(raw)
        if not article_id:
            raise ApiError(422, "parameter 'article_id' must be a positive integer")
    entries = await hub.store.list_unanswered()
    if article_id is not None:
        entries = [e for e in entries if e.article_id == article_id]
    return web.json_response({"groups": [g.json() for g in group(entries)]})


@routes.post("/api/v1/kb/unanswered/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    hub = await _admin(request)
    count = await hub.store.dismiss_unanswered(_ids(await json_body(request, "UnansweredIds")))
    return web.json_response({"dismissed": count})


@routes.post("/api/v1/kb/unanswered/phrasing")
async def add_phrasing(request: web.Request) -> web.Response:
    """Add an unanswered question as a phrasing of an article, and dismiss the group."""
    hub, user = await _admin_user(request)
    body = await json_body(request, "AddPhrasing")
    ids = _ids(body)
    article_id = field(body, "article_id", int)
    text = field(body, "text", str).strip()
    if not text:
        raise ApiError(422, "field 'text' is empty")
    current = await hub.store.get_article(article_id)
    if current is None:
        raise ApiError(404, f"field 'article_id': no article {article_id}")
    base = new_article(current)
    questions = tuple(dict.fromkeys([*base.questions, text]))
    updated = await hub.store.update_article(
        article_id, replace(base, questions=questions),
        author=RevisionAuthor.of(user))
    await hub.store.dismiss_unanswered(ids)
    await hub.knowledge_changed()
    return web.json_response(article_json(updated))


def _settings_json(hub: Hub) -> dict[str, Any]:
    return {
        "synonyms": hub.knowledge.synonyms,
        "thresholds": kb_settings.thresholds_json(hub.knowledge.thresholds),
        "default_thresholds": kb_settings.thresholds_json(hub.knowledge.default_thresholds),
    }


@routes.get("/api/v1/kb/status")
async def status(request: web.Request) -> web.Response:
    """Whether every committed change is in the matcher this process answers with
    (``pending``: a rebuild is still catching up), and what that matcher holds. The admin
    page asks this after a write to say when the change is live."""
    hub = await _admin(request)
    knowledge = hub.knowledge
    return web.json_response({"pending": knowledge.pending, "articles": len(knowledge),
                              "phrasings": knowledge.phrasings,
                              "last_build_seconds": round(knowledge.last_build_seconds, 3)})


@routes.get("/api/v1/kb/settings")
async def get_settings(request: web.Request) -> web.Response:
    hub = await _admin(request)
    return web.json_response(_settings_json(hub))


@routes.put("/api/v1/kb/settings")
async def put_settings(request: web.Request) -> web.Response:
    """``{"synonyms": {...}}`` and/or ``{"thresholds": {...}}`` (``null``: the defaults)."""
    hub = await _admin(request)
    body = await json_body(request, "KbSettings")
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
    if changes:  # the answer shows the settings in effect, so it waits for the rebuild
        await hub.knowledge.settled(await hub.knowledge_changed())
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


@routes.post("/api/v1/kb/import")
async def import_articles(request: web.Request) -> web.Response:
    """Import the articles of an uploaded JSON or CSV file, zip of Markdown files or Markdown
    files (``knowledge/upload.py``), all or nothing, exactly as ``supporthub kb import``:
    ``?mode=add`` (the default) adds every article; ``?mode=update`` replaces the article
    each row's ``id`` names and adds the rows without one. The first bad row (or unknown or
    repeated id) is a 400 naming its line (or file) and field, and nothing is written."""
    hub, user = await _admin_user(request)
    mode = request.query.get("mode", "add")
    if mode not in MODES:
        raise ApiError(422, f"mode must be one of {', '.join(MODES)}")
    limit = hub.settings.max_import_bytes
    try:
        uploads = await read_upload(request, limit)
        rows = await asyncio.to_thread(rows_from, uploads, limit, ids=mode == "update")
        changes = await write_import(hub.store, rows, author=RevisionAuthor.of(user))
    except UploadTooLarge as exc:
        raise ApiError(413, f"{exc}; nothing was imported") from None
    except ArticleImportError as exc:
        raise ApiError(400, f"{exc}; nothing was imported", "invalid_import",
                       exc.details()) from None
    counts = import_summary(changes)
    if counts["added"] or counts["updated"]:
        await hub.knowledge_changed()
    return web.json_response({"imported": len(changes), "mode": mode, **counts, "articles": [
        {"id": c.article.id, "title": c.article.title, "action": c.action}
        for c in changes]})
