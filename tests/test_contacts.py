"""Contacts and the agents' desk through the HTTP API: edit, merge and undo, private notes,
canned responses, search and filters, agent administration, round-robin assignment and the
notice when no agent is online."""

from __future__ import annotations

import asyncio

from conftest import PASSWORD, HubFactory, Running, call

from handoff.assignment import NO_AGENT_TEXT
from hub.model import Role


async def queued_visitor(running: Running, text: str = "I need a human") -> int:
    visitor = await running.visitor()
    await visitor.say(text)
    await running.settle()
    return visitor.conversation_id


async def test_edit_merge_and_undo_restore_both_contacts(hub: Running) -> None:
    token = await hub.add_user("ann@example.com", name="Ann")
    first, second = await hub.visitor(), await hub.visitor()
    await first.ask("how long does shipping take?")
    await second.ask("do you sell gift cards?")
    c1 = (await hub.hub.store.get_conversation(first.conversation_id)).contact_id  # type: ignore[union-attr]
    c2 = (await hub.hub.store.get_conversation(second.conversation_id)).contact_id  # type: ignore[union-attr]
    edited = await call(hub, "PATCH", f"/api/v1/contacts/{c1}", token,
                        {"name": "Jane Doe", "attributes": {"plan": "pro"}})
    assert edited["name"] == "Jane Doe" and edited["attributes"] == {"plan": "pro"}
    await call(hub, "PATCH", f"/api/v1/contacts/{c2}", token,
               {"email": "jane@example.com", "attributes": {"plan": "free", "city": "Oslo"}})
    await call(hub, "PATCH", f"/api/v1/contacts/{c2}", token, {"attributes": [1]}, status=422)
    before = [await call(hub, "GET", f"/api/v1/contacts/{c}", token) for c in (c1, c2)]
    assert before[0]["conversations"] == [first.conversation_id]

    merged = await call(hub, "POST", f"/api/v1/contacts/{c1}/merge", token, {"other_id": c2})
    assert merged["id"] == c1 and isinstance(merged["merge_id"], int)
    assert merged["name"] == "Jane Doe" and merged["email"] == "jane@example.com"
    assert merged["attributes"] == {"plan": "pro", "city": "Oslo"}
    assert sorted(merged["conversations"]) == sorted([first.conversation_id,
                                                      second.conversation_id])
    assert len(merged["identities"]) == 2
    # both visitors keep their own chat, now under one contact
    assert (await second.messages())[0]["text"] == "do you sell gift cards?"
    await call(hub, "POST", f"/api/v1/contacts/{c1}/merge", token, {"other_id": c1}, status=409)
    await call(hub, "POST", f"/api/v1/contacts/{c1}/merge", token, {"other_id": 999},
               status=404)

    undone = await call(hub, "POST", f"/api/v1/contacts/merges/{merged['merge_id']}/undo",
                        token)
    assert [c["id"] for c in undone["contacts"]] == [c1, c2]
    after = [await call(hub, "GET", f"/api/v1/contacts/{c}", token) for c in (c1, c2)]
    assert after == before
    await call(hub, "POST", f"/api/v1/contacts/merges/{merged['merge_id']}/undo", token,
               status=409)


async def test_private_notes_never_reach_the_customer(hub: Running) -> None:
    token = await hub.add_user("ann@example.com", name="Ann")
    visitor = await hub.visitor()
    await visitor.say("I need a human")
    await hub.settle()
    cid = visitor.conversation_id
    note = await call(hub, "POST", f"/api/v1/conversations/{cid}/notes", token,
                      {"text": "VIP customer, be nice"}, status=201)
    assert note["message"]["private"] is True
    flagged = await call(hub, "POST", f"/api/v1/conversations/{cid}/messages", token,
                         {"text": "second note", "private": True}, status=201)
    assert flagged["message"]["private"] is True
    thread = await call(hub, "GET", f"/api/v1/conversations/{cid}", token)
    assert [m["text"] for m in thread["messages"] if m["private"]] == [
        "VIP customer, be nice", "second note"]
    texts = [m["text"] for m in await visitor.messages()]
    assert "VIP customer, be nice" not in texts and "second note" not in texts
    assert (await hub.hub.store.outbox_stats()).pending == 0
    await asyncio.sleep(0.2)
    assert all("VIP" not in str(sent) for sent in hub.memory.sent)


async def test_canned_responses_admins_manage_agents_use(hub: Running) -> None:
    admin = await hub.add_user("boss@example.com", Role.ADMIN, name="Boss")
    agent = await hub.add_user("ann@example.com", name="Ann")
    await call(hub, "POST", "/api/v1/canned", agent, {"shortcut": "hi", "text": "x"},
               status=403)
    made = await call(hub, "POST", "/api/v1/canned", admin,
                      {"shortcut": "hi", "text": "Hello {{first_name}}, {{ plan }}!"},
                      status=201)
    await call(hub, "POST", "/api/v1/canned", admin, {"shortcut": "hi", "text": "y"},
               status=409)
    cid = await queued_visitor(hub)
    contact = (await hub.hub.store.get_conversation(cid)).contact_id  # type: ignore[union-attr]
    await call(hub, "PATCH", f"/api/v1/contacts/{contact}", agent,
               {"name": "Jane Doe", "attributes": {"plan": "Pro"}})
    listed = await call(hub, "GET", f"/api/v1/canned?conversation_id={cid}", agent)
    assert listed["canned"] == [{"id": made["id"], "shortcut": "hi",
                                 "text": "Hello {{first_name}}, {{ plan }}!",
                                 "rendered": "Hello Jane, Pro!"}]
    await call(hub, "PATCH", f"/api/v1/canned/{made['id']}", admin,
               {"shortcut": "hello", "text": "Hi"})
    await call(hub, "DELETE", f"/api/v1/canned/{made['id']}", admin)
    assert (await call(hub, "GET", "/api/v1/canned", agent))["canned"] == []


