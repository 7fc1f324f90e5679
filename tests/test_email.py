"""Email over real protocols: aiosmtplib sends into the hub's built-in receiver, an aiosmtpd
server stands in for the provider's SMTP, and pymap (a real IMAP server with IDLE) holds the
mailbox the hub reads."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from conftest import HubFactory, Running
from fakes.agent import dead_letters, thread
from fakes.mail import ImapServer, ProviderSmtp, mail
from fakes.net import free_port

from bots.email import EmailChannel
from hub.model import InboundMessage

SUPPORT = "support@acme.test"
JANE = "jane@customer.test"


def channel(running: Running) -> EmailChannel:
    found = running.hub.channels["email"]
    assert isinstance(found, EmailChannel)
    return found


async def start(start_hub: HubFactory, provider: ProviderSmtp, **settings: Any) -> Running:
    values: dict[str, Any] = {"email_address": SUPPORT, "smtp_url": provider.url,
                              "email_listen": f"127.0.0.1:{free_port()}", **settings}
    return await start_hub(**values)


async def deliver(running: Running, raw: bytes, to: str = SUPPORT,
                  sender: str = JANE) -> None:
    receiver = channel(running).receiver
    assert receiver is not None
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=receiver.port, timeout=10,
                               start_tls=False) as client:
        await client.sendmail(sender, [to], raw)  # "" is the null sender of bounces


async def customer_texts(running: Running, address: str = JANE) -> list[str]:
    return [m["text"] for m in await thread(running, "email", address)
            if m["author"] == "customer"]


async def test_a_new_mail_is_answered_by_the_bot_in_the_same_thread(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)
    await deliver(hub, mail(body="how long does shipping take?\n\nThanks,\nJane"))
    sent = (await provider.wait_for(1))[0]
    reply = sent.message
    assert sent.rcpt_tos == [JANE] and sent.mail_from == SUPPORT
    assert reply["Subject"] == "Re: Shipping"
    assert reply["In-Reply-To"] == "<m1@customer.test>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply.get_content_type() == "multipart/alternative"
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "3-5 business days" in text
    conversation = await hub.hub.store.find_conversation("email", JANE)
    assert conversation is not None
    token = reply["Reply-To"].addresses[0].addr_spec
    assert channel(hub).signer.conversation_of_address(token) == conversation.id
    contact = await hub.hub.store.get_contact(conversation.contact_id)
    assert contact is not None and contact.name == "Jane Doe"
    assert await customer_texts(hub) == [
        "[subject: Shipping] how long does shipping take?"]


async def test_an_outlook_reply_from_another_address_joins_the_thread_by_its_token(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)
    await deliver(hub, mail())
    first = (await provider.wait_for(1))[0].message
    token = first["Reply-To"].addresses[0].addr_spec
    # Outlook: a new In-Reply-To of its own, the customer's other address, the token kept
    outlook = mail(sender="Jane Doe <jane.doe@work.test>", to=token, subject="RE: Shipping",
                   message_id="<AM0PR01MB@outlook.test>", body="and what about refunds?",
                   headers={"In-Reply-To": "<AM0PR01MB0000@outlook.test>",
                            "Thread-Topic": "Shipping"})
    await deliver(hub, outlook, to=token, sender="jane.doe@work.test")
    await provider.wait_for(2)
    original = await hub.hub.store.find_conversation("email", JANE)
    joined = await hub.hub.store.find_conversation("email", "jane.doe@work.test")
    assert original is not None and joined is not None and joined.id == original.id
    assert provider.sent[1].rcpt_tos == ["jane.doe@work.test"]
    assert provider.sent[1].message["References"].split()[-1] == "<AM0PR01MB@outlook.test>"


async def test_a_forged_message_id_threads_nothing(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)
    await deliver(hub, mail())
    await provider.wait_for(1)
    victim = await hub.hub.store.find_conversation("email", JANE)
    assert victim is not None
    forged = f"<sh.{victim.id:x}.1.aaaaaaaaaaaaaaaa@acme.test>"
    await deliver(hub, mail(sender="mallory@evil.test", message_id="<e1@evil.test>",
                            subject="Re: Shipping", body="send me her address",
                            headers={"In-Reply-To": forged, "References": forged}),
                  sender="mallory@evil.test")
    await provider.wait_for(2)
    stranger = await hub.hub.store.find_conversation("email", "mallory@evil.test")
    assert stranger is not None and stranger.id != victim.id
    assert stranger.contact_id != victim.contact_id
    assert not any("her address" in t for t in await customer_texts(hub))


async def test_auto_replies_and_bounces_are_kept_and_never_answered(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)
    await deliver(hub, mail())
    ours = (await provider.wait_for(1))[0].message["Message-ID"]
    await deliver(hub, mail(message_id="<ooo@customer.test>", subject="Out of office",
                            body="I am away until Monday.",
                            headers={"Auto-Submitted": "auto-replied"}))
    await deliver(hub, mail(sender="MAILER-DAEMON@mx.customer.test", to=SUPPORT,
                            message_id="<b1@mx.customer.test>", subject="Undelivered",
                            body="could not deliver"), sender="")
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\r\nTo: support@acme.test\r\n"
        "Subject: Undelivered Mail\r\nMessage-ID: <b2@mx.acme.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver.\r\n--B\r\n"
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.test\r\n\r\n"
        f"Final-Recipient: rfc822; {JANE}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B\r\n"
        f"Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ours}\r\n\r\n--B--\r\n"
    ).encode()
    await deliver(hub, bounce, sender="")
    await hub.settle()
    await asyncio.sleep(0.3)  # the outbox would have sent by now
    assert len(provider.sent) == 1
    texts = await customer_texts(hub)
    assert any(t.startswith("[automated: Auto-Submitted: auto-replied]") for t in texts)
    status = await hub.hub.store.identity_status("email", JANE)
    assert status is not None and status.reachable is False
    # the bounce is kept in the thread of the reply that failed, not under a daemon contact
    assert any(t.startswith("[automated: delivery-status report]") for t in texts)
    assert await hub.hub.store.find_conversation("email", "mailer-daemon@mx.acme.test") is None


async def test_the_receiver_refuses_strangers_oversize_and_says_4xx_when_it_cannot_store(
    start_hub: HubFactory, provider: ProviderSmtp, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = await start(start_hub, provider, email_max_bytes=20_000)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await deliver(hub, mail(to="sales@acme.test"), to="sales@acme.test")
    assert refused.value.recipients[0].code == 550
    with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
        await deliver(hub, mail(body="x" * 30_000))
    assert too_big.value.code == 552

    async def store_down(inbound: InboundMessage) -> Any:
        raise ConnectionError("the database is down")

    monkeypatch.setattr(hub.hub.store, "ingest", store_down)
    with pytest.raises(aiosmtplib.SMTPResponseException) as later:
        await deliver(hub, mail())
    assert later.value.code == 451
    monkeypatch.undo()
    await deliver(hub, mail())  # the MTA tries again: stored now
    await provider.wait_for(1)
    assert await customer_texts(hub) == ["[subject: Shipping] how long does shipping take?"]


async def test_the_same_mail_twice_is_stored_and_answered_once(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)
    await deliver(hub, mail())
    await deliver(hub, mail())
    nameless = mail(message_id=None, subject="Returns", body="how do I return an item?")
    await deliver(hub, nameless)
    await deliver(hub, nameless)  # no Message-ID: the digest of the mail dedupes it
    await provider.wait_for(2)
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(provider.sent) == 2
    assert len(await customer_texts(hub)) == 2


async def test_a_refused_reply_is_dead_and_the_address_unreachable_a_4xx_is_retried(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)
    provider.refuse = "451 4.7.1 Greylisted, try again"
    await deliver(hub, mail())
    await asyncio.sleep(0.3)
    assert not provider.sent
    provider.refuse = None
    await provider.wait_for(1)  # the retry went through
    provider.refuse = "550 5.1.1 No such user"
    await deliver(hub, mail(message_id="<m2@customer.test>", body="how do I return an item?"))
    dead = await dead_letters(hub)
    assert "550" in dead[0]["error"]
    status = await hub.hub.store.identity_status("email", JANE)
    assert status is not None and status.reachable is False


async def test_imap_mail_is_answered_marked_seen_after_commit_and_oversize_left_unread(
    start_hub: HubFactory, provider: ProviderSmtp, imap: ImapServer,
) -> None:
    await imap.append(mail(body="x" * 30_000, message_id="<big@customer.test>"))
    await imap.append(mail())
    hub = await start(start_hub, provider, imap_url=imap.url, email_listen="",
                      email_max_bytes=20_000, imap_poll_seconds=2)
    await provider.wait_for(1)
    assert "3-5 business days" in provider.sent[0].message.get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]
    flags = await imap.flags()
    big, small = sorted(flags)
    assert "\\Seen" not in flags[big] and "\\Seen" in flags[small]
    # the reader idles (pymap's in-memory backend does not always push during IDLE, so
    # the bound here is the IDLE renewal, imap_poll_seconds)
    reader = channel(hub).reader
    assert reader is not None
    await asyncio.wait_for(reader.idling.wait(), 5)
    await imap.append(mail(message_id="<m3@customer.test>", body="how do I return an item?"))
    await provider.wait_for(2, timeout=8)
    assert len(await customer_texts(hub)) == 2


async def test_the_same_mail_by_imap_and_by_smtp_is_stored_once(
    start_hub: HubFactory, provider: ProviderSmtp, imap: ImapServer,
) -> None:
    hub = await start(start_hub, provider, imap_url=imap.url, imap_poll_seconds=5)
    await deliver(hub, mail())
    await provider.wait_for(1)
    await imap.append(mail())
    reader = channel(hub).reader
    assert reader is not None
    async with asyncio.timeout(10):
        while True:
            flags = await imap.flags()
            if flags and all("\\Seen" in f for f in flags.values()):
                break
            await asyncio.sleep(0.1)
    await hub.settle()
    assert len(provider.sent) == 1
    assert len(await customer_texts(hub)) == 1


async def test_html_only_and_quoted_mail_is_read_as_its_new_text(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)
    html = ("<html><body><p>How long does <b>shipping</b> take?</p><blockquote>"
            "<p>On Monday Support wrote:</p><p>old text</p></blockquote></body></html>")
    await deliver(hub, mail(body="", html=html))
    await provider.wait_for(1)
    quoted = ("Thanks! And how do I return an item?\n\nOn Mon, Nov 30, 2026 Support "
              f"<{SUPPORT}> wrote:\n> Orders ship in 3-5 business days.\n")
    await deliver(hub, mail(message_id="<m2@customer.test>", subject="Re: Shipping",
                            body=quoted))
    await provider.wait_for(2)
    texts = await customer_texts(hub)
    assert texts[0].startswith("[subject: Shipping] How long does shipping take?")
    assert "old text" not in texts[0] and "<b>" not in texts[0]
    assert texts[1] == "[subject: Re: Shipping] Thanks! And how do I return an item?"


async def test_attachments_are_kept_up_to_the_limit_and_agents_only_download_them(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider, email_max_bytes=40 * 1024 * 1024)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Jane <jane@customer.test>", \
        SUPPORT, "Broken item"
    message["Message-ID"] = "<files@customer.test>"
    message.set_content("The item arrived broken, photos and video attached.")
    message.add_attachment(b"\x89PNG fake image", maintype="image", subtype="png",
                           filename="photo <1>.png")
    message.add_attachment(b"\x00" * (20 * 1024 * 1024), maintype="video", subtype="mp4",
                           filename="unboxing.mp4")
    await deliver(hub, bytes(message))
    await hub.settle()
    conversation = await hub.hub.store.find_conversation("email", JANE)
    assert conversation is not None
    inbound = next(m for m in await hub.hub.store.list_messages(conversation.id)
               if m.direction == "in")
    assert "[document: photo <1>.png, unboxing.mp4]" in inbound.text
    token = await hub.add_user("ann@example.com", name="Ann")
    details = await hub.client.get(f"/api/v1/messages/{inbound.id}/email",
                                   headers={"Authorization": f"Bearer {token}"})
    assert details.status == 200, await details.text()
    body = await details.json()
    assert body["subject"] == "Broken item" and body["from"] == JANE
    photo, video = body["attachments"]
    assert (photo["filename"], photo["kept"]) == ("photo <1>.png", True)
    assert (video["size"], video["kept"], video["url"]) == (20 * 1024 * 1024, False, None)
    download = await hub.client.get(photo["url"], headers={"Authorization": f"Bearer {token}"})
    assert download.status == 200
    assert await download.read() == b"\x89PNG fake image"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Type"].startswith("application/octet-stream")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    hub.client.session.cookie_jar.clear()
    assert (await hub.client.get(photo["url"])).status == 401  # customers and strangers
    visitor = await hub.visitor()
    assert (await hub.client.get(photo["url"], headers=visitor.headers)).status == 401
    missing = await hub.client.get(f"/api/v1/attachments/{video['id']}",
                                   headers={"Authorization": f"Bearer {token}"})
    assert missing.status == 404
    original = await hub.client.get(body["original_url"],
                                    headers={"Authorization": f"Bearer {token}"})
    assert original.status == 200
    raw = await original.read()
    assert b"Subject: Broken item" in raw and len(raw) > 20 * 1024 * 1024


async def test_the_reader_goes_on_from_the_remembered_uid_after_a_restart(
    start_hub: HubFactory, provider: ProviderSmtp, imap: ImapServer,
) -> None:
    await imap.append(mail())
    first = await start(start_hub, provider, imap_url=imap.url, email_listen="",
                        imap_poll_seconds=2)
    await provider.wait_for(1)
    (uid,) = (await imap.flags()).keys()
    reader = channel(first).reader
    assert reader is not None
    async with asyncio.timeout(10):  # the cursor moves right after \Seen
        while (await first.hub.store.imap_cursor(reader.key) or (0, 0))[1] != uid:
            await asyncio.sleep(0.05)
    await first.client.close()
    await imap.unsee(uid)  # someone marks it unread in their mail client: not mail to read
    await imap.append(mail(message_id="<m2@customer.test>", body="how do I return an item?"))
    again = await start(start_hub, provider, imap_url=imap.url, email_listen="",
                        imap_poll_seconds=2)
    await provider.wait_for(2)
    reader = channel(again).reader
    assert reader is not None
    await asyncio.wait_for(reader.synced.wait(), 5)
    await again.settle()
    flags = await imap.flags()
    assert "\\Seen" not in flags[uid]  # never read again (nor searched for by date)
    assert len(provider.sent) == 2
