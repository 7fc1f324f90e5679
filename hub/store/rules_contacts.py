"""Rules, once for both engines (see sql.py): identities across channels, link codes,
contact merges and their undo, search, read marks (the interface: base_contacts.py).

Where two PostgreSQL processes could race, the deciding row is locked first (``{lock}``:
nothing on SQLite, whose single writer runs one rule at a time)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

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
from hub.store.rules_reports import forget
from hub.store.sql import (
    ForeignKeyViolation,
    Rule,
    Sql,
    count,
    one,
    reads,
    rows,
    writes,
    writes_one,
    writes_retrying,
)

_FIELDS = ("name", "email", "phone", "attributes")

CONVERSATION = Sql(f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE c.id = $1")
# an updated conversation comes back as conversation_from_row reads it (no second statement)
RETURNING_CONVERSATION = (
    "RETURNING id, contact_id, state, channel, assigned_agent_id, created_at, updated_at,"
    " last_message_text, fallback_streak, (SELECT name FROM users"
    "  WHERE users.id = conversations.assigned_agent_id) AS agent_name,"
    " (SELECT name FROM contacts WHERE contacts.id = conversations.contact_id) AS contact_name")
THREAD = Sql(f"SELECT id FROM conversations WHERE contact_id = $1 {THREAD_ORDER} LIMIT 1")
NEW_CONVERSATION = Sql(
    "INSERT INTO conversations (contact_id, state, channel, fallback_streak, created_at,"
    " updated_at) VALUES ($1, 'bot', $2, 0, {now}, {now}) RETURNING id")
CONTACT = Sql("SELECT * FROM contacts WHERE id = $1")
CONTACT_LOCKED = Sql("SELECT * FROM contacts WHERE id = $1 {lock}")
LOCK_CONTACTS = Sql("SELECT 1 FROM contacts WHERE id {ids $1} ORDER BY id {lock}",
                    lock_only=True)
CONTACT_IDENTITIES = Sql(
    "SELECT channel, external_id FROM identities WHERE contact_id = $1 ORDER BY id")
CONTACT_CONVERSATIONS = Sql("SELECT id FROM conversations WHERE contact_id = $1 ORDER BY id")
IDENTITY_OWNER = Sql("SELECT contact_id FROM identities WHERE channel = $1 AND external_id = $2")
NEW_IDENTITY = Sql(
    "INSERT INTO identities (contact_id, channel, external_id, reachable, opted_out,"
    " created_at) VALUES ($1, $2, $3, {true}, {false}, {now})")
MOVE_MESSAGES = Sql("UPDATE messages SET conversation_id = $1 WHERE conversation_id = $2")
MOVE_OUTBOX = Sql("UPDATE outbox SET conversation_id = $1 WHERE conversation_id = $2")
DROP_READ_MARKS = Sql("DELETE FROM conversation_reads WHERE conversation_id = $1")
DROP_CONVERSATION = Sql("DELETE FROM conversations WHERE id = $1")
TAKE_FOLDED = Sql(
    "UPDATE conversations SET channel = $1, updated_at = {now},"
    " last_message_text = COALESCE($2, last_message_text),"
    " state = CASE WHEN state = 'resolved' THEN 'bot' ELSE state END WHERE id = $3")
MOVE_CONVERSATIONS = Sql("UPDATE conversations SET contact_id = $1 WHERE contact_id = $2")
MOVE_IDENTITIES = Sql("UPDATE identities SET contact_id = $1 WHERE contact_id = $2")
ABSORB_FIELDS = Sql(
    "UPDATE contacts SET name = COALESCE(name, $1), email = COALESCE(email, $2),"
    " phone = COALESCE(phone, $3), attributes = $4 WHERE id = $5")
MARK_MERGED = Sql("UPDATE contacts SET merged_into = $1 WHERE id = $2")

NEW_LINK_CODE = Sql("INSERT INTO link_codes (code_hash, contact_id, channel, expires_at,"
                    " created_at) VALUES ($1, $2, $3, $4, {now})")
LINK_CODE = Sql("SELECT * FROM link_codes WHERE code_hash = $1 {lock}")
USE_LINK_CODE = Sql("UPDATE link_codes SET used_by = $1 WHERE code_hash = $2")
UPDATE_CONTACT = Sql(
    "UPDATE contacts SET name = COALESCE($1, name), email = COALESCE($2, email),"
    " phone = COALESCE($3, phone), attributes = COALESCE($4, attributes) WHERE id = $5")
IDENTITY_IDS = Sql("SELECT id FROM identities WHERE contact_id = $1")
CONVERSATION_IDS = Sql("SELECT id FROM conversations WHERE contact_id = $1")
NEW_MERGE = Sql("INSERT INTO merges (survivor_id, other_id, snapshot, created_at)"
                " VALUES ($1, $2, $3, {now}) RETURNING id")
MERGE = Sql("SELECT * FROM merges WHERE id = $1 {lock}")
GIVE_BACK_IDENTITIES = Sql(
    "UPDATE identities SET contact_id = $1 WHERE id {ids $2} AND contact_id = $3")
GIVE_BACK_CONVERSATIONS = Sql(
    "UPDATE conversations SET contact_id = $1 WHERE id {ids $2} AND contact_id = $3")
RESTORE_CONTACT = Sql("UPDATE contacts SET name = $1, email = $2, phone = $3, attributes = $4,"
                      " merged_into = NULL WHERE id = $5")
UNDO_MERGE = Sql("UPDATE merges SET undone_at = {now} WHERE id = $1")
SEARCH = Sql(
    "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
    " WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
    "  AND lower(m.text) LIKE $1 ESCAPE '\\')"
    " OR lower(coalesce(ct.name, '') || ' ' || coalesce(ct.email, '') || ' ' ||"
    "  coalesce(ct.phone, '')) LIKE $1 ESCAPE '\\'"
    " OR EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = c.contact_id"
    "  AND lower(i.external_id) LIKE $1 ESCAPE '\\')"
    " ORDER BY c.updated_at DESC, c.id DESC LIMIT $2")
# a mark never moves back, nor past the conversation's newest message
MARK_READ = Sql(
    "INSERT INTO conversation_reads (user_id, conversation_id, last_read_message_id)"
    " VALUES ($1, $2, {least}($3, (SELECT coalesce(max(id), 0) FROM messages"
    " WHERE conversation_id = $2)))"
    " ON CONFLICT (user_id, conversation_id) DO UPDATE SET last_read_message_id ="
    " {greatest}(conversation_reads.last_read_message_id, excluded.last_read_message_id)")
UNREAD_COUNTS = Sql(
    "SELECT m.conversation_id AS cid, COUNT(*) AS n FROM messages m"
    " LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id"
    "  AND r.user_id = $1"
    " WHERE m.conversation_id {ids $2}"
    "  AND m.author = 'customer' AND m.id > COALESCE(r.last_read_message_id, 0)"
    " GROUP BY m.conversation_id")


def conversation(conversation_id: int) -> Rule[Conversation]:
    row = yield one(CONVERSATION, conversation_id)
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation_from_row(row)


def thread_id(contact_id: int) -> Rule[int | None]:
    """The contact's thread: its latest open conversation, else its latest one."""
    row = yield one(THREAD, contact_id)
    return None if row is None else int(row["id"])


