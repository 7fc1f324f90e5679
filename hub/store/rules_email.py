"""Rules, once for both engines (see sql.py): email's own records — each mail's original as
received, its attachments (kept up to the limit, listed always), and the IMAP reader's
cursor per mailbox (UIDVALIDITY and the last committed UID)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.model import MailAttachment, NewMailAttachment
from hub.store.sql import Rule, Sql, count, one, reads, rows, writes, writes_one

INSERT_ORIGINAL = Sql(
    "INSERT INTO email_originals (message_id, raw, created_at) VALUES ($1, $2, {now})"
    " ON CONFLICT (message_id) DO NOTHING RETURNING message_id")
INSERT_ATTACHMENT = Sql(
    "INSERT INTO email_attachments (message_id, filename, content_type, size, data)"
    " VALUES ($1, $2, $3, $4, $5)")
ORIGINAL = Sql("SELECT raw FROM email_originals WHERE message_id = $1")
ATTACHMENTS = Sql(
    "SELECT id, message_id, filename, content_type, size, data IS NOT NULL AS kept"
    " FROM email_attachments WHERE message_id {ids $1} ORDER BY id")
ATTACHMENT = Sql(
    "SELECT id, message_id, filename, content_type, size, data IS NOT NULL AS kept, data"
    " FROM email_attachments WHERE id = $1")
CURSOR = Sql("SELECT uidvalidity, last_uid FROM email_cursors WHERE mailbox = $1")
SAVE_CURSOR = Sql(
    "INSERT INTO email_cursors (mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3)"
    " ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
    " last_uid = excluded.last_uid")


def _attachment(row: Mapping[str, Any]) -> MailAttachment:
    return MailAttachment(int(row["id"]), int(row["message_id"]), str(row["filename"]),
                          str(row["content_type"]), int(row["size"]), bool(row["kept"]))


class EmailRules:
    @writes
    def save_mail(self, message_id: int, raw: bytes,
                  attachments: Sequence[NewMailAttachment]) -> Rule[bool]:
        """Keep a mail's original and attachments, once: a redelivery (or a second try after
        a crash between the commit and this) changes nothing. True when written now."""
        row = yield one(INSERT_ORIGINAL, message_id, raw)
        if row is None:
            return False
        for item in attachments:
            yield count(INSERT_ATTACHMENT, message_id, item.filename, item.content_type,
                        item.size, item.data)
        return True

    @reads
    def mail_original(self, message_id: int) -> Rule[bytes | None]:
        row = yield one(ORIGINAL, message_id)
        return None if row is None else bytes(row["raw"])

    @reads
    def mail_attachments(self, message_ids: Sequence[int]) -> Rule[list[MailAttachment]]:
        if not message_ids:
            return []
        found = yield rows(ATTACHMENTS, list(message_ids))
        return [_attachment(row) for row in found]

    @reads
    def mail_attachment(self, attachment_id: int
                        ) -> Rule[tuple[MailAttachment, bytes | None] | None]:
        row = yield one(ATTACHMENT, attachment_id)
        if row is None:
            return None
        data = row["data"]
        return _attachment(row), None if data is None else bytes(data)

    @reads
    def imap_cursor(self, mailbox: str) -> Rule[tuple[int, int] | None]:
        row = yield one(CURSOR, mailbox)
        return None if row is None else (int(row["uidvalidity"]), int(row["last_uid"]))

    @writes_one
    def save_imap_cursor(self, mailbox: str, uidvalidity: int, last_uid: int) -> Rule[None]:
        yield count(SAVE_CURSOR, mailbox, uidvalidity, last_uid)
