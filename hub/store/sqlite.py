"""The SQLite store: the embedded default, on one file in WAL mode.

The rules are the shared ones (``rules_*.py``), driven by :func:`sqlite_engine.drive`: reads
on the read-only connections, writes in the writer thread's per-job SAVEPOINT (group commit,
one fsync per batch). What is SQLite's own: opening the file, migrations, and leasing the
outbox (the single writer is the only lease taker, so a plain SELECT then UPDATE suffices).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlite_utils

from hub.model import OutboxItem
from hub.store.base import SCHEMA_VERSION, SchemaMismatch, Store
from hub.store.rows import outbox_from_row
from hub.store.rules_contacts import ContactRules
from hub.store.rules_conversations import ConversationRules
from hub.store.rules_email import EmailRules
from hub.store.rules_inbox import InboxRules
from hub.store.rules_kb import KnowledgeRules
from hub.store.rules_reach import ReachRules
from hub.store.rules_reports import ReportRules
from hub.store.rules_users import UserRules
from hub.store.sql import Mode, Rule, Sql, count, rows, start
from hub.store.sqlite_engine import SQLiteEngine, drive
from hub.store.sqlite_schema import MIGRATIONS

T = TypeVar("T")

# the due, pending items, oldest due first (through the index outbox(status, next_attempt_at))
DUE_OUTBOX = Sql(
    "SELECT o.id, o.message_id, o.conversation_id, o.channel, o.recipient, o.attempts,"
    " m.text, m.suggestions, m.extras, u.name AS agent_name"
    " FROM outbox o JOIN messages m ON m.id = o.message_id"
    " LEFT JOIN users u ON u.id = m.agent_id"
    " WHERE o.status = 'pending' AND o.next_attempt_at <= $1"
    " AND (o.locked_until IS NULL OR o.locked_until <= $1)"
    " AND NOT EXISTS (SELECT 1 FROM outbox e"  # an earlier reply to the recipient is unsent
    "  WHERE e.status = 'pending' AND e.channel = o.channel"
    "  AND e.recipient = o.recipient AND e.id < o.id)"
    " ORDER BY o.next_attempt_at, o.id LIMIT $2")
RELEASE_LEASES = Sql("UPDATE outbox SET locked_until = NULL"
                     " WHERE status = 'pending' AND locked_until IS NOT NULL")
LEASE = Sql("UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id {ids $2}")


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row["value"]) if row else 0


class SQLiteStore(ConversationRules, InboxRules, ContactRules, KnowledgeRules, UserRules,
                  EmailRules, ReportRules, ReachRules, Store):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._engine = SQLiteEngine(self.path)

    # lifecycle -----------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        await asyncio.to_thread(self._engine.start)
        if migrate:
            await self.migrate()
        else:
            version = await self._engine.write(_schema_version)
            if version != SCHEMA_VERSION:
                await self.close()
                raise SchemaMismatch(
                    f"database schema is version {version}, this hub needs {SCHEMA_VERSION}:"
                    " run `supporthub db migrate`"
                )

    async def close(self) -> None:
        await asyncio.to_thread(self._engine.stop)

    async def migrate(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            version = _schema_version(conn)
            if version > len(MIGRATIONS):
                raise SchemaMismatch(
                    f"database schema is version {version}, newer than this hub's"
                    f" {SCHEMA_VERSION}: upgrade supporthub"
                )
            db = sqlite_utils.Database(conn)
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(db)
                db.table("meta").upsert({"key": "schema_version", "value": str(number)}, pk="key")
            return len(MIGRATIONS)

        return await self._engine.write(run)

    async def _run(self, mode: Mode, make: Callable[[], Rule[T]]) -> T:
        """Drive a rule: reads on a read-only connection, writes in the writer's SAVEPOINT."""
        rule = make()
        step, answer = start(rule)
        if step is None:
            return answer  # type: ignore[return-value]
        if mode is Mode.READ or mode is Mode.SNAPSHOT:
            return await self._engine.read(lambda conn: drive(conn, rule, step))
        return await self._engine.write(lambda conn: drive(conn, rule, step))

    # outbox leasing (per engine: one process owns the file, and its single writer is the
    # only lease taker) ------------------------------------------------------------------
    async def release_stale_leases(self) -> int:
        # every lease found when the worker starts was taken by an earlier process
        def release() -> Rule[int]:
            released: int = yield count(RELEASE_LEASES)
            return released

        return await self._run(Mode.WRITE, release)

    async def lease_outbox(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        def lease() -> Rule[list[OutboxItem]]:
            due = yield rows(DUE_OUTBOX, now, limit)
            if due:
                yield count(LEASE, now + lease_seconds, [row["id"] for row in due])
            return [outbox_from_row({**dict(row), "attempts": row["attempts"] + 1})
                    for row in due]

        return await self._run(Mode.WRITE, lease)
