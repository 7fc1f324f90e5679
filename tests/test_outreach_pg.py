"""Reaching customers first (test_outreach.py) again, on PostgreSQL: consent per sender,
notify refused and routed, the WhatsApp 24-hour window (messages aged in the PostgreSQL
schema by ``conftest.age_messages``) and templates, the 63016 path, campaigns throttled,
skipping with reasons and refreshing the console live."""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter

import pytest
import test_outreach as _outreach
from conftest import HubFactory, call
from fakes.telegram import FakeTelegram

from hub.model import Role

twilio = _outreach.twilio
telegram = _outreach.telegram
hub = _outreach.hub
globals().update({name: test for name, test in vars(_outreach).items()
                  if name.startswith("test_") and inspect.iscoroutinefunction(test)})


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


RATE_CONTACTS = 16
RATE_PER_MINUTE = 600  # one every 0.1 s over the whole campaign, however many processes


async def test_two_hub_processes_keep_a_campaigns_rate_overall_and_write_once(
    start_hub: HubFactory, telegram: FakeTelegram,
) -> None:
    """Two hubs on one PostgreSQL schema both run the campaign: together they send at its
    configured rate (the next send time is claimed in the store), not each at it, and each
    recipient gets the message once."""
    settings = {"telegram_token": _outreach.TOKEN, "telegram_api_url": telegram.url(""),
                "telegram_webhook_secret": _outreach.SECRET}
    first, second = await start_hub(**settings), await start_hub(**settings)
    store = first.hub.store
    for n in range(RATE_CONTACTS):
        await store.start_conversation("telegram", str(7000 + n), f"Customer {n}")
    admin = await first.add_user("root@example.com", Role.ADMIN)
    made = await call(first, "POST", "/api/v1/campaigns", admin,
                      {"text": "Spring sale", "audience": {"channel": "telegram"},
                       "per_minute": RATE_PER_MINUTE}, status=201)
    second.hub.campaigns.wake()
    for _ in range(300):
        status = await call(first, "GET", f"/api/v1/campaigns/{made['id']}", admin)
        if status["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert status["progress"] == {"pending": 0, "sent": RATE_CONTACTS, "skipped": 0}
    # both processes took part, and between them settled each recipient once
    assert first.hub.campaigns.settled > 0 and second.hub.campaigns.settled > 0
    assert first.hub.campaigns.settled + second.hub.campaigns.settled == RATE_CONTACTS
    sent_at = []
    for recipient in status["recipients"]:
        message = await store.get_message(recipient["message_id"])
        assert message is not None
        sent_at.append(message.created_at)
    sent_at.sort()
    # one every 0.1 s overall (after a pause at most two at once): 16 take >= 1.4 s; each
    # process at the full rate would have taken about half that
    interval = 60 / RATE_PER_MINUTE
    assert (sent_at[-1] - sent_at[0]).total_seconds() >= (RATE_CONTACTS - 2) * interval
    sends = await telegram.wait_for("sendMessage", RATE_CONTACTS, timeout=10)
    chats = Counter(str(c.params["chat_id"]) for c in sends if "Spring sale" in str(
        c.params.get("text")))
    assert sorted(chats) == sorted(str(7000 + n) for n in range(RATE_CONTACTS))
    assert set(chats.values()) == {1}
