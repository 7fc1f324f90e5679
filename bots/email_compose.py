"""Our replies as mails (no I/O here): ``multipart/alternative`` (text, and HTML from the
answer's Markdown), threaded by ``In-Reply-To``/``References``, answerable at the signed
``reply+<token>@`` address, ``Re:`` kept on the subject; bot mails say
``Auto-Submitted: auto-replied`` so other robots do not answer them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from bots import render
from bots.email_sign import MailSigner, split_address
from hub.model import OutboxItem

DEFAULT_SUBJECT = "Your message to us"
_RE = re.compile(r"^\s*(re|aw|sv|antw|r)\s*:\s*", re.IGNORECASE)
_MAX_REFERENCES = 20


@dataclass(frozen=True, slots=True)
class Thread:
    """What a reply threads under: the subject and the Message-IDs of the conversation's
    mails, oldest first (the last one is answered)."""

    subject: str = ""
    message_ids: tuple[str, ...] = ()


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    if not subject:
        return f"Re: {DEFAULT_SUBJECT}"
    return subject if _RE.match(subject) else f"Re: {subject}"


def plain_text(reply: OutboxItem) -> str:
    text = render.plain(reply.text)
    if reply.suggestions:
        lines = [f"{n}. {s.title}" for n, s in enumerate(reply.suggestions, start=1)]
        text += "\n\n" + "\n".join(lines) + "\n\nReply with the number of the one you mean."
    return text


def html_text(reply: OutboxItem) -> str:
    body = render.email_html(reply.text)
    if reply.suggestions:
        items = "".join(f"<li>{render.email_inline_html(s.title)}</li>"
                        for s in reply.suggestions)
        body += f"\n<ol>{items}</ol>\n<p>Reply with the number of the one you mean.</p>"
    return f"<!doctype html><html><body>\n{body}\n</body></html>\n"


def compose_reply(reply: OutboxItem, *, signer: MailSigner, thread: Thread,
                  team_name: str, bot: bool) -> EmailMessage:
    """The mail for one outbox item; its Message-ID is signed (see bots/email_sign.py)."""
    mail = EmailMessage()
    local, domain = split_address(signer.address)
    name = f"{reply.agent_name} ({team_name})" if reply.agent_name else team_name
    mail["From"] = Address(display_name=name, username=local, domain=domain)
    mail["To"] = reply.recipient
    mail["Reply-To"] = signer.reply_address(reply.conversation_id)
    mail["Subject"] = reply_subject(thread.subject)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = signer.message_id(reply.conversation_id, reply.message_id)
    if thread.message_ids:
        mail["In-Reply-To"] = thread.message_ids[-1]
        references = list(dict.fromkeys(thread.message_ids))[-_MAX_REFERENCES:]
        mail["References"] = " ".join(references)
    if bot:
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(plain_text(reply))
    mail.add_alternative(html_text(reply), subtype="html")
    return mail