def contact_row(contact_id: int, lock: bool = False) -> Rule[Any]:
    row = yield one(CONTACT_LOCKED if lock else CONTACT, contact_id)
    if row is None:
        raise NotFound(f"contact {contact_id} not found")
    return row


def contact(contact_id: int, row: Any = None) -> Rule[Contact]:
    row = row if row is not None else (yield from contact_row(contact_id))
    identities = yield rows(CONTACT_IDENTITIES, contact_id)
    conversations = yield rows(CONTACT_CONVERSATIONS, contact_id)
    return contact_from_row(row, identities, conversations)


def _absorb_fields(other: Any, into_id: int) -> Rule[None]:
    """The survivor keeps its fields and gains the other's where it has none."""
    into = yield from contact_row(into_id)
    attributes = {**json.loads(other["attributes"]), **json.loads(into["attributes"])}
    yield count(ABSORB_FIELDS, other["name"], other["email"], other["phone"],
                json.dumps(attributes), into_id)
    yield count(MARK_MERGED, into_id, other["id"])


def _fold(other_id: int, into_id: int) -> Rule[Joined]:
    """Bring contact ``other_id`` into ``into_id`` (see ContactStore.attach_identity)."""
    yield one(LOCK_CONTACTS, sorted((other_id, into_id)))
    thread = yield from thread_id(into_id)
    folded = yield from thread_id(other_id)
    removed = None
    if thread is not None and folded is not None:
        removed = yield from conversation(folded)
        yield count(MOVE_MESSAGES, thread, folded)
        yield count(MOVE_OUTBOX, thread, folded)
        yield count(DROP_READ_MARKS, folded)
        yield from forget(folded)  # its events: the thread continues in the other's cycle
        yield count(DROP_CONVERSATION, folded)
        yield count(TAKE_FOLDED, removed.channel, removed.last_message_text, thread)
    yield count(MOVE_CONVERSATIONS, into_id, other_id)
    yield count(MOVE_IDENTITIES, into_id, other_id)
    yield from _absorb_fields((yield from contact_row(other_id)), into_id)
    thread = thread if thread is not None else (yield from thread_id(into_id))
    if thread is None:
        raise NotFound(f"contact {into_id} has no conversation")
    return Joined((yield from conversation(thread)), removed)


def _attach(contact_id: int, channel: str, external_id: str) -> Rule[Joined]:
    yield from contact_row(contact_id, lock=True)
    owner = yield one(IDENTITY_OWNER, channel, external_id)
    if owner is None:
        # a concurrent attach of the same identity fails here; PostgreSQL retries
        yield count(NEW_IDENTITY, contact_id, channel, external_id)
    elif int(owner["contact_id"]) != contact_id:
        return (yield from _fold(int(owner["contact_id"]), contact_id))
    thread = yield from thread_id(contact_id)
    if thread is None:
        thread = int((yield one(NEW_CONVERSATION, contact_id, channel))["id"])
    return Joined((yield from conversation(thread)))


