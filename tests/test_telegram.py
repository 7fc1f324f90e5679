"""Telegram end to end: python-telegram-bot's real ``Bot`` against a local Bot API stand-in,
webhook updates in Telegram's documented format."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import TELEGRAM_TOKEN, HubFactory, Running
from fakes import telegram as tg
from fakes.agent import dead_letters, take_over_and_reply, thread
from fakes.telegram import FakeTelegram

from bots.telegram import SECRET_HEADER

TOKEN = TELEGRAM_TOKEN
SECRET = "hook-secret_1"


@pytest.fixture
async def hub(start_hub: HubFactory, fake: FakeTelegram) -> Running:
    return await start_hub(telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                           telegram_api_url=fake.url(""))


async def post(running: Running, update: dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    resp = await running.client.post("/webhooks/telegram", data=tg.json_body(update),
                                      headers=headers)
    return resp.status


async def test_faq_is_answered_in_the_chat(hub: Running, fake: FakeTelegram) -> None:
    assert await post(hub, tg.message_update("how long does shipping take?")) == 200
    await fake.wait_for("sendMessage")
    sent = fake.sent()[0]
    assert sent["chat_id"] == "42" and sent["parse_mode"] == "HTML"
    assert "<b>3-5 business days</b>" in sent["text"]
    conversation = await hub.hub.store.find_conversation("telegram", "42")
    assert conversation is not None
    contact = await hub.hub.store.get_contact(conversation.contact_id)
    assert contact is not None and contact.name == "Jane Doe"


async def test_suggestions_are_an_inline_keyboard_and_a_press_answers(
    hub: Running, fake: FakeTelegram,
) -> None:
    await post(hub, tg.message_update("refund"))
    await fake.wait_for("sendMessage")
    keyboard_message = fake.sent()[0]
    rows = keyboard_message["reply_markup"]["inline_keyboard"]
    assert 1 <= len(rows) <= 3
    refunds = next(row[0] for row in rows if row[0]["text"] == "Refunds")
    message = {"message_id": 5000, "date": 0, "chat": tg.private_chat(), "from": tg.BOT,
               "text": keyboard_message["text"], "reply_markup": keyboard_message["reply_markup"]}
    press = tg.callback_update(message, refunds)
    assert await post(hub, press) == 200
    answered = await fake.wait_for("answerCallbackQuery")
    assert answered[0].params["callback_query_id"] == press["callback_query"]["id"]
    await fake.wait_for("sendMessage", 2)
    assert "within 5 business days" in fake.sent()[1]["text"]
    customer = [m for m in await thread(hub, "telegram", "42") if m["author"] == "customer"]
    assert customer[-1]["text"] == "Refunds"


async def test_handoff_and_the_agents_reply_arrive_in_telegram_with_their_name(
    hub: Running, fake: FakeTelegram,
) -> None:
    await post(hub, tg.message_update("I want to talk to a human"))
    await fake.wait_for("sendMessage")
    assert "connecting you with a person" in fake.sent()[0]["text"]
    await take_over_and_reply(hub, "telegram", "42", "Hi Jane, Ann here. Let me check.")
    await fake.wait_for("sendMessage", 3)  # "Ann joined", then the reply
    texts = [s["text"] for s in fake.sent()]
    assert "Ann joined the conversation." in texts[1]
    assert texts[2] == "<b>Ann</b>\nHi Jane, Ann here. Let me check."


async def test_a_redelivered_update_is_stored_and_answered_once(
    hub: Running, fake: FakeTelegram,
) -> None:
    update = tg.message_update("how do I reset my password")
    assert await post(hub, update) == 200
    assert await post(hub, update) == 200
    await fake.wait_for("sendMessage")
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("sendMessage")) == 1
    assert [m["author"] for m in await thread(hub, "telegram", "42")] == ["customer", "bot"]


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    hub: Running, fake: FakeTelegram,
) -> None:
    assert await post(hub, tg.message_update("hello"), secret="wrong") == 403
    assert await post(hub, tg.message_update("hello"), secret=None) == 403
    assert await hub.hub.store.find_conversation("telegram", "42") is None
    assert fake.calls_to("sendMessage") == []


async def test_flood_control_is_honoured_and_the_reply_goes_out_once(
    hub: Running, fake: FakeTelegram,
) -> None:
    fake.fail_next("sendMessage", tg.rate_limited(retry_after=1))
    await post(hub, tg.message_update("how long does shipping take?"))
    calls = await fake.wait_for("sendMessage", 2)
    await asyncio.sleep(0.5)
    assert len(fake.calls_to("sendMessage")) == 2  # the refused one, then the delivered one
    assert calls[0].params["text"] == calls[1].params["text"]
    stats = await hub.hub.store.outbox_stats()
    assert (stats.sent, stats.pending, stats.dead) == (1, 0, 0)


async def test_a_blocked_bot_dead_letters_and_marks_the_chat_unreachable(
    hub: Running, fake: FakeTelegram,
) -> None:
    fake.fail_next("sendMessage", tg.blocked())
    await post(hub, tg.message_update("how long does shipping take?"))
    [dead] = await dead_letters(hub)
    assert dead["channel"] == "telegram" and dead["recipient"] == "42"
    assert "blocked" in dead["error"]
    assert len(fake.calls_to("sendMessage")) == 1
    status = await hub.hub.store.identity_status("telegram", "42")
    assert status is not None and not status.reachable


async def test_start_photo_voice_and_edit(hub: Running, fake: FakeTelegram) -> None:
    await post(hub, tg.message_update("/start"))
    await fake.wait_for("sendMessage")
    assert "Ask me anything" in fake.sent()[0]["text"]

    await post(hub, tg.photo_update())
    await fake.wait_for("sendMessage", 2)
    assert "I can only read text" in fake.sent()[1]["text"]
    await post(hub, tg.photo_update(caption="how long does shipping take?"))
    await fake.wait_for("sendMessage", 3)
    assert "business days" in fake.sent()[2]["text"]
    await post(hub, tg.voice_update())
    await fake.wait_for("sendMessage", 4)

    original = tg.message_update("where is my order")
    await post(hub, original)
    await fake.wait_for("sendMessage", 5)
    await post(hub, tg.edited_update(original, "where is my parcel"))
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("sendMessage")) == 5  # the edit is not answered again
    customer = [m["text"] for m in await thread(hub, "telegram", "42")
                if m["author"] == "customer"]
    assert customer == ["[start] /start", "[photo]", "[photo] how long does shipping take?",
                        "[voice]", "where is my order", "[edited] where is my parcel"]
    conversation = await hub.hub.store.find_conversation("telegram", "42")
    assert conversation is not None and conversation.state.value == "bot"


async def test_in_groups_only_mentions_and_replies_are_answered(
    hub: Running, fake: FakeTelegram,
) -> None:
    group = {"id": -100777, "type": "supergroup", "title": "Acme fans"}
    await post(hub, tg.message_update("how long does shipping take?", chat=group))
    await hub.settle()
    assert await hub.hub.store.find_conversation("telegram", "-100777") is None
    mention = tg.message_update("@acme_support_bot how long does shipping take?", chat=group)
    mention["message"]["entities"] = [{"type": "mention", "offset": 0, "length": 17}]
    await post(hub, mention)
    await fake.wait_for("sendMessage")
    assert fake.sent()[0]["chat_id"] == "-100777"
    bot_message = {"message_id": 5000, "date": 0, "chat": group, "from": tg.BOT, "text": "…"}
    await post(hub, tg.message_update("what payment methods do you take", chat=group,
                                      reply_to_message=bot_message))
    await fake.wait_for("sendMessage", 2)
    assert "PayPal" in fake.sent()[1]["text"]


async def test_an_unresponsive_telegram_delays_neither_start_nor_answers(
    start_hub: HubFactory, fake: FakeTelegram,
) -> None:
    """getMe hangs and then fails at start: the hub starts at once, a private chat is
    answered meanwhile, and the bot learns its name on a retry (group mentions work)."""
    fake.fail_next("getMe", tg.Failure(502, tg.server_error().body, stall=3.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    hub = await start_hub(telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                          telegram_api_url=fake.url(""))
    assert await post(hub, tg.message_update("how long does shipping take?")) == 200
    await fake.wait_for("sendMessage")
    assert loop.time() - started < 2.5  # getMe is still hanging
    await fake.wait_for("getMe", 2)  # retried in the background
    group = {"id": -100778, "type": "group", "title": "Acme fans"}
    mention = tg.message_update("@acme_support_bot how long does shipping take?", chat=group)
    mention["message"]["entities"] = [{"type": "mention", "offset": 0, "length": 17}]
    await post(hub, mention)
    await fake.wait_for("sendMessage", 2)
    assert fake.sent()[1]["chat_id"] == "-100778"


async def test_polling_mode_feeds_the_same_pipeline(
    start_hub: HubFactory, fake: FakeTelegram,
) -> None:
    await start_hub(telegram_token=TOKEN, telegram_mode="polling", telegram_poll_timeout=1,
                    telegram_api_url=fake.url(""))
    await fake.wait_for("deleteWebhook")
    fake.queue_update(tg.message_update("how long does shipping take?", user_id=77))
    await fake.wait_for("sendMessage")
    assert fake.sent()[0]["chat_id"] == "77"
    assert "business days" in fake.sent()[0]["text"]
    polls = await fake.wait_for("getUpdates", 2)
    assert int(polls[-1].params["offset"]) > 0  # the committed update is confirmed


async def test_set_webhook_command_registers_the_public_url_and_secret(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
) -> None:
    from hub.cli import main

    for name, value in {"TELEGRAM_TOKEN": TOKEN, "PUBLIC_URL": "https://hub.example.com/",
                        "TELEGRAM_API_URL": fake.url(""),
                        "CONFIG": str(tmp_path / "none.toml")}.items():
        monkeypatch.setenv(f"SUPPORTHUB_{name}", value)
    monkeypatch.delenv("SUPPORTHUB_TELEGRAM_WEBHOOK_SECRET", raising=False)
    assert await asyncio.to_thread(main, ["telegram", "set-webhook"]) == 0
    [call] = fake.calls_to("setWebhook")
    assert call.params["url"] == "https://hub.example.com/webhooks/telegram"
    from bots.telegram import webhook_secret
    from hub.config import load_settings

    assert call.params["secret_token"] == webhook_secret(load_settings())
    assert len(call.params["secret_token"]) >= 32
