"""Messenger and Instagram end to end: webhooks in Meta's documented shape, signed with the
app secret, against the real hub; replies through the Send API to a local Graph stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import HubFactory, Running, age_messages, call
from fakes import PASSED
from fakes import meta as fb
from fakes.agent import dead_letters, take_over_and_reply, thread
from fakes.meta import FakeGraph

from handoff import survey
from handoff.windows import Mode, window
from hub.model import NewArticle

SECRET = "app-secret-1"
VERIFY = "verify-me"
PAGE_TOKEN = "EAAPage"
IG_TOKEN = "IGAAccount"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraph]:
    async with FakeGraph(PAGE_TOKEN, IG_TOKEN) as platform:
        yield platform


@pytest.fixture
async def hub(start_hub: HubFactory, fake: FakeGraph) -> Running:
    return await start_hub(meta_app_secret=SECRET, meta_verify_token=VERIFY,
                           messenger_page_token=PAGE_TOKEN, instagram_token=IG_TOKEN,
                           messenger_page="acmeshop", meta_api_url=fake.api_url)


async def post(running: Running, raw: bytes, signature: str | None = "sign") -> int:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Hub-Signature-256"] = fb.signature(SECRET, raw)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    resp = await running.client.post("/webhooks/meta", data=raw, headers=headers)
    return resp.status


async def test_the_subscription_handshake(hub: Running) -> None:
    ok = await hub.client.get("/webhooks/meta", params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "guess",
                    "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
                   {"hub.challenge": "1"}):
        wrong = await hub.client.get("/webhooks/meta", params=params)
        assert wrong.status == 403
        assert (await wrong.json())["error"]["code"] == "forbidden"


async def test_forged_stale_and_missing_signatures_store_nothing(
    hub: Running, fake: FakeGraph,
) -> None:
    raw = fb.body(fb.text_event("how long does shipping take?"))
    assert await post(hub, raw, signature=None) == 403
    assert await post(hub, raw, signature=fb.signature("not-the-secret", raw)) == 403
    assert await post(hub, raw, signature=fb.sha1_signature(SECRET, raw)) == 403
    tampered = raw.replace(b"shipping", b"payments")
    assert await post(hub, tampered, signature=fb.signature(SECRET, raw)) == 403
    # the signature is checked before parsing: even garbage is only 403
    assert await post(hub, b"{not json", signature=fb.signature("wrong", b"{not json")) == 403
    assert await post(hub, b"{not json") == 400  # signed, but not JSON
    await hub.settle()
    assert await hub.hub.store.list_conversations() == []
    assert fake.calls == []


async def test_a_messenger_question_is_answered_in_plain_text(
    hub: Running, fake: FakeGraph,
) -> None:
    assert await post(hub, fb.body(fb.text_event("how long does shipping take?"))) == 200
    [sent] = [c.params for c in await fake.wait_for("messages")]
    assert sent["recipient"] == {"id": "PSID-1"} and sent["messaging_type"] == "RESPONSE"
    assert "tag" not in sent
    text = sent["message"]["text"]
    assert "3-5 business days" in text and "*" not in text  # Markdown rendered away
    assert fake.token_of(0) == PAGE_TOKEN
    conversation = await hub.hub.store.find_conversation("messenger", "PSID-1")
    assert conversation is not None and conversation.channel == "messenger"


async def test_instagram_is_its_own_channel_with_its_own_token(
    hub: Running, fake: FakeGraph,
) -> None:
    raw = fb.body(fb.text_event("how long does shipping take?", sender="IGSID-7",
                                owner=fb.IG_ID), kind="instagram")
    assert await post(hub, raw) == 200
    [sent] = [c.params for c in await fake.wait_for("messages")]
    assert sent["recipient"] == {"id": "IGSID-7"} and fake.token_of(0) == IG_TOKEN
    assert await hub.hub.store.find_conversation("instagram", "IGSID-7") is not None
    assert await hub.hub.store.find_conversation("messenger", "IGSID-7") is None


async def test_a_batch_of_entries_and_events_echoes_and_receipts(
    hub: Running, fake: FakeGraph,
) -> None:
    raw = fb.body(fb.text_event("how long does shipping take?", sender="PSID-A"),
                  fb.echo_event("our own earlier reply", sender="PSID-A"),
                  fb.text_event("what payment methods do you take", sender="PSID-B"),
                  fb.read_event("PSID-A"),
                  entries=2)
    assert await post(hub, raw) == 200
    calls = await fake.wait_for("messages", 2)
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("messages")) == 2  # the echo and the receipt are not messages
    assert {c.params["recipient"]["id"] for c in calls} == {"PSID-A", "PSID-B"}
    a = await thread(hub, "messenger", "PSID-A")
    assert [m["author"] for m in a] == ["customer", "bot"]
    assert "our own earlier reply" not in [m["text"] for m in a]


async def test_a_redelivered_mid_is_stored_and_answered_once(
    hub: Running, fake: FakeGraph,
) -> None:
    raw = fb.body(fb.text_event("how do I reset my password", mid="m_same"))
    assert await post(hub, raw) == 200
    assert await post(hub, raw) == 200
    await fake.wait_for("messages")
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("messages")) == 1
    assert [m["author"] for m in await thread(hub, "messenger", "PSID-1")] == ["customer", "bot"]


async def test_suggestions_are_quick_replies_and_a_tap_or_a_postback_answers(
    hub: Running, fake: FakeGraph,
) -> None:
    await post(hub, fb.body(fb.text_event("refund")))
    [offer] = [c.params for c in await fake.wait_for("messages")]
    quick = offer["message"]["quick_replies"]
    assert 1 <= len(quick) <= 3 and all(q["content_type"] == "text" for q in quick)
    assert all(len(q["title"]) <= 20 for q in quick)
    refunds = next(q for q in quick if q["title"] == "Refunds")
    await post(hub, fb.body(fb.quick_reply_event(refunds["title"], refunds["payload"])))
    calls = await fake.wait_for("messages", 2)
    assert "within 5 business days" in calls[1].params["message"]["text"]
    assert "quick_replies" not in calls[1].params["message"]
    # a postback button with the same payload is a choice too
    await post(hub, fb.body(fb.postback_event("Refunds", refunds["payload"])))
    calls = await fake.wait_for("messages", 3)
    assert "within 5 business days" in calls[2].params["message"]["text"]
    customer = [m["text"] for m in await thread(hub, "messenger", "PSID-1")
                if m["author"] == "customer"]
    assert customer == ["refund", "Refunds", "Refunds"]


async def test_long_answers_are_split_at_each_platforms_limit(
    hub: Running, fake: FakeGraph,
) -> None:
    sentence = "Our warehouse team checks every parcel twice before it leaves the building. "
    await hub.hub.store.create_articles([NewArticle(
        "Parcel checks", ("how are parcels checked before shipping",), sentence * 40)])
    await hub.hub.knowledge.reload()
    await post(hub, fb.body(fb.text_event("how are parcels checked before shipping")))
    await post(hub, fb.body(fb.text_event("how are parcels checked before shipping",
                                          sender="IGSID-1", owner=fb.IG_ID), kind="instagram"))
    await fake.wait_for("messages", 5)
    await hub.settle()
    await asyncio.sleep(0.3)
    by: dict[str, list[str]] = {"messenger": [], "instagram": []}
    for index, c in enumerate(fake.calls_to("messages")):
        channel = "messenger" if fake.token_of(index) == PAGE_TOKEN else "instagram"
        by[channel].append(c.params["message"]["text"])
    assert len(by["messenger"]) == 2 and all(len(t) <= 2000 for t in by["messenger"])
    assert len(by["instagram"]) == 4 and all(len(t) <= 1000 for t in by["instagram"])
    for parts in by.values():  # all of it, in order, cut between sentences
        assert " ".join(parts) == (sentence * 40).strip()
        assert all(t.endswith("building.") for t in parts)


async def test_rate_limits_and_transient_errors_are_retried_and_delivered_once(
    hub: Running, fake: FakeGraph,
) -> None:
    fake.fail_next("messages", fb.rate_limited(), fb.temporary())
    await post(hub, fb.body(fb.text_event("how long does shipping take?")))
    calls = await fake.wait_for("messages", 3, timeout=10)
    await asyncio.sleep(0.5)
    assert len(fake.calls_to("messages")) == 3
    assert len({c.params["message"]["text"] for c in calls}) == 1
    stats = await hub.hub.store.outbox_stats()
    assert (stats.sent, stats.pending, stats.dead) == (1, 0, 0)


async def test_an_unavailable_person_is_marked_unreachable(
    hub: Running, fake: FakeGraph,
) -> None:
    fake.fail_next("messages", fb.unavailable())
    await post(hub, fb.body(fb.text_event("how long does shipping take?")))
    [dead] = await dead_letters(hub)
    assert dead["channel"] == "messenger" and "551" in dead["error"]
    status = await hub.hub.store.identity_status("messenger", "PSID-1")
    assert status is not None and not status.reachable


async def test_a_rejected_token_is_a_dead_letter_for_admins_not_the_customers_fault(
    start_hub: HubFactory, fake: FakeGraph,
) -> None:
    hub = await start_hub(meta_app_secret=SECRET, messenger_page_token="EAArevoked",
                          meta_api_url=fake.api_url)
    await post(hub, fb.body(fb.text_event("how long does shipping take?")))
    [dead] = await dead_letters(hub)
    assert "190" in dead["error"] and "access token" in dead["error"]
    assert len(fake.calls_to("messages")) == 1  # never retried
    status = await hub.hub.store.identity_status("messenger", "PSID-1")
    assert status is not None and status.reachable


async def test_the_bot_never_writes_outside_the_24_hour_window(
    hub: Running, fake: FakeGraph,
) -> None:
    await post(hub, fb.body(fb.text_event("I need a human")))
    await fake.wait_for("messages")
    await age_messages(hub, 25)
    conversation = await hub.hub.store.find_conversation("messenger", "PSID-1")
    assert conversation is not None
    # the claim's automatic notice is the hub's, not a person's; the agent's reply would
    # need the HUMAN_AGENT tag, which this hub is not approved for
    token = await hub.add_user("ann@example.com", name="Ann")
    await call(hub, "POST", f"/api/v1/conversations/{conversation.id}/claim", token)
    refused = await call(hub, "POST", f"/api/v1/conversations/{conversation.id}/messages",
                         token, {"text": "Sorry for the wait!"}, status=409)
    assert refused["error"]["code"] == "window_closed"
    assert "HUMAN_AGENT" in refused["error"]["message"]  # why: the tag is not enabled
    [dead] = await dead_letters(hub)
    assert "outside the 24-hour messaging window" in dead["error"]
    assert "the bot may not write" in dead["error"]
    assert len(fake.calls_to("messages")) == 1


async def test_an_agent_reply_after_24_hours_goes_tagged_human_agent_within_7_days(
    start_hub: HubFactory, fake: FakeGraph,
) -> None:
    hub = await start_hub(meta_app_secret=SECRET, messenger_page_token=PAGE_TOKEN,
                          meta_api_url=fake.api_url, meta_human_agent_tag=True)
    await post(hub, fb.body(fb.text_event("I need a human")))
    await fake.wait_for("messages")
    await age_messages(hub, 30)
    await take_over_and_reply(hub, "messenger", "PSID-1", "Here is what I found.")
    calls = await fake.wait_for("messages", 2)
    assert calls[0].params["messaging_type"] == "RESPONSE"
    tagged = calls[1].params
    assert (tagged["messaging_type"], tagged["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert tagged["message"]["text"] == "Ann: Here is what I found."
    # the bot, in the same conversation, is not a human agent: never tagged
    await age_messages(hub, 24 * 7)  # now 8 days: not even an agent may write
    conversation = await hub.hub.store.find_conversation("messenger", "PSID-1")
    assert conversation is not None
    refused = await call(hub, "POST", f"/api/v1/conversations/{conversation.id}/messages",
                         hub.tokens["ann@example.com"], {"text": "Still there?"}, status=409)
    assert "outside the 24-hour messaging window" in refused["error"]["message"]
    assert len(fake.calls_to("messages")) == 2


def test_window_rules() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    recent, day_old, week_old = (now - timedelta(hours=h) for h in (23, 25, 24 * 7 + 1))
    for channel in ("messenger", "instagram"):
        assert window(channel, recent, now, True).mode(by_agent=False) is Mode.FREE
        assert window(channel, day_old, now, True).mode(by_agent=False) is Mode.CLOSED
        assert window(channel, day_old, now, True).mode(by_agent=True) is Mode.HUMAN_AGENT
        assert window(channel, day_old, now, False).mode(by_agent=True) is Mode.CLOSED
        assert window(channel, week_old, now, True).mode(by_agent=True) is Mode.CLOSED
        assert window(channel, None, now, True).mode(by_agent=True) is Mode.CLOSED
    assert window("whatsapp", recent, now, True).free_until == recent + timedelta(hours=24)
    assert window("whatsapp", day_old, now, True).mode(by_agent=True) is Mode.TEMPLATE
    assert window("telegram", None, now, False).mode(by_agent=False) is Mode.FREE


async def test_continue_on_messenger_with_an_m_me_link(hub: Running, fake: FakeGraph) -> None:
    visitor = await hub.visitor()
    await visitor.say("my order 1234 has not arrived")
    resp = await hub.client.post("/api/v1/webchat/links", json={"channel": "messenger"},
                                 headers=visitor.headers)
    assert resp.status == 201, await resp.text()
    offer: dict[str, Any] = await resp.json()
    code = offer["code"].replace("-", "")
    assert offer["url"] == f"https://m.me/acmeshop?ref={code}"
    # a new thread: Get Started carries the ref in its postback
    started = fb.postback_event("Get Started", "GET_STARTED", sender="PSID-9",
                                referral={"ref": code, "source": "SHORTLINK",
                                          "type": "OPEN_THREAD"})
    assert await post(hub, fb.body(started)) == 200
    [linked] = await fake.wait_for("messages")
    assert "You're connected" in linked.params["message"]["text"]
    conversation = await hub.hub.store.find_conversation("messenger", "PSID-9")
    assert conversation is not None and conversation.id == visitor.conversation_id
    texts = [m["text"] for m in await thread(hub, "messenger", "PSID-9")]
    assert "my order 1234 has not arrived" in texts
    # the same ref again (Meta redelivers, or the link is opened twice): stored once
    assert await post(hub, fb.body(started)) == 200
    await hub.settle()
    await asyncio.sleep(0.2)
    assert len(fake.calls_to("messages")) == 1


async def test_an_existing_thread_gets_the_ref_as_a_referral_event(
    hub: Running, fake: FakeGraph,
) -> None:
    visitor = await hub.visitor()
    await visitor.say("hello there")
    resp = await hub.client.post("/api/v1/webchat/links", json={"channel": "messenger"},
                                 headers=visitor.headers)
    code = (await resp.json())["code"].replace("-", "")
    await post(hub, fb.body(fb.text_event("hi", sender="PSID-5")))
    await fake.wait_for("messages")
    await post(hub, fb.body(fb.referral_event(code, sender="PSID-5"),
                            fb.referral_event("SUMMER_AD", sender="PSID-5")))
    calls = await fake.wait_for("messages", 2)
    assert "You're connected" in calls[1].params["message"]["text"]
    conversation = await hub.hub.store.find_conversation("messenger", "PSID-5")
    assert conversation is not None and conversation.id == visitor.conversation_id
    texts = [m["text"] for m in await thread(hub, "messenger", "PSID-5")]
    assert "SUMMER_AD" not in texts  # an ad's ref is not something the customer said


async def test_a_later_part_that_fails_briefly_is_retried_without_resending_the_first(
    hub: Running, fake: FakeGraph,
) -> None:
    sentence = "Every parcel is weighed, photographed and sealed before it leaves. "
    await hub.hub.store.create_articles([NewArticle(
        "Parcel checks", ("how are parcels checked before shipping",), sentence * 40)])
    await hub.hub.knowledge.reload()
    fake.fail_next("messages", PASSED, fb.rate_limited())  # the second part is refused once
    await post(hub, fb.body(fb.text_event("how are parcels checked before shipping")))
    await fake.wait_for("messages", 3, timeout=10)
    await asyncio.sleep(0.3)
    texts = [c.params["message"]["text"] for c in fake.calls_to("messages")]
    assert len(texts) == 3 and texts[1] == texts[2] and texts[0] != texts[1]
    stats = await hub.hub.store.outbox_stats()
    assert (stats.sent, stats.dead) == (1, 0)


async def test_outside_the_window_by_metas_own_account_is_not_unreachable(
    hub: Running, fake: FakeGraph,
) -> None:
    fake.fail_next("messages", fb.outside_window())
    await post(hub, fb.body(fb.text_event("how long does shipping take?")))
    [dead] = await dead_letters(hub)
    assert "2018278" in dead["error"] and "outside the messaging window" in dead["error"]
    status = await hub.hub.store.identity_status("messenger", "PSID-1")
    assert status is not None and status.reachable


async def test_a_photo_is_kept_and_the_customer_told_the_bot_reads_text(
    hub: Running, fake: FakeGraph,
) -> None:
    image = {"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/x.jpg"}}
    await post(hub, fb.body(fb.text_event("", attachments=[image])))
    [sent] = await fake.wait_for("messages")
    assert "only read text" in sent.params["message"]["text"]
    [customer] = [m for m in await thread(hub, "messenger", "PSID-1")
                  if m["author"] == "customer"]
    assert customer["text"] == "[photo]"


async def test_continue_on_messenger_typed_in_the_web_chat(hub: Running) -> None:
    visitor = await hub.visitor()
    reply = await visitor.ask("continue on Messenger")
    assert "https://m.me/acmeshop?ref=" in reply["text"]
    reply = await visitor.ask("switch to instagram")
    assert "Instagram" in reply["text"] and "code is" in reply["text"]


async def test_someone_meta_cannot_reach_is_suppressed_until_they_write_again(
    hub: Running, fake: FakeGraph,
) -> None:
    fake.fail_next("messages", fb.unavailable())
    await post(hub, fb.body(fb.text_event("how long does shipping take?")))
    await dead_letters(hub)
    record = await hub.hub.store.consent("messenger", "PSID-1", "acmeshop")
    assert record is not None and not record.allowed and "551" in record.reason
    conversation = await hub.hub.store.find_conversation("messenger", "PSID-1")
    assert conversation is not None
    agent = await hub.add_user("ann@example.com")
    refused = await hub.client.post(f"/api/v1/contacts/{conversation.contact_id}/notify",
                                    json={"text": "Hello again"},
                                    headers={"Authorization": f"Bearer {agent}"})
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "suppressed"
    await post(hub, fb.body(fb.text_event("what payment methods do you take")))
    calls = await fake.wait_for("messages", 2)
    assert "PayPal" in calls[-1].params["message"]["text"]
    record = await hub.hub.store.consent("messenger", "PSID-1", "acmeshop")
    assert record is not None and record.allowed


@pytest.mark.parametrize(("kind", "channel", "person", "owner"), [
    ("page", "messenger", "PSID-9", fb.PAGE_ID), ("instagram", "instagram", "IGSID-9", fb.IG_ID)])
async def test_the_survey_is_five_quick_replies_and_a_tap_rates(
    hub: Running, fake: FakeGraph, kind: str, channel: str, person: str, owner: str,
) -> None:
    await post(hub, fb.body(fb.text_event("I want to talk to a human", sender=person,
                                          owner=owner), kind=kind))
    await fake.wait_for("messages")
    conversation_id = await take_over_and_reply(hub, channel, person, "Fixed it for you.")
    ann = hub.tokens["ann@example.com"]
    await call(hub, "POST", f"/api/v1/conversations/{conversation_id}/resolve", ann)
    async with asyncio.timeout(10):
        while not (surveys := [s for s in fake.sent()
                               if s["message"]["text"] == survey.QUESTION_TEXT]):
            await asyncio.sleep(0.05)
    [asked] = surveys
    assert asked["recipient"] == {"id": person}
    assert asked["message"]["quick_replies"] == [
        {"content_type": "text", "title": str(n), "payload": f"csat:{n}"} for n in range(1, 6)]
    tap = asked["message"]["quick_replies"][3]
    assert await post(hub, fb.body(fb.quick_reply_event(tap["title"], tap["payload"],
                                                        sender=person, owner=owner),
                                   kind=kind)) == 200
    await hub.settle()
    await post(hub, fb.body(fb.text_event("Quick and kind", sender=person, owner=owner),
                            kind=kind))
    await hub.settle()
    async with asyncio.timeout(10):
        while fake.sent()[-1]["message"]["text"] != survey.THANKS_COMMENT_TEXT:
            await asyncio.sleep(0.05)
    texts = [s["message"]["text"] for s in fake.sent()]
    assert texts[-2:] == [survey.THANKS_TEXT, survey.THANKS_COMMENT_TEXT]
    events = await hub.hub.store.conversation_events(conversation_id)
    assert [(e.kind, e.score, e.note) for e in events if e.kind.startswith("csat_")] == [
        ("csat_asked", None, None), ("csat_answered", 4, None),
        ("csat_commented", None, "Quick and kind")]
    conversation = await hub.hub.store.get_conversation(conversation_id)
    assert conversation is not None and conversation.state.value == "resolved"
    # a postback button with a survey payload rates too (a later cycle's survey)
    await post(hub, fb.body(fb.text_event("I want to talk to a human", sender=person,
                                          owner=owner), kind=kind))
    await hub.settle()
    await call(hub, "POST", f"/api/v1/conversations/{conversation_id}/claim", ann)
    await call(hub, "POST", f"/api/v1/conversations/{conversation_id}/resolve", ann)
    await post(hub, fb.body(fb.postback_event("2", "csat:2", sender=person), kind=kind))
    await hub.settle()
    events = await hub.hub.store.conversation_events(conversation_id)
    assert [(e.cycle, e.score) for e in events if e.kind == "csat_answered"] == [(1, 4), (2, 2)]
