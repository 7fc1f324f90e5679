"""The six steps a new user takes, end to end on the web chat, in-process: a real aiohttp
server, the SQLite store on a temp file, a WebSocket client for the customer and the agent
API and console WebSocket for the agent."""

from __future__ import annotations

import asyncio
import time

from conftest import HubFactory, Running, next_frame

from hub.model import Role


async def test_faq_question_in_own_words_gets_the_answer(hub: Running) -> None:
    visitor = await hub.visitor()
    reply = await visitor.ask("when will my package arrive?")
    assert reply["author"] == "bot"
    assert "business days" in reply["text"]
    assert reply["suggestions"] == []


async def test_vague_question_gets_up_to_three_suggestions_and_a_choice_answers(
    hub: Running,
) -> None:
    visitor = await hub.visitor()
    reply = await visitor.ask("refund")
    assert 1 <= len(reply["suggestions"]) <= 3, reply
    titles = [s["title"] for s in reply["suggestions"]]
    assert "Refunds" in titles
    refunds = next(s for s in reply["suggestions"] if s["title"] == "Refunds")
    chosen = await visitor.choose(refunds["article_id"])
    assert chosen["text"] == "Refunds" and chosen["author"] == "customer"
    await hub.settle()
    answer = (await visitor.messages(after=chosen["id"]))[0]
    article = await hub.hub.store.get_article(refunds["article_id"])
    assert article is not None and answer["text"] == article.answer


async def test_uncovered_question_is_an_honest_fallback_and_second_one_hands_off(
    hub: Running,
) -> None:
    visitor = await hub.visitor()
    first = await visitor.ask("what is the boiling point of tungsten on mars")
    assert "don't know" in first["text"] and "person" in first["text"]
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None and conversation.state.value == "bot"
    second = await visitor.ask("who won the chess olympiad in 1956")
    assert "connecting you with a person" in second["text"]
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None and conversation.state.value == "queued"


async def test_the_whole_path_customer_bot_handoff_agent_resolve(hub: Running) -> None:
    agent_token = await hub.add_user("ann@example.com", name="Ann")
    agent = {"Authorization": f"Bearer {agent_token}"}
    visitor = await hub.visitor()

    # the customer is live on the WebSocket, the agent on the console socket
    customer_ws = await hub.client.ws_connect(f"/api/v1/webchat/ws?token={visitor.token}")
    agent_ws = await hub.client.ws_connect("/api/v1/agent/ws", headers=agent)

    # 2. an FAQ in the customer's own words, answered live
    await visitor.say("How long does delivery take?")
    await next_frame(customer_ws, type="message", message__author="customer")
    answer = await next_frame(customer_ws, type="message", message__author="bot")
    assert "business days" in answer["message"]["text"]

    # 3. asking for a person
    await visitor.say("I want to talk to a human")
    connecting = await next_frame(customer_ws, type="message", message__author="bot")
    assert "connecting you with a person" in connecting["message"]["text"]

    # 4. the agent's queue hears of it without reloading
    queued = await next_frame(agent_ws, type="conversation", conversation__state="queued")
    conversation_id = queued["conversation"]["id"]
    assert conversation_id == visitor.conversation_id
    listing = await (await hub.client.get("/api/v1/conversations?state=queued",
                                          headers=agent)).json()
    assert [c["id"] for c in listing["conversations"]] == [conversation_id]

    claim = await hub.client.post(f"/api/v1/conversations/{conversation_id}/claim",
                                  headers=agent)
    assert claim.status == 200
    claimed = await claim.json()
    assert claimed["state"] == "assigned" and claimed["assigned_agent"]["name"] == "Ann"
    joined = await next_frame(customer_ws, type="message", message__author="system")
    assert "Ann joined" in joined["message"]["text"]

    thread = await (await hub.client.get(f"/api/v1/conversations/{conversation_id}",
                                         headers=agent)).json()
    authors = [m["author"] for m in thread["messages"]]
    assert authors == ["customer", "bot", "customer", "bot", "system"]
    ids = [m["id"] for m in thread["messages"]]
    assert ids == sorted(ids)

    reply = await hub.client.post(f"/api/v1/conversations/{conversation_id}/messages",
                                  json={"text": "Hi, I'm Ann. How can I help?"}, headers=agent)
    assert reply.status == 201
    live = await next_frame(customer_ws, type="message", message__author="agent")
    assert live["message"]["text"] == "Hi, I'm Ann. How can I help?"
    assert live["message"]["agent_name"] == "Ann"

    # while the agent owns it, the bot stays silent, even on an FAQ
    question = await visitor.say("how long does shipping take?")
    await hub.settle()
    assert [m["author"] for m in await visitor.messages(after=question["id"])] == []

    # 5. resolved: the bot answers the next message again
    resolved = await hub.client.post(f"/api/v1/conversations/{conversation_id}/resolve",
                                     headers=agent)
    assert (await resolved.json())["state"] == "resolved"
    again = await visitor.ask("how long does shipping take?")
    assert again["author"] == "bot" and "business days" in again["text"]

    # 6. coming back with the same token: the same conversation and its history
    session = await hub.client.post("/api/v1/webchat/sessions", json={},
                                    headers=visitor.headers)
    assert (await session.json())["conversation_id"] == visitor.conversation_id
    history = await visitor.messages()
    assert [m["text"] for m in history][:2] == ["How long does delivery take?", answer[
        "message"]["text"]]
    await customer_ws.close()
    await agent_ws.close()


