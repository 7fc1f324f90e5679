"""Reaching a customer first (issue 17), end to end on the real hub: consent per contact,
channel and sender; notify refused or routed; WhatsApp templates after the window and the
63016 path; the console's window; campaigns throttled, with progress and skipped reasons."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import HubFactory, Running, age_messages, bearer, call, next_frame
from fakes import telegram as tg
from fakes import twilio as tw
from fakes.telegram import FakeTelegram
from fakes.twilio import FakeTwilio

from bots.telegram import SECRET_HEADER
from hub.model import Conversation, Role

SID, AUTH, PUBLIC = "AC" + "0" * 32, "test-auth-token", "https://support.example.com"
PHONE, OURS = "+15551230001", "+15550009999"
TOKEN, SECRET = "123456:TEST-token", "hook-secret_1"
HX = "HX" + "a" * 32


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(SID, AUTH) as platform:
        yield platform


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as platform:
        yield platform


@pytest.fixture
async def hub(start_hub: HubFactory, twilio: FakeTwilio, telegram: FakeTelegram) -> Running:
    return await start_hub(twilio_account_sid=SID, twilio_auth_token=AUTH, twilio_from=OURS,
                           twilio_api_url=twilio.url(""), public_url=PUBLIC,
                           telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                           telegram_api_url=telegram.url(""))


async def sms(running: Running, body: str, sender: str = PHONE) -> None:
    fields = tw.incoming(body, sender=sender)
    sig = tw.signature(AUTH, PUBLIC + "/webhooks/twilio/sms", fields)
    resp = await running.client.post("/webhooks/twilio/sms", data=fields,
                                     headers={"X-Twilio-Signature": sig})
    assert resp.status == 200, await resp.text()


async def whatsapp_conversation(running: Running, twilio: FakeTwilio) -> Conversation:
    """The customer wrote "hello" on WhatsApp and the bot answered: their conversation."""
    await sms(running, "hello", sender=f"whatsapp:{PHONE}")
    await twilio.wait_for("Messages")
    conversation = await running.hub.store.find_conversation("whatsapp", PHONE)
    assert conversation is not None
    return conversation


async def telegram_says(running: Running, text: str, user_id: int = 42) -> None:
    resp = await running.client.post(
        "/webhooks/telegram", data=tg.json_body(tg.message_update(text, user_id=user_id)),
        headers={"Content-Type": "application/json", SECRET_HEADER: SECRET})
    assert resp.status == 200, await resp.text()


async def one_contact(running: Running) -> int:
    """Jane writes by SMS, then links Telegram to the same contact (a merge)."""
    await sms(running, "how long does shipping take?")
    await telegram_says(running, "how long does shipping take?")
    await running.settle()
    a = await running.hub.store.find_conversation("sms", PHONE)
    b = await running.hub.store.find_conversation("telegram", "42")
    assert a is not None and b is not None
    agent = running.tokens.get("ann@example.com") or await running.add_user("ann@example.com")
    if a.contact_id != b.contact_id:
        await call(running, "POST", f"/api/v1/contacts/{a.contact_id}/merge", agent,
                   {"other_id": b.contact_id})
    return a.contact_id


async def test_stop_refuses_sms_but_telegram_still_carries_a_notify(
    hub: Running, twilio: FakeTwilio, telegram: FakeTelegram,
) -> None:
    contact_id = await one_contact(hub)
    await sms(hub, "STOP")
    agent = hub.tokens["ann@example.com"]
    refused = await hub.client.post(f"/api/v1/contacts/{contact_id}/notify",
                                    json={"text": "Your order shipped", "channel": "sms"},
                                    headers=bearer(agent))
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert error["code"] == "suppressed" and "STOP" in error["message"]
    before = len(twilio.calls_to("Messages"))
    told = len(telegram.calls_to("sendMessage"))
    sent = await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify", agent,
                      {"text": "Your order shipped"}, status=201)
    assert sent["channel"] == "telegram"
    await telegram.wait_for("sendMessage", told + 1)
    assert "Your order shipped" in telegram.sent()[-1]["text"]
    await asyncio.sleep(0.2)
    assert len(twilio.calls_to("Messages")) == before  # nothing more by SMS
    detail = await call(hub, "GET", f"/api/v1/contacts/{contact_id}", agent)
    [consent] = [k for k in detail["consents"] if not k["allowed"]]
    assert (consent["channel"], consent["sender"]) == ("sms", OURS)
    # START: SMS may carry it again
    await sms(hub, "START")
    again = await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify", agent,
                       {"text": "Back on SMS", "channel": "sms"}, status=201)
    assert again["channel"] == "sms"
    calls = await twilio.wait_for("Messages", before + 1)
    assert calls[-1].params["Body"].endswith("Back on SMS")


async def test_a_21610_from_twilio_is_recorded_as_an_opt_out(
    hub: Running, twilio: FakeTwilio,
) -> None:
    contact_id = await one_contact(hub)
    twilio.fail_next("Messages", tw.Failure(400, {"code": 21610, "message": "Attempt to send"
                                                  " to unsubscribed recipient", "status": 400}))
    agent = hub.tokens["ann@example.com"]
    await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify", agent,
               {"text": "Hello", "channel": "sms"}, status=201)
    for _ in range(100):
        record = await hub.hub.store.consent("sms", PHONE, OURS)
        if record is not None:
            break
        await asyncio.sleep(0.05)
    assert record is not None and not record.allowed and "21610" in record.reason
    refused = await hub.client.post(f"/api/v1/contacts/{contact_id}/notify",
                                    json={"text": "Hello", "channel": "sms"},
                                    headers=bearer(agent))
    assert refused.status == 409


async def test_whatsapp_after_the_window_takes_a_template(
    hub: Running, twilio: FakeTwilio,
) -> None:
    conversation = await whatsapp_conversation(hub, twilio)
    agent = await hub.add_user("ann@example.com")
    admin = await hub.add_user("root@example.com", Role.ADMIN)
    window = await call(hub, "GET", f"/api/v1/conversations/{conversation.id}/window", agent)
    [wa] = [c for c in window["channels"] if c["channel"] == "whatsapp"]
    assert wa["free_reply"] is True and wa["free_until"] is not None
    await age_messages(hub, 25)
    window = await call(hub, "GET", f"/api/v1/conversations/{conversation.id}/window", agent)
    [wa] = [c for c in window["channels"] if c["channel"] == "whatsapp"]
    assert (wa["free_reply"], wa["mode"]) == (False, "template")
    text = await hub.client.post(f"/api/v1/contacts/{conversation.contact_id}/notify",
                                 json={"text": "Your parcel left"}, headers=bearer(agent))
    assert text.status == 409 and (await text.json())["error"]["code"] == "template_needed"
    # admins register templates; agents may not
    body = {"name": "order_update", "content_sid": HX, "variables": ["1", "2"]}
    denied = await hub.client.post("/api/v1/templates", json=body, headers=bearer(agent))
    assert denied.status == 403
    await call(hub, "POST", "/api/v1/templates", admin, body, status=201)
    again = await hub.client.post("/api/v1/templates", json=body, headers=bearer(admin))
    assert again.status == 409
    wrong = await hub.client.post(f"/api/v1/contacts/{conversation.contact_id}/notify",
                                  json={"template": "order_update", "variables": {"1": "x"}},
                                  headers=bearer(agent))
    assert wrong.status == 422
    sent = await call(hub, "POST", f"/api/v1/contacts/{conversation.contact_id}/notify", agent,
                      {"template": "order_update", "variables": {"1": "Jane", "2": "4711"}},
                      status=201)
    assert sent["channel"] == "whatsapp" and sent["mode"] == "template"
    calls = await twilio.wait_for("Messages", 2)
    assert calls[-1].params["ContentSid"] == HX and "Body" not in calls[-1].params
    assert json.loads(calls[-1].params["ContentVariables"]) == {"1": "Jane", "2": "4711"}


async def test_a_63016_closes_the_window_until_the_customer_writes(
    hub: Running, twilio: FakeTwilio,
) -> None:
    conversation = await whatsapp_conversation(hub, twilio)
    agent = await hub.add_user("ann@example.com")
    twilio.fail_next("Messages", tw.Failure(400, {"code": 63016, "message": "outside the"
                                                  " allowed window", "status": 400}))
    await call(hub, "POST", f"/api/v1/contacts/{conversation.contact_id}/notify", agent,
               {"text": "Are you there?"}, status=201)
    for _ in range(100):
        window = await call(hub, "GET", f"/api/v1/conversations/{conversation.id}/window",
                            agent)
        [wa] = [c for c in window["channels"] if c["channel"] == "whatsapp"]
        if wa["mode"] == "template":
            break
        await asyncio.sleep(0.05)
    assert wa["mode"] == "template"
    assert len(twilio.calls_to("Messages")) == 2  # not retried
    await sms(hub, "yes I am", sender=f"whatsapp:{PHONE}")
    await hub.settle()
    window = await call(hub, "GET", f"/api/v1/conversations/{conversation.id}/window", agent)
    [wa] = [c for c in window["channels"] if c["channel"] == "whatsapp"]
    assert wa["mode"] == "free"


async def test_notify_refuses_bad_requests_clearly(hub: Running) -> None:
    contact_id = await one_contact(hub)
    agent = hub.tokens["ann@example.com"]
    for body, status in (({}, 422), ({"text": "a", "template": "b"}, 422),
                         ({"text": "hi", "channel": "messenger"}, 422),
                         ({"template": "nope"}, 422)):
        resp = await hub.client.post(f"/api/v1/contacts/{contact_id}/notify", json=body,
                                     headers=bearer(agent))
        assert resp.status == status, (body, await resp.text())
        assert (await resp.json())["error"]["message"]
    missing = await hub.client.post("/api/v1/contacts/999999/notify", json={"text": "x"},
                                    headers=bearer(agent))
    assert missing.status == 404


async def test_a_campaign_is_throttled_reports_progress_and_skips_with_reasons(
    hub: Running, telegram: FakeTelegram,
) -> None:
    for user_id in range(100, 106):
        await telegram_says(hub, "hello", user_id=user_id)
    await telegram.wait_for("sendMessage", 6)
    await hub.settle()
    store = hub.hub.store
    for user_id in range(100, 106):
        found = await store.find_conversation("telegram", str(user_id))
        assert found is not None
        await store.update_contact(found.contact_id, attributes={
            "plan": "gold" if user_id % 2 == 0 else "free"})
    admin = await hub.add_user("root@example.com", Role.ADMIN)
    agent = await hub.add_user("ann@example.com")
    body = {"name": "Gold news", "text": "Gold members: free shipping this week",
            "audience": {"attributes": {"plan": "gold"}}, "per_minute": 120}
    denied = await hub.client.post("/api/v1/campaigns", json=body, headers=bearer(agent))
    assert denied.status == 403
    made = await call(hub, "POST", "/api/v1/campaigns", admin, body, status=201)
    assert made["total"] == 3
    started = asyncio.get_running_loop().time()
    await telegram.wait_for("sendMessage", 9, timeout=10)
    took = asyncio.get_running_loop().time() - started
    assert took >= 0.9  # 3 at 120 a minute: at least two half-second gaps
    for _ in range(100):
        status = await call(hub, "GET", f"/api/v1/campaigns/{made['id']}", admin)
        if status["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert status["progress"] == {"pending": 0, "sent": 3, "skipped": 0}
    chats = [m["chat_id"] for m in telegram.sent() if "free shipping" in m["text"]]
    assert sorted(chats) == ["100", "102", "104"]
    # a reply to the campaign lands in the customer's thread
    await telegram_says(hub, "thanks, what about returns?", user_id=100)
    await hub.settle()
    conversation = await store.find_conversation("telegram", "100")
    assert conversation is not None
    texts = [m.text for m in await store.list_messages(conversation.id)]
    assert texts.index("Gold members: free shipping this week") < texts.index(
        "thanks, what about returns?")
    listed = await call(hub, "GET", "/api/v1/campaigns", admin)
    assert listed["campaigns"][0]["progress"]["sent"] == 3


async def test_a_campaign_message_refreshes_the_consoles_lists_live(
    hub: Running, telegram: FakeTelegram,
) -> None:
    """The console listens on its WebSocket: a campaign message joining a thread pushes the
    message and the conversation (moved up, with its new last message), as an agent's or a
    notify's message does."""
    await telegram_says(hub, "hello", user_id=200)
    await telegram.wait_for("sendMessage", 1)
    await hub.settle()
    conversation = await hub.hub.store.find_conversation("telegram", "200")
    assert conversation is not None
    admin = await hub.add_user("root@example.com", Role.ADMIN)
    agent = await hub.add_user("ann@example.com")
    async with hub.client.ws_connect(f"/api/v1/agent/ws?token={agent}") as console:
        await call(hub, "POST", "/api/v1/campaigns", admin,
                   {"text": "Winter sale: 20% off", "audience": {"channel": "telegram"},
                    "per_minute": 6000}, status=201)
        pushed = await next_frame(console, timeout=10, type="message",
                                  message__text="Winter sale: 20% off")
        assert pushed["message"]["conversation_id"] == conversation.id
        listed = await next_frame(console, timeout=10, type="conversation",
                                  conversation__id=conversation.id)
        assert listed["conversation"]["last_message"] == "Winter sale: 20% off"


