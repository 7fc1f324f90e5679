"""Our replies as mails (no I/O here): ``multipart/alternative`` (text, and HTML from the
answer's Markdown), threaded by ``In-Reply-To``/``References``, answerable at the signed
``reply+<token>@`` address, ``Re:`` kept on the subject; bot mails say
``Auto-Submitted: auto-replied`` so other robots do not answer them.

Mail we write first (notify, campaigns) carries ``List-Unsubscribe`` — the signed one-click
link (RFC 8058, with ``List-Unsubscribe-Post``) when the hub has a public URL, and a mailto —
and says the same at its foot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from html import escape

from bots import render
from bots.email_sign import MailSigner, split_address
from hub.model import OutboxItem

DEFAULT_SUBJECT = "Your message to us"
ONE_CLICK = "List-Unsubscribe=One-Click"
_RE = re.compile(r"^\s*(re|aw|sv|antw|r)\s*:\s*", re.IGNORECASE)
_MAX_REFERENCES = 20


@dataclass(frozen=True, slots=True)
class Thread:
    """What a reply threads under: the subject and the Message-IDs of the conversation's
    mails, oldest first (the last one is answered)."""

    subject: str = ""
    message_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Where the recipient of a mail we wrote first stops such mail: the one-click https
    link (None without a public URL) and the mailto (its subject carries the token)."""

    url: str | None
    mailto: str

    def header(self) -> str:
        return ", ".join(f"<{u}>" for u in (self.url, self.mailto) if u)

    def footer(self) -> str:
        where = self.url or self.mailto
        return f"To stop these messages: {where}"


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
                  team_name: str, bot: bool,
                  unsubscribe: Unsubscribe | None = None) -> EmailMessage:
    """The mail for one outbox item; its Message-ID is signed (see bots/email_sign.py).
    With ``unsubscribe`` it is a mail we write first: ``List-Unsubscribe`` and a foot."""
    mail = EmailMessage()
    local, domain = split_address(signer.address)
    name = f"{reply.agent_name} ({team_name})" if reply.agent_name else team_name
    mail["From"] = Address(display_name=name, username=local, domain=domain)
    mail["To"] = reply.recipient
    mail["Reply-To"] = signer.reply_address(reply.conversation_id)
    mail["Subject"] = (reply_subject(thread.subject) if thread.subject or unsubscribe is None
                       else f"A message from {team_name}")
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = signer.message_id(reply.conversation_id, reply.message_id)
    if thread.message_ids:
        mail["In-Reply-To"] = thread.message_ids[-1]
        references = list(dict.fromkeys(thread.message_ids))[-_MAX_REFERENCES:]
        mail["References"] = " ".join(references)
    if bot:  # a campaign's mail is no reply to anything: generated (RFC 3834)
        mail["Auto-Submitted"] = "auto-replied" if unsubscribe is None else "auto-generated"
        mail["X-Auto-Response-Suppress"] = "All"
    text, html = plain_text(reply), html_text(reply)
    if unsubscribe is not None:
        mail["List-Unsubscribe"] = unsubscribe.header()
        if unsubscribe.url:  # one click: the mail client POSTs, no page to visit (RFC 8058)
            mail["List-Unsubscribe-Post"] = ONE_CLICK
        text += "\n\n-- \n" + unsubscribe.footer()
        link = unsubscribe.url or unsubscribe.mailto
        html = html.replace("\n</body>", f'\n<p style="font-size:small;color:#666">'
                            f'<a href="{escape(link, quote=True)}">Unsubscribe</a> from these'
                            f" messages.</p>\n</body>")
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail
