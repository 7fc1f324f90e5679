"""Slack end to end: slack-bolt's AsyncApp and slack_sdk's AsyncWebClient against a local
Web API stand-in; events and interactions in Slack's format, signed with SignatureVerifier."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import HubFactory, Running, hold_intake
from fakes import Failure
from fakes import slack as sl
from fakes.agent import dead_letters, take_over_and_reply, thread
from fakes.slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as platform:
        yield platform


@pytest.fixture
async def hub(start_hub: HubFactory, fake: FakeSlack) -> Running:
    return await start_hub(slack_bot_token=TOKEN, slack_signing_secret=SECRET,
                           slack_api_url=fake.api_url())


async def post_event(running: Running, payload: dict[str, Any], *, secret: str = SECRET,
                     timestamp: int | None = None, retry: int | None = None) -> int:
    body = json.dumps(payload)
    headers = {"Content-Type": "application/json",
               **sl.signed(secret, body, timestamp, retry)}
    resp = await running.client.post("/webhooks/slack/events", data=body, headers=headers)
    return resp.status


async def press(running: Running, payload: dict[str, Any]) -> int:
    body = sl.interaction_body(payload)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sl.signed(SECRET, body)}
    resp = await running.client.post("/webhooks/slack/events", data=body, headers=headers)
    return resp.status


def section_text(posted: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in posted["blocks"] if b["type"] == "section")


async def test_url_verification_is_answered(hub: Running) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    resp = await hub.client.post("/webhooks/slack/events", data=body,
                                 headers={"Content-Type": "application/json",
                                          **sl.signed(SECRET, body)})
    assert resp.status == 200 and "c-123" in await resp.text()


async def test_a_direct_message_faq_is_answered_in_the_dm(hub: Running, fake: FakeSlack) -> None:
    assert await post_event(hub, sl.dm("how long does shipping take?")) == 200
    [posted] = await fake.wait_for("chat.postMessage")
    assert posted.params["channel"] == "U0JANE" and not posted.params.get("thread_ts")
    assert "*3-5 business days*" in section_text(posted.params)
    assert "3-5 business days" in posted.params["text"]  # the notification fallback
    assert await contact_name(hub, "U0JANE") == "Jane"  # looked up after the ack


async def contact_name(running: Running, recipient: str, expected: str | None = "Jane",
                       timeout: float = 8.0) -> str | None:
    """The contact's name once it is ``expected`` (bounded wait: it is set after the ack)."""
    async with asyncio.timeout(timeout):
        while True:
            conversation = await running.hub.store.find_conversation("slack", recipient)
            name = conversation.contact_name if conversation is not None else None
            if name == expected:
                return name
            await asyncio.sleep(0.02)


async def test_a_new_user_is_acknowledged_before_their_name_is_looked_up(
    hub: Running, fake: FakeSlack,
) -> None:
    # users.info answers only after 3 s: the 200 must not wait for it
    fake.fail_next("users.info", Failure(200, {"ok": True, "user": {
        "id": "U0JANE", "name": "jane", "profile": {"display_name": "Jane"}}}, stall=3.0))
    assert await post_event(hub, sl.dm("how long does shipping take?")) == 200
    [posted] = await fake.wait_for("chat.postMessage")  # answered without waiting either
    conversation = await hub.hub.store.find_conversation("slack", "U0JANE")
    assert conversation is not None and conversation.contact_name is None  # stored, unnamed
    assert "3-5 business days" in posted.params["text"]
    assert await contact_name(hub, "U0JANE") == "Jane"  # and then the name follows
    assert len(fake.calls_to("users.info")) == 1


