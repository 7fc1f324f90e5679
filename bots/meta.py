"""Messenger and Instagram through Meta's Graph API: one module, one aiohttp session, two
channel names.

There is no official async Python SDK for the Graph API, so the gateway speaks it directly:
the Send API ``POST {SUPPORTHUB_META_API_URL}/me/messages`` with the Page token (Messenger)
or the Instagram token (Instagram), sent as ``Authorization: Bearer``.

Inbound: ``GET /webhooks/meta`` answers the subscription handshake; ``POST /webhooks/meta``
checks ``X-Hub-Signature-256`` against the raw body before anything is parsed, then commits
every message of the batch (``bots/meta_inbound.py``) before Meta gets its 200.

Outbound: plain text (Markdown rendered away), cut at the platform's limit (Messenger 2,000
characters, Instagram 1,000) at a line or a space; suggestions as quick replies whose
payload ``kb:<id>`` comes back as a choice; the satisfaction survey as five quick replies
whose payload ``csat:<1-5>`` comes back as the rating. The messaging window decides the
``messaging_type`` (``handoff/windows.py``): ``RESPONSE`` within 24 hours of the customer's
last message, ``MESSAGE_TAG``/``HUMAN_AGENT`` for a person's reply within 7 days when
allowed, otherwise nothing is sent (a dead letter saying why).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bots import render
from bots.base import (
    Channel,
    DeliveryError,
    GatewayChannel,
    OnAccept,
    PermanentFailure,
    RetryLater,
)
from bots.meta_inbound import (
    INSTAGRAM,
    MESSENGER,
    PAYLOAD_PREFIX,
    RATING_PREFIX,
    SIGNATURE_HEADER,
    read_payload,
    signature_valid,
)
from handoff.reach import sender
from handoff.windows import Mode, window
from hub import metrics
from hub.config import Settings
from hub.model import OutboxItem
from hub.store import Store

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/meta"
GATEWAY = "meta"  # the metrics' channel label of a webhook refused before it is read
TEXT_LIMITS = {MESSENGER: 2000, INSTAGRAM: 1000}
QUICK_REPLY_TITLE = 20  # characters Meta shows of a quick reply's title
MAX_QUICK_REPLIES = 13
PART_ATTEMPTS, PART_MAX_WAIT = 4, 10.0  # a split reply's later parts: tries, longest pause
# Graph error codes (https://developers.facebook.com/docs/messenger-platform/error-codes)
_RATE_LIMITED = frozenset({4, 17, 32, 613, 80006})  # app, user, page, API, Messenger limits
_TRANSIENT = frozenset({1, 2})  # unknown / temporary: retry later
_BAD_TOKEN = 190  # invalid or expired access token: nothing can go out until it is replaced
_UNAVAILABLE = 551  # "This person isn't available right now"
_OUTSIDE_WINDOW = frozenset({2018278, 2018108, 2018065})  # code 10 subcodes
_NO_USER = frozenset({2018001})  # code 100: no matching user


class MetaGateway:
    """The Graph API session and the webhook, shared by ``messenger`` and ``instagram``."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._secret = settings.meta_app_secret.encode()
        self._api = settings.meta_api_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._accept: OnAccept | None = None
        self._users = 0

    def routes(self, accept: OnAccept) -> list[web.AbstractRouteDef]:
        self._accept = accept
        return [web.get(WEBHOOK_PATH, self.handshake), web.post(WEBHOOK_PATH, self.webhook)]

    async def start(self) -> None:
        self._users += 1
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        if not self._settings.meta_app_secret:
            log.warning("meta: SUPPORTHUB_META_APP_SECRET is not set, so no webhook can be "
                        "verified: every Messenger/Instagram event will be refused")

    async def stop(self) -> None:
        self._users -= 1
        if self._users <= 0 and self._session is not None:
            await self._session.close()
            self._session = None

    # inbound -------------------------------------------------------------------
    async def handshake(self, request: web.Request) -> web.Response:
        """Meta's subscription check: echo ``hub.challenge`` for our verify token only."""
        query = request.query
        token = query.get("hub.verify_token", "").encode()
        expected = self._settings.meta_verify_token.encode()
        if query.get("hub.mode") != "subscribe" or not expected \
                or not hmac.compare_digest(token, expected) or "hub.challenge" not in query:
            metrics.WEBHOOK_VERIFICATION_FAILURES.labels(GATEWAY).inc()
            return _forbidden("wrong hub.mode or hub.verify_token")
        return web.Response(text=query["hub.challenge"], content_type="text/plain")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not signature_valid(self._secret, body, request.headers.get(SIGNATURE_HEADER)):
            # which of the two channels is unknown before the body is trusted: "meta"
            metrics.WEBHOOK_VERIFICATION_FAILURES.labels(GATEWAY).inc()
            return _forbidden(f"missing or wrong {SIGNATURE_HEADER}")
        try:
            messages = read_payload(json.loads(body))
        except ValueError as exc:  # JSONDecodeError is one
            return web.json_response({"error": {"code": "bad_request", "message":
                                      f"not a Meta webhook: {exc}"}}, status=400)
        if self._accept is None:
            raise RuntimeError("the Meta channels are not attached to a hub")
        for channel, person in {(m.channel, m.external_id) for m in messages}:
            # someone Meta could not reach who writes is reachable again (before their
            # message is answered, so the answer is not held back)
            record = await self._store.consent(channel, person, sender(channel, self._settings))
            if record is not None and not record.allowed:
                await self._store.set_consent(channel, person, record.sender, allowed=True,
                                              reason="wrote to us again")
        for message in messages:  # each committed before Meta hears 200
            await self._accept(message)
        return web.json_response({})

    # outbound ------------------------------------------------------------------
    async def send(self, channel: str, reply: OutboxItem) -> str | None:
        token = self._settings.messenger_page_token if channel == MESSENGER \
            else self._settings.instagram_token
        if not token:
            raise PermanentFailure(f"{channel}: no token is configured", unreachable=False)
        routing = await self._routing(channel, reply)
        if self._session is None:
            raise RetryLater(f"{channel}: the client is not started")
        chunks = _cut(_text(reply), TEXT_LIMITS[channel])
        message_id: str | None = None
        for index, chunk in enumerate(chunks):
            message: dict[str, Any] = {"text": chunk}
            if index == len(chunks) - 1:
                quick = _quick_replies(reply)
                if quick:
                    message["quick_replies"] = quick
            body = {"recipient": {"id": reply.recipient}, **routing, "message": message}
            if index == 0:  # nothing went out yet: the outbox may retry the whole reply
                try:
                    message_id = await self._post(channel, token, body)
                except PermanentFailure as exc:
                    if exc.unreachable:  # Meta says this person cannot be reached
                        await self._store.set_consent(
                            channel, reply.recipient, sender(channel, self._settings),
                            allowed=False, reason=f"cannot be reached ({exc})")
                    raise
            else:
                message_id = await self._post_rest(channel, token, body)
        return message_id

    async def _post_rest(self, channel: str, token: str, body: dict[str, Any]) -> str | None:
        """A later part of a split reply: retried here for a while, since a retry of the
        whole reply by the outbox would send the parts already delivered again."""
        for attempt in range(PART_ATTEMPTS):
            try:
                return await self._post(channel, token, body)
            except RetryLater as exc:
                if attempt == PART_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(min(exc.retry_after or 2.0 ** attempt, PART_MAX_WAIT))
        return None

    async def _routing(self, channel: str, reply: OutboxItem) -> dict[str, str]:
        """``messaging_type`` (and ``tag``) the window allows for this reply, or a
        PermanentFailure saying why it may not go."""
        now = datetime.now(UTC)
        last = await self._last_customer_message(channel, reply)
        by_agent = reply.agent_name is not None
        mode = window(channel, last, now, self._settings.meta_human_agent_tag).mode(by_agent)
        if mode is Mode.FREE:
            return {"messaging_type": "RESPONSE"}
        if mode is Mode.HUMAN_AGENT:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        since = f"last wrote {last:%Y-%m-%d %H:%M} UTC" if last else "never wrote here"
        who = "an agent's reply needs the HUMAN_AGENT tag (7 days, " \
              "SUPPORTHUB_META_HUMAN_AGENT_TAG)" if by_agent else "the bot may not write"
        raise PermanentFailure(f"{channel}: outside the 24-hour messaging window (the "
                               f"customer {since}); {who}", unreachable=False)

    async def _last_customer_message(self, channel: str, reply: OutboxItem) -> datetime | None:
        facts = await self._store.customer_windows(reply.conversation_id)
        return next((f.last_open for f in facts if f.channel == channel), None)

    async def _post(self, channel: str, token: str, body: dict[str, Any]) -> str | None:
        assert self._session is not None
        try:
            async with self._session.post(
                    f"{self._api}/me/messages", json=body,
                    headers={"Authorization": f"Bearer {token}"}) as response:
                text = await response.text()
                retry_after = response.headers.get("Retry-After")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"{channel}: {type(exc).__name__}: {exc}") from exc
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        if status < 300 and isinstance(answer, dict) and "error" not in answer:
            return str(answer.get("message_id") or "") or None
        raise delivery_error(channel, status, answer, retry_after)


