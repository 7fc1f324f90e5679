"""One raw mail read into what the hub needs (no I/O here).

Nothing in a mail may stop the channel: unparseable MIME, an unknown charset or a broken
transfer encoding yields what could be read plus a note saying what was wrong, never an
exception. What the agent and the bot read is the *new* text: quoted replies and signatures
are cut with mail-parser-reply, and an HTML-only mail is turned into text with html2text.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

import html2text
from mailparser_reply import EmailReplyParser

log = logging.getLogger(__name__)

# languages whose "On … wrote:" and signature markers the reply parser knows
_REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv"]
_MSGID = re.compile(r"<[^<>\s]+>")
_BULK = frozenset({"bulk", "list", "junk"})
_DAEMONS = ("mailer-daemon", "postmaster-daemon")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None when larger than the limit: listed, not stored


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery-status report: who could not be reached, and which of our mails failed."""

    failed_recipients: tuple[str, ...]
    original_message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedMail:
    dedupe_key: str  # the Message-ID, or a digest of headers and body when it has none
    message_id: str | None  # "<…@…>"
    sender: str  # the From address, lower case ("" when unreadable)
    sender_name: str | None
    recipients: tuple[str, ...]  # To, Cc and Delivered-To addresses, lower case
    subject: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str  # the new text: quotes and signature cut
    full_text: str  # the whole text part (or the HTML part as text)
    html_only: bool
    attachments: tuple[Attachment, ...]
    automated: str | None  # why no bot may answer this mail (auto-reply, bulk, bounce…)
    bounce: Bounce | None
    notes: tuple[str, ...]  # what could not be read

    @property
    def first_paragraph(self) -> str:
        for paragraph in re.split(r"\n\s*\n", self.text):
            if paragraph.strip():
                return " ".join(paragraph.split())
        return ""


def digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _words(value: str) -> str:
    """RFC 2047 encoded words decoded, whitespace folded, NULs dropped (PostgreSQL refuses
    them in text)."""
    try:
        value = str(make_header(decode_header(value)))
    except Exception:
        pass
    return " ".join(value.replace("\x00", "").split())


def _header(message: Message, name: str, notes: list[str]) -> str:
    """A header as text; a header that cannot be decoded is read as well as it can."""
    try:
        value = message.get(name)
    except Exception as exc:  # the email package raises a variety on broken headers
        notes.append(f"header {name} unreadable: {type(exc).__name__}")
        value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None) \
            if hasattr(message, "raw_items") else None
    return "" if value is None else _words(str(value))


def _all(message: Message, name: str, notes: list[str]) -> list[str]:
    try:
        return [str(v) for v in message.get_all(name, [])]
    except Exception as exc:
        notes.append(f"header {name} unreadable: {type(exc).__name__}")
        return []


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    try:
        return [(n, a.strip().lower()) for n, a in getaddresses(values) if "@" in a]
    except Exception:
        return []


def _ids(value: str) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value))


def _decode(part: Message, notes: list[str]) -> str:
    """A text part's words, whatever its charset and transfer encoding claim."""
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        notes.append(f"body undecodable: {type(exc).__name__}")
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
    for defect in getattr(part, "defects", []):
        notes.append(f"{type(defect).__name__}")
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except LookupError:
        notes.append(f"unknown charset {charset!r}: read as UTF-8")
    except UnicodeDecodeError:
        notes.append(f"text is not valid {charset}: unreadable characters replaced")
        return payload.decode(charset, "replace")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or (
        part.get_filename() is not None and not part.get_content_type().startswith("text/"))


def _leaves(message: Message) -> Iterator[Message]:
    """The non-multipart parts, not descending into attached mails (message/rfc822)."""
    if message.is_multipart():
        payload = message.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    yield from _leaves(sub)
        return
    yield message


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_links = False
    return converter.handle(html).strip()


def new_text(text: str) -> str:
    """The reply without quoted mail and signature (mail-parser-reply)."""
    if not text.strip():
        return ""
    try:
        replies = EmailReplyParser(languages=_REPLY_LANGUAGES).read(text).replies
    except Exception:  # the library must never cost us a mail
        log.warning("email: reply parser failed; keeping the whole text", exc_info=True)
        return text.strip()
    if not replies:
        return text.strip()
    return (replies[0].body or replies[0].content or "").strip() or text.strip()