async def test_a_campaign_skips_who_opted_out_and_says_why(
    hub: Running, twilio: FakeTwilio,
) -> None:
    await sms(hub, "hello", sender="+15551230001")
    await sms(hub, "hello", sender="+15551230002")
    await twilio.wait_for("Messages", 2)
    await sms(hub, "STOP", sender="+15551230002")
    admin = await hub.add_user("root@example.com", Role.ADMIN)
    made = await call(hub, "POST", "/api/v1/campaigns", admin,
                      {"text": "Sale starts now", "audience": {"channel": "sms"},
                       "per_minute": 6000}, status=201)
    for _ in range(200):
        status = await call(hub, "GET", f"/api/v1/campaigns/{made['id']}", admin)
        if status["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert status["progress"] == {"pending": 0, "sent": 1, "skipped": 1}
    [skipped] = [r for r in status["recipients"] if r["status"] == "skipped"]
    assert "STOP" in skipped["error"]
    calls = await twilio.wait_for("Messages", 3)
    assert [c.params["To"] for c in calls if "Sale" in c.params["Body"]] == ["+15551230001"]


async def test_campaign_input_is_checked(hub: Running) -> None:
    admin = await hub.add_user("root@example.com", Role.ADMIN)
    for body in ({"audience": {}}, {"text": "x", "audience": {"channel": "fax"}},
                 {"template": "unknown"}, {"text": "x", "per_minute": 0}):
        resp = await hub.client.post("/api/v1/campaigns", json=body, headers=bearer(admin))
        assert resp.status in (400, 422), (body, await resp.text())
        data: dict[str, Any] = await resp.json()
        assert data["error"]["message"]
