"""Article history names who made each change — the admin (as they were named then) for the
API and the admin page, "cli import" for ``supporthub kb import`` — on SQLite and on
PostgreSQL; and a schema-3 database migrates to 4 keeping its history (authors unknown)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from conftest import HubFactory, Running

from hub.model import NewArticle, Role
from hub.store import make_store, sqlite_path
from hub.store.base import SCHEMA_VERSION
from hub.store.base_kb import NewUnanswered, RevisionAuthor, UnansweredKind
from hub.store.postgres_schema import MIGRATIONS as PG_MIGRATIONS
from hub.store.postgres_url import parse_pg_url
from hub.store.sqlite_schema import MIGRATIONS as SQLITE_MIGRATIONS
from knowledge.articles_api import revision_json

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = {"title": "Gift wrapping", "questions": ["can you gift wrap my order"],
           "answer": "Yes, for 3 euros."}


@pytest.fixture
def db_url(any_engine_db_url: str) -> str:
    """The hubs of this module run on SQLite and on PostgreSQL."""
    return any_engine_db_url


async def _cli(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def _ok(resp: Any) -> Any:
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def _history(hub: Running, token: str, article_id: int) -> list[dict[str, Any]]:
    resp = await hub.client.get(f"/api/v1/articles/{article_id}/history",
                                headers={"Authorization": f"Bearer {token}"})
    revisions: list[dict[str, Any]] = (await _ok(resp))["revisions"]
    return revisions


def _who(revisions: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(r["action"], r["author"] and r["author"]["name"]) for r in revisions]


async def test_history_names_the_admin_behind_each_change(start_hub: HubFactory) -> None:
    hub = await start_hub(demo=False)
    root = await hub.add_user("root@example.com", Role.ADMIN, name="Root")
    boss = await hub.add_user("boss@example.com", Role.ADMIN, name="Boss")
    as_root = {"Authorization": f"Bearer {root}"}
    as_boss = {"Authorization": f"Bearer {boss}"}
    created = await _ok(await hub.client.post("/api/v1/articles", json=ARTICLE,
                                              headers=as_root))
    aid = created["id"]
    await _ok(await hub.client.patch(f"/api/v1/articles/{aid}", json={"answer": "Yes, 4 euros."},
                                     headers=as_boss))
    history = await _history(hub, root, aid)
    assert _who(history) == [("update", "Boss"), ("create", "Root")]
    boss_id = (await hub.hub.store.get_user_by_email("boss@example.com")).id  # type: ignore[union-attr]
    assert history[0]["author"] == {"user_id": boss_id, "name": "Boss",
                                    "email": "boss@example.com"}

    # renamed later, Boss still appears under the name they had when they made the change
    await _ok(await hub.client.patch(f"/api/v1/agents/{boss_id}", json={"name": "Big Boss"},
                                     headers=as_root))
    await _ok(await hub.client.post(f"/api/v1/articles/{aid}/restore",
                                    json={"revision_id": history[1]["id"]}, headers=as_boss))
    await _ok(await hub.client.delete(f"/api/v1/articles/{aid}", headers=as_root))
    assert _who(await _history(hub, root, aid)) == [
        ("delete", "Root"), ("restore", "Big Boss"), ("update", "Boss"), ("create", "Root")]

    # an import through the API, and a phrasing added from the unanswered list
    resp = await hub.client.post("/api/v1/kb/import", data=json.dumps([ARTICLE]).encode(),
                                 headers={**as_boss, "Content-Type": "application/json"})
    [imported] = (await _ok(resp))["articles"]
    assert imported["id"] != aid  # a deleted article's id is not reused: nor its history
    question = await hub.hub.store.log_unanswered(
        NewUnanswered("do you wrap presents", UnansweredKind.FALLBACK))
    await _ok(await hub.client.post("/api/v1/kb/unanswered/phrasing", json={
        "ids": [question.id], "article_id": imported["id"], "text": question.text},
        headers=as_root))
    assert _who(await _history(hub, root, imported["id"])) == [
        ("update", "Root"), ("create", "Big Boss")]


async def test_history_labels_a_cli_import(db_url: str, tmp_path: Path,
                                           start_hub: HubFactory) -> None:
    source = tmp_path / "kb.json"
    source.write_text(json.dumps({"articles": [ARTICLE]}), encoding="utf-8")
    assert "imported 1 articles" in await _cli("kb", "import", str(source), "--db", db_url)
    hub = await start_hub(demo=False)
    root = await hub.add_user("root@example.com", Role.ADMIN, name="Root")
    gift = next(a for a in await hub.hub.store.list_articles() if a.title == "Gift wrapping")
    [revision] = await _history(hub, root, gift.id)
    assert revision["author"] == {"user_id": None, "name": "cli import", "email": None}
    visitor = await hub.visitor()
    assert (await visitor.ask("can you gift wrap my order"))["text"] == "Yes, for 3 euros."


# schema 3 -> 4 ----------------------------------------------------------------------------
# an article with two revisions, written as a version-3 hub wrote them (no author columns)
_V3_ROWS = [
    "INSERT INTO articles (title, questions, answer, tags, status, created_at, updated_at)"
    " VALUES ('Shipping', '[\"how long is shipping\"]', '3 days', '[]', 'published',"
    " '2024-05-01T10:00:00+00:00', '2024-05-01T10:00:00+00:00')",
    "INSERT INTO article_revisions (article_id, action, title, questions, answer, tags,"
    " status, created_at) SELECT id, 'create', title, questions, answer, tags, status,"
    " created_at FROM articles",
    "UPDATE articles SET answer = '2 days', updated_at = '2024-05-02T10:00:00+00:00'",
    "INSERT INTO article_revisions (article_id, action, title, questions, answer, tags,"
    " status, created_at) SELECT id, 'update', title, questions, answer, tags, status,"
    " updated_at FROM articles",
    "INSERT INTO meta (key, value) VALUES ('schema_version', '3')",
]


async def _make_v3(url: str) -> None:
    if url.startswith("sqlite"):
        import sqlite_utils

        conn = sqlite3.connect(sqlite_path(url))
        db = sqlite_utils.Database(conn)
        for step in SQLITE_MIGRATIONS[:3]:
            step(db)
        for sql in _V3_ROWS:
            conn.execute(sql)
        conn.commit()
        conn.close()
        return
    target = parse_pg_url(url)
    pg = await asyncpg.connect(target.dsn, server_settings=target.server_settings)
    try:
        for sql in [*PG_MIGRATIONS[:3], *_V3_ROWS]:
            await pg.execute(sql)
    finally:
        await pg.close()


async def test_a_version_3_database_migrates_and_keeps_its_history(store_url: str) -> None:
    await _make_v3(store_url)
    migrated = await _cli("db", "migrate", "--db", store_url)
    assert f"schema is at version {SCHEMA_VERSION}" in migrated
    store = make_store(store_url)
    await store.open(migrate=False)  # refuses anything but the current version
    try:
        [article] = await store.list_articles()
        old = await store.article_history(article.id)
        assert [(r.action, r.article.answer, r.author) for r in old] == [
            ("update", "2 days", None), ("create", "3 days", None)]
        assert revision_json(old[0])["author"] is None  # the admin page shows "unknown"

        root = RevisionAuthor("Root", 7, "root@example.com")
        await store.update_article(article.id, NewArticle("Shipping", ("how long is shipping",),
                                                          "1 day"), author=root)
        history = await store.article_history(article.id)
        assert [r.author for r in history] == [root, None, None]
        assert history[1:] == old
    finally:
        await store.close()