def _attachment(part: Message, index: int, max_bytes: int, notes: list[str]) -> Attachment:
    try:
        filename = part.get_filename() or ""
    except Exception:
        filename = ""
    filename = " ".join(filename.split()) or f"attachment-{index}"
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        data = b""
        notes.append(f"attachment {filename!r} unreadable")
    kept = data if len(data) <= max_bytes else None
    return Attachment(filename, part.get_content_type(), len(data), kept)


def _bounce(message: Message, notes: list[str]) -> Bounce | None:
    if message.get_content_type() != "multipart/report":
        return None
    failed: list[str] = []
    originals: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            payload = part.get_payload()
            blocks = payload if isinstance(payload, list) else []
            for block in blocks:
                if not isinstance(block, Message):
                    continue
                for name in ("Final-Recipient", "Original-Recipient"):
                    value = str(block.get(name) or "")
                    address = value.split(";", 1)[-1].strip().lower()
                    action = str(block.get("Action") or "failed").strip().lower()
                    if "@" in address and action == "failed" and address not in failed:
                        failed.append(address)
        elif kind in ("message/rfc822", "text/rfc822-headers"):
            inner: Message | None = None
            if kind == "message/rfc822":
                payload = part.get_payload()
                first = payload[0] if isinstance(payload, list) and payload else None
                inner = first if isinstance(first, Message) else None
            else:
                inner = email.message_from_string(_decode(part, notes))
            if inner is not None:
                originals.extend(_ids(str(inner.get("Message-ID") or "")))
    return Bounce(tuple(failed), tuple(originals))


def _automated(message: Message, sender: str, own_domain_address: str,
               notes: list[str]) -> str | None:
    auto = _header(message, "Auto-Submitted", notes).lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _header(message, "Precedence", notes).lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    if message.get("X-Auto-Response-Suppress") is not None:
        return "X-Auto-Response-Suppress"
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return "auto-responder"
    if message.get_content_type() == "multipart/report":
        return "delivery-status report"
    local = sender.partition("@")[0]
    if local in _DAEMONS or local == "":
        return "from a mailer daemon" if local else "no sender address"
    if own_domain_address and sender == own_domain_address:
        return "from our own address"
    return None


def parse_mail(raw: bytes, *, own_address: str, max_attachment_bytes: int) -> ParsedMail:
    """Read ``raw`` (the mail as delivered) into a :class:`ParsedMail`; never raises."""
    notes: list[str] = []
    try:
        message: Message = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # pragma: no cover - the parser is lenient; kept as a net
        notes.append(f"unparseable mail: {type(exc).__name__}")
        message = email.message_from_string("")
    for defect in message.defects:
        notes.append(type(defect).__name__)
    message_ids = _ids(_header(message, "Message-ID", notes))
    message_id = message_ids[0] if message_ids else None
    senders = _addresses(_all(message, "From", notes))
    sender_name, sender = senders[0] if senders else ("", "")
    recipients = tuple(dict.fromkeys(
        a for _, a in _addresses(_all(message, "To", notes) + _all(message, "Cc", notes)
                                 + _all(message, "Delivered-To", notes))))
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    for index, part in enumerate(_leaves(message)):
        kind = part.get_content_type()
        if _is_attachment(part):
            attachments.append(_attachment(part, index, max_attachment_bytes, notes))
        elif kind == "text/plain":
            texts.append(_decode(part, notes))
        elif kind == "text/html":
            htmls.append(_decode(part, notes))
        elif not kind.startswith(("message/", "text/rfc822")) and part is not message:
            attachments.append(_attachment(part, index, max_attachment_bytes, notes))
    html_only = not texts and bool(htmls)
    full_text = "\n\n".join(t.strip() for t in texts) if texts else \
        "\n\n".join(html_to_text(h) for h in htmls)
    full_text = full_text.replace("\r\n", "\n").replace("\x00", "").strip()
    return ParsedMail(
        dedupe_key=message_id or digest(raw),
        message_id=message_id,
        sender=sender,
        sender_name=_words(sender_name) or None,
        recipients=recipients,
        subject=_header(message, "Subject", notes),
        in_reply_to=_ids(_header(message, "In-Reply-To", notes)),
        references=_ids(_header(message, "References", notes)),
        text=new_text(full_text),
        full_text=full_text,
        html_only=html_only,
        attachments=tuple(attachments),
        automated=_automated(message, sender, own_address.lower(), notes),
        bounce=_bounce(message, notes),
        notes=tuple(dict.fromkeys(notes)),
    )
