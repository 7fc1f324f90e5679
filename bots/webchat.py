"""The web chat: the public visitor API (the widget and a mobile app use exactly this), the
``/chat`` page, ``/widget.js``, and the live WebSocket.

A visitor is identified by a signed token (see :class:`hub.auth.VisitorTokens`) kept in the
browser; it names the visitor's identity, and through it their one conversation, so a
visitor can never reach anyone else's thread. Replies need no platform call: they are in
the store, and live sockets hear of them on the event bus.

What it needs of the hub serving it (settings, the channels that are on, the new-session
limit) comes as a :class:`WebChatSite` from the app factory, so no channel imports the hub's
parts (``hub.core``) or the pipeline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from aiohttp import web

from bots.base import Channel, OnAccept, OnMessage
from handoff import linking
from hub import openapi
from hub.auth import RateLimiter, VisitorTokens
from hub.config import Settings
from hub.errors import ApiError, field, json_body
from hub.events import ConversationChanged, Event, EventBus, MessageCreated, Typing
from hub.live import Throttle, pump
from hub.model import ArticleStatus, Conversation, InboundMessage, OutboxItem
from hub.serialize import conversation_json, message_json
from hub.store import Store
from knowledge.feedback import feedback_inbound

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
CHANNEL = "webchat"


class WebChatSite(Protocol):
    """What the web chat reads from the hub serving it (``hub.core.Hub`` is one)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def channels(self) -> Mapping[str, object]: ...

    @property
    def session_limiter(self) -> RateLimiter: ...

    def client_address(self, request: web.Request) -> str: ...


