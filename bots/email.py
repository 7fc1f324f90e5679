"""Email: mail in by IMAP and/or the built-in SMTP receiver, replies out by SMTP.

One address is one identity (channel ``email``, external id = the address in lower case).
A mail is committed once: its Message-ID (or, without one, a digest of the whole mail) is
its platform message id, so a redelivery, or the same mail arriving by IMAP and by SMTP, is
stored once. What the bot and the agent read is the new text (bots/email_parse.py); the
subject travels as the ``[subject: …]`` mark; an automatic mail (auto-reply, bulk, bounce,
mailer daemon, our own address) carries the silent ``[automated: …]`` mark, so it is kept for
the agents and never answered.

Threading: a ``reply+<token>@`` recipient or one of our signed Message-IDs in
``In-Reply-To``/``References`` names the conversation (bots/email_sign.py); a sender address
new to the hub then joins that conversation's contact. A forged mark names nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from typing import Any

from aiohttp import web

from bots.base import Channel, OnAccept, OnMessage, RetryLater
from bots.email_compose import Thread, Unsubscribe, compose_reply
from bots.email_imap import ImapReader, MailboxCursors
from bots.email_parse import ParsedMail, parse_mail
from bots.email_receiver import SmtpReceiver
from bots.email_sign import MailSigner
from bots.email_transport import imap_url, listen_address, send_mail, smtp_url
from hub import marks
from hub.config import Settings
from hub.model import Author, InboundMessage, NewMailAttachment, OutboxItem
from hub.store import Store

log = logging.getLogger(__name__)

CHANNEL = "email"
_CHOICE = re.compile(r"^\s*#?([1-9])\s*[.)]?\s*$")
_MAX_ATTACHMENT_NAMES = 200  # characters of attachment names in the text's mark
_UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+(\S+)\s*$", re.IGNORECASE)
UNSUBSCRIBE_PATH = "/email/unsubscribe"  # + "/<token>": handoff/unsubscribe_api.py


def email_configured(settings: Settings) -> bool:
    return bool(settings.email_address and settings.smtp_url)


class StoreCursors:
    """The IMAP reader's cursors, kept in the store (so a restart goes on where it was)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def load(self, mailbox: str) -> tuple[int, int] | None:
        return await self._store.imap_cursor(mailbox)

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        await self._store.save_imap_cursor(mailbox, uidvalidity, last_uid)


