"""SQLite: the knowledge-administration tables and methods (see base_kb.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

import sqlite_utils

from hub.model import Article
from hub.store.base import NotFound
from hub.store.base_kb import (
    ArticleRevision,
    NewUnanswered,
    RevisionAuthor,
    Unanswered,
)
from hub.store.rows import (
    REVISION_COLUMNS,
    article_from_row,
    author_values,
    revision_from_row,
    unanswered_from_row,
    utcnow,
)
from hub.store.sqlite_engine import SQLiteEngine

Conn = sqlite3.Connection

_ARTICLE_COLUMNS = ("title", "questions", "answer", "tags", "status", "sms_answer")


def migrate_v2(db: sqlite_utils.Database) -> None:
    """Schema version 2: knowledge administration."""
    db.table("articles").add_column("sms_answer", str)
    db.table("article_revisions").create(
        {"id": int, "article_id": int, "action": str, "title": str, "questions": str,
         "answer": str, "tags": str, "status": str, "sms_answer": str, "created_at": str},
        pk="id",
        not_null={"article_id", "action", "title", "questions", "answer", "tags", "status",
                  "created_at"},
    )
    db.table("article_revisions").create_index(["article_id", "id"])
    # the articles of a schema-1 database start their history here
    db.execute(
        "INSERT INTO article_revisions (article_id, action, title, questions, answer, tags,"
        " status, created_at) SELECT id, 'create', title, questions, answer, tags, status,"
        " updated_at FROM articles"
    )
    db.table("unanswered").create(
        {"id": int, "text": str, "kind": str, "conversation_id": int, "message_id": int,
         "article_id": int, "dismissed": int, "created_at": str},
        pk="id",
        not_null={"text", "kind", "dismissed", "created_at"},
        defaults={"dismissed": 0},
    )
    db.table("unanswered").create_index(["dismissed", "id"])
    db.table("unanswered").create_index(["article_id"])
    db.table("kb_settings").create({"key": str, "value": str}, pk="key", not_null={"value"})


def migrate_v4(db: sqlite_utils.Database) -> None:
    """Schema version 4: each revision names its author (older revisions: NULL, unknown)."""
    table = db.table("article_revisions")
    table.add_column("author_id", int)
    table.add_column("author_name", str)
    table.add_column("author_email", str)


def write_revision(conn: Conn, article_id: int, action: str,
                   author: RevisionAuthor | None = None) -> None:
    """Snapshot the article's current row as a revision (same transaction as the change)."""
    columns = ", ".join(_ARTICLE_COLUMNS)
    conn.execute(
        f"INSERT INTO article_revisions (article_id, action, {columns}, created_at,"
        " author_id, author_name, author_email)"
        f" SELECT id, ?, {columns}, ?, ?, ?, ? FROM articles WHERE id = ?",
        (action, utcnow().isoformat(), *author_values(author), article_id),
    )


class SQLiteKnowledge:
    _engine: SQLiteEngine

    async def article_history(self, article_id: int) -> list[ArticleRevision]:
        def run(conn: Conn) -> list[ArticleRevision]:
            rows = conn.execute(
                f"SELECT {REVISION_COLUMNS} FROM article_revisions WHERE article_id = ?"
                " ORDER BY revision_id DESC", (article_id,),
            ).fetchall()
            return [revision_from_row(row) for row in rows]

        return await self._engine.read(run)

    async def restore_article(self, article_id: int, revision_id: int, *,
                              author: RevisionAuthor | None = None) -> Article:
        def run(conn: Conn) -> Article:
            rev = conn.execute(
                "SELECT * FROM article_revisions WHERE id = ? AND article_id = ?",
                (revision_id, article_id),
            ).fetchone()
            if rev is None:
                raise NotFound(f"article {article_id} has no revision {revision_id}")
            values = {name: rev[name] for name in _ARTICLE_COLUMNS}
            now = utcnow().isoformat()
            table = sqlite_utils.Database(conn).table("articles")
            if conn.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone():
                table.update(article_id, {**values, "updated_at": now})
            else:
                table.insert({"id": article_id, **values, "created_at": now, "updated_at": now})
            write_revision(conn, article_id, "restore", author)
            row = conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
            return article_from_row(row)

        return await self._engine.write(run)

    async def log_unanswered(self, entry: NewUnanswered) -> Unanswered:
        def run(conn: Conn) -> Unanswered:
            cur = conn.execute(
                "INSERT INTO unanswered (text, kind, conversation_id, message_id, article_id,"
                " dismissed, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
                (entry.text, entry.kind.value, entry.conversation_id, entry.message_id,
                 entry.article_id, utcnow().isoformat()),
            )
            row = conn.execute("SELECT * FROM unanswered WHERE id = ?", (cur.lastrowid,))
            return unanswered_from_row(row.fetchone())

        return await self._engine.write(run)

    async def list_unanswered(self, limit: int = 2000) -> list[Unanswered]:
        def run(conn: Conn) -> list[Unanswered]:
            rows = conn.execute(
                "SELECT * FROM unanswered WHERE dismissed = 0 ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [unanswered_from_row(row) for row in rows]

        return await self._engine.read(run)

    async def dismiss_unanswered(self, ids: Sequence[int]) -> int:
        wanted = [int(i) for i in ids]

        def run(conn: Conn) -> int:
            marks = ", ".join("?" * len(wanted))
            cur = conn.execute(
                f"UPDATE unanswered SET dismissed = 1 WHERE dismissed = 0 AND id IN ({marks})",
                wanted,
            )
            return cur.rowcount

        return await self._engine.write(run) if wanted else 0

    async def unhelpful_counts(self) -> dict[int, int]:
        def run(conn: Conn) -> dict[int, int]:
            rows = conn.execute(
                "SELECT article_id, count(*) AS n FROM unanswered WHERE kind = 'unhelpful'"
                " AND article_id IS NOT NULL GROUP BY article_id"
            ).fetchall()
            return {int(r["article_id"]): int(r["n"]) for r in rows}

        return await self._engine.read(run)

    async def get_kb_setting(self, key: str) -> str | None:
        def run(conn: Conn) -> str | None:
            row = conn.execute("SELECT value FROM kb_settings WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row["value"])

        return await self._engine.read(run)

    async def set_kb_setting(self, key: str, value: str) -> None:
        json.loads(value)  # settings are JSON; refuse anything else before writing

        def run(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO kb_settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value),
            )

        await self._engine.write(run)
