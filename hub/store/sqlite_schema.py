"""SQLite schema, created and migrated with sqlite-utils.

Migrations are numbered functions applied in order; ``meta.schema_version`` records the last.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})
    db.table("users").create(
        {"id": int, "email": str, "name": str, "role": str, "password_hash": str, "active": int,
         "created_at": str},
        pk="id", not_null={"email", "name", "role", "password_hash", "active", "created_at"},
        defaults={"active": 1},
    )
    db.table("users").create_index(["email"], unique=True)
    db.table("sessions").create(
        {"token_hash": str, "user_id": int, "created_at": str, "expires_at": float},
        pk="token_hash", not_null={"user_id", "created_at", "expires_at"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("contacts").create(
        {"id": int, "name": str, "email": str, "phone": str, "attributes": str, "created_at": str},
        pk="id", not_null={"attributes", "created_at"},
        defaults={"attributes": "{}"},
    )
    db.table("identities").create(
        {"id": int, "contact_id": int, "channel": str, "external_id": str, "reachable": int,
         "opted_out": int, "created_at": str},
        not_null={"contact_id", "channel", "external_id", "reachable", "opted_out",
                  "created_at"},
        defaults={"reachable": 1, "opted_out": 0}, pk="id",
        foreign_keys=[("contact_id", "contacts", "id")],
    )
    db.table("identities").create_index(["channel", "external_id"], unique=True)
    db.table("identities").create_index(["contact_id"])
    db.table("conversations").create(
        {"id": int, "contact_id": int, "state": str, "channel": str, "assigned_agent_id": int,
         "fallback_streak": int, "last_message_text": str, "created_at": str, "updated_at": str},
        not_null={"contact_id", "state", "channel", "fallback_streak", "created_at", "updated_at"},
        defaults={"fallback_streak": 0}, pk="id",
        foreign_keys=[("contact_id", "contacts", "id"), ("assigned_agent_id", "users", "id")],
    )
    db.table("conversations").create_index(["state", "updated_at"])
    db.table("conversations").create_index(["contact_id"])
    db.table("messages").create(
        {"id": int, "conversation_id": int, "direction": str, "author": str, "channel": str, "text":
        str, "platform_message_id": str, "suggestions": str, "agent_id": int, "article_id": int,
         "private": int, "handled": int, "extras": str, "created_at": str},
        not_null={"conversation_id", "direction", "author", "channel", "text", "private",
                  "handled", "created_at"},
        defaults={"private": 0, "handled": 1}, pk="id",
        foreign_keys=[("conversation_id", "conversations", "id"), ("agent_id", "users", "id")],
    )
    db.table("messages").create_index(["conversation_id", "id"])
    # a partial unique index: sqlite-utils has no word for WHERE, so plain SQL
    db.execute(
        "CREATE UNIQUE INDEX messages_platform_id ON messages(channel, platform_message_id)"
        " WHERE platform_message_id IS NOT NULL"
    )
    db.execute("CREATE INDEX messages_unhandled ON messages(id) WHERE handled = 0")
    db.table("outbox").create(
        {"id": int, "message_id": int, "conversation_id": int, "channel": str, "recipient": str,
         "status": str, "attempts": int, "next_attempt_at": float, "locked_until": float,
         "last_error": str, "platform_message_id": str, "delivery_status": str, "created_at": str,
         "sent_at": str},
        not_null={"message_id", "conversation_id", "channel", "recipient", "status", "attempts",
                  "next_attempt_at", "created_at"},
        defaults={"status": "pending", "attempts": 0}, pk="id",
        foreign_keys=[("message_id", "messages", "id")],
    )
    db.table("outbox").create_index(["message_id"], unique=True)
    db.table("outbox").create_index(["status", "next_attempt_at"])
    db.table("outbox").create_index(["channel", "platform_message_id"])
    db.table("articles").create(
        {"id": int, "title": str, "questions": str, "answer": str, "tags": str, "status": str,
         "created_at": str, "updated_at": str},
        pk="id",
        not_null={"title", "questions", "answer", "tags", "status", "created_at", "updated_at"},
    )


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
        pk="id", not_null={"text", "kind", "dismissed", "created_at"},
        defaults={"dismissed": 0},
    )
    db.table("unanswered").create_index(["dismissed", "id"])
    db.table("unanswered").create_index(["article_id"])
    db.table("kb_settings").create({"key": str, "value": str}, pk="key", not_null={"value"})


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


def migrate_v4(db: sqlite_utils.Database) -> None:
    """Schema version 4: each revision names its author (older revisions: NULL, unknown)."""
    table = db.table("article_revisions")
    table.add_column("author_id", int)
    table.add_column("author_name", str)
    table.add_column("author_email", str)


def _v5(db: sqlite_utils.Database) -> None:
    """The outbox leases only the oldest pending reply of each recipient: this index finds
    an earlier pending reply to the same recipient without a scan. ``messages.route_pid``/
    ``route_since`` mirror PostgreSQL's routing claims (the shared ``ingest`` writes them;
    always NULL here: one process owns the file)."""
    db.execute("CREATE INDEX outbox_recipient_pending ON outbox(channel, recipient, id)"
               " WHERE status = 'pending'")
    db.table("messages").add_column("route_pid", int)
    db.table("messages").add_column("route_since", str)


def _v6(db: sqlite_utils.Database) -> None:
    """Email: each received mail's original and attachments (bytes only up to the limit),
    and the IMAP reader's cursor per mailbox."""
    db.execute("CREATE TABLE email_originals (message_id INTEGER PRIMARY KEY"
               " REFERENCES messages(id), raw BLOB NOT NULL, created_at TEXT NOT NULL)")
    db.execute("CREATE TABLE email_attachments (id INTEGER PRIMARY KEY, message_id INTEGER"
               " NOT NULL REFERENCES messages(id), filename TEXT NOT NULL, content_type TEXT"
               " NOT NULL, size INTEGER NOT NULL, data BLOB)")
    db.execute("CREATE INDEX email_attachments_message ON email_attachments(message_id)")
    db.execute("CREATE TABLE email_cursors (mailbox TEXT PRIMARY KEY, uidvalidity INTEGER"
               " NOT NULL, last_uid INTEGER NOT NULL)")