class ContactRules:
    @writes_retrying
    def attach_identity(self, contact_id: int, channel: str, external_id: str) -> Rule[Joined]:
        return (yield from _attach(contact_id, channel, external_id))

    @writes_one
    def create_link_code(self, code_hash: str, contact_id: int, channel: str,
                         expires_at: float) -> Rule[None]:
        try:
            yield count(NEW_LINK_CODE, code_hash, contact_id, channel, expires_at)
        except ForeignKeyViolation:
            raise NotFound(f"contact {contact_id} not found") from None

    @writes_retrying
    def redeem_link_code(self, code_hash: str, channel: str, external_id: str,
                         now: float) -> Rule[Redemption]:
        row = yield one(LINK_CODE, code_hash)
        who = f"{channel}:{external_id}"
        if row is None:
            return Redemption("unknown")
        if row["used_by"] is not None and row["used_by"] != who:
            return Redemption("used")
        if row["used_by"] is None and row["expires_at"] <= now:
            return Redemption("expired")
        yield count(USE_LINK_CODE, who, code_hash)
        owner = yield from contact_row(int(row["contact_id"]))
        target = owner["merged_into"] if owner["merged_into"] is not None else owner["id"]
        return Redemption("linked", (yield from _attach(int(target), channel, external_id)))

    @writes
    def update_contact(self, contact_id: int, *, name: str | None = None,
                       email: str | None = None, phone: str | None = None,
                       attributes: Mapping[str, Any] | None = None) -> Rule[Contact]:
        yield from contact_row(contact_id, lock=True)
        yield count(UPDATE_CONTACT, name, email, phone,
                    None if attributes is None else json.dumps(attributes), contact_id)
        return (yield from contact(contact_id))

    @writes
    def merge_contacts(self, survivor_id: int, other_id: int) -> Rule[Merge]:
        if survivor_id == other_id:
            raise Conflict("a contact cannot be merged with itself")
        yield one(LOCK_CONTACTS, sorted((survivor_id, other_id)))
        survivor = yield from contact_row(survivor_id)
        other = yield from contact_row(other_id)
        if survivor["merged_into"] is not None or other["merged_into"] is not None:
            raise Conflict("one of the contacts is merged into another already")
        identity_ids = [r["id"] for r in (yield rows(IDENTITY_IDS, other_id))]
        conversation_ids = [r["id"] for r in (yield rows(CONVERSATION_IDS, other_id))]
        snapshot = {"survivor": {k: survivor[k] for k in _FIELDS},
                    "other": {k: other[k] for k in _FIELDS},
                    "identities": identity_ids, "conversations": conversation_ids}
        yield count(MOVE_IDENTITIES, survivor_id, other_id)
        yield count(MOVE_CONVERSATIONS, survivor_id, other_id)
        yield from _absorb_fields(other, survivor_id)
        merge = yield one(NEW_MERGE, survivor_id, other_id, json.dumps(snapshot))
        return Merge(int(merge["id"]), (yield from contact(survivor_id)))

    @writes
    def undo_merge(self, merge_id: int) -> Rule[tuple[Contact, Contact]]:
        row = yield one(MERGE, merge_id)
        if row is None:
            raise NotFound(f"merge {merge_id} not found")
        if row["undone_at"] is not None:
            raise Conflict(f"merge {merge_id} was undone already")
        snap = json.loads(row["snapshot"])
        survivor_id, other_id = int(row["survivor_id"]), int(row["other_id"])
        yield count(GIVE_BACK_IDENTITIES, other_id, snap["identities"], survivor_id)
        yield count(GIVE_BACK_CONVERSATIONS, other_id, snap["conversations"], survivor_id)
        for contact_id, fields in ((survivor_id, snap["survivor"]), (other_id, snap["other"])):
            yield count(RESTORE_CONTACT, *(fields[k] for k in _FIELDS), contact_id)
        yield count(UNDO_MERGE, merge_id)
        return (yield from contact(survivor_id)), (yield from contact(other_id))

    @reads
    def search_conversation_ids(self, text: str, limit: int = 200) -> Rule[list[int]]:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        return [int(r["id"]) for r in (yield rows(SEARCH, pattern, limit))]

    # read marks ----------------------------------------------------------------
    @writes_one
    def mark_read(self, user_id: int, conversation_id: int, message_id: int) -> Rule[None]:
        try:
            yield count(MARK_READ, user_id, conversation_id, message_id)
        except ForeignKeyViolation:
            raise NotFound(f"conversation {conversation_id} not found") from None

    @reads
    def unread_counts(self, user_id: int, conversation_ids: list[int]) -> Rule[dict[int, int]]:
        ids = [int(i) for i in conversation_ids]
        if not ids:
            return {}
        found = yield rows(UNREAD_COUNTS, user_id, ids)
        return {**dict.fromkeys(ids, 0), **{int(r["cid"]): int(r["n"]) for r in found}}