async def test_release_puts_the_conversation_back_in_the_queue(hub: Running) -> None:
    agent = {"Authorization": f"Bearer {await hub.add_user('bo@example.com')}"}
    visitor = await hub.visitor()
    await visitor.ask("agent please")
    cid = visitor.conversation_id
    assert (await hub.client.post(f"/api/v1/conversations/{cid}/claim",
                                  headers=agent)).status == 200
    released = await hub.client.post(f"/api/v1/conversations/{cid}/release", headers=agent)
    assert (await released.json())["state"] == "queued"
    queue = await (await hub.client.get("/api/v1/conversations?state=queued",
                                        headers=agent)).json()
    assert [c["id"] for c in queue["conversations"]] == [cid]
    # released: replying needs a claim again
    refused = await hub.client.post(f"/api/v1/conversations/{cid}/messages",
                                    json={"text": "hello?"}, headers=agent)
    assert refused.status == 409


async def test_two_agents_claim_at_once_exactly_one_wins(hub: Running) -> None:
    tokens = [await hub.add_user(f"agent{n}@example.com") for n in range(2)]
    visitor = await hub.visitor()
    await visitor.ask("talk to a person")
    url = f"/api/v1/conversations/{visitor.conversation_id}/claim"
    responses = await asyncio.gather(*(
        hub.client.post(url, headers={"Authorization": f"Bearer {t}"}) for t in tokens
    ))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 409]
    loser = next(r for r in responses if r.status == 409)
    assert (await loser.json())["error"]["code"] == "conflict"
    joined = [m for m in await visitor.messages() if m["author"] == "system"]
    assert len(joined) == 1


async def test_a_redelivered_message_is_stored_once_and_answered_once(hub: Running) -> None:
    visitor = await hub.visitor()
    first = await visitor.say("how long does shipping take?", client_message_id="abc-1")
    again = await visitor.say("how long does shipping take?", client_message_id="abc-1")
    assert again["id"] == first["id"]
    await hub.settle()
    messages = await visitor.messages()
    assert [m["author"] for m in messages] == ["customer", "bot"]


async def test_the_same_platform_id_through_a_channel_is_deduplicated(hub: Running) -> None:
    first = await hub.memory.receive("user-1", "how do I reset my password", message_id="42")
    second = await hub.memory.receive("user-1", "how do I reset my password", message_id="42")
    assert second.duplicate and second.message.id == first.message.id
    await hub.settle()
    sent = await hub.memory.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(hub.memory.sent) == 1
    assert "password" in sent[0].text.lower()


async def test_reconnecting_resumes_from_the_last_message_seen(hub: Running) -> None:
    visitor = await hub.visitor()
    first = await visitor.ask("how do I track my order")
    # offline: two more turns happen
    await visitor.ask("what payment methods do you take")
    ws = await hub.client.ws_connect(
        f"/api/v1/webchat/ws?token={visitor.token}&after={first['id']}")
    replayed = [await next_frame(ws, type="message") for _ in range(2)]
    assert [f["message"]["author"] for f in replayed] == ["customer", "bot"]
    assert all(f["message"]["id"] > first["id"] for f in replayed)
    await visitor.say("thanks")
    live = await next_frame(ws, type="message")
    assert live["message"]["text"] == "thanks"
    await ws.close()


