"""Who may do what: every route × every role, against the rules the routes declare.

The rules are declared where the routes are documented (hub/openapi.py: each operation's
``x-access``, ``PAGES`` for the rest) and what each rule means for each role is one table
there (``ACCESS``). This module only knows how to make a well-formed call of each route
(``CALLS``); a route registered without a declared rule, or documented without a way to
call it here, fails the test. Each cell gets objects of its own (a conversation assigned to
the owning agent, an article, a canned response, a user), so no call depends on another.
Then live sockets: a socket of an ended session is closed, and a visitor's socket only ever
carries their own conversation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import PASSWORD, HubFactory, Running, Visitor, bearer, call, next_frame
from test_session_sockets import agent_socket, assert_closed

from hub import openapi
from hub.app import create_app
from hub.auth import hash_password
from hub.config import Settings
from hub.model import NewArticle, Role

_serial = itertools.count(1)


@dataclass
class World:
    """The running hub, one token per role, and the ids a cell may need."""

    hub: Running
    tokens: dict[str, str | None]
    owner_id: int
    password_hash: str
    ids: dict[str, int] = field(default_factory=dict)

    async def fresh(self) -> None:
        """New objects for the next cell: nothing one call does changes another's."""
        store, n = self.hub.hub.store, next(_serial)
        conversation = await store.start_conversation("webchat", f"matrix-{n}")
        owner = await store.get_user(self.owner_id)
        assert owner is not None
        await self.hub.hub.desk.claim(conversation.id, owner)
        other = await store.start_conversation("webchat", f"matrix-other-{n}")
        merged = await store.merge_contacts(
            (await store.start_conversation("webchat", f"matrix-a-{n}")).contact_id,
            (await store.start_conversation("webchat", f"matrix-b-{n}")).contact_id)
        [article] = await store.create_articles(
            [NewArticle(f"Matrix {n}", (f"matrix question {n}",), "An answer.")])
        canned = await store.save_canned(f"matrix{n}", "Hello {{first_name}}")
        user = await store.create_user(f"target{n}@example.com", f"Target {n}", Role.AGENT,
                                       self.password_hash)
        history = await store.article_history(article.id)
        template = await store.create_template(f"matrix_{n}", "HX" + "0" * 32, ["1"])
        campaign = await store.create_campaign(f"Matrix {n}", "hello", None, {}, {}, 60, None,
                                               [])
        self.ids = {"n": n, "conversation": conversation.id, "contact": conversation.contact_id,
                    "other_contact": other.contact_id, "merge": merged.merge_id,
                    "article": article.id, "revision": history[0].id, "canned": canned.id,
                    "user": user.id, "template": template.id, "campaign": campaign.id}


Body = Callable[[dict[str, int]], Any]


@dataclass(frozen=True)
class Call:
    """A well-formed call of one route: its path ids, query and JSON body (from the cell's
    fresh ids)."""

    path_ids: dict[str, str] = field(default_factory=dict)  # path parameter -> key of ids
    query: str = ""
    body: Body | None = None
    raw: bytes | None = None  # a body that is not JSON