async def test_a_mention_is_answered_in_its_thread_and_the_thread_continues(
    hub: Running, fake: FakeSlack,
) -> None:
    event = sl.mention("how long does shipping take?")
    ts = event["event"]["ts"]
    # Slack fires app_mention and message.channels for the same message: stored once
    assert await post_event(hub, event) == 200
    duplicate = sl.event_callback({**event["event"], "type": "message",
                                   "text": "how long does shipping take?",
                                   "channel_type": "channel", "thread_ts": ts})
    assert await post_event(hub, duplicate) == 200
    [posted] = await fake.wait_for("chat.postMessage")
    assert posted.params["channel"] == "C0GENERAL" and posted.params["thread_ts"] == ts
    follow_up = sl.event_callback({"type": "message", "channel": "C0GENERAL",
                                   "user": "U0JANE", "text": "what payment methods do you take",
                                   "ts": sl.new_ts(), "thread_ts": ts,
                                   "channel_type": "channel"})
    await post_event(hub, follow_up)
    calls = await fake.wait_for("chat.postMessage", 2)
    assert calls[1].params["thread_ts"] == ts and "PayPal" in section_text(calls[1].params)
    customer = [m for m in await thread(hub, "slack", f"C0GENERAL/{ts}")
                if m["author"] == "customer"]
    assert len(customer) == 2


async def test_a_thread_reply_counts_while_its_mention_waits_in_the_intake(
    hub: Running, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = hold_intake(hub, monkeypatch)  # a burst: nothing taken in yet
    event = sl.mention("how long does shipping take?")
    ts = event["event"]["ts"]
    assert await post_event(hub, event) == 200
    follow_up = sl.event_callback({"type": "message", "channel": "C0GENERAL",
                                   "user": "U0JANE", "text": "what payment methods do you take",
                                   "ts": sl.new_ts(), "thread_ts": ts,
                                   "channel_type": "channel"})
    assert await post_event(hub, follow_up) == 200
    gate.set()
    calls = await fake.wait_for("chat.postMessage", 2)
    assert "3-5 business days" in section_text(calls[0].params)
    assert calls[1].params["thread_ts"] == ts and "PayPal" in section_text(calls[1].params)


async def test_channel_chatter_and_the_bots_own_messages_are_ignored(
    hub: Running, fake: FakeSlack,
) -> None:
    chatter = sl.event_callback({"type": "message", "channel": "C0GENERAL", "user": "U0BOB",
                                 "text": "lunch?", "ts": sl.new_ts(),
                                 "channel_type": "channel"})
    own = sl.dm("I'm not sure I understood.", user=sl.BOT_USER, bot_id=sl.BOT_ID)
    other_bot = sl.dm("beep", subtype="bot_message", bot_id="B0OTHER")
    for payload in (chatter, own, other_bot):
        assert await post_event(hub, payload) == 200
    await hub.settle()
    assert await hub.hub.store.list_conversations() == []
    assert fake.calls_to("chat.postMessage") == []


async def test_suggestion_buttons_and_block_actions(hub: Running, fake: FakeSlack) -> None:
    await post_event(hub, sl.dm("refund"))
    [posted] = await fake.wait_for("chat.postMessage")
    [actions] = [b for b in posted.params["blocks"] if b["type"] == "actions"]
    refunds = next(e for e in actions["elements"] if e["text"]["text"] == "Refunds")
    assert await press(hub, sl.block_action(posted.params, refunds)) == 200
    calls = await fake.wait_for("chat.postMessage", 2)
    assert calls[1].params["channel"] == "U0JANE"
    assert "within 5 business days" in section_text(calls[1].params)


async def test_handoff_and_the_agent_reply_with_their_name(
    hub: Running, fake: FakeSlack,
) -> None:
    await post_event(hub, sl.dm("can I talk to a person"))
    await fake.wait_for("chat.postMessage")
    await take_over_and_reply(hub, "slack", "U0JANE", "Hi, Ann here <3 & happy to help")
    calls = await fake.wait_for("chat.postMessage", 3)
    assert section_text(calls[2].params) == "*Ann*\nHi, Ann here &lt;3 &amp; happy to help"


async def test_slack_retries_and_a_repeated_event_id_are_stored_once(
    hub: Running, fake: FakeSlack,
) -> None:
    event = sl.dm("how do I reset my password")
    assert await post_event(hub, event) == 200
    assert await post_event(hub, event, retry=1) == 200
    assert await post_event(hub, event, retry=2) == 200
    await fake.wait_for("chat.postMessage")
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("chat.postMessage")) == 1
    assert [m["author"] for m in await thread(hub, "slack", "U0JANE")] == ["customer", "bot"]


