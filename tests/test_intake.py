"""The intake journal (hub/intake.py): a webhook is acknowledged once its message is
journaled; the message is stored in its conversation and answered after — exactly once, in
order, and also when the process that acknowledged it stopped first. On both engines."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import TELEGRAM_TOKEN, HubFactory, Running, hold_intake, pg_schema
from fakes import telegram as tg
from fakes.telegram import FakeTelegram

from bots.telegram import SECRET_HEADER
from hub import intake
from hub.model import InboundMessage
from hub.store import Store, make_store
from hub.store.base import Accepted

TOKEN = TELEGRAM_TOKEN
SECRET = "hook-secret_1"
# questions the demo knowledge base answers directly, each with words of its own
QUESTIONS = {"how long does shipping take?": "3-5 business days",
             "what is your return policy": "30 days",
             "how do I reset my password": "Forgot password"}


@pytest.fixture
def db_url(any_engine_db_url: str) -> str:
    return any_engine_db_url


async def start_telegram_hub(start_hub: HubFactory, fake: FakeTelegram) -> Running:
    return await start_hub(telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                           telegram_api_url=fake.url(""))


async def post(running: Running, update: dict[str, Any]) -> int:
    resp = await running.client.post(
        "/webhooks/telegram", data=tg.json_body(update),
        headers={"Content-Type": "application/json", SECRET_HEADER: SECRET})
    return resp.status


def answer_of(text: str) -> str:
    return next(q for q, words in QUESTIONS.items() if words in text)


async def test_acks_wait_only_for_the_journal_and_every_message_is_answered_once_in_order(
    start_hub: HubFactory, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = await start_telegram_hub(start_hub, fake)
    gate = hold_intake(hub, monkeypatch)
    asked = [list(QUESTIONS)[n % len(QUESTIONS)] for n in range(9)]
    updates = [tg.message_update(q) for q in asked]
    for update in updates:
        assert await post(hub, update) == 200  # acknowledged while the intake is held
    assert await post(hub, updates[4]) == 200  # Telegram retries one it thinks was lost
    store = hub.hub.store
    assert await store.accepted_waiting() == 10  # journaled, durable…
    assert await store.find_conversation("telegram", "42") is None  # …not yet taken in
    assert fake.sent() == []

    gate.set()
    await fake.wait_for("sendMessage", 9)
    await hub.settle()
    assert await store.accepted_waiting() == 0
    assert [answer_of(sent["text"]) for sent in fake.sent()] == asked  # once each, in order
    conversation = await store.find_conversation("telegram", "42")
    assert conversation is not None
    stored = await store.list_messages(conversation.id)
    assert [m.text for m in stored if m.author.value == "customer"] == asked


async def test_a_journaled_message_keeps_the_time_it_was_acknowledged(
    start_hub: HubFactory, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Taken in a while after its acknowledgement (the intake behind, as after a burst):
    the thread shows the message at the time the customer's platform got its 200, not at
    the time it was taken in."""
    hub = await start_telegram_hub(start_hub, fake)
    gate = hold_intake(hub, monkeypatch)
    before = datetime.now(UTC)
    assert await post(hub, tg.message_update("how long does shipping take?")) == 200
    acknowledged = datetime.now(UTC)
    await asyncio.sleep(1.5)
    gate.set()
    await fake.wait_for("sendMessage")
    taken_in_by = datetime.now(UTC)
    conversation = await hub.hub.store.find_conversation("telegram", "42")
    assert conversation is not None
    [customer] = [m for m in await hub.hub.store.list_messages(conversation.id)
                  if m.author.value == "customer"]
    assert before <= customer.created_at <= acknowledged
    assert taken_in_by - customer.created_at >= timedelta(seconds=1.5)


async def test_what_a_stopped_process_acknowledged_is_answered_by_the_next(
    db_url: str, start_hub: HubFactory, fake: FakeTelegram,
) -> None:
    # a process journals two messages and stops (or dies) before taking them in
    before = make_store(db_url)
    await before.open(migrate=True)
    for n, question in enumerate(QUESTIONS):
        if n < 2:
            await before.accept(InboundMessage("telegram", "42", question,
                                               platform_message_id=f"42:{9000 + n}"))
    await before.close()

    hub = await start_telegram_hub(start_hub, fake)
    await fake.wait_for("sendMessage", 2)
    await hub.settle()
    assert [answer_of(s["text"]) for s in fake.sent()] == list(QUESTIONS)[:2]
    assert await hub.hub.store.accepted_waiting() == 0


