"""The agent/admin HTTP API under ``/api/v1/`` (web chat's own API lives in bots/webchat)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth import (
    SESSION_COOKIE,
    current_user,
    request_token,
    require_user,
    start_session,
    token_digest,
    verify_password,
)
from hub.core import HUB, Hub
from hub.errors import ApiError, field, json_body
from hub.model import ArticleStatus, ConversationState, NewArticle, Role
from hub.serialize import (
    article_json,
    contact_json,
    conversation_json,
    message_json,
    user_json,
)
from hub.store import NotFound

routes = web.RouteTableDef()

def _hub(request: web.Request) -> Hub:
    return request.app[HUB]


def _int_id(request: web.Request, name: str = "id") -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ApiError(404, f"{name} must be a number") from None


# auth ----------------------------------------------------------------------
@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    hub = _hub(request)
    body = await json_body(request)
    email = field(body, "email", str).strip().lower()
    password = field(body, "password", str)
    key = request.remote or "?"
    hub.login_limiter.check(key)
    user = await hub.store.get_user_by_email(email)
    valid = await verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.active:
        hub.login_limiter.failed(key)
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
    token = request_token(request)
    if token:
        await _hub(request).store.delete_session(token_digest(token))
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/auth/me")
async def me(request: web.Request) -> web.Response:
    user = await require_user(request, _hub(request).store)
    return web.json_response({"user": user_json(user)})


# conversations ---------------------------------------------------------------
@routes.get("/api/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store)
    state_name = request.query.get("state")
    state = None
    if state_name:
        try:
            state = ConversationState(state_name)
        except ValueError:
            raise ApiError(422, "state must be one of bot, queued, assigned, resolved") from None
    conversations = await hub.store.list_conversations(state)
    return web.json_response({"conversations": [conversation_json(c) for c in conversations]})


@routes.get("/api/v1/conversations/{id}")
async def get_conversation(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store)
    conversation_id = _int_id(request)
    conversation = await hub.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    messages = await hub.store.list_messages(conversation_id)
    return web.json_response(
        {**conversation_json(conversation), "messages": [message_json(m) for m in messages]}
    )


@routes.post("/api/v1/conversations/{id}/claim")
async def claim(request: web.Request) -> web.Response:
    hub = _hub(request)
    agent = await require_user(request, hub.store)
    conversation = await hub.desk.claim(_int_id(request), agent)
    return web.json_response(conversation_json(conversation))


@routes.post("/api/v1/conversations/{id}/release")
async def release(request: web.Request) -> web.Response:
    hub = _hub(request)
    agent = await require_user(request, hub.store)
    conversation = await hub.desk.release(_int_id(request), agent)
    return web.json_response(conversation_json(conversation))


@routes.post("/api/v1/conversations/{id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    hub = _hub(request)
    agent = await require_user(request, hub.store)
    conversation = await hub.desk.resolve(_int_id(request), agent)
    return web.json_response(conversation_json(conversation))


@routes.post("/api/v1/conversations/{id}/messages")
async def agent_message(request: web.Request) -> web.Response:
    hub = _hub(request)
    agent = await require_user(request, hub.store)
    conversation_id = _int_id(request)
    body = await json_body(request)
    text = _message_text(body, hub.settings.max_message_chars)
    channel = field(body, "channel", str, required=False)
    message = await hub.desk.reply(conversation_id, agent, text, channel)
    return web.json_response({"message": message_json(message)}, status=201)


def _message_text(body: dict[str, Any], max_chars: int) -> str:
    text = field(body, "text", str).strip()
    if not text:
        raise ApiError(422, "field 'text' is empty")
    if len(text) > max_chars:
        raise ApiError(413, f"field 'text' is longer than {max_chars} characters")
    return text


@routes.get("/api/v1/contacts/{id}")
async def get_contact(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store)
    contact_id = _int_id(request)
    contact = await hub.store.get_contact(contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    return web.json_response(contact_json(contact))


# knowledge -----------------------------------------------------------------
def _article_from_body(body: dict[str, Any], base: NewArticle | None = None) -> NewArticle:
    def pick(name: str, kind: type, default: Any) -> Any:
        value = field(body, name, kind, required=base is None and default is None)
        return default if value is None else value

    title = pick("title", str, base.title if base else None).strip()
    answer = pick("answer", str, base.answer if base else None).strip()
    questions = pick("questions", list, list(base.questions) if base else None)
    tags = pick("tags", list, list(base.tags) if base else [])
    status_name = pick("status", str, base.status.value if base else "published")
    if not title:
        raise ApiError(422, "field 'title' is empty")
    if not answer:
        raise ApiError(422, "field 'answer' is empty")
    if not questions or not all(isinstance(q, str) and q.strip() for q in questions):
        raise ApiError(422, "field 'questions' must be a non-empty list of non-empty strings")
    if not all(isinstance(t, str) for t in tags):
        raise ApiError(422, "field 'tags' must be a list of strings")
    try:
        status = ArticleStatus(status_name)
    except ValueError:
        raise ApiError(422, "field 'status' must be 'published' or 'draft'") from None
    return NewArticle(title, tuple(q.strip() for q in questions), answer,
                      tuple(t.strip() for t in tags if t.strip()), status)


@routes.get("/api/v1/articles")
async def list_articles(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store)
    articles = await hub.store.list_articles()
    return web.json_response({"articles": [article_json(a) for a in articles]})


@routes.post("/api/v1/articles")
async def create_article(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store, Role.ADMIN)
    article = _article_from_body(await json_body(request))
    [created] = await hub.store.create_articles([article])
    await hub.knowledge_changed()
    return web.json_response(article_json(created), status=201)


@routes.get("/api/v1/articles/{id}")
async def get_article(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store)
    article_id = _int_id(request)
    article = await hub.store.get_article(article_id)
    if article is None:
        raise NotFound(f"article {article_id} not found")
    return web.json_response(article_json(article))


@routes.patch("/api/v1/articles/{id}")
async def update_article(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store, Role.ADMIN)
    article_id = _int_id(request)
    body = await json_body(request)
    current = await hub.store.get_article(article_id)
    if current is None:
        raise NotFound(f"article {article_id} not found")
    base = NewArticle(current.title, current.questions, current.answer, current.tags,
                      current.status)
    updated = await hub.store.update_article(article_id, _article_from_body(body, base))
    await hub.knowledge_changed()
    return web.json_response(article_json(updated))


@routes.delete("/api/v1/articles/{id}")
async def delete_article(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store, Role.ADMIN)
    await hub.store.delete_article(_int_id(request))
    await hub.knowledge_changed()
    return web.json_response({"ok": True})


@routes.get("/api/v1/kb/match")
async def kb_match(request: web.Request) -> web.Response:
    hub = _hub(request)
    await require_user(request, hub.store)
    query = request.query.get("q", "").strip()
    if not query:
        raise ApiError(422, "query parameter 'q' is required")
    result = hub.knowledge.match(query)
    return web.json_response({
        "outcome": result.outcome,
        "matches": [
            {"article_id": m.article_id, "title": m.title, "score": m.score}
            for m in result.matches
        ],
    })


# operations ------------------------------------------------------------------
@routes.get("/api/v1/outbox/dead")
async def dead_letters(request: web.Request) -> web.Response:
    hub = _hub(request)
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
        await _hub(request).store.ping()
    except Exception as exc:
        raise ApiError(503, f"the store is not reachable: {type(exc).__name__}") from None
    return web.json_response({"status": "ready"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    hub = _hub(request)
    stats = await hub.store.outbox_stats()
    states = {}
    for state in ConversationState:
        states[state.value] = len(await hub.store.list_conversations(state, limit=100000))
    lines = [
        "# HELP supporthub_outbox_items Outbox items by status.",
        "# TYPE supporthub_outbox_items gauge",
        f'supporthub_outbox_items{{status="pending"}} {stats.pending}',
        f'supporthub_outbox_items{{status="sent"}} {stats.sent}',
        f'supporthub_outbox_items{{status="dead"}} {stats.dead}',
        "# HELP supporthub_conversations Conversations by state.",
        "# TYPE supporthub_conversations gauge",
        *(f'supporthub_conversations{{state="{k}"}} {v}' for k, v in states.items()),
        "# HELP supporthub_live_subscribers Open live connections (WebSockets).",
        "# TYPE supporthub_live_subscribers gauge",
        f"supporthub_live_subscribers {len(hub.bus)}",
        "# HELP supporthub_knowledge_articles Articles loaded in the matcher.",
        "# TYPE supporthub_knowledge_articles gauge",
        f"supporthub_knowledge_articles {len(hub.knowledge)}",
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


__all__ = ["current_user", "routes"]
