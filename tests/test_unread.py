"""Unread counts in the agent console, kept per agent on the server (issue 7)."""

from __future__ import annotations

from conftest import Running, call


async def unread(running: Running, token: str) -> dict[int, int]:
    listed = await call(running, "GET", "/api/v1/conversations", token)
    return {c["id"]: c["unread"] for c in listed["conversations"]}


async def test_unread_counts_are_per_agent_and_survive_a_fresh_list(hub: Running) -> None:
    ann = await hub.add_user("ann@example.com", name="Ann")
    bob = await hub.add_user("bob@example.com", name="Bob")
    first, second = await hub.visitor(), await hub.visitor()
    await first.say("I need a human")
    await first.say("hello?")
    await second.say("I need a human")
    await hub.settle()
    a, b = first.conversation_id, second.conversation_id
    before = await unread(hub, ann)
    assert before[a] == 2 and before[b] == 1
    assert await unread(hub, bob) == before

    thread = await call(hub, "GET", f"/api/v1/conversations/{a}", ann)
    newest = max(m["id"] for m in thread["messages"])
    assert await call(hub, "POST", f"/api/v1/conversations/{a}/read", ann,
                      {"message_id": newest}) == {"ok": True}
    # a fresh fetch (as after a reload) still knows; Bob's counts are untouched
    assert (await unread(hub, ann))[a] == 0 and (await unread(hub, ann))[b] == 1
    assert (await unread(hub, bob))[a] == 2
    # an older mark does not bring messages back
    await call(hub, "POST", f"/api/v1/conversations/{a}/read", ann,
               {"message_id": thread["messages"][0]["id"]})
    assert (await unread(hub, ann))[a] == 0
    await first.say("still there?")
    await hub.settle()
    assert (await unread(hub, ann))[a] == 1 and (await unread(hub, bob))[a] == 3

    # a mark past the newest message (a buggy or hostile client) does not hide later ones
    await call(hub, "POST", f"/api/v1/conversations/{a}/read", ann, {"message_id": 2**62})
    assert (await unread(hub, ann))[a] == 0
    await first.say("anyone?")
    await hub.settle()
    assert (await unread(hub, ann))[a] == 1

    for body in ({}, {"message_id": "7"}, {"message_id": True}, {"message_id": 0}):
        await call(hub, "POST", f"/api/v1/conversations/{a}/read", ann, body, status=422)
    await call(hub, "POST", "/api/v1/conversations/99999/read", ann, {"message_id": 1},
               status=404)
    resp = await hub.client.post(f"/api/v1/conversations/{a}/read", json={"message_id": 1})
    assert resp.status == 401
