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
        "last_message": {"type": "string", "nullable": True},
        "unread": {"type": "integer", "description": "in the list only: customer messages"
                   " the caller has not read (all of them when never opened)"}}},
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
        "status": {"type": "string", "enum": ["published", "draft"]},
        "sms_answer": {"type": "string", "nullable": True,
                       "description": "shorter answer for SMS and WhatsApp"},
        "unhelpful_count": {"type": "integer", "readOnly": True}}},
    "ArticleHistory": {"type": "object", "properties": {"revisions": {"type": "array", "items": {
        "type": "object", "properties": {
            "id": _I, "article_id": _I, "created_at": _T,
            "action": {"type": "string", "enum": ["create", "update", "delete", "restore"]},
            "author": {"type": "object", "nullable": True,
                       "description": "who made the change: a user as they were then, or"
                                      " only a name such as \"cli import\"; null: before"
                                      " authors were recorded",
                       "properties": {"user_id": {"type": "integer", "nullable": True},
                                      "name": _S,
                                      "email": {"type": "string", "nullable": True}}},
            "article": {"$ref": "#/components/schemas/Article"}}}}}},
    "Restore": {"type": "object", "required": ["revision_id"], "properties": {"revision_id": _I}},
    "UnansweredGroups": {"type": "object", "properties": {"groups": {"type": "array", "items": {
        "type": "object", "properties": {
            "text": _S, "count": _I, "examples": {"type": "array", "items": _S},
            "ids": {"type": "array", "items": _I}, "kinds": {"type": "object"},
            "articles": {"type": "array", "items": _I}, "last_at": _T}}}}},
    "UnansweredIds": {"type": "object", "required": ["ids"],
                      "properties": {"ids": {"type": "array", "items": _I}}},
    "AddPhrasing": {"type": "object", "required": ["ids", "article_id", "text"], "properties": {
        "ids": {"type": "array", "items": _I}, "article_id": _I, "text": _S}},
    "KbSettings": {"type": "object", "properties": {
        "synonyms": {"type": "object", "additionalProperties": {"type": "array", "items": _S}},
        "thresholds": {"type": "object", "nullable": True, "properties": {
            "answer": {"type": "number"}, "suggest": {"type": "number"},
            "margin": {"type": "number"}}},
        "default_thresholds": {"type": "object", "readOnly": True}}},
    "ArticleList": {"type": "object", "properties": {"articles": {
        "type": "array", "items": {"$ref": "#/components/schemas/Article"}}}},
    "MatchResult": {"type": "object", "properties": {
        "outcome": {"type": "string", "enum": ["answer", "suggest", "fallback"]},
        "matches": {"type": "array", "items": {"type": "object", "properties": {
            "article_id": _I, "title": _S, "score": {"type": "number"}}}}}},
    "ReadMark": {"type": "object", "required": ["message_id"], "properties": {
        "message_id": {"type": "integer", "minimum": 1}}},
    "AgentMessage": {"type": "object", "required": ["text"],
                     "properties": {"text": _S, "channel": _S}},
    "VisitorMessage": {"type": "object", "properties": {
        "text": _S, "choice": _I, "client_message_id": _S,
        "feedback": {"type": "string", "enum": ["unhelpful"]}, "message_id": _I}},
    "WebchatSession": {"type": "object", "properties": {"visitor_token": _S,
                                                        "conversation_id": _I}},
}

SCHEMAS.update({
    "ImportResult": {"type": "object", "properties": {
        "imported": _I, "mode": {"type": "string", "enum": ["add", "update"]}, "added": _I,
        "updated": _I, "unchanged": _I, "articles": {"type": "array", "items": {
            "type": "object", "properties": {"id": _I, "title": _S, "action": {
                "type": "string", "enum": ["added", "updated", "unchanged"]}}}}}},
    "ImportError": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string", "enum": ["invalid_import"]}, "message": _S,
        "line": {"type": "integer", "nullable": True},
        "file": {"type": "string", "nullable": True},
        "field": {"type": "string", "nullable": True}}}}},
})