def _v7(db: sqlite_utils.Database) -> None:
    """Reports: what happened, as it happened (``events``, hub/cycles.py), each cycle's
    figures as its events come in (``cycles``), and each conversation's cycle number (0: no
    customer message yet; a conversation that has one is in cycle 1 when migrated, its start
    unrecorded)."""
    db.table("conversations").add_column("cycle", int, not_null_default=0)
    db.execute("UPDATE conversations SET cycle = 1 WHERE EXISTS (SELECT 1 FROM messages m"
               " WHERE m.conversation_id = conversations.id AND m.direction = 'in')")
    db.table("events").create(
        {"id": int, "conversation_id": int, "cycle": int, "kind": str, "at": float,
         "channel": str, "agent_id": int, "article_id": int, "score": int},
        pk="id", not_null={"conversation_id", "cycle", "kind", "at", "channel"},
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db.execute("CREATE INDEX events_cycle ON events(conversation_id, cycle, kind)")
    db.execute("CREATE INDEX events_at ON events(at)")
    db.table("cycles").create(
        {"conversation_id": int, "cycle": int, "channel": str, "started": float,
         "reopened": int, "queued": float, "replied": float, "replied_by": int,
         "resolved": float, "resolved_by": int, "bot": int, "csat_sent": int,
         "csat_score": int},
        pk=("conversation_id", "cycle"),
        not_null={"conversation_id", "cycle", "channel", "started", "reopened", "bot",
                  "csat_sent"},
        defaults={"bot": 0, "csat_sent": 0},
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db.execute("CREATE INDEX cycles_started ON cycles(started)")



def _v8(db: sqlite_utils.Database) -> None:
    """Schema version 8: reaching customers first (issue 17) — consent per identity and
    sender, windows a platform closed, WhatsApp templates, campaigns and their recipients."""
    db.table("consents").create(
        {"id": int, "channel": str, "external_id": str, "sender": str, "allowed": int,
         "reason": str, "updated_at": str},
        pk="id", not_null={"channel", "external_id", "sender", "allowed", "reason",
                           "updated_at"})
    db.table("consents").create_index(["channel", "external_id", "sender"], unique=True)
    db.table("windows_closed").create(
        {"conversation_id": int, "channel": str, "closed_at": str},
        pk=("conversation_id", "channel"), not_null={"closed_at"},
        foreign_keys=[("conversation_id", "conversations", "id")])
    db.table("templates").create(
        {"id": int, "name": str, "content_sid": str, "variables": str, "created_at": str},
        pk="id", not_null={"name", "content_sid", "variables", "created_at"})
    db.table("templates").create_index(["name"], unique=True)
    db.table("campaigns").create(
        {"id": int, "name": str, "text": str, "template": str, "variables": str,
         "audience": str, "per_minute": int, "status": str, "created_by": int,
         "created_at": str, "finished_at": str},
        pk="id", not_null={"name", "variables", "audience", "per_minute", "status",
                           "created_at"},
        foreign_keys=[("created_by", "users", "id")])
    db.table("campaign_recipients").create(
        {"campaign_id": int, "contact_id": int, "status": str, "channel": str, "error": str,
         "message_id": int, "updated_at": str},
        pk=("campaign_id", "contact_id"), not_null={"status", "updated_at"},
        foreign_keys=[("campaign_id", "campaigns", "id"), ("contact_id", "contacts", "id")])
    db.execute("CREATE INDEX campaign_recipients_pending ON campaign_recipients"
               "(campaign_id, contact_id) WHERE status = 'pending'")


def _v9(db: sqlite_utils.Database) -> None:
    """Schema version 9: the survey's optional comment (issue 15) — an event's words
    (``note``: the comment of a ``csat_commented`` event) and each cycle's comment."""
    db.table("events").add_column("note", str)
    db.table("cycles").add_column("csat_comment", str)


def _v10(db: sqlite_utils.Database) -> None:
    """Schema version 10: a campaign's next send time (seconds since the epoch), shared by
    every hub process so the campaign's rate holds overall (hub/campaigns.py)."""
    db.execute("ALTER TABLE campaigns ADD COLUMN next_send_at REAL")


def _v11(db: sqlite_utils.Database) -> None:
    """Schema version 11: the intake journal (issue 16, hub/intake.py) — a platform's
    message as it was acknowledged, until it is taken into its conversation — and the rows
    set aside because taking them in kept failing (``inbox_failed``). ``owner_pid``/
    ``owner_since`` mirror PostgreSQL's (always NULL here: one process owns the file)."""
    db.execute("CREATE TABLE inbox (id INTEGER PRIMARY KEY, channel TEXT NOT NULL,"
               " chat TEXT NOT NULL, body TEXT NOT NULL, accepted_at REAL NOT NULL,"
               " owner_pid INTEGER, owner_since TEXT)")
    db.execute("CREATE INDEX inbox_chat ON inbox(channel, chat, id)")
    db.execute("CREATE TABLE inbox_failed (id INTEGER PRIMARY KEY, channel TEXT NOT NULL,"
               " chat TEXT NOT NULL, body TEXT NOT NULL, accepted_at REAL NOT NULL,"
               " error TEXT NOT NULL, failed_at TEXT NOT NULL)")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1, migrate_v2, migrate_v3, migrate_v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11]