_CONV = {"id": "conversation"}
CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/api/v1/auth/login"): Call(body=lambda i: {
        "email": f"target{i['n']}@example.com", "password": PASSWORD}),
    ("POST", "/api/v1/auth/logout"): Call(),
    ("GET", "/api/v1/auth/me"): Call(),
    ("GET", "/api/v1/conversations"): Call(query="state=assigned"),
    ("GET", "/api/v1/conversations/{id}"): Call(_CONV),
    ("POST", "/api/v1/conversations/{id}/read"): Call(_CONV, body=lambda i: {"message_id": 1}),
    ("POST", "/api/v1/conversations/{id}/claim"): Call(_CONV),
    ("POST", "/api/v1/conversations/{id}/release"): Call(_CONV),
    ("POST", "/api/v1/conversations/{id}/resolve"): Call(_CONV),
    ("POST", "/api/v1/conversations/{id}/messages"): Call(_CONV, body=lambda i: {
        "text": "Hello from the matrix"}),
    ("POST", "/api/v1/conversations/{id}/notes"): Call(_CONV, body=lambda i: {
        "text": "a private note"}),
    ("GET", "/api/v1/contacts/{id}"): Call({"id": "contact"}),
    ("GET", "/api/v1/messages/{id}/email"): Call({"id": "n"}),
    ("GET", "/api/v1/messages/{id}/original"): Call({"id": "n"}),
    ("GET", "/api/v1/attachments/{id}"): Call({"id": "n"}),
    ("PATCH", "/api/v1/contacts/{id}"): Call({"id": "contact"}, body=lambda i: {
        "name": "Renamed"}),
    ("POST", "/api/v1/contacts/{id}/merge"): Call({"id": "contact"}, body=lambda i: {
        "other_id": i["other_contact"]}),
    ("POST", "/api/v1/contacts/merges/{merge_id}/undo"): Call({"merge_id": "merge"}),
    ("GET", "/api/v1/reports/summary"): Call(query="from=2026-11-01&to=2026-11-30"),
    ("GET", "/api/v1/reports/articles"): Call(),
    ("GET", "/api/v1/reports/timeseries"): Call(query="metric=cycles&interval=day"),
    ("GET", "/api/v1/reports/export.csv"): Call(),
    ("GET", "/api/v1/articles"): Call(),
    ("POST", "/api/v1/articles"): Call(body=lambda i: {
        "title": "New", "questions": ["a new question"], "answer": "An answer."}),
    ("GET", "/api/v1/articles/{id}"): Call({"id": "article"}),
    ("PATCH", "/api/v1/articles/{id}"): Call({"id": "article"}, body=lambda i: {
        "title": "Changed"}),
    ("DELETE", "/api/v1/articles/{id}"): Call({"id": "article"}),
    ("GET", "/api/v1/articles/{id}/history"): Call({"id": "article"}),
    ("POST", "/api/v1/articles/{id}/restore"): Call({"id": "article"}, body=lambda i: {
        "revision_id": i["revision"]}),
    ("GET", "/api/v1/kb/match"): Call(query="q=refund"),
    ("GET", "/api/v1/kb/unanswered"): Call(),
    ("POST", "/api/v1/kb/unanswered/dismiss"): Call(body=lambda i: {"ids": [1]}),
    ("POST", "/api/v1/kb/unanswered/phrasing"): Call(body=lambda i: {
        "ids": [1], "article_id": i["article"], "text": "another way to ask"}),
    ("GET", "/api/v1/kb/status"): Call(),
    ("GET", "/api/v1/kb/settings"): Call(),
    ("PUT", "/api/v1/kb/settings"): Call(body=lambda i: {"thresholds": None}),
    ("GET", "/api/v1/kb/export"): Call(query="format=json"),
    ("POST", "/api/v1/kb/import"): Call(raw=b'[{"title": "Imported", "questions": ["q"],'
                                         b' "answer": "a"}]'),
    ("GET", "/api/v1/outbox/dead"): Call(),
    ("POST", "/api/v1/webchat/sessions"): Call(),
    ("GET", "/api/v1/webchat/messages"): Call(),
    ("POST", "/api/v1/webchat/messages"): Call(body=lambda i: {"text": "hello"}),
    ("POST", "/api/v1/webchat/links"): Call(body=lambda i: {"channel": "sms"}),
    ("GET", "/api/v1/webchat/ws"): Call(),
    ("GET", "/api/v1/agent/ws"): Call(),
    ("GET", "/healthz"): Call(),
    ("GET", "/readyz"): Call(),
    ("GET", "/api/v1/canned"): Call(),
    ("POST", "/api/v1/canned"): Call(body=lambda i: {"shortcut": f"new{i['n']}", "text": "t"}),
    ("PATCH", "/api/v1/canned/{id}"): Call({"id": "canned"}, body=lambda i: {
        "shortcut": f"matrix{i['n']}", "text": "changed"}),
    ("DELETE", "/api/v1/canned/{id}"): Call({"id": "canned"}),
    ("GET", "/api/v1/agents"): Call(),
    ("POST", "/api/v1/agents"): Call(body=lambda i: {"email": f"new{i['n']}@example.com"}),
    ("PATCH", "/api/v1/agents/{id}"): Call({"id": "user"}, body=lambda i: {"name": "Renamed"}),
    ("POST", "/api/v1/agents/{id}/password"): Call({"id": "user"}, body=lambda i: {}),
    ("POST", "/api/v1/agent/status"): Call(body=lambda i: {"status": "online"}),
    ("POST", "/api/v1/contacts/{id}/notify"): Call({"id": "contact"}, body=lambda i: {
        "text": "Your order shipped", "channel": "webchat"}),
    ("GET", "/api/v1/conversations/{id}/window"): Call(_CONV),
    ("GET", "/api/v1/templates"): Call(),
    ("POST", "/api/v1/templates"): Call(body=lambda i: {
        "name": f"new_{i['n']}", "content_sid": "HX" + "1" * 32, "variables": ["1"]}),
    ("DELETE", "/api/v1/templates/{id}"): Call({"id": "template"}),
    ("GET", "/api/v1/campaigns"): Call(),
    ("POST", "/api/v1/campaigns"): Call(body=lambda i: {
        "text": "hello", "audience": {"attributes": {"matrix": "none"}}}),
    ("GET", "/api/v1/campaigns/{id}"): Call({"id": "campaign"}),
    ("GET", "/email/unsubscribe/{token}"): Call(),  # no email here: every token is 404
    ("POST", "/email/unsubscribe/{token}"): Call(),
}