def _import_op() -> dict[str, Any]:
    op = _op("Import articles, all or nothing, as `supporthub kb import` (admins); "
             "mode=update: a row with an id replaces that article", ok="ImportResult",
             auth="admin", errors=(413, 415, 422),
             params=[_query("format", {"type": "string", "enum": ["json", "csv", "zip", "md"]}),
                     _query("mode", {"type": "string", "enum": ["add", "update"],
                                     "default": "add"})])
    binary = {"schema": {"type": "string", "format": "binary"}}
    op["requestBody"] = {"required": True, "description": "a raw JSON, CSV, zip (of .md files)"
                         " or Markdown body, or files in multipart/form-data", "content": {
        "application/json": binary, "text/csv": binary, "application/zip": binary,
        "text/markdown": binary, "multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {
                "type": "array", "items": {"type": "string", "format": "binary"}}}}}}}
    op["responses"]["400"] = {"description": "a bad row: nothing was imported", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ImportError"}}}}
    return op


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
    "/api/v1/conversations/{id}/read": {"post": _op(
        "Mark the conversation read by the caller up to a message (never moves backwards)",
        body="ReadMark", params=_CONV, errors=(404,))},
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
        "get": _op("List articles (?q= words to search, ?status=)", ok="ArticleList",
                   params=[_query("q", _S), _query("status", _S)]),
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
    "/api/v1/articles/{id}/history": {"get": _op(
        "An article's versions, newest first (admins)", ok="ArticleHistory", params=_CONV,
        auth="admin", errors=(404,))},
    "/api/v1/articles/{id}/restore": {"post": _op(
        "Restore a version (also of a deleted article) (admins)", body="Restore", ok="Article",
        params=_CONV, auth="admin", errors=(404,))},
    "/api/v1/kb/unanswered": {"get": _op(
        "Fallbacks and unhelpful answers, grouped by similarity (admins)",
        ok="UnansweredGroups", auth="admin")},
    "/api/v1/kb/unanswered/dismiss": {"post": _op(
        "Take unanswered questions off the list (admins)", body="UnansweredIds", auth="admin")},
    "/api/v1/kb/unanswered/phrasing": {"post": _op(
        "Add an unanswered question as a phrasing of an article (admins)", body="AddPhrasing",
        ok="Article", auth="admin")},
    "/api/v1/kb/settings": {
        "get": _op("Synonyms and thresholds (admins)", ok="KbSettings", auth="admin"),
        "put": _op("Change synonyms and/or thresholds (admins)", body="KbSettings",
                   ok="KbSettings", auth="admin"),
    },
    "/api/v1/kb/export": {"get": _op(
        "Every article as JSON or CSV (admins)", auth="admin",
        params=[_query("format", {"type": "string", "enum": ["json", "csv"]})],
        errors=(422,))},
    "/api/v1/kb/import": {"post": _import_op()},
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

# contacts, continuity across channels, agents (issue 7) ---------------------------------
SCHEMAS.update({
    "LinkRequest": {"type": "object", "required": ["channel"], "properties": {"channel": {
        "type": "string", "enum": ["telegram", "sms", "whatsapp", "slack"]}}},
    "LinkOffer": {"type": "object", "properties": {
        "code": _S, "expires_at": _T, "instructions": _S, "channel": _S,
        "url": {"type": "string", "nullable": True}}},
    "ContactPatch": {"type": "object", "properties": {
        "name": _S, "email": _S, "phone": _S, "attributes": {"type": "object"}}},
    "MergeRequest": {"type": "object", "required": ["other_id"], "properties": {"other_id": _I}},
    "MergeResult": {"allOf": [{"$ref": "#/components/schemas/Contact"}, {
        "type": "object", "properties": {"merge_id": _I}}]},
    "Note": {"type": "object", "required": ["text"], "properties": {"text": _S}},
    "Canned": {"type": "object", "required": ["shortcut", "text"], "properties": {
        "id": _I, "shortcut": _S, "text": _S, "rendered": _S}},
    "Agent": {"type": "object", "properties": {
        "id": _I, "email": _S, "name": _S, "role": {"type": "string", "enum": ["agent", "admin"]},
        "active": {"type": "boolean"}, "status": {"type": "string", "enum": ["online", "away"]},
        "open_conversations": _I, "password": _S}},
    "AgentPatch": {"type": "object", "properties": {
        "name": _S, "role": {"type": "string", "enum": ["agent", "admin"]},
        "active": {"type": "boolean"}}},
    "AgentStatus": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "enum": ["online", "away"]}}},
    "PasswordReset": {"type": "object", "properties": {"password": _S}},
})
SCHEMAS["AgentMessage"]["properties"]["private"] = {"type": "boolean"}
SCHEMAS["Contact"]["properties"].update({
    "email": {"type": "string", "nullable": True}, "phone": {"type": "string", "nullable": True},
    "merged_into": {"type": "integer", "nullable": True},
    "reachable_channels": {"type": "array", "items": _S}})
