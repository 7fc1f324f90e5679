"""Continue elsewhere: a code from the web chat joins Telegram or SMS to the same contact
and thread (the real SDKs against the local platform stand-ins), codes that are expired,
reused or wrong link nothing, one phone number is one contact, and a website's user is
one contact only with a valid HMAC."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from conftest import HubFactory, Running, Visitor
from fakes import slack as sl
from fakes import telegram as tg
from fakes import twilio as tw
from fakes.slack import FakeSlack
from fakes.telegram import FakeTelegram
from fakes.twilio import FakeTwilio
from test_slack import SECRET as SLACK_SECRET
from test_slack import TOKEN as SLACK_TOKEN
from test_slack import post_event

from bots.telegram import SECRET_HEADER
from handoff import linking

TOKEN = "123456:TEST-token"
SECRET = "hook-secret_1"
SID = "AC" + "0" * 32
AUTH = "test-auth-token"
PUBLIC = "https://support.example.com"
PHONE = "+15551230001"
OURS = "+15550009999"
SITE_SECRET = "site-identity-secret"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as platform:
        yield platform


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(SID, AUTH) as platform:
        yield platform


@pytest.fixture
async def hub(start_hub: HubFactory, telegram: FakeTelegram, twilio: FakeTwilio) -> Running:
    return await start_hub(
        telegram_token=TOKEN, telegram_webhook_secret=SECRET, telegram_api_url=telegram.url(""),
        twilio_account_sid=SID, twilio_auth_token=AUTH, twilio_from=OURS,
        twilio_api_url=twilio.url(""), public_url=PUBLIC,
        webchat_identity_secret=SITE_SECRET)


async def post_telegram(running: Running, update: dict[str, Any]) -> None:
    resp = await running.client.post("/webhooks/telegram", data=tg.json_body(update),
                                     headers={"Content-Type": "application/json",
                                              SECRET_HEADER: SECRET})
    assert resp.status == 200, await resp.text()


async def post_twilio(running: Running, fields: dict[str, str]) -> None:
    path = "/webhooks/twilio/sms"
    sig = tw.signature(AUTH, PUBLIC + path, fields)
    resp = await running.client.post(path, data=fields, headers={"X-Twilio-Signature": sig})
    assert resp.status == 200, await resp.text()


async def link_code(visitor: Visitor, channel: str) -> dict[str, Any]:
    resp = await visitor.hub.client.post("/api/v1/webchat/links", json={"channel": channel},
                                         headers=visitor.headers)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def agent_headers(running: Running, email: str = "ann@example.com") -> dict[str, str]:
    token = running.tokens.get(email) or await running.add_user(email, name="Ann")
    return {"Authorization": f"Bearer {token}"}


async def console_thread(running: Running, conversation_id: int) -> list[dict[str, Any]]:
    resp = await running.client.get(f"/api/v1/conversations/{conversation_id}",
                                    headers=await agent_headers(running))
    assert resp.status == 200, await resp.text()
    messages: list[dict[str, Any]] = (await resp.json())["messages"]
    return messages


async def claim_and_reply(running: Running, conversation_id: int, text: str,
                          channel: str | None = None) -> Any:
    headers = await agent_headers(running)
    claim = await running.client.post(f"/api/v1/conversations/{conversation_id}/claim",
                                      headers=headers)
    assert claim.status in (200, 409), await claim.text()
    body: dict[str, Any] = {"text": text}
    if channel:
        body["channel"] = channel
    return await running.client.post(f"/api/v1/conversations/{conversation_id}/messages",
                                     json=body, headers=headers)


async def test_web_to_telegram_by_deep_link_code(hub: Running, telegram: FakeTelegram) -> None:
    visitor = await hub.visitor()
    await visitor.ask("how long does shipping take?")
    offer = await link_code(visitor, "telegram")
    code = offer["code"]
    assert linking.code_in(code) is not None
    assert offer["url"] == f"https://t.me/acme_support_bot?start={code.replace('-', '')}"
    assert "acme_support_bot" in offer["instructions"]
    # Telegram opens the deep link: the client sends "/start <payload>"
    await post_telegram(hub, tg.message_update(f"/start {code.replace('-', '')}"))
    await telegram.wait_for("sendMessage")
    assert "You're connected" in telegram.sent()[0]["text"]
    assert telegram.sent()[0]["chat_id"] == "42"
    # one contact, one thread: the web messages and the Telegram ones, each with its channel
    conversation = await hub.hub.store.find_conversation("telegram", "42")
    assert conversation is not None and conversation.id == visitor.conversation_id
    assert conversation.channel == "telegram"
    messages = await console_thread(hub, visitor.conversation_id)
    assert [(m["author"], m["channel"]) for m in messages] == [
        ("customer", "webchat"), ("bot", "webchat"), ("customer", "telegram"),
        ("bot", "telegram")]
    contact = await (await hub.client.get(f"/api/v1/contacts/{conversation.contact_id}",
                                          headers=await agent_headers(hub))).json()
    assert {i["channel"] for i in contact["identities"]} == {"webchat", "telegram"}
    assert contact["reachable_channels"] == ["webchat", "telegram"]
    # the customer carries on in Telegram and asks for a person; the agent's reply goes there
    await post_telegram(hub, tg.message_update("I want to talk to a human"))
    await telegram.wait_for("sendMessage", 2)
    resp = await claim_and_reply(hub, visitor.conversation_id, "Hi Jane, Ann here.")
    assert resp.status == 201, await resp.text()
    await telegram.wait_for("sendMessage", 4)  # "Ann joined", then the reply
    assert telegram.sent()[3]["text"] == "<b>Ann</b>\nHi Jane, Ann here."
    # and the web chat shows the whole thread too
    texts = [m["text"] for m in await visitor.messages()]
    assert "Hi Jane, Ann here." in texts and "I want to talk to a human" in texts


async def test_web_to_sms_by_code_and_reply_on_a_chosen_channel(
    hub: Running, twilio: FakeTwilio,
) -> None:
    visitor = await hub.visitor()
    await visitor.say("I need a human please")
    await hub.settle()
    offer = await link_code(visitor, "sms")
    assert offer["url"] is None and offer["instructions"] == f"Text {offer['code']} to {OURS}."
    await post_twilio(hub, tw.incoming(offer["code"].lower().replace("-", " ")))
    [linked] = await twilio.wait_for("Messages")
    assert linked.params["To"] == PHONE and "You're connected" in linked.params["Body"]
    messages = await console_thread(hub, visitor.conversation_id)
    assert [m["channel"] for m in messages if m["author"] == "customer"] == ["webchat", "sms"]
    # the thread was queued for a person on the web; the agent's reply goes to SMS now
    resp = await claim_and_reply(hub, visitor.conversation_id, "Hello from Ann")
    assert resp.status == 201
    calls = await twilio.wait_for("Messages", 3)
    assert calls[2].params["Body"] == "Ann: Hello from Ann"
    # the agent may pick another reachable channel; an unknown one is refused
    resp = await claim_and_reply(hub, visitor.conversation_id, "Also on the web",
                                 channel="webchat")
    assert resp.status == 201 and (await resp.json())["message"]["channel"] == "webchat"
    resp = await claim_and_reply(hub, visitor.conversation_id, "nope", channel="telegram")
    assert resp.status == 409
    await asyncio.sleep(0.2)
    assert len(twilio.calls_to("Messages")) == 3
    assert "Also on the web" in [m["text"] for m in await visitor.messages()]


async def test_expired_reused_and_wrong_codes_link_nothing(
    start_hub: HubFactory, telegram: FakeTelegram,
) -> None:
    hub = await start_hub(telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                          telegram_api_url=telegram.url(""), link_code_ttl=1)
    visitor = await hub.visitor()
    expired = (await link_code(visitor, "telegram"))["code"]
    fresh_offer = await link_code(visitor, "telegram")
    await asyncio.sleep(1.1)
    # wrong (never issued) and expired: told so, nothing linked
    await post_telegram(hub, tg.message_update("/start ZZZZ2345", user_id=50))
    await telegram.wait_for("sendMessage")
    assert "isn't valid" in telegram.sent()[0]["text"]
    await post_telegram(hub, tg.message_update(f"/start {expired}", user_id=51))
    await telegram.wait_for("sendMessage", 2)
    assert "expired" in telegram.sent()[1]["text"]
    contact = await hub.hub.store.get_contact(
        (await hub.hub.store.get_conversation(visitor.conversation_id)).contact_id)  # type: ignore[union-attr]
    assert contact is not None and [i.channel for i in contact.identities] == ["webchat"]
    for user in (50, 51):
        other = await hub.hub.store.find_conversation("telegram", str(user))
        assert other is not None and other.id != visitor.conversation_id
    expires = datetime.fromisoformat(fresh_offer["expires_at"]).timestamp()
    assert time.time() - 5 < expires < time.time() + 1  # the TTL of one second, gone by now
    # a code used once cannot be used by someone else
    live = await hub.visitor()
    code = (await link_code(live, "telegram"))["code"]
    await post_telegram(hub, tg.message_update(code, user_id=60))
    await telegram.wait_for("sendMessage", 3)
    assert "You're connected" in telegram.sent()[2]["text"]
    await post_telegram(hub, tg.message_update(code, user_id=61))
    await telegram.wait_for("sendMessage", 4)
    assert "used already" in telegram.sent()[3]["text"]
    intruder = await hub.hub.store.find_conversation("telegram", "61")
    assert intruder is not None and intruder.id != live.conversation_id
    # a channel that is off, or not a channel, is refused
    for channel, status in (("sms", 409), ("fax", 422)):
        resp = await hub.client.post("/api/v1/webchat/links", json={"channel": channel},
                                     headers=live.headers)
        assert resp.status == status
    resp = await hub.client.post("/api/v1/webchat/links", json={"channel": "telegram"})
    assert resp.status == 401


async def test_sms_and_whatsapp_from_one_number_are_one_contact(
    hub: Running, twilio: FakeTwilio,
) -> None:
    await post_twilio(hub, tw.incoming("how long does shipping take?"))
    await twilio.wait_for("Messages")
    await post_twilio(hub, tw.incoming("and returns?", sender=f"whatsapp:{PHONE}"))
    await twilio.wait_for("Messages", 2)
    sms = await hub.hub.store.find_conversation("sms", PHONE)
    whatsapp = await hub.hub.store.find_conversation("whatsapp", PHONE)
    assert sms is not None and whatsapp is not None and sms.id == whatsapp.id
    contact = (await (await hub.client.get(f"/api/v1/contacts/{sms.contact_id}",
                                           headers=await agent_headers(hub))).json())
    assert sorted(i["channel"] for i in contact["identities"]) == ["sms", "whatsapp"]
    assert {i["external_id"] for i in contact["identities"]} == {PHONE}
    calls = twilio.calls_to("Messages")
    assert [c.params["To"] for c in calls] == [PHONE, f"whatsapp:{PHONE}"]


def _hmac(identifier: str, secret: str = SITE_SECRET) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


async def test_a_site_user_is_one_contact_on_every_device_only_with_a_valid_hmac(
    hub: Running,
) -> None:
    async def session(body: dict[str, str]) -> Visitor:
        resp = await hub.client.post("/api/v1/webchat/sessions", json=body)
        assert resp.status == 201, await resp.text()
        data = await resp.json()
        return Visitor(hub, data["visitor_token"], data["conversation_id"])

    laptop = await session({"identifier": "user-42", "identifier_hash": _hmac("user-42")})
    await laptop.ask("how long does shipping take?")
    phone = await session({"identifier": "user-42", "identifier_hash": _hmac("user-42")})
    assert phone.conversation_id == laptop.conversation_id
    assert (await phone.messages())[0]["text"] == "how long does shipping take?"
    # forged: a wrong secret, a hash of another user, garbage — anonymous, linked to nothing
    for forged in (_hmac("user-42", "guess"), _hmac("user-43"), "00" * 32):
        stranger = await session({"identifier": "user-42", "identifier_hash": forged})
        assert stranger.conversation_id != laptop.conversation_id
        assert await stranger.messages() == []
    conversation = await hub.hub.store.get_conversation(laptop.conversation_id)
    assert conversation is not None
    contact = await hub.hub.store.get_contact(conversation.contact_id)
    assert contact is not None
    assert sorted(i.channel for i in contact.identities) == ["web_user", "webchat", "webchat"]


def test_codes_are_never_ordinary_words() -> None:
    for text in ("shipping", "thanks!!", "12345678", "covid-19", "order 12", "A1B2C3D4",
                 "hello there"):
        assert linking.code_in(text) is None, text
    for _ in range(200):
        code = linking.new_code()
        assert linking.code_in(code) == code.replace("-", "")
        assert linking.code_in(code.lower().replace("-", " ")) == code.replace("-", "")


async def test_telegram_to_sms_from_any_channel_to_any_other(
    hub: Running, telegram: FakeTelegram, twilio: FakeTwilio,
) -> None:
    """A customer who started on Telegram asks to continue by SMS: the bot gives a code
    there, and the code texted from a phone joins the same contact and thread."""
    await post_telegram(hub, tg.message_update("how do I track my order", user_id=77))
    await telegram.wait_for("sendMessage")
    await post_telegram(hub, tg.message_update("continue by SMS", user_id=77))
    await telegram.wait_for("sendMessage", 2)
    offer_text = telegram.sent()[1]["text"]
    assert f"to {OURS}" in offer_text and "valid for 15 minutes" in offer_text
    code = next(word for word in offer_text.split() if linking.code_in(word))
    await post_twilio(hub, tw.incoming(code))
    [linked] = await twilio.wait_for("Messages")
    assert "You're connected" in linked.params["Body"]
    on_telegram = await hub.hub.store.find_conversation("telegram", "77")
    on_sms = await hub.hub.store.find_conversation("sms", PHONE)
    assert on_telegram is not None and on_sms is not None and on_sms.id == on_telegram.id
    thread = await console_thread(hub, on_sms.id)
    assert [m["channel"] for m in thread if m["author"] == "customer"] == [
        "telegram", "telegram", "sms"]
    # the agent's next reply goes where the customer last wrote: SMS
    resp = await claim_and_reply(hub, on_sms.id, "Hi, Ann here")
    assert resp.status == 201
    calls = await twilio.wait_for("Messages", 3)
    assert calls[-1].params["Body"] == "Ann: Hi, Ann here"
    # asking for the channel you are on, or one the hub is not on, links nothing
    await post_twilio(hub, tw.incoming("continue on SMS", sid="SM-same"))
    await post_twilio(hub, tw.incoming("continue on Slack", sid="SM-slack"))
    await hub.settle()
    texts = [m["text"] for m in await console_thread(hub, on_sms.id)]
    assert "You're already talking to us on SMS." in texts
    assert "Sorry, we can't be reached on Slack yet." in texts


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as platform:
        yield platform


async def test_web_to_slack_dm_by_code(start_hub: HubFactory, slack: FakeSlack) -> None:
    hub = await start_hub(slack_bot_token=SLACK_TOKEN, slack_signing_secret=SLACK_SECRET,
                          slack_api_url=slack.api_url())
    visitor = await hub.visitor()
    await visitor.ask("how long does shipping take?")
    offer = await link_code(visitor, "slack")
    code = offer["code"]
    assert offer["url"] is None and code in offer["instructions"]
    assert "Slack" in offer["instructions"]
    # the code arrives as a direct message to the app, signed as Slack signs events
    assert await post_event(hub, sl.dm(code.lower().replace("-", " "))) == 200
    [connected] = await slack.wait_for("chat.postMessage")
    assert connected.params["channel"] == "U0JANE"
    assert "You're connected" in connected.params["text"]
    conversation = await hub.hub.store.find_conversation("slack", "U0JANE")
    assert conversation is not None and conversation.id == visitor.conversation_id
    assert conversation.channel == "slack"
    contact = await hub.hub.store.get_contact(conversation.contact_id)
    assert contact is not None
    assert {(i.channel, i.external_id) for i in contact.identities} >= {("slack", "U0JANE")}
    assert {i.channel for i in contact.identities} == {"webchat", "slack"}
    messages = await console_thread(hub, visitor.conversation_id)
    assert [(m["author"], m["channel"]) for m in messages] == [
        ("customer", "webchat"), ("bot", "webchat"), ("customer", "slack"), ("bot", "slack")]
    # the customer carries on in the DM: same thread, answered in the DM
    assert await post_event(hub, sl.dm("what payment methods do you take")) == 200
    calls = await slack.wait_for("chat.postMessage", 2)
    assert calls[1].params["channel"] == "U0JANE" and "PayPal" in calls[1].params["text"]
    customer = [m for m in await console_thread(hub, visitor.conversation_id)
                if m["author"] == "customer"]
    assert [m["channel"] for m in customer] == ["webchat", "slack", "slack"]