def documented_operations() -> list[tuple[str, str, str, bool]]:
    """(method, path, rule, is a WebSocket) of every operation in the document."""
    return [(method.upper(), path, op["x-access"], bool(op.get("x-websocket")))
            for path, ops in openapi.DOCUMENT["paths"].items() for method, op in ops.items()]


def _routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None or isinstance(
                resource, web.StaticResource):
            continue
        found.add((route.method, resource.canonical))
    return found


def _every_channel_app(tmp_path: Path) -> web.Application:
    """An application with every channel configured (built, not started): its routes
    include every platform's webhook."""
    return create_app(Settings(
        database_url=f"sqlite:///{tmp_path / 'routes.db'}", telegram_token="1:t",
        telegram_webhook_secret="s", slack_bot_token="xoxb-1", slack_signing_secret="s",
        twilio_account_sid="AC1", twilio_auth_token="t", twilio_from="+15550001111",
        meta_app_secret="s", messenger_page_token="EAA1", instagram_token="IGA1"))


async def test_every_route_declares_its_rule_and_every_rule_is_defined(
        hub: Running, tmp_path: Path) -> None:
    documented = {(m, p) for m, p, _, _ in documented_operations()}
    served = _routes(hub.client.app) | _routes(_every_channel_app(tmp_path))  # type: ignore[arg-type]
    undeclared = {(m, p) for m, p in served - documented if p not in openapi.PAGES}
    assert not undeclared, f"routes without a declared access rule: {sorted(undeclared)}"
    assert documented <= served, "documented but not served"
    assert {p for _, p in served} >= set(openapi.PAGES), "a declared page is not served"
    for method, path, rule, _ in documented_operations():
        assert rule in openapi.ACCESS, f"{method} {path}: unknown rule {rule!r}"
        assert (method, path) in CALLS, f"{method} {path}: add how to call it to CALLS"
        request_body = openapi.DOCUMENT["paths"][path][method.lower()].get("requestBody", {})
        if request_body.get("required"):
            recipe = CALLS[(method, path)]
            assert recipe.body is not None or recipe.raw is not None, f"{method} {path}: body"
    for rule, outcomes in openapi.ACCESS.items():
        assert set(outcomes) == set(openapi.ROLES), rule
    assert set(openapi.PAGES.values()) <= set(openapi.ACCESS)


@pytest.fixture
async def world(start_hub: HubFactory) -> World:
    hub = await start_hub(webchat_sessions_per_minute=0, session_check_seconds=300)
    visitor, other = await hub.visitor(), await hub.visitor()
    tokens: dict[str, str | None] = {
        "anonymous": None, "visitor": visitor.token, "other-visitor": other.token,
        "agent": await hub.add_user("ann@example.com"),
        "owner": await hub.add_user("olga@example.com"),
        "admin": await hub.add_user("root@example.com", Role.ADMIN),
    }
    owner = await call(hub, "GET", "/api/v1/auth/me", tokens["owner"] or "")
    return World(hub, tokens, owner["user"]["id"], await hash_password(PASSWORD))


