"""Email for agents: what a mail was (subject, sender, recipients, attachments, what could
not be read), its original as received, and its attachments — agents only, attachments
always as downloads (``Content-Disposition: attachment``, never rendered by the browser)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bots.email_parse import parse_mail
from hub.auth import require_user
from hub.core import Hub, hub_of
from hub.errors import ApiError, path_id

_SAFE = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
         "Content-Security-Policy": "sandbox; default-src 'none'"}


def _download(filename: str) -> str:
    ascii_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100]
    return f"attachment; filename=\"{ascii_name or 'attachment'}\"; " \
           f"filename*=UTF-8''{quote(filename[:200], safe='')}"


async def _received_mail(request: web.Request) -> tuple[Hub, int, bytes]:
    """The hub, the message id in the path and that mail's original (agents only; 404 for
    a message that is not a received mail)."""
    hub = hub_of(request)
    await require_user(request, hub.store)
    message_id = path_id(request)
    raw = await hub.store.mail_original(message_id)
    if raw is None:
        raise ApiError(404, f"message {message_id} is not a mail the hub received")
    return hub, message_id, raw


async def mail_details(request: web.Request) -> web.Response:
    hub, message_id, raw = await _received_mail(request)
    address = getattr(hub.channels.get("email"), "address", "")
    mail = await asyncio.to_thread(  # up to EMAIL_MAX_BYTES of MIME: off the loop
        parse_mail, raw, own_address=str(address), max_attachment_bytes=0)
    attachments = await hub.store.mail_attachments([message_id])
    body: dict[str, Any] = {
        "message_id": message_id, "subject": mail.subject, "from": mail.sender,
        "from_name": mail.sender_name, "to": list(mail.recipients),
        "mail_message_id": mail.message_id, "html_only": mail.html_only,
        "automated": mail.automated, "notes": list(mail.notes),
        "original_url": f"/api/v1/messages/{message_id}/original",
        "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.content_type,
                         "size": a.size, "kept": a.kept,
                         "url": f"/api/v1/attachments/{a.id}" if a.kept else None}
                        for a in attachments],
    }
    return web.json_response(body)


async def mail_original(request: web.Request) -> web.Response:
    _, message_id, raw = await _received_mail(request)
    return web.Response(body=raw, content_type="text/plain", charset="utf-8",
                        headers={**_SAFE, "Content-Disposition":
                                 f"inline; filename=\"message-{message_id}.eml\""})


async def attachment(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    attachment_id = path_id(request)
    found = await hub.store.mail_attachment(attachment_id)
    if found is None:
        raise ApiError(404, f"attachment {attachment_id} not found")
    item, data = found
    if data is None:
        raise ApiError(404, f"attachment {attachment_id} ({item.filename}, {item.size} bytes) "
                            "was over SUPPORTHUB_EMAIL_MAX_ATTACHMENT_BYTES: listed, not kept")
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={**_SAFE, "Content-Disposition": _download(item.filename)})


def email_routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/api/v1/messages/{id}/email", mail_details),
        web.get("/api/v1/messages/{id}/original", mail_original),
        web.get("/api/v1/attachments/{id}", attachment),
    ]
