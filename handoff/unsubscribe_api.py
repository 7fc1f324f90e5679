"""The email unsubscribe link of mail we write first (``List-Unsubscribe``, RFC 8058).

``POST /email/unsubscribe/{token}`` is the one click: a mail client posts
``List-Unsubscribe=One-Click`` (any body is taken), and the address the signed token names
opts out of mail we write first from our address (the consent record, handoff/reach.py).
``GET`` only shows a page with the button — link scanners and previews fetch links, so a
GET never unsubscribes anyone. No session: the token (bots/email_sign.py) is the authority;
a forged or broken one is 404 and changes nothing.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from bots.email import UNSUBSCRIBE_PATH, EmailChannel
from hub.core import Hub, hub_of
from hub.errors import ApiError

_NOT_VALID = "this unsubscribe link is not valid"


def _address(hub: Hub, token: str) -> tuple[EmailChannel, str]:
    channel = hub.channels.get("email")
    if not isinstance(channel, EmailChannel):
        raise ApiError(404, _NOT_VALID)
    try:
        address = channel.signer.address_of_unsubscribe_token(token)
    except RuntimeError:  # the channel is not started (yet)
        raise ApiError(503, "email is starting; try again in a moment") from None
    if address is None:
        raise ApiError(404, _NOT_VALID)
    return channel, address


def _masked(address: str) -> str:
    """``jane@example.com`` → ``j***@example.com``: a forwarded link shows no full address."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{escape(title)}"
            f"</title></head><body style=\"font-family:sans-serif;max-width:32rem;"
            f"margin:3rem auto\"><h1>{escape(title)}</h1>{body}</body></html>")
    return web.Response(text=html, status=status, content_type="text/html")


def _wants_html(request: web.Request) -> bool:
    """A person's browser (our page's form) gets a page; a mail client's one-click POST,
    and any API client, JSON."""
    return "text/html" in request.headers.get("Accept", "")


async def confirm_page(request: web.Request) -> web.Response:
    try:
        _, address = _address(hub_of(request), request.match_info["token"])
    except ApiError as refused:
        return _page("Link not valid", f"<p>{escape(refused.message.capitalize())}.</p>",
                     status=refused.status)
    return _page("Unsubscribe", (
        f"<p>Stop the messages we send first to <strong>{escape(_masked(address))}</strong>?"
        " Answers to the mail you write to us still reach you.</p>"
        f"<form method=\"post\"><button type=\"submit\" name=\"List-Unsubscribe\""
        f" value=\"One-Click\" data-testid=\"unsubscribe\">Unsubscribe</button></form>"))


async def unsubscribe(request: web.Request) -> web.Response:
    hub = hub_of(request)
    try:
        channel, address = _address(hub, request.match_info["token"])
    except ApiError as refused:
        if _wants_html(request):
            return _page("Link not valid", f"<p>{escape(refused.message.capitalize())}.</p>",
                         status=refused.status)
        raise
    await request.read()  # the one-click body, ignored: the token says who
    await channel.opt_out(address, "one click")
    if _wants_html(request):
        return _page("Unsubscribed", f"<p>{escape(_masked(address))} gets no more messages"
                     " we send first. Answers to the mail you write to us still reach you."
                     "</p>")
    return web.json_response({"unsubscribed": True, "channel": "email"})


def unsubscribe_routes() -> list[web.AbstractRouteDef]:
    path = UNSUBSCRIBE_PATH + "/{token}"
    return [web.get(path, confirm_page), web.post(path, unsubscribe)]