async def _attempt(world: World, method: str, path: str, is_ws: bool,
                   token: str | None, *, token_in_url: bool = False) -> int:
    """Make the cell's call as the holder of ``token``; the status it got."""
    recipe = CALLS.get((method, path), Call())  # a page: a plain GET
    url = path
    for name, key in recipe.path_ids.items():
        url = url.replace("{" + name + "}", str(world.ids[key]))
    query = [recipe.query] if recipe.query else []
    headers: dict[str, str] = {}
    if token is not None and (is_ws or token_in_url):
        query.append(f"token={token}")  # the WebSocket handshakes read ?token=
    elif token is not None:
        headers = bearer(token)
    if query:
        url += "?" + "&".join(query)
    client = world.hub.client
    client.session.cookie_jar.clear()  # a login's cookie must not carry into the next call
    if is_ws:
        try:
            ws = await client.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await ws.close()
        return 101
    body = recipe.body(world.ids) if recipe.body else None
    if recipe.raw is not None:
        headers["Content-Type"] = "application/json"
    resp = await client.request(method, url, json=body, data=recipe.raw, headers=headers)
    if resp.status >= 400 and path.startswith("/api/"):  # every refusal is a JSON error
        error = (await resp.json())["error"]
        assert error["code"] and error["message"], await resp.text()
    client.session.cookie_jar.clear()
    return resp.status


def _verdict(expected: str, status: int, *, must_succeed: bool = False) -> bool:
    if expected == "allowed":  # neither refused nor broken
        return status < (300 if must_succeed else 500) and status not in (401, 403)
    return status == int(expected)


async def test_every_route_as_every_role(world: World) -> None:
    cells = [(m, p, rule, ws) for m, p, rule, ws in documented_operations()]
    cells += [("GET", p, rule, False) for p, rule in openapi.PAGES.items()
              if (("GET", p) in _routes(world.hub.client.app))]  # type: ignore[arg-type]
    cells.sort(key=lambda c: c[1] == "/api/v1/auth/logout")  # logouts end sessions: last
    failures = []
    for method, path, rule, is_ws in cells:
        for role in openapi.ROLES:
            await world.fresh()
            status = await _attempt(world, method, path, is_ws, world.tokens[role])
            expected = openapi.ACCESS[rule][role]
            # where others get 409, the conversation's own agent really succeeds
            if not _verdict(expected, status,
                            must_succeed=rule.startswith("assignee") and role == "owner"):
                failures.append(f"{method} {path} as {role}: {status}, expected {expected}")
        # the admin's token in the URL counts for nothing, except on a WebSocket handshake
        if rule not in ("public", "admin-page", "signed") and path != "/api/v1/auth/logout":
            await world.fresh()
            status = await _attempt(world, method, path, is_ws, world.tokens["admin"],
                                    token_in_url=True)
            expected = openapi.ACCESS[rule]["admin" if is_ws else "anonymous"]
            if not _verdict(expected, status):
                failures.append(f"{method} {path} with the admin's token in the URL: {status},"
                                f" expected {expected}")
    assert not failures, "\n".join(failures)


# the holes this matrix found, each pinned -------------------------------------------------
async def _offered(visitor: Visitor, text: str) -> list[int]:
    sent = await visitor.say(text)
    await visitor.hub.settle()
    return [s["article_id"] for m in await visitor.messages(after=sent["id"])
            for s in m.get("suggestions", [])]


async def test_a_choice_must_be_a_published_article_the_visitor_was_offered(
        hub: Running) -> None:
    admin = bearer(await hub.add_user("root@example.com", Role.ADMIN))
    draft = await (await hub.client.post("/api/v1/articles", headers=admin, json={
        "title": "Black Friday", "questions": ["black friday code"], "status": "draft",
        "answer": "DRAFT-SECRET: code BF50 gives 50% off from next week"})).json()
    visitor = await hub.visitor()
    offered = await _offered(visitor, "payment")
    assert offered, "the demo knowledge base suggests articles for 'payment'"
    published = [a["id"] for a in (await (await hub.client.get(
        "/api/v1/articles", headers=admin)).json())["articles"]
        if a["status"] == "published" and a["id"] not in offered]
    unknown = await hub.client.post("/api/v1/webchat/messages", json={"choice": 999_999},
                                    headers=visitor.headers)
    unknown_answer = (unknown.status, (await unknown.json())["error"]["code"])
    # walking the ids: a draft, a published article never offered — both as unknown
    for article_id in [draft["id"], published[0], *range(1, draft["id"] + 2)]:
        if article_id in offered:
            continue
        resp = await hub.client.post("/api/v1/webchat/messages", json={"choice": article_id},
                                     headers=visitor.headers)
        assert (resp.status, (await resp.json())["error"]["code"]) == unknown_answer
    await hub.settle()
    assert all("DRAFT-SECRET" not in m["text"] for m in await visitor.messages())
    # another visitor cannot choose what this one was offered
    other = await hub.visitor()
    resp = await hub.client.post("/api/v1/webchat/messages", json={"choice": offered[0]},
                                 headers=other.headers)
    assert resp.status == unknown_answer[0]
    # the offered one works
    chosen = await visitor.choose(offered[0])
    await hub.settle()
    answers = [m for m in await visitor.messages(after=chosen["id"]) if m["author"] == "bot"]
    assert answers and answers[0]["article_id"] == offered[0]