async def test_restart_keeps_history_and_delivers_a_pending_reply_once(
    start_hub: HubFactory,
) -> None:
    first = await start_hub(run_outbox=False)
    visitor = await first.visitor()
    await visitor.ask("do you ship internationally")
    ingested = await first.memory.receive("sms-user", "what is your return policy")
    await first.settle()
    await first.client.close()  # the reply to the memory channel is still in the outbox

    second = await start_hub()
    history = await second.client.get("/api/v1/webchat/messages", headers=visitor.headers)
    assert [m["author"] for m in (await history.json())["messages"]] == ["customer", "bot"]
    sent = await second.memory.wait_for(1)
    await asyncio.sleep(0.3)
    assert len(second.memory.sent) == 1
    assert sent[0].conversation_id == ingested.conversation.id
    assert "return" in sent[0].text.lower()


async def test_a_web_chat_reply_is_delivered_by_its_commit_with_no_outbox_work(
    start_hub: HubFactory,
) -> None:
    # no outbox worker at all: whatever reaches the visitor did not go through it
    running = await start_hub(run_outbox=False)
    visitor = await running.visitor()
    ws = await running.client.ws_connect(f"/api/v1/webchat/ws?token={visitor.token}")
    sent = await visitor.say("how long does shipping take?")
    live = await next_frame(ws, type="message", message__author="bot")
    assert "business days" in live["message"]["text"]
    await running.settle()
    fetched = await visitor.messages(after=sent["id"])
    assert [m["id"] for m in fetched] == [live["message"]["id"]]
    store = running.hub.store
    stats = await store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead) == (0, 1, 0)
    assert await store.lease_outbox(time.time() + 3600, 60, 100) == []
    # a platform channel on the same hub keeps its outbox: pending until a worker sends it
    await running.memory.receive("u1", "what is your return policy")
    await running.settle()
    stats = await store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead) == (1, 1, 0)
    assert running.memory.sent == []
    await ws.close()


async def test_a_message_committed_but_not_answered_before_a_crash_is_answered_after(
    start_hub: HubFactory,
) -> None:
    first = await start_hub()
    # commit without routing, as if the process died right after the commit
    from hub.model import InboundMessage

    await first.hub.store.ingest(InboundMessage("memory", "u9", "how do I cancel my order",
                                                platform_message_id="crash-1"))
    await first.client.close()
    second = await start_hub()
    sent = await second.memory.wait_for(1)
    assert "cancel" in sent[0].text.lower()


async def test_outbox_retries_after_rate_limit_and_delivers_once(hub: Running) -> None:
    from bots.base import RetryLater

    hub.memory.fail_next(RetryLater("429 Too Many Requests", retry_after=0.2))
    await hub.memory.receive("u1", "how do I create an account")
    sent = await hub.memory.wait_for(1)
    await asyncio.sleep(0.3)
    assert len(hub.memory.sent) == 1
    assert "account" in sent[0].text.lower()


async def test_permanent_failure_is_dead_lettered_and_visible_to_admins(hub: Running) -> None:
    from bots.base import PermanentFailure

    admin = {"Authorization": f"Bearer {await hub.add_user('root@example.com', Role.ADMIN)}"}
    agent = {"Authorization": f"Bearer {await hub.add_user('ag@example.com')}"}
    hub.memory.fail_next(PermanentFailure("403 Forbidden: bot was blocked by the user"))
    await hub.memory.receive("u2", "do you sell gift cards")
    async with asyncio.timeout(5):
        while not (dead := (await (await hub.client.get("/api/v1/outbox/dead",
                                                        headers=admin)).json())["dead_letters"]):
            await asyncio.sleep(0.05)
    assert dead[0]["channel"] == "memory" and "blocked" in dead[0]["error"]
    assert hub.memory.sent == []
    assert (await hub.client.get("/api/v1/outbox/dead", headers=agent)).status == 403
