"""The store's email records on both engines: a mail's original and attachments kept once,
attachments over the limit listed without bytes, the IMAP cursor per mailbox."""

from __future__ import annotations

from pathlib import Path

from hub.db_copy import copy_database
from hub.model import InboundMessage, NewMailAttachment
from hub.store import Store, make_store


async def test_a_mail_is_kept_once_with_its_attachments(store: Store) -> None:
    ingested = await store.ingest(InboundMessage("email", "jane@customer.test", "hello",
                                                 platform_message_id="<m1@customer.test>"))
    message_id = ingested.message.id
    files = [NewMailAttachment("invoice.pdf", "application/pdf", 3, b"%PD"),
             NewMailAttachment("video.mp4", "video/mp4", 20_000_000, None)]
    assert await store.save_mail(message_id, b"raw \x00\xff mail", files) is True
    assert await store.save_mail(message_id, b"another copy", files) is False
    assert await store.mail_original(message_id) == b"raw \x00\xff mail"
    listed = await store.mail_attachments([message_id])
    assert [(a.filename, a.size, a.kept) for a in listed] == [
        ("invoice.pdf", 3, True), ("video.mp4", 20_000_000, False)]
    kept = await store.mail_attachment(listed[0].id)
    assert kept is not None and kept[1] == b"%PD"
    too_big = await store.mail_attachment(listed[1].id)
    assert too_big is not None and too_big[1] is None
    assert await store.mail_attachment(10**9) is None
    assert await store.mail_original(10**9) is None
    assert await store.mail_attachments([]) == []


async def test_the_imap_cursor_is_remembered_per_mailbox(store: Store) -> None:
    assert await store.imap_cursor("support@imap.example.com:993/INBOX") is None
    await store.save_imap_cursor("support@imap.example.com:993/INBOX", 7, 101)
    await store.save_imap_cursor("support@imap.example.com:993/INBOX", 7, 105)
    await store.save_imap_cursor("other@imap.example.com:993/INBOX", 9, 3)
    assert await store.imap_cursor("support@imap.example.com:993/INBOX") == (7, 105)
    assert await store.imap_cursor("other@imap.example.com:993/INBOX") == (9, 3)


async def test_db_copy_carries_mails_and_attachments_to_postgresql(
    tmp_path: Path, pg_url: str,
) -> None:
    source_url = f"sqlite:///{tmp_path / 'hub.db'}"
    source = make_store(source_url)
    await source.open()
    try:
        ingested = await source.ingest(InboundMessage(
            "email", "jane@customer.test", "hello", platform_message_id="<c1@customer.test>"))
        await source.save_mail(ingested.message.id, b"raw \x00\xff",
                               [NewMailAttachment("a.bin", "application/pdf", 2, b"\x00\x01")])
        await source.save_imap_cursor("inbox", 3, 42)
    finally:
        await source.close()
    counts = await copy_database(source_url, pg_url)
    assert counts["email_originals"] == 1 and counts["email_attachments"] == 1
    target = make_store(pg_url)
    await target.open()
    try:
        assert await target.mail_original(ingested.message.id) == b"raw \x00\xff"
        (listed,) = await target.mail_attachments([ingested.message.id])
        found = await target.mail_attachment(listed.id)
        assert found is not None and found[1] == b"\x00\x01"
        assert await target.imap_cursor("inbox") == (3, 42)
    finally:
        await target.close()