async def test_a_draft_offered_before_it_was_unpublished_is_not_answered(hub: Running) -> None:
    admin = bearer(await hub.add_user("root@example.com", Role.ADMIN))
    visitor = await hub.visitor()
    offered = await _offered(visitor, "payment")
    resp = await hub.client.patch(f"/api/v1/articles/{offered[0]}", json={"status": "draft"},
                                  headers=admin)
    assert resp.status == 200
    resp = await hub.client.post("/api/v1/webchat/messages", json={"choice": offered[0]},
                                 headers=visitor.headers)
    assert resp.status == 404


async def test_the_agents_page_refuses_agents_as_the_admin_page_does(hub: Running) -> None:
    agent = bearer(await hub.add_user("ann@example.com"))
    admin = bearer(await hub.add_user("root@example.com", Role.ADMIN))
    for path in ("/admin", "/admin/agents"):
        assert (await hub.client.get(path, headers=agent)).status == 403
        assert (await hub.client.get(path, headers=admin)).status == 200
        assert (await hub.client.get(path)).status == 200  # the page, no data without login


async def test_a_session_token_in_the_url_is_refused(hub: Running) -> None:
    token = await hub.add_user("ann@example.com")
    resp = await hub.client.get(f"/api/v1/conversations?token={token}")
    assert resp.status == 401
    assert (await hub.client.get("/api/v1/conversations", headers=bearer(token))).status == 200
    ws = await hub.client.ws_connect(f"/api/v1/agent/ws?token={token}")  # the handshake may
    await ws.close()


# live sockets --------------------------------------------------------------------------
async def test_a_socket_of_an_ended_session_is_closed(hub: Running) -> None:
    token = await hub.add_user("ann@example.com")
    ws = await agent_socket(hub, token)
    await call(hub, "POST", "/api/v1/auth/logout", token)
    await assert_closed(ws)


async def _frames_until(ws: aiohttp.ClientWebSocketResponse,
                        text: str) -> list[dict[str, Any]]:
    """Every frame up to and including the message ``text``."""
    frames = []
    while True:
        frame = await next_frame(ws)
        frames.append(frame)
        if frame.get("message", {}).get("text") == text:
            return frames


async def test_a_visitors_socket_carries_only_their_own_conversation(hub: Running) -> None:
    agent = await hub.add_user("ann@example.com")
    alice, bob = await hub.visitor(), await hub.visitor()
    alice_ws = await hub.client.ws_connect(f"/api/v1/webchat/ws?token={alice.token}")
    bob_ws = await hub.client.ws_connect(f"/api/v1/webchat/ws?token={bob.token}")
    await alice.ask("I want a human")
    await bob.ask("I want a human")
    cid = alice.conversation_id
    await call(hub, "POST", f"/api/v1/conversations/{cid}/claim", agent)
    await call(hub, "POST", f"/api/v1/conversations/{cid}/notes", agent,
               {"text": "internal: card 4111"}, status=201)
    await call(hub, "POST", f"/api/v1/conversations/{cid}/messages", agent,
               {"text": "Hi Alice"}, status=201)
    await bob.say("bob's last words")
    await alice.say("alice's last words")
    seen = {alice.conversation_id: await _frames_until(alice_ws, "alice's last words"),
            bob.conversation_id: await _frames_until(bob_ws, "bob's last words")}
    assert any(f.get("message", {}).get("text") == "Hi Alice" for f in seen[cid])
    for own, frames in seen.items():
        for frame in frames:
            assert frame.get("message", {}).get("conversation_id", own) == own, frame
            assert frame.get("conversation", {}).get("id", own) == own, frame
            assert "4111" not in frame.get("message", {}).get("text", ""), frame
    await alice_ws.close()
    await bob_ws.close()
