"""The OpenAPI 3 description of the HTTP API, served at ``/api/openapi.json``.

It is also what the server holds itself to: every JSON request body is checked against the
schema published here before its handler runs (hub/validation.py), and every route declares
here who may call it (``x-access``, ``PAGES``, and what each rule means: ``ACCESS``), which
tests/test_authz_matrix.py tries as every role.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.model import MAX_ARTICLE_QUESTIONS, MAX_ARTICLE_TEXT

_ERROR = {"$ref": "#/components/schemas/Error"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NOT_BLANK = r"\S"  # a text with something in it besides spaces
# request bodies a client may leave out (every other one is required)
OPTIONAL_BODIES = frozenset({"PasswordReset", "WebchatStart"})


# Who may call what. Every operation declares its rule where it is documented below, as
# ``x-access`` (from ``auth`` unless ``access`` says more); pages and webhooks in ``PAGES``.
# This table is what each rule means for each role — "allowed", or the refusal's status —
# and tests/test_authz_matrix.py tries every route as every role against it:
#   visitor: a web-chat visitor token (only ever their own conversation); owner: the agent
#   the conversation is assigned to; agent: any other agent; admin: an admin.
# A session token is read from the Authorization header or the session cookie, never from
# the URL — except on the WebSocket handshakes (``?token=``), where a browser cannot send
# a header.
ROLES = ("anonymous", "visitor", "other-visitor", "agent", "owner", "admin")
_NOT_VISITORS = {"anonymous": "401", "visitor": "401", "other-visitor": "401"}
ACCESS: dict[str, dict[str, str]] = {
    "public": dict.fromkeys(ROLES, "allowed"),
    "visitor": {"anonymous": "401", "visitor": "allowed", "other-visitor": "allowed",
                "agent": "401", "owner": "401", "admin": "401"},
    "agent": {**_NOT_VISITORS, "agent": "allowed", "owner": "allowed", "admin": "allowed"},
    "admin": {**_NOT_VISITORS, "agent": "403", "owner": "403", "admin": "allowed"},
    # a conversation's own agent; anyone else is refused with 409 (not yours)
    "assignee": {**_NOT_VISITORS, "agent": "409", "owner": "allowed", "admin": "409"},
    "assignee-or-admin": {**_NOT_VISITORS, "agent": "409", "owner": "allowed",
                          "admin": "allowed"},
    # an admin page: an agent's session is refused; without one the page is served (its
    # data is not: the API behind it answers 401)
    "admin-page": {"anonymous": "allowed", "visitor": "allowed", "other-visitor": "allowed",
                   "agent": "403", "owner": "403", "admin": "allowed"},
    # a platform's webhook: its signature or secret, no session
    "signed": dict.fromkeys(ROLES, "signature"),
    # a signed link mailed to a customer (email unsubscribe): the token in the path is the
    # authority, whoever holds it, with or without a session; a forged one is 404
    "signed-link": dict.fromkeys(ROLES, "allowed"),
}
_ACCESS_OF_AUTH = {"none": "public", "visitor": "visitor", "agent": "agent", "admin": "admin"}


def _op(summary: str, *, body: str | None = None, ok: str | None = None, status: int = 200,
        auth: str = "agent", params: list[dict[str, Any]] | None = None,
        errors: tuple[int, ...] = (), access: str | None = None) -> dict[str, Any]:
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
    if any(p.get("in") == "query" for p in params or ()):
        codes.add(422)  # a query parameter given twice (hub/errors.py), if nothing else
    if auth != "none":
        codes.add(401)
    if auth == "admin":
        codes.add(403)
    for code in sorted(codes):
        responses[str(code)] = {"description": "error",
                                "content": {"application/json": {"schema": _ERROR}}}
    op: dict[str, Any] = {"summary": summary, "responses": responses,
                          "x-access": access or _ACCESS_OF_AUTH[auth]}
    if body:
        op["requestBody"] = {"required": body not in OPTIONAL_BODIES, "content": {
            "application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if params:
        op["parameters"] = params
    if auth == "none":
        op["security"] = []
    elif auth == "visitor":
        op["security"] = [{"visitorToken": []}]
    return op


def _websocket(summary: str, op: dict[str, Any]) -> dict[str, Any]:
    """A WebSocket handshake: 101 switches protocols; a plain GET is a 400."""
    op["summary"] = summary
    op["x-websocket"] = True
    del op["responses"]["200"]
    op["responses"]["101"] = {"description": "switching to the WebSocket protocol"}
    op["responses"]["400"] = {"description": "not a WebSocket handshake",
                              "content": {"application/json": {"schema": _ERROR}}}
    return op


def _path_id(name: str = "id") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _I}


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


_S = {"type": "string"}
_I = {"type": "integer", "format": "int64"}  # ids and counts: 64-bit, as in the store
_T = {"type": "string", "format": "date-time"}
_TEXT = {"type": "string", "pattern": NOT_BLANK}
_IDS = {"type": "array", "minItems": 1, "items": _I}

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
        "csat": {"type": "boolean", "description": "the satisfaction survey: answer with"
                 " POST /api/v1/webchat/messages {\"csat\": 1..5}"},
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
        "id": {"type": "integer", "readOnly": True}, "title": _TEXT,
        "questions": {"type": "array", "minItems": 1, "maxItems": MAX_ARTICLE_QUESTIONS,
                      "items": _TEXT},
        "answer": {**_TEXT, "maxLength": MAX_ARTICLE_TEXT},
        "tags": {"type": "array", "items": _S},
        "status": {"type": "string", "enum": ["published", "draft"]},
        "sms_answer": {"type": "string", "nullable": True, "maxLength": MAX_ARTICLE_TEXT,
                       "description": "shorter answer for SMS and WhatsApp"},
        "updated_at": {"type": "string", "format": "date-time", "nullable": True,
                       "readOnly": True},
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
    "UnansweredIds": {"type": "object", "required": ["ids"], "properties": {"ids": _IDS}},
    "AddPhrasing": {"type": "object", "required": ["ids", "article_id", "text"], "properties": {
        "ids": _IDS, "article_id": _I, "text": _TEXT}},
    "KbStatus": {"type": "object", "required": ["pending", "articles", "phrasings"],
                 "properties": {"pending": {"type": "boolean"}, "articles": _I,
                                "phrasings": _I, "last_build_seconds": {"type": "number"}}},
    "KbSettings": {"type": "object", "additionalProperties": False, "properties": {
        "synonyms": {"type": "object", "nullable": True, "maxProperties": 2000,
                     "description": "word -> its variants; a blank word is ignored",
                     "additionalProperties": {"type": "array", "items": _S}},
        "thresholds": {"type": "object", "nullable": True, "additionalProperties": False,
                       "description": "null: the defaults; suggest must not be above"
                                      " answer (422)",
                       "properties": {name: {"type": "number", "minimum": 0, "maximum": 100,
                                             "nullable": True}
                                      for name in ("answer", "suggest", "margin")}},
        "default_thresholds": {"type": "object", "readOnly": True}}},
    "ArticleList": {"type": "object", "properties": {"articles": {
        "type": "array", "items": {"$ref": "#/components/schemas/Article"}}}},
    "MatchResult": {"type": "object", "properties": {
        "outcome": {"type": "string", "enum": ["answer", "suggest", "fallback"]},
        "matches": {"type": "array", "items": {"type": "object", "properties": {
            "article_id": _I, "title": _S, "score": {"type": "number"}}}}}},
    "ReadMark": {"type": "object", "required": ["message_id"], "properties": {
        "message_id": {"type": "integer", "format": "int64", "minimum": 1}}},
    "AgentMessage": {"type": "object", "required": ["text"],
                     "properties": {"text": _TEXT, "channel": _S}},
    "VisitorMessage": {"type": "object", "description": "one of: feedback on an answer"
                       " (feedback and message_id); a choice (the id of a suggestion the bot"
                       " offered in this conversation); a satisfaction rating (csat, 1-5:"
                       " what the survey's buttons send), optionally with its comment; a"
                       " text (after a rating, within the comment window, the text is the"
                       " rating's comment)", "anyOf": [
        {"required": ["feedback", "message_id"], "not": {"required": ["comment"]}},
        {"required": ["choice"], "not": {"anyOf": [{"required": ["feedback"]},
                                                   {"required": ["comment"]}]}},
        {"required": ["csat"], "not": {"anyOf": [{"required": ["choice"]},
                                                 {"required": ["feedback"]}]}},
        {"required": ["text"], "not": {"anyOf": [{"required": ["choice"]},
                                                 {"required": ["feedback"]},
                                                 {"required": ["csat"]},
                                                 {"required": ["comment"]}]}}],
        "properties": {
        "text": _TEXT, "choice": _I, "client_message_id": _S,
        "csat": {"type": "integer", "minimum": 1, "maximum": 5},
        "comment": {"type": "string", "description": "with csat: the rating's optional"
                    " comment"},
        "feedback": {"type": "string", "enum": ["unhelpful"]}, "message_id": _I}},
    "WebchatStart": {"type": "object", "properties": {
        "identifier": _S, "identifier_hash": _S, "email": _S, "email_hash": _S}},
    "WebchatSession": {"type": "object", "properties": {
        "visitor_token": _S, "conversation_id": _I,
        "link_channels": {"type": "array", "items": _S}}},
}

SCHEMAS["ArticlePatch"] = {"type": "object", "properties": SCHEMAS["Article"]["properties"]}
SCHEMAS.update({
    "ImportResult": {"type": "object", "properties": {
        "imported": _I, "mode": {"type": "string", "enum": ["add", "update"]}, "added": _I,
        "updated": _I, "unchanged": _I, "articles": {"type": "array", "items": {
            "type": "object", "properties": {"id": _I, "title": _S, "action": {
                "type": "string", "enum": ["added", "updated", "unchanged"]}}}}}},
    "ImportError": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string", "enum": ["invalid_import", "bad_request"],
                 "description": "invalid_import: a bad row; bad_request: no file or an"
                                " unknown kind of file"}, "message": _S,
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
    op["responses"]["400"] = {"description": "a bad row, or no file: nothing was imported",
                              "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ImportError"}}}}
    return op


def _export_op() -> dict[str, Any]:
    op = _op("Every article as JSON or CSV (admins)", auth="admin",
             params=[_query("format", {"type": "string", "enum": ["json", "csv"]})],
             errors=(422,))
    op["responses"]["200"]["content"] = {
        "application/json": {"schema": {"type": "object", "properties": {
            "articles": {"type": "array", "items": {"type": "object"}}}}},
        "text/csv": {"schema": {"type": "string"}}}
    return op


_CONV = [_path_id()]
PATHS: dict[str, Any] = {
    "/api/v1/auth/login": {"post": _op("Log in", body="Login", ok="LoginResult", auth="none",
                                       errors=(401, 429))},
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
        "Hand back to the queue (the assigned agent)", ok="Conversation", params=_CONV,
        errors=(404, 409), access="assignee")},
    "/api/v1/conversations/{id}/resolve": {"post": _op(
        "Resolve (the assigned agent, or an admin)", ok="Conversation", params=_CONV,
        errors=(404, 409), access="assignee-or-admin")},
    "/api/v1/conversations/{id}/messages": {"post": _op(
        "Reply as the assigned agent", body="AgentMessage", ok="MessageCreated", status=201,
        params=_CONV, errors=(404, 409, 413), access="assignee")},
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
        "patch": _op("Change an article (admins): the fields given", body="ArticlePatch",
                     ok="Article", params=_CONV, auth="admin", errors=(404,)),
        "delete": _op("Delete an article (admins)", params=_CONV, auth="admin",
                      errors=(404,)),
    },
    "/api/v1/kb/match": {"get": _op(
        "What the bot would do with a message, and why", ok="MatchResult",
        params=[_query("q", _TEXT, required=True)], errors=(422,))},
    "/api/v1/articles/{id}/history": {"get": _op(
        "An article's versions, newest first (admins)", ok="ArticleHistory", params=_CONV,
        auth="admin", errors=(404,))},
    "/api/v1/articles/{id}/restore": {"post": _op(
        "Restore a version (also of a deleted article) (admins)", body="Restore", ok="Article",
        params=_CONV, auth="admin", errors=(404,))},
    "/api/v1/kb/unanswered": {"get": _op(
        "Fallbacks and unhelpful answers, grouped by similarity (admins); article_id: only"
        " the answers of that article customers said did not help",
        ok="UnansweredGroups", auth="admin", errors=(422,),
        params=[_query("article_id", {"type": "integer", "format": "int64", "minimum": 1})])},
    "/api/v1/kb/unanswered/dismiss": {"post": _op(
        "Take unanswered questions off the list (admins)", body="UnansweredIds", auth="admin")},
    "/api/v1/kb/unanswered/phrasing": {"post": _op(
        "Add an unanswered question as a phrasing of an article (admins)", body="AddPhrasing",
        ok="Article", auth="admin", errors=(404,))},
    "/api/v1/kb/status": {"get": _op(
        "Whether every committed knowledge change is live in this process's matcher"
        " (pending: a rebuild is catching up) (admins)", ok="KbStatus", auth="admin")},
    "/api/v1/kb/settings": {
        "get": _op("Synonyms and thresholds (admins)", ok="KbSettings", auth="admin"),
        "put": _op("Change synonyms and/or thresholds (admins)", body="KbSettings",
                   ok="KbSettings", auth="admin"),
    },
    "/api/v1/kb/export": {"get": _export_op()},
    "/api/v1/kb/import": {"post": _import_op()},
    "/api/v1/outbox/dead": {"get": _op("Dead-lettered replies (admins)", auth="admin")},
    "/api/v1/webchat/sessions": {"post": _op(
        "Start (or, with a visitor token, resume) a web-chat session", body="WebchatStart",
        ok="WebchatSession", status=201, auth="none", errors=(429,))},
    "/api/v1/webchat/messages": {
        "get": _op("The visitor's messages, oldest first", ok="MessageList", auth="visitor",
                   params=[_query("after", _I)], errors=(422,)),
        "post": _op("Send a message, choose a suggestion the bot offered (404: no such"
                    " suggestion was offered in this conversation), or mark an answer"
                    " unhelpful", body="VisitorMessage", ok="MessageCreated", status=201,
                    auth="visitor", errors=(404, 413, 503)),
    },
    "/api/v1/webchat/ws": {"get": _websocket(
        "Live messages (WebSocket); frames {type: message|conversation, …}. The visitor"
        " token goes in ?token= (a browser cannot set a header on a WebSocket handshake)",
        _op("", auth="none", params=[_query("token", _S, required=True), _query("after", _I)],
            errors=(401, 422), access="visitor"))},
    "/api/v1/agent/ws": {"get": _websocket(
        "Live conversation and message events for agents (WebSocket). A session cookie,"
        " Authorization header or ?token= (here only: a WebSocket handshake); closed with"
        " code 4401 as soon as the session ends", _op("", params=[_query("token", _S)]))},
    "/healthz": {"get": _op("The process is up", auth="none")},
    "/readyz": {"get": _op("The store is reachable", auth="none", errors=(503,))},
}

# contacts, continuity across channels, agents (issue 7) ---------------------------------
_S200 = {"type": "string", "maxLength": 200}
AGENT_FILTER = "^(none|[0-9]{1,18})$"  # GET /api/v1/conversations?agent=
_PASSWORD = {"type": "string", "minLength": 10,
             "description": "at least 10 characters; left out: one is generated"}
SCHEMAS.update({
    "LinkRequest": {"type": "object", "required": ["channel"], "properties": {"channel": {
        "type": "string", "enum": ["telegram", "sms", "whatsapp", "slack", "messenger",
                                   "instagram", "email"]}}},
    "LinkOffer": {"type": "object", "properties": {
        "code": _S, "expires_at": _T, "instructions": _S, "channel": _S,
        "url": {"type": "string", "nullable": True}}},
    "ContactPatch": {"type": "object", "properties": {
        "name": _S200, "email": _S200, "phone": _S200,
        "attributes": {"type": "object", "additionalProperties": {
            "nullable": True, "anyOf": [{"type": "string"}, {"type": "number"},
                                        {"type": "boolean"}]}}}},
    "MergeRequest": {"type": "object", "required": ["other_id"], "properties": {"other_id": _I}},
    "MergeResult": {"allOf": [{"$ref": "#/components/schemas/Contact"}, {
        "type": "object", "properties": {"merge_id": _I}}]},
    "Note": {"type": "object", "required": ["text"], "properties": {"text": _TEXT}},
    "Canned": {"type": "object", "required": ["shortcut", "text"], "properties": {
        "id": {"type": "integer", "readOnly": True}, "shortcut": {**_TEXT, "maxLength": 60},
        "text": _TEXT, "rendered": {"type": "string", "readOnly": True}}},
    "Agent": {"type": "object", "properties": {
        "id": _I, "email": _S, "name": _S, "role": {"type": "string", "enum": ["agent", "admin"]},
        "active": {"type": "boolean"}, "status": {"type": "string", "enum": ["online", "away"]},
        "open_conversations": _I,
        "password": {"type": "string", "description": "a generated password, shown once"}}},
    "NewAgent": {"type": "object", "required": ["email"], "properties": {
        "email": {"type": "string", "pattern": "@", "maxLength": 200},
        "name": _S, "role": {"type": "string", "enum": ["agent", "admin"]},
        "password": _PASSWORD}},
    "AgentPatch": {"type": "object", "properties": {
        "name": _S, "role": {"type": "string", "enum": ["agent", "admin"]},
        "active": {"type": "boolean"}}},
    "AgentStatus": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "enum": ["online", "away"]}}},
    "PasswordReset": {"type": "object", "properties": {"password": _PASSWORD}},
})
SCHEMAS["AgentMessage"]["properties"]["private"] = {"type": "boolean"}
SCHEMAS["Contact"]["properties"].update({
    "email": {"type": "string", "nullable": True}, "phone": {"type": "string", "nullable": True},
    "merged_into": {"type": "integer", "nullable": True},
    "reachable_channels": {"type": "array", "items": _S}})
PATHS["/api/v1/conversations"]["get"]["parameters"] += [
    _query("channel", _S), _query("q", _S),
    {**_query("agent", {"type": "string", "pattern": AGENT_FILTER}),
     "description": "an agent's id, or none: unassigned"}]
PATHS["/api/v1/contacts/{id}"]["patch"] = _op(
    "Edit a contact's name, email, phone or attributes", body="ContactPatch", ok="Contact",
    params=_CONV, errors=(404,))
PATHS.update({
    "/api/v1/webchat/links": {"post": _op(
        "A one-time code to continue this conversation on another channel (409: that channel"
        " is not set up on this hub)", body="LinkRequest", ok="LinkOffer", status=201,
        auth="visitor", errors=(409,))},
    "/api/v1/contacts/{id}/merge": {"post": _op(
        "Merge another contact into this one (it survives; 409: the same contact)",
        body="MergeRequest",
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
                    " and returned once", body="NewAgent", ok="Agent", status=201,
                    auth="admin", errors=(409,)),
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

# reports (issue 15) ------------------------------------------------------------------
_DAY = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "description": "an ISO date (YYYY-MM-DD) in SUPPORTHUB_TIMEZONE, both ends included"}
_WINDOW = [_query("from", _DAY), _query("to", _DAY)]
_NARROW = [_query("channel", _S), _query("agent_id", {"type": "string",
                                                    "pattern": "^[0-9]{1,18}$"})]
_REPORT_ERRORS = (422,)  # a malformed date, to before from, an unknown channel or agent
PATHS.update({
    "/api/v1/reports/summary": {"get": _op(
        "The summary over cycles that started in the window (default: the last 7 days)",
        auth="admin", params=_WINDOW + _NARROW, errors=_REPORT_ERRORS)},
    "/api/v1/reports/articles": {"get": _op(
        "Per article: direct answers, didn't help, handoffs after them, deflection rate",
        auth="admin", params=_WINDOW, errors=_REPORT_ERRORS)},
    "/api/v1/reports/timeseries": {"get": _op(
        "One figure per hour or day of the window", auth="admin", errors=_REPORT_ERRORS,
        params=[_query("metric", {"type": "string", "enum": [
            "conversations", "cycles", "handoff_rate", "containment_rate",
            "first_response_median_s", "resolution_median_s", "csat_average",
            "csat_response_rate"]}, required=True),
            _query("interval", {"type": "string", "enum": ["hour", "day"]}),
            *_WINDOW, *_NARROW])},
    "/api/v1/reports/export.csv": {"get": _op(
        "One CSV row per cycle of the window", auth="admin", params=_WINDOW + _NARROW,
        errors=_REPORT_ERRORS)},
})
PATHS["/api/v1/reports/export.csv"]["get"]["responses"]["200"]["content"] = {
    "text/csv": {"schema": {"type": "string"}}}

# The routes that are no API operation, with their access rule (``ACCESS``)
SCHEMAS.update({
    "Notify": {"type": "object", "properties": {
        "text": {"type": "string", "pattern": NOT_BLANK}, "template": _TEXT,
        "variables": {"type": "object", "additionalProperties": {"type": "string"}},
        "channel": _S}},
    "NotifyResult": {"type": "object", "properties": {
        "message": {"$ref": "#/components/schemas/Message"}, "conversation_id": _I,
        "channel": _S, "mode": _S}},
    "Window": {"type": "object", "properties": {"conversation_id": _I, "channels": {
        "type": "array", "items": {"type": "object", "properties": {
            "channel": _S, "free_reply": {"type": "boolean"}, "mode": _S,
            "suppressed": {"type": "string", "nullable": True},
            "last_customer_at": {"type": "string", "nullable": True},
            "free_until": {"type": "string", "nullable": True},
            "human_agent_until": {"type": "string", "nullable": True},
            "current": {"type": "boolean"}}}}}},
    "TemplateNew": {"type": "object", "required": ["name", "content_sid"], "properties": {
        "name": {"type": "string", "pattern": NOT_BLANK, "maxLength": 100},
        "content_sid": {"type": "string", "pattern": r"^\s*HX[0-9a-fA-F]{32}\s*$"},
        "variables": {"type": "array", "maxItems": 20,
                      "items": {"type": "string", "pattern": NOT_BLANK, "maxLength": 40}}}},
    "Template": {"type": "object", "properties": {
        "id": _I, "name": _S, "content_sid": _S, "variables": {"type": "array", "items": _S},
        "created_at": _T}},
    "CampaignNew": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 100},
        "text": {"type": "string", "pattern": NOT_BLANK, "maxLength": 4000},
        "template": _TEXT,
        "variables": {"type": "object", "additionalProperties": {"type": "string"}},
        "audience": {"type": "object", "properties": {
            "attributes": {"type": "object"}, "channel": _S,
            "last_seen_days": {"type": "number", "minimum": 0}}},
        "per_minute": {"type": "integer", "minimum": 1, "maximum": 6000}}},
    "Campaign": {"type": "object", "properties": {
        "id": _I, "name": _S, "status": _S, "per_minute": _I, "total": _I,
        "progress": {"type": "object"}, "recipients": {"type": "array", "items": {
            "type": "object"}}}},
})
SCHEMAS["Unsubscribed"] = {"type": "object", "properties": {
    "unsubscribed": {"type": "boolean"}, "channel": _S}}
_UNSUBSCRIBE_TOKEN = [{"name": "token", "in": "path", "required": True,
                       "schema": {"type": "string"}}]
SCHEMAS["Contact"]["properties"]["consents"] = {"type": "array", "items": {
    "type": "object", "properties": {"channel": _S, "external_id": _S, "sender": _S,
                                     "allowed": {"type": "boolean"}, "reason": _S,
                                     "updated_at": _T}}}
PATHS.update({
    "/api/v1/contacts/{id}/notify": {"post": _op(
        "Write to a customer first: the message joins their thread and goes out on the chosen"
        " channel, else their preferred one, else where they last wrote and may be written to"
        " (409: opted out, window closed and no template, unreachable)", body="Notify",
        ok="NotifyResult", status=201, params=_CONV, errors=(404, 409, 413))},
    "/api/v1/conversations/{id}/window": {"get": _op(
        "Per channel of the conversation: may a free reply go now, and until when",
        ok="Window", params=_CONV, errors=(404,))},
    "/api/v1/templates": {
        "get": _op("WhatsApp templates (Twilio Content) registered by admins"),
        "post": _op("Register a template (admins; 409: the name is taken)", body="TemplateNew",
                    ok="Template", status=201, auth="admin", errors=(409,))},
    "/api/v1/templates/{id}": {"delete": _op(
        "Remove a template (admins)", params=[_path_id()], auth="admin", errors=(404,))},
    "/api/v1/campaigns": {
        "get": _op("Campaigns and their progress (admins)", auth="admin"),
        "post": _op("Start a campaign: a text or a template to the contacts the audience"
                    " selects, at per_minute (admins)", body="CampaignNew", ok="Campaign",
                    status=201, auth="admin")},
    "/api/v1/campaigns/{id}": {"get": _op(
        "A campaign's progress and each recipient's outcome (admins)", ok="Campaign",
        params=[_path_id()], auth="admin", errors=(404,))},
    "/email/unsubscribe/{token}": {
        "get": _op("The page of the List-Unsubscribe link of mail we write first: a button"
                   " (a GET never unsubscribes; 404 page: a forged or broken token)",
                   auth="none", access="signed-link", params=_UNSUBSCRIBE_TOKEN,
                   errors=(404, 503)),
        "post": _op("One-click unsubscribe (RFC 8058; the body List-Unsubscribe=One-Click is"
                    " ignored): the address the signed token names gets no more mail we"
                    " write first (notify, campaigns); 404: a forged or broken token,"
                    " nothing recorded", auth="none", access="signed-link",
                    ok="Unsubscribed", params=_UNSUBSCRIBE_TOKEN, errors=(404, 503)),
    },
})
_UNSUBSCRIBE_PAGE = {"text/html": {"schema": {"type": "string"}}}
for _status in ("200", "404", "503"):
    PATHS["/email/unsubscribe/{token}"]["get"]["responses"][_status]["content"] = \
        _UNSUBSCRIBE_PAGE


PAGES: dict[str, str] = {
    "/": "public", "/chat": "public", "/widget.js": "public", "/console": "public",
    "/admin": "admin-page", "/admin/agents": "admin-page", "/admin/reports": "admin-page",
    "/metrics": "public",
    "/api/openapi.json": "public",
    "/webhooks/telegram": "signed", "/webhooks/twilio/sms": "signed",
    "/webhooks/twilio/status": "signed", "/webhooks/slack/events": "signed",
    "/webhooks/meta": "signed",
}
# static files (scripts, styles) of the pages, public
STATIC_PREFIXES = ("/static/chat", "/static/console", "/static/admin", "/static/reports")

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "supporthub", "version": "1",
             "description": "One conversation store for web chat, SMS, WhatsApp, Telegram "
                            "and Slack, an FAQ bot, and human agents. Text that no store "
                            "can keep — a NUL character or a lone surrogate in any string "
                            "field — is refused with 422."},
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


# email (issue 14): what a received mail was, its original, its attachments ----------------
def _download_op(summary: str, media: str) -> dict[str, Any]:
    op = _op(summary, params=_CONV, errors=(404,))
    op["responses"]["200"]["content"] = {media: {"schema": {"type": "string",
                                                            "format": "binary"}}}
    return op


PATHS.update({
    "/api/v1/messages/{id}/email": {"get": _op(
        "A received mail's subject, sender, recipients, attachments and what could not be"
        " read (agents)", params=_CONV, errors=(404,))},
    "/api/v1/messages/{id}/original": {"get": _download_op(
        "A received mail as it arrived (agents; text/plain, never rendered)", "text/plain")},
    "/api/v1/attachments/{id}": {"get": _download_op(
        "An attachment of a received mail, as a download (agents; 404: over the size limit,"
        " listed but not kept)", "application/octet-stream")},
})
