"""Nobody sees what is not theirs, and bad input gets a clear JSON error and changes nothing."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import PASSWORD, HubFactory, Running

from hub.model import Role


async def _state(hub: Running, conversation_id: int) -> tuple[str, int]:
    conversation = await hub.hub.store.get_conversation(conversation_id)
    assert conversation is not None
    messages = await hub.hub.store.list_messages(conversation_id)
    return conversation.state.value, len(messages)


async def _error(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body["error"]) == {"code", "message"}
    code: str = body["error"]["code"]
    return code


async def test_wrong_password_is_refused(hub: Running) -> None:
    await hub.add_user("ann@example.com")
    resp = await hub.client.post("/api/v1/auth/login",
                                 json={"email": "ann@example.com", "password": "nope-nope"})
    assert await _error(resp, 401) == "unauthorized"
    unknown = await hub.client.post("/api/v1/auth/login",
                                    json={"email": "who@example.com", "password": "x" * 9})
    assert await _error(unknown, 401) == "unauthorized"
    assert "token" not in resp.cookies


async def test_repeated_failed_logins_are_rate_limited(hub: Running) -> None:
    for _ in range(10):
        await hub.client.post("/api/v1/auth/login",
                              json={"email": "x@example.com", "password": "wrong-pass"})
    resp = await hub.client.post("/api/v1/auth/login",
                                 json={"email": "x@example.com", "password": "wrong-pass"})
    assert await _error(resp, 429) == "rate_limited"


async def test_missing_session_is_refused_and_nothing_changes(hub: Running) -> None:
    visitor = await hub.visitor()
    await visitor.ask("agent")
    before = await _state(hub, visitor.conversation_id)
    cid = visitor.conversation_id
    for method, path, body in [
        ("GET", "/api/v1/conversations", None),
        ("GET", f"/api/v1/conversations/{cid}", None),
        ("POST", f"/api/v1/conversations/{cid}/claim", None),
        ("POST", f"/api/v1/conversations/{cid}/messages", {"text": "hi"}),
        ("POST", f"/api/v1/conversations/{cid}/resolve", None),
        ("GET", "/api/v1/auth/me", None),
    ]:
        resp = await hub.client.request(method, path, json=body,
                                        headers={"Authorization": "Bearer forged"})
        assert await _error(resp, 401) == "unauthorized", path
    assert await _state(hub, cid) == before


async def test_logout_ends_the_session(hub: Running) -> None:
    token = await hub.add_user("ann@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await hub.client.get("/api/v1/auth/me", headers=headers)).status == 200
    assert (await hub.client.post("/api/v1/auth/logout", headers=headers)).status == 200
    assert (await hub.client.get("/api/v1/auth/me", headers=headers)).status == 401


async def test_login_cookie_is_httponly_and_samesite(hub: Running) -> None:
    await hub.add_user("ann@example.com")
    resp = await hub.client.post("/api/v1/auth/login",
                                 json={"email": "ann@example.com", "password": "correct horse battery"})
    cookie = resp.cookies["supporthub_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    # the cookie alone authenticates the console
    assert (await hub.client.get("/api/v1/auth/me")).status == 200


async def test_a_visitor_reads_only_their_own_conversation(hub: Running) -> None:
    alice, bob = await hub.visitor(), await hub.visitor()
    await alice.say("my address is 1 Secret Lane")
    bob_view = await bob.messages()
    assert all("Secret Lane" not in m["text"] for m in bob_view)
    # a forged or agent token cannot open the visitor API
    agent_token = await hub.add_user("ann@example.com")
    for token in (agent_token, alice.token[:-2] + "xx", "v1.someone-else.c2ln"):
        resp = await hub.client.get("/api/v1/webchat/messages",
                                    headers={"Authorization": f"Bearer {token}"})
        assert await _error(resp, 401) == "unauthorized"
        posted = await hub.client.post("/api/v1/webchat/messages", json={"text": "hi"},
                                       headers={"Authorization": f"Bearer {token}"})
        assert await _error(posted, 401) == "unauthorized"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await hub.client.ws_connect(f"/api/v1/webchat/ws?token={agent_token}")
    assert refused.value.status == 401
    assert [m["author"] for m in await alice.messages()].count("customer") == 1


async def test_a_visitor_token_is_no_agent_login(hub: Running) -> None:
    visitor = await hub.visitor()
    resp = await hub.client.get(f"/api/v1/conversations/{visitor.conversation_id}",
                                headers=visitor.headers)
    assert await _error(resp, 401) == "unauthorized"


async def test_agents_cannot_change_articles(hub: Running) -> None:
    token = await hub.add_user("ann@example.com", Role.AGENT)
    headers = {"Authorization": f"Bearer {token}"}
    articles = (await (await hub.client.get("/api/v1/articles", headers=headers)).json())
    first = articles["articles"][0]
    created = await hub.client.post("/api/v1/articles", headers=headers,
                                    json={"title": "x", "questions": ["y"], "answer": "z"})
    assert await _error(created, 403) == "forbidden"
    patched = await hub.client.patch(f"/api/v1/articles/{first['id']}", headers=headers,
                                     json={"answer": "changed"})
    assert await _error(patched, 403) == "forbidden"
    deleted = await hub.client.delete(f"/api/v1/articles/{first['id']}", headers=headers)
    assert await _error(deleted, 403) == "forbidden"
    again = await hub.hub.store.get_article(first["id"])
    assert again is not None and again.answer == first["answer"]


async def test_admin_article_edit_is_used_on_the_next_message(hub: Running) -> None:
    admin = {"Authorization": f"Bearer {await hub.add_user('root@example.com', Role.ADMIN)}"}
    created = await hub.client.post("/api/v1/articles", headers=admin, json={
        "title": "Pet policy",
        "questions": ["Can I bring my dog to the store?", "Are pets allowed in your shops?"],
        "answer": "Well-behaved dogs on a lead are welcome in all our stores.",
        "tags": ["stores"],
    })
    assert created.status == 201
    article = await created.json()
    assert article["status"] == "published"
    await hub.settle()  # the write answered once committed; now the matcher has it too
    visitor = await hub.visitor()
    reply = await visitor.ask("can I bring my dog into the store")
    assert reply["text"] == article["answer"]
    match = await hub.client.get("/api/v1/kb/match", params={"q": "are dogs allowed in shops"},
                                 headers=admin)
    body = await match.json()
    assert body["matches"][0]["article_id"] == article["id"]
    # a draft is not used by the bot
    await hub.client.patch(f"/api/v1/articles/{article['id']}", headers=admin,
                           json={"status": "draft"})
    await hub.settle()  # the write answered once committed; now the matcher has it too
    reply = await visitor.ask("can I bring my dog into the store")
    assert reply["text"] != article["answer"]


async def test_malformed_bodies_get_json_errors_and_change_nothing(hub: Running) -> None:
    admin = {"Authorization": f"Bearer {await hub.add_user('root@example.com', Role.ADMIN)}"}
    visitor = await hub.visitor()
    count = len(await hub.hub.store.list_articles())
    cases = [
        (await hub.client.post("/api/v1/articles", data=b"{not json", headers=admin), 400),
        (await hub.client.post("/api/v1/articles", json=[1, 2], headers=admin), 400),
        (await hub.client.post("/api/v1/articles", json={"title": "t"}, headers=admin), 422),
        (await hub.client.post("/api/v1/articles", headers=admin,
                               json={"title": "t", "questions": "q", "answer": "a"}), 422),
        (await hub.client.post("/api/v1/articles", headers=admin,
                               json={"title": "t", "questions": ["q"], "answer": "a",
                                     "status": "live"}), 422),
        (await hub.client.post("/api/v1/webchat/messages", json={"text": ""},
                               headers=visitor.headers), 422),
        (await hub.client.post("/api/v1/webchat/messages", json={"text": 5},
                               headers=visitor.headers), 422),
        (await hub.client.post("/api/v1/webchat/messages", json={"choice": 999999},
                               headers=visitor.headers), 404),
        (await hub.client.post("/api/v1/webchat/messages", json={"text": "x" * 5000},
                               headers=visitor.headers), 413),
        (await hub.client.post("/api/v1/webchat/messages", data=b"x" * 300_000,
                               headers=visitor.headers), 413),
        (await hub.client.get("/api/v1/conversations?state=open", headers=admin), 422),
        (await hub.client.get("/api/v1/conversations/abc", headers=admin), 404),
        (await hub.client.get("/api/v1/conversations/9999", headers=admin), 404),
        (await hub.client.get("/api/v1/kb/match", headers=admin), 422),
    ]
    for resp, status in cases:
        await _error(resp, status)
    assert len(await hub.hub.store.list_articles()) == count
    assert await visitor.messages() == []
    assert (await hub.client.get("/healthz")).status == 200


async def test_operations_endpoints_and_openapi(hub: Running) -> None:
    assert (await (await hub.client.get("/healthz")).json())["status"] == "ok"
    assert (await (await hub.client.get("/readyz")).json())["status"] == "ready"
    metrics = await (await hub.client.get("/metrics")).text()
    assert 'supporthub_conversations{state="bot"}' in metrics
    spec = await (await hub.client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    for path in ["/api/v1/auth/login", "/api/v1/conversations/{id}/claim",
                 "/api/v1/webchat/sessions", "/api/v1/webchat/messages", "/api/v1/kb/match",
                 "/api/v1/articles/{id}"]:
        assert path in spec["paths"]
    # every API route the app serves is described
    served = {r.resource.canonical for r in hub.client.app.router.routes()  # type: ignore[union-attr]
              if r.resource is not None and r.resource.canonical.startswith("/api/v1/")}
    assert served <= set(spec["paths"]), served - set(spec["paths"])


async def test_brackets_typed_by_a_customer_are_words_not_marks(hub: Running) -> None:
    """Only channel adapters mark messages (edited, opt-out…); a customer typing the same
    brackets into the chat is answered like any other message."""
    visitor = await hub.visitor()
    reply = await visitor.ask("[edited] [opt-out] how do I reset my password")
    assert reply["author"] == "bot" and "password" in reply["text"].lower()


async def test_new_chat_sessions_are_limited_per_address(start_hub: HubFactory) -> None:
    """A flood of new visitors from one address is refused (each would be a contact);
    a visitor who already has a token keeps it, and other addresses are not affected."""
    hub = await start_hub(webchat_sessions_per_minute=3, trusted_proxies="127.0.0.1")
    tokens = []
    for _ in range(3):
        resp = await hub.client.post("/api/v1/webchat/sessions", json={})
        assert resp.status == 201
        tokens.append((await resp.json())["visitor_token"])
    conversations_before = len(await hub.hub.store.list_conversations())
    flood = await hub.client.post("/api/v1/webchat/sessions", json={})
    assert await _error(flood, 429) == "rate_limited"
    assert len(await hub.hub.store.list_conversations()) == conversations_before
    # a returning visitor is not a new session
    again = await hub.client.post("/api/v1/webchat/sessions", json={},
                                  headers={"Authorization": f"Bearer {tokens[0]}"})
    assert again.status == 201 and (await again.json())["visitor_token"] == tokens[0]
    # behind the trusted proxy (which appends the address it saw), each client is counted
    # by its own address, and cannot escape its count by claiming others on the left
    client = "203.0.113.7"
    for claimed in ("", "198.51.100.1, ", "198.51.100.2, "):
        resp = await hub.client.post("/api/v1/webchat/sessions", json={},
                                     headers={"X-Forwarded-For": claimed + client})
        assert resp.status == 201
    spoofed = await hub.client.post("/api/v1/webchat/sessions", json={},
                                    headers={"X-Forwarded-For": f"198.51.100.3, {client}"})
    assert await _error(spoofed, 429) == "rate_limited"


async def test_failed_logins_behind_a_proxy_lock_out_only_that_client(
        start_hub: HubFactory) -> None:
    hub = await start_hub(trusted_proxies="127.0.0.1")
    await hub.add_user("ann@example.com")
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    for _ in range(10):
        await hub.client.post("/api/v1/auth/login", headers=attacker,
                              json={"email": "ann@example.com", "password": "wrong-pass"})
    blocked = await hub.client.post("/api/v1/auth/login", headers=attacker,
                                    json={"email": "ann@example.com", "password": "wrong-pass"})
    assert await _error(blocked, 429) == "rate_limited"
    ann = await hub.client.post("/api/v1/auth/login", headers={"X-Forwarded-For": "192.0.2.4"},
                                json={"email": "ann@example.com", "password": PASSWORD})
    assert ann.status == 200
