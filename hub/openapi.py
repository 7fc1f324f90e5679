"""The OpenAPI 3 description of the HTTP API, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, *, body: str | None = None, ok: str | None = None, status: int = 200,
        auth: str = "agent", params: list[dict[str, Any]] | None = None,
        errors: tuple[int, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): {
            "description": "success",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ok}"}
                                             if ok else {"type": "object"}}},
        }
    }
    codes = set(errors)
    if body:
        codes |= {400, 422}
    if auth != "none":
        codes.add(401)
    if auth == "admin":
        codes.add(403)
    for code in sorted(codes):
        responses[str(code)] = {"description": "error",
                                "content": {"application/json": {"schema": _ERROR}}}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if params:
        op["parameters"] = params
    if auth == "none":
        op["security"] = []
    elif auth == "visitor":
        op["security"] = [{"visitorToken": []}]
    return op


def _path_id(name: str = "id") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


_S = {"type": "string"}
_I = {"type": "integer"}
_T = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": _S, "message": _S}}}},
    "Suggestion": {"type": "object", "properties": {"article_id": _I, "title": _S}},
    "Message": {"type": "object", "required": ["id", "conversation_id", "author", "channel",
                                               "text", "created_at"], "properties": {
        "id": _I, "conversation_id": _I,
        "author": {"type": "string", "enum": ["customer", "bot", "agent", "system"]},
        "direction": {"type": "string", "enum": ["in", "out"]}, "channel": _S, "text": _S,
        "created_at": _T, "agent_name": {"type": "string", "nullable": True},
        "article_id": {"type": "integer", "nullable": True}, "private": {"type": "boolean"},
        "suggestions": {"type": "array", "items": {"$ref": "#/components/schemas/Suggestion"}}}},
    "Conversation": {"type": "object", "required": ["id", "contact_id", "state", "channel"],
                     "properties": {
        "id": _I, "contact_id": _I, "contact_name": {"type": "string", "nullable": True},
        "state": {"type": "string", "enum": ["bot", "queued", "assigned", "resolved"]},
        "assigned_agent": {"type": "object", "nullable": True,
                           "properties": {"id": _I, "name": _S}},
        "channel": _S, "created_at": _T, "updated_at": _T,
        "last_message": {"type": "string", "nullable": True}}},
    "ConversationWithMessages": {"allOf": [{"$ref": "#/components/schemas/Conversation"}, {
        "type": "object", "properties": {"messages": {
            "type": "array", "items": {"$ref": "#/components/schemas/Message"}}}}]},
    "ConversationList": {"type": "object", "properties": {"conversations": {
        "type": "array", "items": {"$ref": "#/components/schemas/Conversation"}}}},
    "MessageList": {"type": "object", "properties": {"messages": {
        "type": "array", "items": {"$ref": "#/components/schemas/Message"}}}},
    "MessageCreated": {"type": "object", "properties": {
        "message": {"$ref": "#/components/schemas/Message"}}},
    "Contact": {"type": "object", "properties": {
        "id": _I, "name": {"type": "string", "nullable": True},
        "identities": {"type": "array", "items": {"type": "object", "properties": {
            "channel": _S, "external_id": _S}}},
        "attributes": {"type": "object"}, "conversations": {"type": "array", "items": _I}}},
    "User": {"type": "object", "properties": {"id": _I, "email": _S, "name": _S,
                                              "role": {"type": "string",
                                                       "enum": ["agent", "admin"]}}},
    "Login": {"type": "object", "required": ["email", "password"],
              "properties": {"email": _S, "password": _S}},
    "LoginResult": {"type": "object", "properties": {
        "token": _S, "user": {"$ref": "#/components/schemas/User"}}},
    "Article": {"type": "object", "required": ["title", "questions", "answer"], "properties": {
        "id": _I, "title": _S, "questions": {"type": "array", "items": _S}, "answer": _S,
        "tags": {"type": "array", "items": _S},
        "status": {"type": "string", "enum": ["published", "draft"]}}},
    "ArticleList": {"type": "object", "properties": {"articles": {
        "type": "array", "items": {"$ref": "#/components/schemas/Article"}}}},
    "MatchResult": {"type": "object", "properties": {
        "outcome": {"type": "string", "enum": ["answer", "suggest", "fallback"]},
        "matches": {"type": "array", "items": {"type": "object", "properties": {
            "article_id": _I, "title": _S, "score": {"type": "number"}}}}}},
    "AgentMessage": {"type": "object", "required": ["text"],
                     "properties": {"text": _S, "channel": _S}},
    "VisitorMessage": {"type": "object", "properties": {
        "text": _S, "choice": _I, "client_message_id": _S}},
    "WebchatSession": {"type": "object", "properties": {"visitor_token": _S,
                                                        "conversation_id": _I}},
}

_CONV = [_path_id()]
PATHS: dict[str, Any] = {
    "/api/v1/auth/login": {"post": _op("Log in", body="Login", ok="LoginResult", auth="none",
                                       errors=(429,))},
    "/api/v1/auth/logout": {"post": _op("Log out", auth="none")},
    "/api/v1/auth/me": {"get": _op("The logged-in user", ok="User")},
    "/api/v1/conversations": {"get": _op(
        "List conversations", ok="ConversationList",
        params=[_query("state", {"type": "string",
                                 "enum": ["bot", "queued", "assigned", "resolved"]})],
        errors=(422,))},
    "/api/v1/conversations/{id}": {"get": _op("A conversation with its messages",
                                              ok="ConversationWithMessages", params=_CONV,
                                              errors=(404,))},
    "/api/v1/conversations/{id}/claim": {"post": _op(
        "Claim (exactly one agent wins; the others get 409)", ok="Conversation", params=_CONV,
        errors=(404, 409))},
    "/api/v1/conversations/{id}/release": {"post": _op(
        "Hand back to the queue", ok="Conversation", params=_CONV, errors=(404, 409))},
    "/api/v1/conversations/{id}/resolve": {"post": _op(
        "Resolve", ok="Conversation", params=_CONV, errors=(404, 409))},
    "/api/v1/conversations/{id}/messages": {"post": _op(
        "Reply as the assigned agent", body="AgentMessage", ok="MessageCreated", status=201,
        params=_CONV, errors=(404, 409, 413))},
    "/api/v1/contacts/{id}": {"get": _op("A contact", ok="Contact", params=_CONV,
                                         errors=(404,))},
    "/api/v1/articles": {
        "get": _op("List articles", ok="ArticleList"),
        "post": _op("Create an article (admins)", body="Article", ok="Article", status=201,
                    auth="admin"),
    },
    "/api/v1/articles/{id}": {
        "get": _op("An article", ok="Article", params=_CONV, errors=(404,)),
        "patch": _op("Change an article (admins)", body="Article", ok="Article", params=_CONV,
                     auth="admin", errors=(404,)),
        "delete": _op("Delete an article (admins)", params=_CONV, auth="admin",
                      errors=(404,)),
    },
    "/api/v1/kb/match": {"get": _op(
        "What the bot would do with a message, and why", ok="MatchResult",
        params=[_query("q", _S, required=True)], errors=(422,))},
    "/api/v1/outbox/dead": {"get": _op("Dead-lettered replies (admins)", auth="admin")},
    "/api/v1/webchat/sessions": {"post": _op(
        "Start (or, with a visitor token, resume) a web-chat session", ok="WebchatSession",
        status=201, auth="none")},
    "/api/v1/webchat/messages": {
        "get": _op("The visitor's messages, oldest first", ok="MessageList", auth="visitor",
                   params=[_query("after", _I)]),
        "post": _op("Send a message or choose a suggestion", body="VisitorMessage",
                    ok="MessageCreated", status=201, auth="visitor", errors=(413,)),
    },
    "/api/v1/webchat/ws": {"get": _op(
        "Live messages (WebSocket); frames {type: message|conversation, …}", auth="none",
        params=[_query("token", _S, required=True), _query("after", _I)])},
    "/api/v1/agent/ws": {"get": _op("Live conversation and message events for agents "
                                    "(WebSocket)")},
    "/healthz": {"get": _op("The process is up", auth="none")},
    "/readyz": {"get": _op("The store is reachable", auth="none", errors=(503,))},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "supporthub", "version": "1",
             "description": "One conversation store for web chat, SMS, WhatsApp, Telegram "
                            "and Slack, an FAQ bot, and human agents."},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "supporthub_session"},
            "visitorToken": {"type": "http", "scheme": "bearer"},
        },
    },
    "security": [{"bearer": []}, {"session": []}],
}


async def document(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