async def test_search_and_filters(hub: Running) -> None:
    token = await hub.add_user("ann@example.com", name="Ann")
    a = await queued_visitor(hub, "I need a human about my blue teapot")
    b = await queued_visitor(hub, "I need a human please")

    async def ids(query: str) -> list[int]:
        found = await call(hub, "GET", f"/api/v1/conversations?{query}", token)
        return [c["id"] for c in found["conversations"]]

    assert await ids("q=TEAPOT") == [a]
    assert sorted(await ids("state=queued&channel=webchat")) == sorted([a, b])
    assert await ids("channel=sms") == []
    await call(hub, "POST", f"/api/v1/conversations/{b}/claim", token)
    me = (await call(hub, "GET", "/api/v1/auth/me", token))["user"]["id"]
    assert await ids(f"agent={me}") == [b]
    assert a in await ids("agent=none") and b not in await ids("agent=none")
    await call(hub, "GET", "/api/v1/conversations?agent=someone", token, status=422)


async def test_admins_manage_agents_and_a_deactivated_session_ends_at_once(
    hub: Running,
) -> None:
    admin = await hub.add_user("boss@example.com", Role.ADMIN, name="Boss")
    agent = await hub.add_user("ann@example.com", name="Ann")
    await call(hub, "GET", "/api/v1/agents", agent, status=403)
    invited = await call(hub, "POST", "/api/v1/agents", admin,
                         {"email": "Bob@Example.com", "name": "Bob"}, status=201)
    assert invited["email"] == "bob@example.com" and len(invited["password"]) >= 12
    login = await hub.client.post("/api/v1/auth/login", json={
        "email": "bob@example.com", "password": invited["password"]})
    assert login.status == 200
    await call(hub, "POST", "/api/v1/agents", admin, {"email": "bob@example.com"}, status=409)
    listed = await call(hub, "GET", "/api/v1/agents", admin)
    ann = next(a for a in listed["agents"] if a["email"] == "ann@example.com")

    await call(hub, "GET", "/api/v1/auth/me", agent)
    off = await call(hub, "PATCH", f"/api/v1/agents/{ann['id']}", admin, {"active": False})
    assert off["active"] is False
    await call(hub, "GET", "/api/v1/auth/me", agent, status=401)
    await call(hub, "GET", "/api/v1/conversations", agent, status=401)
    relogin = await hub.client.post("/api/v1/auth/login", json={
        "email": "ann@example.com", "password": PASSWORD})
    assert relogin.status == 401
    # back, with a new password and the admin role
    await call(hub, "PATCH", f"/api/v1/agents/{ann['id']}", admin,
               {"active": True, "role": "admin"})
    reset = await call(hub, "POST", f"/api/v1/agents/{ann['id']}/password", admin, {})
    login = await hub.client.post("/api/v1/auth/login", json={
        "email": "ann@example.com", "password": reset["password"]})
    assert login.status == 200 and (await login.json())["user"]["role"] == "admin"
    await call(hub, "POST", f"/api/v1/agents/{ann['id']}/password", admin,
               {"password": "short"}, status=422)
    me = (await call(hub, "GET", "/api/v1/auth/me", admin))["user"]["id"]
    await call(hub, "PATCH", f"/api/v1/agents/{me}", admin, {"active": False}, status=403)
    page = await hub.client.get("/admin/agents")
    assert page.status == 200 and "agents" in (await page.text()).lower()


async def test_round_robin_respects_the_per_agent_limit(start_hub: HubFactory) -> None:
    hub = await start_hub(auto_assign=True, max_open_per_agent=1,
                          assignment_sweep_seconds=0.2)
    tokens = [await hub.add_user(f"{n}@example.com", name=n.title()) for n in ("ann", "bob")]
    away = await hub.add_user("cat@example.com", name="Cat")
    for token in tokens:
        status = await call(hub, "POST", "/api/v1/agent/status", token, {"status": "online"})
        assert status["status"] == "online"
    await call(hub, "POST", "/api/v1/agent/status", away, {"status": "busy"}, status=422)
    conversations = [await queued_visitor(hub) for _ in range(3)]

    async def states() -> list[tuple[str, str | None]]:
        out = []
        for cid in conversations:
            c = await hub.hub.store.get_conversation(cid)
            assert c is not None
            out.append((c.state.value, c.assigned_agent_name))
        return out

    async with asyncio.timeout(5):
        while (await states())[:2] != [("assigned", "Ann"), ("assigned", "Bob")]:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert (await states())[2] == ("queued", None)  # both are at their limit; Cat is away
    await call(hub, "POST", f"/api/v1/conversations/{conversations[0]}/resolve", tokens[0])
    async with asyncio.timeout(5):
        while (await states())[2] != ("assigned", "Ann"):
            await asyncio.sleep(0.05)


async def test_a_customer_waiting_with_no_agent_online_is_told_once(
    start_hub: HubFactory,
) -> None:
    hub = await start_hub(no_agent_wait_seconds=1, assignment_sweep_seconds=0.2)
    visitor = await hub.visitor()
    await visitor.say("I need a human")
    await hub.settle()

    async def notices() -> int:
        return sum(m["text"] == NO_AGENT_TEXT for m in await visitor.messages())

    async with asyncio.timeout(5):
        while await notices() == 0:
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    assert await notices() == 1
    # they leave a message: it waits in the queue for an agent, the bot stays quiet
    await visitor.say("My order 1234 never arrived, please call me back")
    await hub.settle()
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None and conversation.state.value == "queued"
    assert (await visitor.messages())[-1]["author"] == "customer"
