"""The SQLite store: the embedded default, on one file in WAL mode."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path

import sqlite_utils

from hub.model import (
    Article,
    Author,
    Contact,
    Conversation,
    ConversationState,
    InboundMessage,
    Ingested,
    Message,
    NewArticle,
    NewMessage,
    OutboxItem,
    Role,
    User,
)
from hub.store.base import (
    SCHEMA_VERSION,
    Conflict,
    DeadLetter,
    IdentityStatus,
    NotFound,
    OutboxStats,
    SchemaMismatch,
    Store,
    Turn,
)
from hub.store.base_contacts import PHONE_CHANNELS
from hub.store.base_kb import ArticleChange, RevisionAuthor
from hub.store.rows import (
    CONVERSATION_COLUMNS,
    CONVERSATION_FROM,
    MESSAGE_COLUMNS,
    THREAD_ORDER,
    article_from_row,
    contact_from_row,
    conversation_from_row,
    dump_suggestions,
    message_from_row,
    outbox_from_row,
    user_from_row,
    utcnow,
)
from hub.store.sqlite_contacts import SQLiteContacts
from hub.store.sqlite_engine import SQLiteEngine
from hub.store.sqlite_kb import SQLiteKnowledge, write_revision
from hub.store.sqlite_schema import MIGRATIONS

Conn = sqlite3.Connection


def _now() -> str:
    return utcnow().isoformat()


def _schema_version(conn: Conn) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row["value"]) if row else 0


def _conversation(conn: Conn, conversation_id: int) -> Conversation:
    row = conn.execute(
        f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE c.id = ?",
        (conversation_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation_from_row(row)


def _message(conn: Conn, message_id: int) -> Message:
    row = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users u ON u.id = m.agent_id"
        " WHERE m.id = ?",
        (message_id,),
    ).fetchone()
    return message_from_row(row)


def _identity_contact(
    conn: Conn, channel: str, external_id: str, display_name: str | None, now: str
) -> int:
    row = conn.execute(
        "SELECT contact_id FROM identities WHERE channel = ? AND external_id = ?",
        (channel, external_id),
    ).fetchone()
    if row is not None:
        contact_id = int(row["contact_id"])
        if display_name:
            conn.execute(
                "UPDATE contacts SET name = ? WHERE id = ? AND name IS NULL",
                (display_name, contact_id),
            )
        return contact_id
    phone_twin = _phone_twin(conn, channel, external_id)
    if phone_twin is not None:
        contact_id = phone_twin
    else:
        cur = conn.execute(
            "INSERT INTO contacts (name, attributes, created_at) VALUES (?, '{}', ?)",
            (display_name, now),
        )
        contact_id = int(cur.lastrowid or 0)
    conn.execute(
        "INSERT INTO identities (contact_id, channel, external_id, reachable, created_at)"
        " VALUES (?, ?, ?, 1, ?)",
        (contact_id, channel, external_id, now),
    )
    return contact_id


def _phone_twin(conn: Conn, channel: str, external_id: str) -> int | None:
    """The contact of the same phone number on the other phone channel (SMS ↔ WhatsApp)."""
    if channel not in PHONE_CHANNELS:
        return None
    row = conn.execute(
        "SELECT contact_id FROM identities WHERE channel IN (?, ?) AND channel <> ?"
        " AND external_id = ? ORDER BY id LIMIT 1",
        (*PHONE_CHANNELS, channel, external_id),
    ).fetchone()
    return None if row is None else int(row["contact_id"])


def _latest_conversation_id(conn: Conn, contact_id: int) -> int | None:
    row = conn.execute(
        f"SELECT id FROM conversations WHERE contact_id = ? {THREAD_ORDER} LIMIT 1",
        (contact_id,),
    ).fetchone()
    return int(row["id"]) if row else None


def _open_conversation(conn: Conn, contact_id: int, channel: str, now: str) -> int:
    """The contact's thread: their latest conversation (reopened for the bot if resolved)."""
    conversation_id = _latest_conversation_id(conn, contact_id)
    if conversation_id is None:
        cur = conn.execute(
            "INSERT INTO conversations (contact_id, state, channel, fallback_streak,"
            " created_at, updated_at) VALUES (?, 'bot', ?, 0, ?, ?)",
            (contact_id, channel, now, now),
        )
        return int(cur.lastrowid or 0)
    return conversation_id