async def test_unsigned_wrongly_signed_or_stale_requests_are_refused(
    hub: Running, fake: FakeSlack,
) -> None:
    assert await post_event(hub, sl.dm("hello"), secret="not-the-secret") == 401
    assert await post_event(hub, sl.dm("hello"), timestamp=1_500_000_000) == 401
    resp = await hub.client.post("/webhooks/slack/events", data=json.dumps(sl.dm("hello")),
                                 headers={"Content-Type": "application/json"})
    assert resp.status == 401
    assert await hub.hub.store.list_conversations() == []
    # nothing was called for them (auth.test is the hub's own, at start)
    assert [c.method for c in fake.calls] in ([], ["auth.test"])


async def test_retry_after_is_honoured_and_the_reply_goes_out_once(
    hub: Running, fake: FakeSlack,
) -> None:
    fake.fail_next("chat.postMessage", sl.rate_limited(retry_after=1))
    await post_event(hub, sl.dm("how long does shipping take?"))
    calls = await fake.wait_for("chat.postMessage", 2)
    await asyncio.sleep(0.5)
    assert len(fake.calls_to("chat.postMessage")) == 2
    assert calls[0].params["text"] == calls[1].params["text"]
    stats = await hub.hub.store.outbox_stats()
    assert (stats.sent, stats.pending, stats.dead) == (1, 0, 0)


async def test_a_channel_gone_dead_letters(hub: Running, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", sl.error("channel_not_found"))
    await post_event(hub, sl.dm("how long does shipping take?"))
    [dead] = await dead_letters(hub)
    assert dead["channel"] == "slack" and "channel_not_found" in dead["error"]
    status = await hub.hub.store.identity_status("slack", "U0JANE")
    assert status is not None and not status.reachable


async def test_socket_mode_receives_events_without_a_public_url(
    start_hub: HubFactory, fake: FakeSlack,
) -> None:
    await start_hub(slack_bot_token=TOKEN, slack_app_token="xapp-1-test",
                    slack_api_url=fake.api_url())
    ack = await fake.push(sl.dm("how long does shipping take?"))
    assert "envelope_id" in ack
    [posted] = await fake.wait_for("chat.postMessage")
    assert "business days" in section_text(posted.params)
    [opened] = fake.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == "Bearer xapp-1-test"


def test_the_manifest_subscribes_to_what_the_app_handles() -> None:
    from pathlib import Path

    from bots.slack import EVENTS_PATH

    yaml = pytest.importorskip("yaml")

    manifest = yaml.safe_load((Path(__file__).parents[1] / "bots" / "slack_manifest.yml")
                              .read_text())
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)
    assert settings["interactivity"]["request_url"].endswith(EVENTS_PATH)
    assert {"app_mention", "message.im"} <= set(settings["event_subscriptions"]["bot_events"])
    assert {"chat:write", "app_mentions:read", "im:history"} <= set(
        manifest["oauth_config"]["scopes"]["bot"])


async def test_the_survey_is_five_buttons_and_a_press_rates(hub: Running, fake: FakeSlack) -> None:
    await post_event(hub, sl.dm("can I talk to a person"))
    await fake.wait_for("chat.postMessage")
    conversation_id = await take_over_and_reply(hub, "slack", "U0JANE", "Hi, Ann here")
    ann = hub.tokens["ann@example.com"]
    resolved = await hub.client.post(f"/api/v1/conversations/{conversation_id}/resolve",
                                     headers={"Authorization": f"Bearer {ann}"})
    assert resolved.status == 200
    async with asyncio.timeout(10):  # the outbox delivers in order, in the background
        while not (surveys := [c.params for c in fake.calls_to("chat.postMessage")
                               if "How did we do?" in c.params["text"]]):
            await asyncio.sleep(0.05)
    survey = surveys[0]
    [actions] = [b for b in survey["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["1", "2", "3", "4", "5"]
    assert await press(hub, sl.block_action(survey, actions["elements"][4])) == 200
    await hub.settle()
    events = await hub.hub.store.conversation_events(conversation_id)
    assert [(e.kind, e.score) for e in events if e.kind == "csat_answered"] == [
        ("csat_answered", 5)]