PATHS["/api/v1/conversations"]["get"]["parameters"] += [
    _query("channel", _S), _query("agent", _S), _query("q", _S)]
PATHS["/api/v1/contacts/{id}"]["patch"] = _op(
    "Edit a contact's name, email, phone or attributes", body="ContactPatch", ok="Contact",
    params=_CONV, errors=(404,))
PATHS.update({
    "/api/v1/webchat/links": {"post": _op(
        "A one-time code to continue this conversation on another channel", body="LinkRequest",
        ok="LinkOffer", status=201, auth="visitor")},
    "/api/v1/contacts/{id}/merge": {"post": _op(
        "Merge another contact into this one (it survives)", body="MergeRequest",
        ok="MergeResult", params=_CONV, errors=(404, 409))},
    "/api/v1/contacts/merges/{merge_id}/undo": {"post": _op(
        "Undo a merge: both contacts as they were", params=[_path_id("merge_id")],
        errors=(404, 409))},
    "/api/v1/conversations/{id}/notes": {"post": _op(
        "Add a private note (never sent to the customer)", body="Note", ok="MessageCreated",
        status=201, params=_CONV, errors=(404, 413))},
    "/api/v1/canned": {
        "get": _op("Canned responses (placeholders filled for ?conversation_id=)",
                   params=[_query("conversation_id", _I)], errors=(404,)),
        "post": _op("Add a canned response (admins)", body="Canned", ok="Canned", status=201,
                    auth="admin", errors=(409,)),
    },
    "/api/v1/canned/{id}": {
        "patch": _op("Change a canned response (admins)", body="Canned", ok="Canned",
                     params=_CONV, auth="admin", errors=(404, 409)),
        "delete": _op("Delete a canned response (admins)", params=_CONV, auth="admin",
                      errors=(404,)),
    },
    "/api/v1/agents": {
        "get": _op("Agents and admins, with open conversations (admins)", auth="admin"),
        "post": _op("Invite or create an agent (admins); without a password one is generated"
                    " and returned once", body="Agent", ok="Agent", status=201, auth="admin",
                    errors=(409,)),
    },
    "/api/v1/agents/{id}": {"patch": _op(
        "Change a role, name, or (de)activate: deactivation ends their sessions at once",
        body="AgentPatch", ok="Agent", params=_CONV, auth="admin", errors=(404,))},
    "/api/v1/agents/{id}/password": {"post": _op(
        "Reset a password (admins); their sessions end", body="PasswordReset", params=_CONV,
        auth="admin", errors=(404,))},
    "/api/v1/agent/status": {"post": _op("Set my status (online/away)", body="AgentStatus",
                                         ok="Agent")},
})

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