def _insert_message(
    conn: Conn,
    conversation_id: int,
    *,
    direction: str,
    author: Author,
    channel: str,
    text: str,
    now: str,
    platform_message_id: str | None = None,
    suggestions: str | None = None,
    agent_id: int | None = None,
    article_id: int | None = None,
    private: bool = False,
    handled: bool = True,
    extras: str | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO messages (conversation_id, direction, author, channel, text,"
        " platform_message_id, suggestions, agent_id, article_id, private, handled, extras,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (conversation_id, direction, author.value, channel, text, platform_message_id,
         suggestions, agent_id, article_id, int(private), int(handled), extras, now),
    )
    return int(cur.lastrowid or 0)


class SQLiteStore(SQLiteKnowledge, SQLiteContacts, Store):
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
        def run(conn: Conn) -> int:
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

    async def ping(self) -> None:
        await self._engine.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def get_meta(self, key: str) -> str | None:
        def run(conn: Conn) -> str | None:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row["value"])

        return await self._engine.read(run)

    async def set_meta_default(self, key: str, value: str) -> str:
        def run(conn: Conn) -> str:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return str(row["value"])

        return await self._engine.write(run)

    # conversations -------------------------------------------------------
    async def ingest(self, inbound: InboundMessage) -> Ingested:
        def run(conn: Conn) -> Ingested:
            if inbound.platform_message_id is not None:
                row = conn.execute(
                    "SELECT id, conversation_id, handled FROM messages"
                    " WHERE channel = ? AND platform_message_id = ?",
                    (inbound.channel, inbound.platform_message_id),
                ).fetchone()
                if row is not None:
                    return Ingested(
                        message=_message(conn, int(row["id"])),
                        conversation=_conversation(conn, int(row["conversation_id"])),
                        duplicate=True,
                        handled=bool(row["handled"]),
                    )
            now = _now()
            contact_id = _identity_contact(
                conn, inbound.channel, inbound.external_id, inbound.display_name, now
            )
            conversation_id = _open_conversation(conn, contact_id, inbound.channel, now)
            extras = dict(inbound.extras)
            if inbound.marks:
                extras["marks"] = list(inbound.marks)
            message_id = _insert_message(
                conn, conversation_id, direction="in", author=Author.CUSTOMER,
                channel=inbound.channel, text=inbound.text, now=now,
                platform_message_id=inbound.platform_message_id, handled=False,
                article_id=inbound.choice_article_id,
                extras=json.dumps(extras) if extras else None,
            )
            conn.execute(
                "UPDATE conversations SET channel = ?, updated_at = ?, last_message_text = ?,"
                " state = CASE WHEN state = 'resolved' THEN 'bot' ELSE state END,"
                " fallback_streak = CASE WHEN state = 'resolved' THEN 0 ELSE fallback_streak END"
                " WHERE id = ?",
                (inbound.channel, now, inbound.text, conversation_id),
            )
            return Ingested(
                message=_message(conn, message_id),
                conversation=_conversation(conn, conversation_id),
                duplicate=False,
                handled=False,
            )

        return await self._engine.write(run)

    async def start_conversation(
        self, channel: str, external_id: str, display_name: str | None = None
    ) -> Conversation:
        def run(conn: Conn) -> Conversation:
            now = _now()
            contact_id = _identity_contact(conn, channel, external_id, display_name, now)
            return _conversation(conn, _open_conversation(conn, contact_id, channel, now))

        return await self._engine.write(run)

    async def find_conversation(self, channel: str, external_id: str) -> Conversation | None:
        def run(conn: Conn) -> Conversation | None:
            row = conn.execute(
                "SELECT contact_id FROM identities WHERE channel = ? AND external_id = ?",
                (channel, external_id),
            ).fetchone()
            found = None if row is None else _latest_conversation_id(conn, row["contact_id"])
            return None if found is None else _conversation(conn, found)

        return await self._engine.read(run)

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        def run(conn: Conn) -> Conversation | None:
            try:
                return _conversation(conn, conversation_id)
            except NotFound:
                return None

        return await self._engine.read(run)

    async def list_conversations(
        self,
        state: ConversationState | None = None,
        agent_id: int | None = None,
        limit: int = 200,
    ) -> list[Conversation]:
        clauses, params = [], []
        if state is not None:
            clauses.append("c.state = ?")
            params.append(state.value)
        if agent_id is not None:
            clauses.append("c.assigned_agent_id = ?")
            params.append(str(agent_id))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} {where}"
            " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
        )

        def run(conn: Conn) -> list[Conversation]:
            rows = conn.execute(sql, (*params, limit)).fetchall()
            return [conversation_from_row(row) for row in rows]

        return await self._engine.read(run)

    async def list_messages(
        self,
        conversation_id: int,
        after_id: int | None = None,
        limit: int | None = None,
        include_private: bool = True,
    ) -> list[Message]:
        sql = (
            f"SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users u ON u.id = m.agent_id"
            " WHERE m.conversation_id = ? AND m.id > ?"
            + ("" if include_private else " AND m.private = 0")
            + " ORDER BY m.id DESC"
            + (" LIMIT ?" if limit is not None else "")
        )
        params: tuple[int, ...] = (conversation_id, after_id or 0)
        if limit is not None:
            params = (*params, limit)

        def run(conn: Conn) -> list[Message]:
            rows = conn.execute(sql, params).fetchall()
            return [message_from_row(row) for row in reversed(rows)]

        return await self._engine.read(run)

    async def get_message(self, message_id: int) -> Message | None:
        def run(conn: Conn) -> Message | None:
            row = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users u"
                " ON u.id = m.agent_id WHERE m.id = ?", (message_id,),
            ).fetchone()
            return None if row is None else message_from_row(row)

        return await self._engine.read(run)

    async def unhandled_inbound(self, limit: int = 500) -> list[Message]:
        def run(conn: Conn) -> list[Message]:
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users u"
                " ON u.id = m.agent_id WHERE m.handled = 0 ORDER BY m.id LIMIT ?",
                (limit,),
            ).fetchall()
            return [message_from_row(row) for row in rows]

        return await self._engine.read(run)

    async def claim_unrouted(self, limit: int = 500) -> list[Message]:
        # one process owns the file: whatever is unrouted is this process's to route
        return await self.unhandled_inbound(limit)

    async def earlier_unrouted(self, message: Message) -> bool:
        def run(conn: Conn) -> bool:
            return conn.execute(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND id < ? AND handled = 0"
                " LIMIT 1",
                (message.conversation_id, message.id),
            ).fetchone() is not None

        return await self._engine.read(run)

    async def get_contact(self, contact_id: int) -> Contact | None:
        def run(conn: Conn) -> Contact | None:
            row = conn.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
            if row is None:
                return None
            identities = conn.execute(
                "SELECT channel, external_id FROM identities WHERE contact_id = ? ORDER BY id",
                (contact_id,),
            ).fetchall()
            conversations = conn.execute(
                "SELECT id FROM conversations WHERE contact_id = ? ORDER BY id", (contact_id,)
            ).fetchall()
            return contact_from_row(row, identities, conversations)

        return await self._engine.read(run)

    async def record_turn(
        self,
        conversation_id: int,
        replies: Sequence[NewMessage] = (),
        *,
        handled_message_id: int | None = None,
        new_state: ConversationState | None = None,
        expect_states: Collection[ConversationState] | None = None,
        agent_id: int | None = None,
        require_agent_id: int | None = None,
        fallback_streak: int | None = None,
        delivered_by_store: Collection[str] = (),
    ) -> Turn:
        def run(conn: Conn) -> Turn:
            now = _now()
            current = _conversation(conn, conversation_id)
            if handled_message_id is not None and conn.execute(
                "UPDATE messages SET handled = 1 WHERE id = ? AND handled = 0",
                (handled_message_id,),
            ).rowcount == 0:
                return Turn(current, (), applied=False)  # routed already (a redelivery)
            if (expect_states is not None and current.state not in expect_states) or (
                require_agent_id is not None and current.assigned_agent_id != require_agent_id
            ):
                return Turn(current, (), applied=False)
            contact_id = current.contact_id
            message_ids: list[int] = []
            last_text: str | None = None
            for reply in replies:
                channel = reply.channel or current.channel
                message_id = _insert_message(
                    conn, conversation_id, direction="out", author=reply.author,
                    channel=channel, text=reply.text, now=now,
                    suggestions=dump_suggestions(reply.suggestions), agent_id=reply.agent_id,
                    article_id=reply.article_id, private=reply.private,
                )
                message_ids.append(message_id)
                if reply.private:
                    continue
                last_text = reply.text
                recipient = conn.execute(
                    "SELECT external_id FROM identities WHERE contact_id = ? AND channel = ?"
                    " ORDER BY id DESC LIMIT 1",
                    (contact_id, channel),
                ).fetchone()
                if recipient is None:
                    raise NotFound(f"the contact has no identity on channel {channel!r}")
                # a channel delivered by the store is delivered by this very commit
                sent = channel in delivered_by_store
                conn.execute(
                    "INSERT INTO outbox (message_id, conversation_id, channel, recipient,"
                    " status, attempts, next_attempt_at, created_at, sent_at)"
                    " VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)",
                    (message_id, conversation_id, channel, recipient["external_id"],
                     "sent" if sent else "pending", now, now if sent else None),
                )
            state = new_state or current.state
            if state is ConversationState.ASSIGNED:
                assigned = agent_id if agent_id is not None else current.assigned_agent_id
            else:
                assigned = None
            conn.execute(
                "UPDATE conversations SET state = ?, assigned_agent_id = ?, updated_at = ?,"
                " fallback_streak = ?, last_message_text = COALESCE(?, last_message_text)"
                " WHERE id = ?",
                (state.value, assigned, now,
                 current.fallback_streak if fallback_streak is None else fallback_streak,
                 last_text, conversation_id),
            )
            return Turn(
                _conversation(conn, conversation_id),
                tuple(_message(conn, mid) for mid in message_ids),
            )

        return await self._engine.write(run)

    async def identity_status(self, channel: str, external_id: str) -> IdentityStatus | None:
        def run(conn: Conn) -> IdentityStatus | None:
            row = conn.execute(
                "SELECT contact_id, reachable, opted_out FROM identities"
                " WHERE channel = ? AND external_id = ?",
                (channel, external_id),
            ).fetchone()
            if row is None:
                return None
            return IdentityStatus(int(row["contact_id"]), bool(row["reachable"]),
                                  bool(row["opted_out"]))

        return await self._engine.read(run)

    async def set_identity_status(
        self,
        channel: str,
        external_id: str,
        *,
        reachable: bool | None = None,
        opted_out: bool | None = None,
    ) -> None:
        def run(conn: Conn) -> None:
            conn.execute(
                "UPDATE identities SET reachable = COALESCE(?, reachable),"
                " opted_out = COALESCE(?, opted_out) WHERE channel = ? AND external_id = ?",
                (None if reachable is None else int(reachable),
                 None if opted_out is None else int(opted_out), channel, external_id),
            )

        await self._engine.write(run)

    # outbox --------------------------------------------------------------
    async def lease_outbox(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        def run(conn: Conn) -> list[OutboxItem]:
            rows = conn.execute(
                "SELECT o.id, o.message_id, o.conversation_id, o.channel, o.recipient,"
                " o.attempts, m.text, m.suggestions, u.name AS agent_name"
                " FROM outbox o JOIN messages m ON m.id = o.message_id"
                " LEFT JOIN users u ON u.id = m.agent_id"
                " WHERE o.status = 'pending' AND o.next_attempt_at <= ?"
                " AND (o.locked_until IS NULL OR o.locked_until <= ?)"
                " AND NOT EXISTS (SELECT 1 FROM outbox e"  # an earlier reply is unsent
                "  WHERE e.status = 'pending' AND e.channel = o.channel"
                "  AND e.recipient = o.recipient AND e.id < o.id)"
                " ORDER BY o.next_attempt_at, o.id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET locked_until = ?, attempts = attempts + 1 WHERE id = ?",
                [(now + lease_seconds, row["id"]) for row in rows],
            )
            return [outbox_from_row({**dict(row), "attempts": row["attempts"] + 1})
                    for row in rows]

        return await self._engine.write(run)

    async def release_stale_leases(self) -> int:
        def run(conn: Conn) -> int:
            return conn.execute(
                "UPDATE outbox SET locked_until = NULL"
                " WHERE status = 'pending' AND locked_until IS NOT NULL"
            ).rowcount

        return await self._engine.write(run)

    async def outbox_delivered(self, outbox_id: int, platform_message_id: str | None) -> None:
        def run(conn: Conn) -> None:
            conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, platform_message_id = ?,"
                " locked_until = NULL, last_error = NULL WHERE id = ?",
                (_now(), platform_message_id, outbox_id),
            )

        await self._engine.write(run)

    async def outbox_failed(self, outbox_id: int, error: str, retry_at: float | None) -> None:
        def run(conn: Conn) -> None:
            if retry_at is None:
                conn.execute(
                    "UPDATE outbox SET status = 'dead', last_error = ?, locked_until = NULL"
                    " WHERE id = ?",
                    (error, outbox_id),
                )
            else:
                conn.execute(
                    "UPDATE outbox SET next_attempt_at = ?, last_error = ?, locked_until = NULL"
                    " WHERE id = ?",
                    (retry_at, error, outbox_id),
                )

        await self._engine.write(run)

    async def record_delivery_status(
        self, channel: str, platform_message_id: str, status: str
    ) -> bool:
        def run(conn: Conn) -> bool:
            return conn.execute(
                "UPDATE outbox SET delivery_status = ? WHERE channel = ?"
                " AND platform_message_id = ?",
                (status, channel, platform_message_id),
            ).rowcount > 0

        return await self._engine.write(run)

    async def dead_letters(self, limit: int = 200) -> list[DeadLetter]:
        def run(conn: Conn) -> list[DeadLetter]:
            rows = conn.execute(
                "SELECT o.id, o.message_id, o.conversation_id, o.channel, o.recipient,"
                " o.attempts, o.last_error, m.text FROM outbox o JOIN messages m"
                " ON m.id = o.message_id WHERE o.status = 'dead' ORDER BY o.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [
                DeadLetter(int(r["id"]), int(r["message_id"]), int(r["conversation_id"]),
                           r["channel"], r["recipient"], r["text"], int(r["attempts"]),
                           r["last_error"])
                for r in rows
            ]

        return await self._engine.read(run)

    async def outbox_stats(self) -> OutboxStats:
        def run(conn: Conn) -> OutboxStats:
            counts = {row["status"]: int(row["n"]) for row in conn.execute(
                "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")}
            return OutboxStats(counts.get("pending", 0), counts.get("sent", 0),
                               counts.get("dead", 0))

        return await self._engine.read(run)

    async def conversation_counts(self) -> dict[ConversationState, int]:
        def run(conn: Conn) -> dict[ConversationState, int]:
            rows = conn.execute("SELECT state, COUNT(*) AS n FROM conversations GROUP BY state")
            counts = {ConversationState(row["state"]): int(row["n"]) for row in rows}
            return {state: counts.get(state, 0) for state in ConversationState}

        return await self._engine.read(run)

    # users and sessions --------------------------------------------------
    async def create_user(self, email: str, name: str, role: Role, password_hash: str) -> User:
        def run(conn: Conn) -> User:
            try:
                cur = conn.execute(
                    "INSERT INTO users (email, name, role, password_hash, active, created_at)"
                    " VALUES (?, ?, ?, ?, 1, ?)",
                    (email, name, role.value, password_hash, _now()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a user with email {email} exists already") from None
            row = conn.execute("SELECT * FROM users WHERE id = ?", (cur.lastrowid,)).fetchone()
            return user_from_row(row)

        return await self._engine.write(run)

    async def update_user_password(self, email: str, password_hash: str) -> User:
        def run(conn: Conn) -> User:
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE email = ?", (password_hash, email)
            )
            row = conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
            if row is None:
                raise NotFound(f"no user with email {email}")
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (row["id"],))
            return user_from_row(row)

        return await self._engine.write(run)

    async def get_user(self, user_id: int) -> User | None:
        def run(conn: Conn) -> User | None:
            row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
            return None if row is None else user_from_row(row)

        return await self._engine.read(run)

    async def get_user_by_email(self, email: str) -> User | None:
        def run(conn: Conn) -> User | None:
            row = conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
            return None if row is None else user_from_row(row)

        return await self._engine.read(run)

    async def create_session(self, token_hash: str, user_id: int, expires_at: float) -> None:
        def run(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (token_hash, user_id, _now(), expires_at),
            )

        await self._engine.write(run)

    async def session_user(self, token_hash: str, now: float) -> User | None:
        def run(conn: Conn) -> User | None:
            row = conn.execute(
                "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE s.token_hash = ? AND s.expires_at > ? AND u.active = 1",
                (token_hash, now),
            ).fetchone()
            return None if row is None else user_from_row(row)

        return await self._engine.read(run)

    async def delete_session(self, token_hash: str) -> None:
        def run(conn: Conn) -> None:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

        await self._engine.write(run)

    async def delete_user_sessions(self, user_id: int) -> None:
        def run(conn: Conn) -> None:
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

        await self._engine.write(run)

    # knowledge -----------------------------------------------------------
    async def list_articles(self) -> list[Article]:
        def run(conn: Conn) -> list[Article]:
            rows = conn.execute("SELECT * FROM articles ORDER BY id").fetchall()
            return [article_from_row(row) for row in rows]

        return await self._engine.read(run)

    async def get_article(self, article_id: int) -> Article | None:
        def run(conn: Conn) -> Article | None:
            row = conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
            return None if row is None else article_from_row(row)

        return await self._engine.read(run)

    async def import_articles(self, items: Sequence[tuple[int | None, NewArticle]], *,
                              author: RevisionAuthor | None = None,
                              only_if_empty: bool = False) -> list[ArticleChange]:
        def run(conn: Conn) -> list[ArticleChange]:
            if only_if_empty and conn.execute("SELECT 1 FROM articles LIMIT 1").fetchone():
                return []
            table = sqlite_utils.Database(conn).table("articles")
            now = _now()
            # never reuse a deleted article's id (SQLite would): its history stays its own
            next_id = int(conn.execute(
                "SELECT max(coalesce((SELECT max(id) FROM articles), 0),"
                " coalesce((SELECT max(article_id) FROM article_revisions), 0))"
            ).fetchone()[0]) + 1
            changes = []
            for given_id, article in items:
                fields = _article_fields(article)
                if given_id is None:
                    article_id, action = next_id, "added"
                    next_id += 1
                    table.insert({"id": article_id, **fields, "created_at": now,
                                  "updated_at": now})
                    write_revision(conn, article_id, "create", author)
                else:
                    article_id, action = given_id, "updated"
                    row = conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,))
                    current = row.fetchone()
                    if current is None:
                        raise NotFound(f"article {article_id} not found")
                    if all(current[name] == value for name, value in fields.items()):
                        changes.append(ArticleChange(article_from_row(current), "unchanged"))
                        continue
                    table.update(article_id, {**fields, "updated_at": now})
                    write_revision(conn, article_id, "update", author)
                row = conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,))
                changes.append(ArticleChange(article_from_row(row.fetchone()), action))
            return changes

        return await self._engine.write(run)

    async def update_article(self, article_id: int, article: NewArticle, *,
                             author: RevisionAuthor | None = None) -> Article:
        def run(conn: Conn) -> Article:
            table = sqlite_utils.Database(conn).table("articles")
            try:
                table.update(article_id, {**_article_fields(article), "updated_at": _now()})
            except sqlite_utils.db.NotFoundError:
                raise NotFound(f"article {article_id} not found") from None
            write_revision(conn, article_id, "update", author)
            return article_from_row(
                conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
            )

        return await self._engine.write(run)

    async def delete_article(self, article_id: int, *,
                             author: RevisionAuthor | None = None) -> None:
        def run(conn: Conn) -> None:
            write_revision(conn, article_id, "delete", author)
            if conn.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount == 0:
                raise NotFound(f"article {article_id} not found")

        await self._engine.write(run)


def _article_fields(article: NewArticle) -> dict[str, str | None]:
    return {
        "sms_answer": article.sms_answer,
        "title": article.title,
        "questions": json.dumps(list(article.questions)),
        "answer": article.answer,
        "tags": json.dumps(list(article.tags)),
        "status": article.status.value,
    }