class EmailChannel(Channel):
    name = CHANNEL

    def __init__(self, settings: Settings, store: Store,
                 cursors: MailboxCursors | None = None) -> None:
        self._settings = settings
        self._store = store
        self._smtp = smtp_url(settings.smtp_url)
        self._imap = imap_url(settings.imap_url) if settings.imap_url else None
        self._listen = listen_address(settings.email_listen) if settings.email_listen else None
        self._cursors = cursors or StoreCursors(store)
        self._address = settings.email_address.strip().lower()
        self._signer: MailSigner | None = None
        self._on_message: OnMessage | None = None
        self.receiver: SmtpReceiver | None = None
        self.reader: ImapReader | None = None

    @property
    def address(self) -> str:
        return self._address

    @property
    def signer(self) -> MailSigner:
        if self._signer is None:
            raise RuntimeError("the email channel is not started")
        return self._signer

    # lifecycle ---------------------------------------------------------------
    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        self._on_message = on_message
        return []

    async def start(self) -> None:
        # the hub's secret is known once the store is open (hub/app.py store_ctx)
        secret = self._settings.secret_key or await self._store.get_meta("secret_key") or ""
        if not secret:
            raise RuntimeError("email: the hub has no secret key to sign reply addresses")
        self._signer = MailSigner(secret, self._address)
        if self._listen is not None:
            self.receiver = SmtpReceiver(
                *self._listen, accepts=self.accepts, deliver=self.deliver,
                max_bytes=self._settings.email_max_bytes)
            await self.receiver.start()
        if self._imap is not None:
            self.reader = ImapReader(
                self._imap, deliver=self.deliver, cursors=self._cursors,
                max_bytes=self._settings.email_max_bytes,
                poll_seconds=self._settings.imap_poll_seconds)
            self.reader.start()

    async def stop(self) -> None:
        if self.reader is not None:
            await self.reader.stop()
        if self.receiver is not None:
            await self.receiver.stop()

    # inbound -----------------------------------------------------------------
    def accepts(self, address: str) -> bool:
        """The built-in receiver takes mail for the support address and its ``+`` aliases."""
        return self.signer.is_ours(address)

    async def deliver(self, raw: bytes) -> None:
        """Commit one mail (raises when it could not be committed: the caller retries)."""
        if self._on_message is None:
            raise RuntimeError("the email channel is not attached to a hub")
        # parsing a large mail takes a while: off the event loop
        mail = await asyncio.to_thread(
            parse_mail, raw, own_address=self._address,
            max_attachment_bytes=self._settings.email_max_attachment_bytes)
        if mail.automated is None:
            mail = await self._unsubscribe_request(mail)
        failed = await self._record_bounce(mail) if mail.bounce is not None else None
        conversation_id = self.thread_of(mail)
        if conversation_id is not None and mail.automated is None and mail.sender:
            await self._join_sender(conversation_id, mail.sender)
        inbound = self.inbound(mail)
        if failed is not None:  # the bounce goes into the thread of the reply that failed
            inbound = replace(inbound, external_id=failed, display_name=None)
        if mail.automated is None:
            inbound = await self._choice(inbound, mail) or inbound
        ingested = await self._on_message(inbound)
        # the original and the attachments, once (a redelivery fills in what a crash
        # between the two writes left out); the caller acknowledges only after this
        await self._store.save_mail(ingested.message.id, raw, [
            NewMailAttachment(a.filename, a.content_type, a.size, a.data)
            for a in mail.attachments])

    async def _choice(self, inbound: InboundMessage, mail: ParsedMail) -> InboundMessage | None:
        """A reply of "2" picks the second suggestion of the bot's last mail, if the bot
        wrote last with suggestions; otherwise it is just the text "2"."""
        match = _CHOICE.match(mail.text)
        if match is None:
            return None
        conversation = await self._store.find_conversation(CHANNEL, inbound.external_id)
        if conversation is None:
            return None
        recent = await self._store.list_messages(conversation.id, limit=20,
                                                 include_private=False)
        said = [m for m in recent if m.direction == "out"]
        n = int(match.group(1))
        if not said or said[-1].author is not Author.BOT or n > len(said[-1].suggestions):
            return None
        picked = said[-1].suggestions[n - 1]
        return replace(inbound, text=picked.title, marks=(),
                       choice_article_id=picked.article_id,
                       extras={**inbound.extras, "reply": mail.text})

    def thread_of(self, mail: ParsedMail) -> int | None:
        """The conversation the mail's signed marks name: the ``reply+`` address first, then
        our Message-IDs (newest reference first). Never the subject."""
        for recipient in mail.recipients:
            found = self.signer.conversation_of_address(recipient)
            if found is not None:
                return found
        for message_id in (*mail.in_reply_to, *reversed(mail.references)):
            found = self.signer.conversation_of_message_id(message_id)
            if found is not None:
                return found
            if self.signer.looks_like_ours(message_id):
                log.warning("email: refused a forged Message-ID %s from %s", message_id,
                            mail.sender)
        return None

    async def _join_sender(self, conversation_id: int, sender: str) -> None:
        """A reply from an address the hub does not know yet, to one of our signed marks
        (Outlook answering from an alias, a colleague the customer forwarded to): it joins
        the conversation's contact. A known address is never moved."""
        if await self._store.find_conversation(CHANNEL, sender) is not None:
            return
        conversation = await self._store.get_conversation(conversation_id)
        if conversation is not None:
            await self._store.attach_identity(conversation.contact_id, CHANNEL, sender)

    async def _record_bounce(self, mail: ParsedMail) -> str | None:
        """A bounce of one of our replies (its signed Message-ID) makes the failed address
        unreachable, as a permanent delivery failure does on every channel; returns that
        address when it is a known identity (the bounce is then kept in its thread)."""
        assert mail.bounce is not None
        ours = [m for m in mail.bounce.original_message_ids
                if self.signer.conversation_of_message_id(m) is not None]
        if not ours:
            return None
        known = None
        for address in mail.bounce.failed_recipients:
            log.info("email: %s bounced our %s: unreachable", address, ours[0])
            await self._store.set_identity_status(CHANNEL, address, reachable=False)
            if known is None and await self._store.find_conversation(CHANNEL, address):
                known = address
        return known

    def inbound(self, mail: ParsedMail) -> InboundMessage:
        tags: list[str] = []
        if mail.automated is not None:
            tags.append(marks.mark(marks.AUTOMATED, mail.automated))
        if mail.subject:
            tags.append(marks.mark(marks.SUBJECT, mail.subject))
        if mail.attachments:
            names = ", ".join(a.filename for a in mail.attachments)[:_MAX_ATTACHMENT_NAMES]
            tags.append(marks.mark("document", names))
        extras: dict[str, Any] = {
            "subject": mail.subject, "message_id": mail.message_id,
            "in_reply_to": list(mail.in_reply_to), "references": list(mail.references),
            "to": list(mail.recipients), "html_only": mail.html_only,
            "attachments": [{"filename": a.filename, "content_type": a.content_type,
                             "size": a.size, "kept": a.data is not None}
                            for a in mail.attachments],
        }
        if mail.notes:
            extras["notes"] = list(mail.notes)
        if mail.automated:
            extras["automated"] = mail.automated
        text = mail.text or ("" if mail.attachments else mail.full_text)
        sender = mail.sender or "unknown@invalid"
        return InboundMessage(CHANNEL, sender, marks.marked_text(tags, text),
                              platform_message_id=mail.dedupe_key,
                              display_name=mail.sender_name, marks=marks.tag_names(tags),
                              extras=extras)

    # unsubscribing ------------------------------------------------------------
    def unsubscribe(self, address: str) -> Unsubscribe:
        """Where ``address`` stops the mail we write first: the signed one-click link on
        the public URL (none without one) and the mailto whose subject carries the token."""
        token = self.signer.unsubscribe_token(address)
        base = self._settings.public_url.rstrip("/")
        url = f"{base}{UNSUBSCRIBE_PATH}/{token}" if base.startswith("https://") else None
        return Unsubscribe(url, f"mailto:{self._address}?subject=unsubscribe%20{token}")

    async def opt_out(self, address: str, how: str) -> None:
        """``address`` unsubscribed: no more mail we write first from our address (the
        answers to their own mail still go, handoff/reach.py)."""
        log.info("email: %s unsubscribed (%s)", address, how)
        await self._store.set_consent(CHANNEL, address, self._address, allowed=False,
                                      reason=f"unsubscribed ({how}): no mail we write first")

    async def _unsubscribe_request(self, mail: ParsedMail) -> ParsedMail:
        """A mail to our mailto (subject ``unsubscribe <token>``, the token signed for one
        address): that address opts out; the mail is kept, marked, never answered."""
        match = _UNSUBSCRIBE_SUBJECT.match(mail.subject or "")
        address = self.signer.address_of_unsubscribe_token(match.group(1)) if match else None
        if address is None:
            return mail
        await self.opt_out(address, "by mail")
        return replace(mail, automated="unsubscribe request")

    # outbound ----------------------------------------------------------------
    async def thread(self, conversation_id: int, before: int) -> Thread:
        """The subject and Message-IDs a reply in this conversation threads under: the
        customer's mails' own ids, and ours (signed, so computed again, not stored)."""
        recent = await self._store.list_messages(conversation_id, limit=50,
                                                 include_private=False)
        subject = ""
        ids: list[str] = []
        for message in recent:
            if message.channel != CHANNEL or message.id >= before:
                continue
            if message.direction == "out":
                ids.append(self.signer.message_id(conversation_id, message.id))
                continue
            if message.platform_message_id and message.platform_message_id.startswith("<"):
                ids.append(message.platform_message_id)
            subject = marks.detail(message.text, marks.SUBJECT, message.marks) or subject
        return Thread(subject, tuple(ids))

    async def send(self, reply: OutboxItem) -> str | None:
        if self._signer is None:
            raise RetryLater("email: the channel is not started")
        message = await self._store.get_message(reply.message_id)
        bot = message is None or message.author in (Author.BOT, Author.SYSTEM)
        mail = compose_reply(reply, signer=self._signer,
                             thread=await self.thread(reply.conversation_id,
                                                          reply.message_id),
                             team_name=self._settings.email_name, bot=bot,
                             unsubscribe=self.unsubscribe(reply.recipient)
                             if marks.PROACTIVE in reply.marks else None)
        await send_mail(self._smtp, mail, sender=self._address, recipients=[reply.recipient],
                        timeout=self._settings.email_send_timeout)
        return str(mail["Message-ID"])