class WebChatChannel(Channel):
    name = CHANNEL
    delivered_by_store = True  # replies are written to the outbox as sent, never leased

    def __init__(self, store: Store, bus: EventBus, site: WebChatSite) -> None:
        self._store = store
        self._bus = bus
        self._site = site
        self._max_chars = site.settings.max_message_chars
        self.tokens = VisitorTokens("")  # replaced with the hub's secret at start
        self._on_message: OnMessage | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    async def send(self, reply: OutboxItem) -> str | None:
        # The reply is in the store and was announced on the bus when it was committed:
        # an open chat shows it at once, a closed one fetches it when it comes back. Its
        # outbox row is written as sent (``delivered_by_store``): this runs only for a row
        # that an older version left pending.
        return None

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")

    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        self._on_message = on_message
        return [
            web.get("/chat", self.chat_page),
            web.get("/widget.js", self.widget_script),
            web.static("/static/chat", STATIC),
            web.post("/api/v1/webchat/sessions", self.create_session),
            web.get("/api/v1/webchat/messages", self.list_messages),
            web.post("/api/v1/webchat/messages", self.post_message),
            web.get("/api/v1/webchat/ws", self.live),
        ]

    # pages -------------------------------------------------------------------
    async def chat_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "chat.html")

    async def widget_script(self, request: web.Request) -> web.FileResponse:
        response = web.FileResponse(STATIC / "widget.js")
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    # visitor API -------------------------------------------------------------
    def _visitor(self, request: web.Request, token: str | None = None) -> str:
        if token is None:
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else None
        visitor_id = self.tokens.verify(token)
        if visitor_id is None:
            raise ApiError(401, "a valid visitor token is required (Authorization: Bearer …)")
        return visitor_id

    async def _conversation(self, visitor_id: str) -> Conversation:
        conversation = await self._store.find_conversation(CHANNEL, visitor_id)
        if conversation is None:
            conversation = await self._store.start_conversation(CHANNEL, visitor_id)
        return conversation

    async def create_session(self, request: web.Request) -> web.Response:
        body = await json_body(request, "WebchatStart")
        identifier = field(body, "identifier", str, required=False)
        identifier_hash = field(body, "identifier_hash", str, required=False)
        header = request.headers.get("Authorization", "")
        existing = header[7:].strip() if header.lower().startswith("bearer ") else None
        visitor_id = self.tokens.verify(existing)
        if visitor_id is not None and existing is not None:
            token = existing
        else:  # a new visitor (a new contact): limited per address against floods
            address = self._site.client_address(request)
            self._site.session_limiter.check(address)
            self._site.session_limiter.hit(address)
            visitor_id, token = self.tokens.issue()
        secret = self._site.settings.webchat_identity_secret
        if identifier and identifier_hash and linking.identifier_valid(
                secret, identifier, identifier_hash):
            # the site vouches for its user: every device of theirs is one contact
            conversation = await linking.join_site_user(self._store, CHANNEL, visitor_id,
                                                        identifier)
        else:  # no identifier, or one without a valid HMAC: anonymous, nothing linked
            conversation = await self._conversation(visitor_id)
        email = field(body, "email", str, required=False)
        email_hash = field(body, "email_hash", str, required=False)
        address = email.strip().lower() if email else ""
        if address and email_hash and linking.identifier_valid(secret, address, email_hash):
            # the site vouches for the user's address: their mail lands in this thread
            conversation = await linking.join_site_user(self._store, CHANNEL, visitor_id,
                                                        address, kind="email")
        channels = self._site.channels
        return web.json_response(
            {"visitor_token": token, "conversation_id": conversation.id,
             "link_channels": [c for c in linking.LINK_CHANNELS if c in channels]}, status=201
        )

    async def list_messages(self, request: web.Request) -> web.Response:
        visitor_id = self._visitor(request)
        unknown = sorted(set(request.query) - {"after"})
        if unknown:  # a misspelt "after" must not silently return everything
            raise ApiError(422, f"query parameter {unknown[0]!r} is not known (only 'after')")
        after = _after(request)
        conversation = await self._conversation(visitor_id)
        messages = await self._store.list_messages(
            conversation.id, after_id=after, include_private=False
        )
        return web.json_response({
            "conversation": _public_conversation(conversation),
            "messages": [message_json(m) for m in messages],
        })

    async def post_message(self, request: web.Request) -> web.Response:
        visitor_id = self._visitor(request)
        body = await json_body(request, "VisitorMessage")
        if self._on_message is None:
            raise ApiError(503, "the web chat is not ready")
        choice = field(body, "choice", int, required=False)
        if "feedback" in body:  # a thumbs-down on one of the bot's answers
            if body["feedback"] != "unhelpful":
                raise ApiError(422, "field 'feedback' must be 'unhelpful'")
            inbound = feedback_inbound(CHANNEL, visitor_id, field(body, "message_id", int))
        elif "csat" in body:  # a survey button (the schema holds it to 1–5), and a comment
            score = field(body, "csat", int)
            comment = field(body, "comment", str, required=False)
            if comment is not None and len(comment) > self._max_chars:
                raise ApiError(413, f"field 'comment' is longer than {self._max_chars}"
                               " characters")
            text = f"{score}\n{comment.strip()}" if comment and comment.strip() else str(score)
            inbound = InboundMessage(CHANNEL, visitor_id, text, csat_score=score,
                                     csat_comment=comment)
        elif choice is not None:
            title = await self._choice_title(visitor_id, choice)
            inbound = InboundMessage(CHANNEL, visitor_id, title, choice_article_id=choice)
        else:
            text = field(body, "text", str).strip()
            if not text:
                raise ApiError(422, "field 'text' is empty")
            if len(text) > self._max_chars:
                raise ApiError(413, f"field 'text' is longer than {self._max_chars} characters")
            client_id = field(body, "client_message_id", str, required=False)
            inbound = InboundMessage(
                CHANNEL, visitor_id, text,
                platform_message_id=f"{visitor_id}:{client_id}" if client_id else None,
            )
        ingested = await self._on_message(inbound)
        return web.json_response({"message": message_json(ingested.message)}, status=201)

    async def _choice_title(self, visitor_id: str, article_id: int) -> str:
        """The title of a suggestion the visitor was offered. A choice must name a published
        article the bot suggested in this visitor's conversation: any other id (a draft, one
        never offered, one that does not exist) gets the same answer, so ids cannot be walked
        to read what a visitor was not shown."""
        conversation = await self._store.find_conversation(CHANNEL, visitor_id)
        offered = conversation is not None and any(
            s.article_id == article_id
            for m in await self._store.list_messages(conversation.id, include_private=False)
            for s in m.suggestions)
        article = await self._store.get_article(article_id) if offered else None
        if article is None or article.status is not ArticleStatus.PUBLISHED:
            raise ApiError(404, f"field 'choice': no suggestion {article_id} was offered in"
                                " this conversation")
        return article.title

    # live ----------------------------------------------------------------------
    async def live(self, request: web.Request) -> web.WebSocketResponse:
        visitor_id = self._visitor(request, request.query.get("token", ""))
        after = _after(request)
        conversation = await self._conversation(visitor_id)
        # compression off: it costs ~8x memory per socket (PERFORMANCE.md)
        ws = web.WebSocketResponse(heartbeat=30, compress=False)
        await ws.prepare(request)
        self._sockets.add(ws)
        last_id = after or 0

        async def forward(event: Event) -> None:
            nonlocal last_id
            if isinstance(event, MessageCreated):
                message = event.message
                if (message.conversation_id == conversation.id and not message.private
                        and message.id > last_id):
                    await ws.send_json({"type": "message", "message": message_json(message)})
                    last_id = message.id
            elif isinstance(event, Typing):
                if event.conversation_id == conversation.id and event.author == "agent":
                    await ws.send_json({"type": "typing", "author": "agent", "name": event.name})
            elif isinstance(event, ConversationChanged):
                if event.conversation.id == conversation.id:
                    await ws.send_json({
                        "type": "conversation",
                        "conversation": _public_conversation(event.conversation),
                    })

        typing_throttle = Throttle()

        async def on_text(data: str) -> None:
            if _frame_type(data) == "typing" and typing_throttle.ready():
                self._bus.publish(Typing(conversation.id, "customer"))

        try:
            with self._bus.subscribe() as subscription:
                # subscribe first, then replay: nothing falls between the two
                for message in await self._store.list_messages(
                    conversation.id, after_id=last_id, include_private=False
                ):
                    await ws.send_json({"type": "message", "message": message_json(message)})
                    last_id = message.id
                await pump(ws, subscription, forward, on_text)
        except ConnectionResetError:
            pass
        finally:
            self._sockets.discard(ws)
            await ws.close()
        return ws


def _frame_type(data: str) -> str | None:
    """The ``type`` of a client's JSON frame (None when it is not one)."""
    try:
        frame = json.loads(data)
    except ValueError:
        return None
    return str(frame.get("type")) if isinstance(frame, dict) else None


def _after(request: web.Request) -> int | None:
    raw = request.query.get("after")
    if raw in (None, ""):
        return None
    try:
        after = int(raw)
    except ValueError:
        raise ApiError(422, "query parameter 'after' must be a message id") from None
    if not openapi.INT64_MIN <= after <= openapi.INT64_MAX:
        raise ApiError(422, "query parameter 'after' must be a message id")
    return after


def _public_conversation(conversation: Conversation) -> dict[str, object]:
    """What a visitor may see of their own conversation."""
    data = conversation_json(conversation)
    agent = data["assigned_agent"]
    return {
        "id": data["id"],
        "state": data["state"],
        "assigned_agent": {"name": agent["name"]} if isinstance(agent, dict) else None,
        "channel": data["channel"],
    }
