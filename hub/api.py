"""The agent/admin HTTP API under ``/api/v1/`` (web chat's own API lives in bots/webchat)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handoff import reach
from handoff.contacts_api import add_note, check_reply_channel, contact_detail, filter_conversations
from handoff.windows import WINDOWED
from hub.auth import (
    SESSION_COOKIE,
    current_user,
    request_token,
    require_user,
    start_session,
    token_digest,
    verify_password,
)
from hub.core import Hub, hub_of
from hub.errors import ApiError, field, json_body, path_id
from hub.model import ConversationState, Role
from hub.serialize import (
    conversation_json,
    message_json,
    user_json,
)
from hub.store import NotFound

routes = web.RouteTableDef()





# auth ----------------------------------------------------------------------
@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request, "Login")
    email = field(body, "email", str).strip().lower()
    password = field(body, "password", str)
    key = hub.client_address(request)
    hub.login_limiter.check(key)
    user = await hub.store.get_user_by_email(email)
    valid = await verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.active:
        hub.login_limiter.hit(key)
        raise ApiError(401, "wrong email or password")
    token = await start_session(hub.store, user, hub.settings.session_ttl)
    response = web.json_response({"token": token, "user": user_json(user)})
    response.set_cookie(
        SESSION_COOKIE, token, max_age=hub.settings.session_ttl, httponly=True,
        samesite="Strict", secure=hub.settings.cookie_secure, path="/",
    )
    return response


@routes.post("/api/v1/auth/logout")
async def logout(request: web.Request) -> web.Response:
    hub = hub_of(request)
    token = request_token(request)
    if token:
        user = await current_user(request, hub.store)
        await hub.store.delete_session(token_digest(token))
        if user is not None:  # its open sockets close, in every process
            hub.sessions_ended(user.id)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/auth/me")
async def me(request: web.Request) -> web.Response:
    user = await require_user(request, hub_of(request).store)
    return web.json_response({"user": user_json(user)})


# conversations ---------------------------------------------------------------
@routes.get("/api/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    hub = hub_of(request)
    user = await require_user(request, hub.store)
    state_name = request.query.get("state")
    state = None
    if state_name is not None:  # given, even empty: it must name a state
        try:
            state = ConversationState(state_name)
        except ValueError:
            raise ApiError(422, "state must be one of bot, queued, assigned, resolved") from None
    conversations = await filter_conversations(hub, request.query, state)
    unread = await hub.store.unread_counts(user.id, [c.id for c in conversations])
    return web.json_response({"conversations": [
        {**conversation_json(c), "unread": unread.get(c.id, 0)} for c in conversations]})


@routes.get("/api/v1/conversations/{id}")
async def get_conversation(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    conversation_id = path_id(request)
    conversation = await hub.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    messages = await hub.store.list_messages(conversation_id)
    return web.json_response(
        {**conversation_json(conversation), "messages": [message_json(m) for m in messages]}
    )


@routes.post("/api/v1/conversations/{id}/read")
async def mark_read(request: web.Request) -> web.Response:
    """The caller has read the conversation up to ``message_id`` (never moves backwards)."""
    hub = hub_of(request)
    agent = await require_user(request, hub.store)
    conversation_id = path_id(request)
    body = await json_body(request, "ReadMark")
    message_id = field(body, "message_id", int)
    if not 1 <= message_id < 2**63:
        raise ApiError(422, "field 'message_id' must be a positive integer")
    await hub.store.mark_read(agent.id, conversation_id, message_id)
    return web.json_response({"ok": True})


@routes.post("/api/v1/conversations/{id}/claim")
async def claim(request: web.Request) -> web.Response:
    hub = hub_of(request)
    agent = await require_user(request, hub.store)
    conversation = await hub.desk.claim(path_id(request), agent)
    return web.json_response(conversation_json(conversation))


@routes.post("/api/v1/conversations/{id}/release")
async def release(request: web.Request) -> web.Response:
    hub = hub_of(request)
    agent = await require_user(request, hub.store)
    conversation = await hub.desk.release(path_id(request), agent)
    return web.json_response(conversation_json(conversation))


@routes.post("/api/v1/conversations/{id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    hub = hub_of(request)
    agent = await require_user(request, hub.store)
    conversation = await hub.desk.resolve(path_id(request), agent)
    return web.json_response(conversation_json(conversation))


@routes.post("/api/v1/conversations/{id}/messages")
async def agent_message(request: web.Request) -> web.Response:
    hub = hub_of(request)
    agent = await require_user(request, hub.store)
    conversation_id = path_id(request)
    body = await json_body(request, "AgentMessage")
    text = _message_text(body, hub.settings.max_message_chars)
    channel = field(body, "channel", str, required=False)
    if field(body, "private", bool, required=False):  # a private note, never sent
        message = await add_note(hub, conversation_id, agent, text)
        return web.json_response({"message": message_json(message)}, status=201)
    if channel is not None:
        await check_reply_channel(hub, conversation_id, channel)
    await _check_window(hub, conversation_id, channel)
    message = await hub.desk.reply(conversation_id, agent, text, channel)
    return web.json_response({"message": message_json(message)}, status=201)


# channels with a messaging window or a consent record to respect
CHECKED_CHANNELS = WINDOWED | {"sms"}


async def _check_window(hub: Hub, conversation_id: int, channel: str | None) -> None:
    """A reply the channel's messaging window or the customer's consent forbids is refused
    now (409, with the reason), rather than dead-lettered later (handoff/reach.py)."""
    conversation = await hub.store.get_conversation(conversation_id)
    if conversation is None:
        return  # the desk answers 404
    target = channel or conversation.channel
    contact = await hub.store.get_contact(conversation.contact_id)
    if contact is None or target not in CHECKED_CHANNELS:
        return
    last_wrote, suppressed = await reach.facts(hub.store, hub.settings, contact)
    found = reach.choose(contact, channel=target, template=False,
                         channels_on=set(hub.channels), last_wrote=last_wrote,
                         suppressed=suppressed, now=datetime.now(UTC),
                         human_agent_tag=hub.settings.meta_human_agent_tag, by_agent=True)
    if isinstance(found, reach.Refusal) and found.code in (
            "template_needed", "window_closed", "suppressed"):
        raise ApiError(409, found.message, code=found.code)


def _message_text(body: dict[str, Any], max_chars: int) -> str:
    text = field(body, "text", str).strip()
    if not text:
        raise ApiError(422, "field 'text' is empty")
    if len(text) > max_chars:
        raise ApiError(413, f"field 'text' is longer than {max_chars} characters")
    return text


@routes.get("/api/v1/contacts/{id}")
async def get_contact(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    contact_id = path_id(request)
    contact = await hub.store.get_contact(contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    return web.json_response(await contact_detail(hub, contact))


# knowledge: articles and kb/match are served by knowledge/articles_api.py (admin_routes)


# operations ------------------------------------------------------------------
@routes.get("/api/v1/outbox/dead")
async def dead_letters(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    items = await hub.store.dead_letters()
    return web.json_response({"dead_letters": [
        {"outbox_id": d.outbox_id, "message_id": d.message_id,
         "conversation_id": d.conversation_id, "channel": d.channel, "recipient": d.recipient,
         "text": d.text, "attempts": d.attempts, "error": d.last_error}
        for d in items
    ]})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        await hub_of(request).store.ping()
    except Exception as exc:
        raise ApiError(503, f"the store is not reachable: {type(exc).__name__}") from None
    return web.json_response({"status": "ready"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; the shared figures come from a cache (hub/metrics.py), so a scrape
    never waits for the store."""
    body = generate_latest(hub_of(request).metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