async def test_a_chat_waits_for_its_older_message_another_process_holds() -> None:
    async with pg_schema() as url:
        first, second = make_store(url), make_store(url)
        await first.open()
        await second.open()
        try:
            await first.accept(InboundMessage("telegram", "42", "one", platform_message_id="a"))
            await second.accept(InboundMessage("telegram", "42", "two", platform_message_id="b"))
            await second.accept(InboundMessage("telegram", "7", "other", platform_message_id="c"))
            # the second process may take in the other chat, not chat 42 before "one"
            assert [a.inbound.text for a in await second.accepted()] == ["other"]
            assert [a.inbound.text for a in await first.accepted()] == ["one"]
            await first.close()  # its session ends: a survivor adopts what it held
            assert await second.adopt_accepted() == 1
            held = await second.accepted()
            assert [a.inbound.text for a in held] == ["one", "two", "other"]
            taken = await second.take_in(held[0])
            assert taken is not None and taken.message.text == "one"
            assert await second.take_in(held[0]) is None  # once, whoever tries again
            assert await second.accepted_waiting() == 2
        finally:
            await first.close()
            await second.close()


def test_an_accepted_message_reads_back_as_it_was_written() -> None:
    from hub.store.rules_inbox import decode, encode

    message = InboundMessage("sms", "+15550001", "[photo] look", platform_message_id="SM1",
                             display_name="Jo", marks=("photo",),
                             extras={"to": "+15559999", "attachments": [{"kind": "photo"}]},
                             choice_article_id=None, csat_score=None)
    assert decode(encode(message)) == message


async def test_concurrent_accepts_are_taken_in_the_order_they_were_made(store: Store) -> None:
    # on PostgreSQL the accepts made meanwhile share one INSERT (postgres_accepts.py)
    texts = [f"m{n}" for n in range(300)]
    await asyncio.gather(*(store.accept(InboundMessage("telegram", str(n % 3), text,
                                                       platform_message_id=text))
                           for n, text in enumerate(texts)))
    assert [a.inbound.text for a in await store.accepted(1000)] == texts
    assert await store.accepted_waiting() == 300


async def test_text_no_store_could_keep_is_cleaned_not_stuck(
    start_hub: HubFactory, fake: FakeTelegram,
) -> None:
    # a NUL (PostgreSQL refuses it) and a lone surrogate (no UTF-8): a platform cannot be
    # given a 422, and a journal row never taken in would hold up the chat's next messages
    hub = await start_telegram_hub(start_hub, fake)
    assert await post(hub, tg.message_update("how long does\x00 shipping take? \ud800")) == 200
    assert await post(hub, tg.message_update("what is your return policy")) == 200
    await fake.wait_for("sendMessage", 2)
    await hub.settle()
    assert [answer_of(s["text"]) for s in fake.sent()] == list(QUESTIONS)[:2]
    conversation = await hub.hub.store.find_conversation("telegram", "42")
    assert conversation is not None
    first = (await hub.hub.store.list_messages(conversation.id))[0]
    assert first.text == "how long does shipping take? \ufffd"


