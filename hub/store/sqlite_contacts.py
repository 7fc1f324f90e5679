"""SQLite: the contacts and agent-administration tables and methods (see base_contacts.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from hub.model import Contact, Conversation
from hub.store.base import Conflict, NotFound
from hub.store.base_contacts import Joined, Merge, Redemption
from hub.store.rows import (
    CONVERSATION_COLUMNS,
    CONVERSATION_FROM,
    THREAD_ORDER,
    contact_from_row,
    conversation_from_row,
)
from hub.store.sqlite_engine import SQLiteEngine

Conn = sqlite3.Connection
_FIELDS = ("name", "email", "phone", "attributes")


def migrate_v3(db: sqlite_utils.Database) -> None:
    """Schema version 3: contacts across channels, link codes, merges, agents."""
    db.table("contacts").add_column("merged_into", int)
    db.table("users").add_column("status", str, not_null_default="away")
    db.table("link_codes").create(
        {"id": int, "code_hash": str, "contact_id": int, "channel": str, "expires_at": float,
         "used_by": str, "created_at": str},
        pk="id", not_null={"code_hash", "contact_id", "channel", "expires_at", "created_at"},
        foreign_keys=[("contact_id", "contacts", "id")],
    )
    db.table("link_codes").create_index(["code_hash"], unique=True)
    db.table("merges").create(
        {"id": int, "survivor_id": int, "other_id": int, "snapshot": str, "created_at": str,
         "undone_at": str},
        pk="id", not_null={"survivor_id", "other_id", "snapshot", "created_at"},
        foreign_keys=[("survivor_id", "contacts", "id"), ("other_id", "contacts", "id")],
    )
    db.table("canned_responses").create(
        {"id": int, "shortcut": str, "text": str, "created_at": str},
        pk="id", not_null={"shortcut", "text", "created_at"},
    )
    db.table("canned_responses").create_index(["shortcut"], unique=True)
    db.table("conversation_reads").create(
        {"user_id": int, "conversation_id": int, "last_read_message_id": int},
        pk=("user_id", "conversation_id"),
        not_null={"user_id", "conversation_id", "last_read_message_id"},
        foreign_keys=[("user_id", "users", "id"), ("conversation_id", "conversations", "id")],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _conv(conn: Conn, conversation_id: int) -> Conversation:
    row = conn.execute(f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE c.id = ?",
                       (conversation_id,)).fetchone()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation_from_row(row)


def _thread_id(conn: Conn, contact_id: int) -> int | None:
    row = conn.execute(f"SELECT id FROM conversations WHERE contact_id = ? {THREAD_ORDER}"
                       " LIMIT 1", (contact_id,)).fetchone()
    return None if row is None else int(row["id"])


def _contact_row(conn: Conn, contact_id: int) -> Any:
    row = conn.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    if row is None:
        raise NotFound(f"contact {contact_id} not found")
    return row


def _contact(conn: Conn, contact_id: int) -> Contact:
    row = _contact_row(conn, contact_id)
    identities = conn.execute("SELECT channel, external_id FROM identities WHERE contact_id = ?"
                              " ORDER BY id", (contact_id,)).fetchall()
    conversations = conn.execute("SELECT id FROM conversations WHERE contact_id = ? ORDER BY id",
                                 (contact_id,)).fetchall()
    return contact_from_row(row, identities, conversations)


def _fold(conn: Conn, other_id: int, into_id: int) -> Joined:
    """Bring contact ``other_id`` into ``into_id`` (see ContactStore.attach_identity)."""
    now = _now()
    thread = _thread_id(conn, into_id)
    folded = _thread_id(conn, other_id)
    removed = None
    if thread is not None and folded is not None:
        removed = _conv(conn, folded)
        for table in ("messages", "outbox"):
            conn.execute(f"UPDATE {table} SET conversation_id = ? WHERE conversation_id = ?",
                         (thread, folded))
        conn.execute("DELETE FROM conversation_reads WHERE conversation_id = ?", (folded,))
        conn.execute("DELETE FROM conversations WHERE id = ?", (folded,))
        conn.execute(
            "UPDATE conversations SET channel = ?, updated_at = ?,"
            " last_message_text = COALESCE(?, last_message_text),"
            " state = CASE WHEN state = 'resolved' THEN 'bot' ELSE state END WHERE id = ?",
            (removed.channel, now, removed.last_message_text, thread),
        )
    conn.execute("UPDATE conversations SET contact_id = ? WHERE contact_id = ?",
                 (into_id, other_id))
    conn.execute("UPDATE identities SET contact_id = ? WHERE contact_id = ?", (into_id, other_id))
    other, into = _contact_row(conn, other_id), _contact_row(conn, into_id)
    attributes = {**json.loads(other["attributes"]), **json.loads(into["attributes"])}
    conn.execute(
        "UPDATE contacts SET name = COALESCE(name, ?), email = COALESCE(email, ?),"
        " phone = COALESCE(phone, ?), attributes = ? WHERE id = ?",
        (other["name"], other["email"], other["phone"], json.dumps(attributes), into_id),
    )
    conn.execute("UPDATE contacts SET merged_into = ? WHERE id = ?", (into_id, other_id))
    thread = thread if thread is not None else _thread_id(conn, into_id)
    if thread is None:
        raise NotFound(f"contact {into_id} has no conversation")
    return Joined(_conv(conn, thread), removed)


def _attach(conn: Conn, contact_id: int, channel: str, external_id: str) -> Joined:
    _contact_row(conn, contact_id)
    row = conn.execute("SELECT contact_id FROM identities WHERE channel = ? AND external_id = ?",
                       (channel, external_id)).fetchone()
    if row is None:
        conn.execute("INSERT INTO identities (contact_id, channel, external_id, reachable,"
                     " opted_out, created_at) VALUES (?, ?, ?, 1, 0, ?)",
                     (contact_id, channel, external_id, _now()))
    elif int(row["contact_id"]) != contact_id:
        return _fold(conn, int(row["contact_id"]), contact_id)
    thread = _thread_id(conn, contact_id)
    if thread is None:
        now = _now()
        thread = int(conn.execute(
            "INSERT INTO conversations (contact_id, state, channel, fallback_streak, created_at,"
            " updated_at) VALUES (?, 'bot', ?, 0, ?, ?)", (contact_id, channel, now, now),
        ).lastrowid or 0)
    return Joined(_conv(conn, thread))


class SQLiteContacts:
    _engine: SQLiteEngine

    # identities and link codes ---------------------------------------------------
    async def attach_identity(self, contact_id: int, channel: str, external_id: str) -> Joined:
        return await self._engine.write(lambda conn: _attach(conn, contact_id, channel,
                                                             external_id))

    async def create_link_code(
        self, code_hash: str, contact_id: int, channel: str, expires_at: float
    ) -> None:
        def run(conn: Conn) -> None:
            _contact_row(conn, contact_id)
            conn.execute("INSERT INTO link_codes (code_hash, contact_id, channel, expires_at,"
                         " created_at) VALUES (?, ?, ?, ?, ?)",
                         (code_hash, contact_id, channel, expires_at, _now()))

        await self._engine.write(run)

    async def redeem_link_code(
        self, code_hash: str, channel: str, external_id: str, now: float
    ) -> Redemption:
        def run(conn: Conn) -> Redemption:
            row = conn.execute("SELECT * FROM link_codes WHERE code_hash = ?",
                               (code_hash,)).fetchone()
            who = f"{channel}:{external_id}"
            if row is None:
                return Redemption("unknown")
            if row["used_by"] is not None and row["used_by"] != who:
                return Redemption("used")
            if row["used_by"] is None and row["expires_at"] <= now:
                return Redemption("expired")
            conn.execute("UPDATE link_codes SET used_by = ? WHERE code_hash = ?",
                         (who, code_hash))
            contact_id = int(row["contact_id"])
            merged = _contact_row(conn, contact_id)["merged_into"]
            target = int(merged) if merged is not None else contact_id
            return Redemption("linked", _attach(conn, target, channel, external_id))

        return await self._engine.write(run)

    # contacts ------------------------------------------------------------------
    async def update_contact(
        self,
        contact_id: int,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Contact:
        def run(conn: Conn) -> Contact:
            _contact_row(conn, contact_id)
            conn.execute(
                "UPDATE contacts SET name = COALESCE(?, name), email = COALESCE(?, email),"
                " phone = COALESCE(?, phone), attributes = COALESCE(?, attributes)"
                " WHERE id = ?",
                (name, email, phone, None if attributes is None else json.dumps(attributes),
                 contact_id),
            )
            return _contact(conn, contact_id)

        return await self._engine.write(run)

    async def merge_contacts(self, survivor_id: int, other_id: int) -> Merge:
        def run(conn: Conn) -> Merge:
            if survivor_id == other_id:
                raise Conflict("a contact cannot be merged with itself")
            survivor, other = _contact_row(conn, survivor_id), _contact_row(conn, other_id)
            if survivor["merged_into"] is not None or other["merged_into"] is not None:
                raise Conflict("one of the contacts is merged into another already")
            identity_ids = [r["id"] for r in conn.execute(
                "SELECT id FROM identities WHERE contact_id = ?", (other_id,))]
            conversation_ids = [r["id"] for r in conn.execute(
                "SELECT id FROM conversations WHERE contact_id = ?", (other_id,))]
            snapshot = {"survivor": {k: survivor[k] for k in _FIELDS},
                        "other": {k: other[k] for k in _FIELDS},
                        "identities": identity_ids, "conversations": conversation_ids}
            conn.execute("UPDATE identities SET contact_id = ? WHERE contact_id = ?",
                         (survivor_id, other_id))
            conn.execute("UPDATE conversations SET contact_id = ? WHERE contact_id = ?",
                         (survivor_id, other_id))
            attributes = {**json.loads(other["attributes"]), **json.loads(survivor["attributes"])}
            conn.execute(
                "UPDATE contacts SET name = COALESCE(name, ?), email = COALESCE(email, ?),"
                " phone = COALESCE(phone, ?), attributes = ? WHERE id = ?",
                (other["name"], other["email"], other["phone"], json.dumps(attributes),
                 survivor_id),
            )
            conn.execute("UPDATE contacts SET merged_into = ? WHERE id = ?",
                         (survivor_id, other_id))
            cur = conn.execute("INSERT INTO merges (survivor_id, other_id, snapshot, created_at)"
                               " VALUES (?, ?, ?, ?)",
                               (survivor_id, other_id, json.dumps(snapshot), _now()))
            return Merge(int(cur.lastrowid or 0), _contact(conn, survivor_id))

        return await self._engine.write(run)

    async def undo_merge(self, merge_id: int) -> tuple[Contact, Contact]:
        def run(conn: Conn) -> tuple[Contact, Contact]:
            row = conn.execute("SELECT * FROM merges WHERE id = ?", (merge_id,)).fetchone()
            if row is None:
                raise NotFound(f"merge {merge_id} not found")
            if row["undone_at"] is not None:
                raise Conflict(f"merge {merge_id} was undone already")
            snap = json.loads(row["snapshot"])
            survivor_id, other_id = int(row["survivor_id"]), int(row["other_id"])
            for table, ids in (("identities", snap["identities"]),
                               ("conversations", snap["conversations"])):
                conn.executemany(f"UPDATE {table} SET contact_id = ? WHERE id = ?"
                                 " AND contact_id = ?",
                                 [(other_id, i, survivor_id) for i in ids])
            for contact_id, fields in ((survivor_id, snap["survivor"]),
                                       (other_id, snap["other"])):
                conn.execute("UPDATE contacts SET name = ?, email = ?, phone = ?,"
                             " attributes = ?, merged_into = NULL WHERE id = ?",
                             (*(fields[k] for k in _FIELDS), contact_id))
            conn.execute("UPDATE merges SET undone_at = ? WHERE id = ?", (_now(), merge_id))
            return _contact(conn, survivor_id), _contact(conn, other_id)

        return await self._engine.write(run)

    async def search_conversation_ids(self, text: str, limit: int = 200) -> list[int]:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"

        def run(conn: Conn) -> list[int]:
            rows = conn.execute(
                "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
                " WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
                "  AND lower(m.text) LIKE ?1 ESCAPE '\\')"
                " OR lower(coalesce(ct.name, '') || ' ' || coalesce(ct.email, '') || ' ' ||"
                "  coalesce(ct.phone, '')) LIKE ?1 ESCAPE '\\'"
                " OR EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = c.contact_id"
                "  AND lower(i.external_id) LIKE ?1 ESCAPE '\\')"
                " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2",
                (pattern, limit),
            ).fetchall()
            return [int(r["id"]) for r in rows]

        return await self._engine.read(run)

    # read marks ----------------------------------------------------------------
    async def mark_read(self, user_id: int, conversation_id: int, message_id: int) -> None:
        def run(conn: Conn) -> None:
            if conn.execute("SELECT 1 FROM conversations WHERE id = ?",
                            (conversation_id,)).fetchone() is None:
                raise NotFound(f"conversation {conversation_id} not found")
            conn.execute(
                "INSERT INTO conversation_reads (user_id, conversation_id, last_read_message_id)"
                " VALUES (?, ?, min(?, (SELECT coalesce(max(id), 0) FROM messages"
                " WHERE conversation_id = ?)))"
                " ON CONFLICT (user_id, conversation_id) DO UPDATE SET"
                " last_read_message_id = max(last_read_message_id,"
                " excluded.last_read_message_id)",
                (user_id, conversation_id, message_id, conversation_id))

        await self._engine.write(run)

    async def unread_counts(self, user_id: int, conversation_ids: list[int]) -> dict[int, int]:
        ids = [int(i) for i in conversation_ids]

        def run(conn: Conn) -> dict[int, int]:
            rows = conn.execute(
                "SELECT m.conversation_id AS cid, COUNT(*) AS n FROM messages m"
                " LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id"
                "  AND r.user_id = ?"
                " WHERE m.conversation_id IN (SELECT value FROM json_each(?))"
                "  AND m.author = 'customer' AND m.id > COALESCE(r.last_read_message_id, 0)"
                " GROUP BY m.conversation_id", (user_id, json.dumps(ids))).fetchall()
            return {**dict.fromkeys(ids, 0), **{int(r["cid"]): int(r["n"]) for r in rows}}

        return await self._engine.read(run) if ids else {}