def meta_channels(settings: Settings, store: Store) -> list[Channel]:
    """A channel for each configured token; the first serves the shared webhook."""
    gateway = MetaGateway(settings, store)
    names = [name for name, token in ((MESSENGER, settings.messenger_page_token),
                                      (INSTAGRAM, settings.instagram_token)) if token]
    return [GatewayChannel(name, gateway, serves_webhooks=index == 0)
            for index, name in enumerate(names)]


def delivery_error(channel: str, status: int, answer: Any,
                   retry_after: str | None = None) -> DeliveryError:
    """The Graph API's error, as the outbox's: retry, or give up (and whether the person can
    no longer be reached)."""
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
    text = (f"{channel}: Graph HTTP {status}, error {code}"
            f"{f'/{subcode}' if subcode else ''}: {error.get('message') or 'no message'}")
    if code in _RATE_LIMITED or status == 429:
        return RetryLater(text, retry_after=_float(retry_after))
    if code == _BAD_TOKEN:  # the channel is broken, not the person: an admin must act
        return PermanentFailure(f"{text} (the access token was rejected: replace it)",
                                unreachable=False)
    if code == 10 and subcode in _OUTSIDE_WINDOW:
        return PermanentFailure(f"{text} (outside the messaging window)", unreachable=False)
    if code == _UNAVAILABLE or (code == 100 and subcode in _NO_USER):
        return PermanentFailure(text, unreachable=True)
    if code in _TRANSIENT or error.get("is_transient") or status >= 500 or not error:
        return RetryLater(text)
    return PermanentFailure(text, unreachable=False)