async def test_a_message_that_cannot_be_taken_in_is_set_aside_and_its_chat_goes_on(
    start_hub: HubFactory, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = await start_telegram_hub(start_hub, fake)
    store = hub.hub.store
    take_in = store.take_in

    async def failing_on_poison(accepted: Accepted, *args: Any, **kwargs: Any) -> Any:
        if accepted.inbound.text == "poison":  # a bug or bad data the store refuses
            raise ValueError("this message breaks a rule")
        return await take_in(accepted, *args, **kwargs)

    monkeypatch.setattr(store, "take_in", failing_on_poison)
    monkeypatch.setattr(intake, "RETRY_MAX_SECONDS", 0.2)
    assert await post(hub, tg.message_update("poison")) == 200
    asked = list(QUESTIONS)
    for n, question in enumerate(asked):  # the same chat after it, and other chats
        assert await post(hub, tg.message_update(question, user_id=42 + n)) == 200
    await fake.wait_for("sendMessage", len(asked))
    for _ in range(100):
        if await store.accepted_waiting() == 0:
            break
        await asyncio.sleep(0.1)
    assert await store.accepted_waiting() == 0
    assert await store.accepted_failed() == 1
    assert sorted(answer_of(s["text"]) for s in fake.sent()) == sorted(asked)
    assert "set aside in inbox_failed" in caplog.text


async def test_nothing_is_set_aside_while_the_store_is_away(
    start_hub: HubFactory, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = await start_telegram_hub(start_hub, fake)
    store = hub.hub.store
    gate = hold_intake(hub, monkeypatch)
    held_take_in = store.take_in
    failures = 0

    async def away(accepted: Accepted, *args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures < 3 * intake.STRIKES:  # every row fails: the database is unreachable
            failures += 1
            raise OSError("connection refused")
        return await held_take_in(accepted, *args, **kwargs)

    monkeypatch.setattr(store, "take_in", away)
    monkeypatch.setattr(intake, "RETRY_MAX_SECONDS", 0.1)
    gate.set()
    for question in QUESTIONS:
        assert await post(hub, tg.message_update(question)) == 200
    await fake.wait_for("sendMessage", len(QUESTIONS))
    assert failures == 3 * intake.STRIKES
    assert await store.accepted_failed() == 0
    assert [answer_of(s["text"]) for s in fake.sent()] == list(QUESTIONS)


async def test_set_aside_messages_are_listed_and_put_back_by_the_cli_and_answered(
    db_url: str, start_hub: HubFactory, fake: FakeTelegram,
) -> None:
    store = make_store(db_url)
    await store.open(migrate=True)
    try:
        for chat, text, n in (("42", "how long does shipping take?", 7001),
                              ("43", "what is your return policy", 7002)):
            await store.accept(InboundMessage("telegram", chat, text,
                                              platform_message_id=f"{chat}:{n}"))
        rows = await store.accepted()
        for row in rows:
            assert await store.set_aside(row, "ValueError: a bug since fixed")
        assert (await store.accepted_waiting(), await store.accepted_failed()) == (0, 2)
    finally:
        await store.close()

    async def requeue(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hub", "db", "requeue", "--db", db_url,
                             *args], capture_output=True, text=True, timeout=60)

    listed = await requeue("--list")  # what was set aside, and why; nothing moves
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split("\t")[2:] for line in lines[:2]] == [
        ["telegram", "42", "how long does shipping take?", "ValueError: a bug since fixed"],
        ["telegram", "43", "what is your return policy", "ValueError: a bug since fixed"]]
    assert lines[2].startswith("2 set-aside messages")
    first, second = (int(line.split("\t")[0]) for line in lines[:2])

    unknown = await requeue(str(first), "999999")  # one id not set aside: nothing moves
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.strip() == ("supporthub: no set-aside message 999999 (see"
                                      " 'supporthub db requeue --list'); nothing was put back")

    hub = await start_telegram_hub(start_hub, fake)  # a running hub: no set-aside row taken
    assert await hub.hub.store.accepted_failed() == 2
    done = await requeue(str(second))  # only the second chat's message
    assert done.returncode == 0, done.stderr
    assert "put 1 set-aside messages back" in done.stdout
    await fake.wait_for("sendMessage")  # taken in by the running hub, with no new message
    assert [answer_of(sent["text"]) for sent in fake.sent()] == ["what is your return policy"]
    [left] = await hub.hub.store.set_aside_rows()
    assert (left.id, left.chat) == (first, "42")
    done = await requeue()  # the rest
    assert done.returncode == 0 and "put 1 set-aside messages back" in done.stdout
    await fake.wait_for("sendMessage", 2)
    assert answer_of(fake.sent()[1]["text"]) == "how long does shipping take?"
    assert await hub.hub.store.accepted_failed() == 0