def _text(reply: OutboxItem) -> str:
    text = render.plain(reply.text).strip()
    return f"{reply.agent_name}: {text}" if reply.agent_name else text


def _quick_replies(reply: OutboxItem) -> list[dict[str, str]]:
    """The buttons under a reply: its suggestions (payload ``kb:<id>``), or the survey's
    five ratings (payload ``csat:1`` … ``csat:5``)."""
    if reply.suggestions:
        return [{"content_type": "text", "title": _title(s.title),
                 "payload": f"{PAYLOAD_PREFIX}{s.article_id}"}
                for s in reply.suggestions[:MAX_QUICK_REPLIES]]
    if "csat" in reply.marks:
        return [{"content_type": "text", "title": str(score),
                 "payload": f"{RATING_PREFIX}{score}"} for score in range(1, 6)]
    return []


def _title(title: str) -> str:
    return title if len(title) <= QUICK_REPLY_TITLE else title[:QUICK_REPLY_TITLE - 1] + "…"


def _cut(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, each cut at the last line break,
    else sentence end, else space in its second half (a word longer than that is cut)."""
    pieces: list[str] = []
    while len(text) > size:
        at = size
        for found in (text.rfind("\n", 0, size), _sentence_end(text, size),
                      text.rfind(" ", 0, size)):
            if found > size // 2:
                at = found
                break
        pieces.append(text[:at].rstrip())
        text = text[at:].lstrip()
    return [*pieces, text] if text else pieces or [""]


def _sentence_end(text: str, size: int) -> int:
    ends = [text.rfind(mark, 0, size) for mark in (". ", "! ", "? ")]
    best = max(ends)
    return best + 1 if best >= 0 else -1


def _forbidden(why: str) -> web.Response:
    return web.json_response({"error": {"code": "forbidden", "message": why}}, status=403)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _float(value: object) -> float | None:
    try:
        return float(str(value)) if value is not None else None
    except ValueError:
        return None
