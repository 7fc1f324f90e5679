"""SMS and WhatsApp end to end: the twilio SDK's Client (AsyncTwilioHttpClient,
messages.create_async) against a local REST stand-in; webhooks in Twilio's format, signed
with RequestValidator against SUPPORTHUB_PUBLIC_URL + path."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import HubFactory, Running, call
from fakes import twilio as tw
from fakes.agent import dead_letters, take_over_and_reply, thread
from fakes.twilio import FakeTwilio

from bots.sms_text import is_gsm7, segments
from hub.model import NewArticle

SID = "AC" + "0" * 32
AUTH = "test-auth-token"
PUBLIC = "https://support.example.com"
PHONE = "+15551230001"
OURS = "+15550009999"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(SID, AUTH) as platform:
        yield platform


@pytest.fixture
async def hub(start_hub: HubFactory, fake: FakeTwilio) -> Running:
    return await start_hub(twilio_account_sid=SID, twilio_auth_token=AUTH, twilio_from=OURS,
                           twilio_api_url=fake.url(""), public_url=PUBLIC, sms_max_segments=3)


async def post(running: Running, fields: dict[str, str], path: str = "/webhooks/twilio/sms",
               signed_url: str | None = None, token: str = AUTH) -> tuple[int, str]:
    """POST the webhook to the test server; sign it as Twilio does, for the public URL."""
    sig = tw.signature(token, signed_url or PUBLIC + path, fields)
    resp = await running.client.post(path, data=fields, headers={"X-Twilio-Signature": sig})
    return resp.status, await resp.text()


async def test_an_sms_question_is_answered_by_rest_with_empty_twiml(
    hub: Running, fake: FakeTwilio,
) -> None:
    status, body = await post(hub, tw.incoming("how long does shipping take?"))
    assert status == 200 and body.endswith(("<Response />", "<Response/>"))
    [call] = await fake.wait_for("Messages")
    assert call.params["To"] == PHONE and call.params["From"] == OURS
    assert call.params["StatusCallback"] == PUBLIC + "/webhooks/twilio/status"
    text = call.params["Body"]
    assert "3-5 business days" in text and "*" not in text  # plain text
    assert is_gsm7(text)


async def test_suggestions_are_numbered_and_a_number_picks_one(
    hub: Running, fake: FakeTwilio,
) -> None:
    await post(hub, tw.incoming("refund"))
    [call] = await fake.wait_for("Messages")
    lines = call.params["Body"].splitlines()
    options = [line for line in lines if line[:2] in ("1.", "2.", "3.")]
    assert 1 <= len(options) <= 3
    assert lines[-1] in ("Reply 1.", "Reply 1 or 2.", "Reply 1, 2 or 3.")
    number = next(line[0] for line in options if line.endswith("Refunds"))
    await post(hub, tw.incoming(f" {number} "))
    calls = await fake.wait_for("Messages", 2)
    assert "within 5 business days" in calls[1].params["Body"]
    customer = [m["text"] for m in await thread(hub, "sms", PHONE) if m["author"] == "customer"]
    assert customer == ["refund", "Refunds"]
    # with no suggestions pending, a number is just text
    await post(hub, tw.incoming("2"))
    await hub.settle()
    assert (await thread(hub, "sms", PHONE))[-2]["text"] == "2"


async def test_whatsapp_senders_are_answered_on_whatsapp(
    hub: Running, fake: FakeTwilio,
) -> None:
    await post(hub, tw.incoming("how long does shipping take?", sender=f"whatsapp:{PHONE}"))
    [call] = await fake.wait_for("Messages")
    assert call.params["To"] == f"whatsapp:{PHONE}"
    assert call.params["From"] == f"whatsapp:{OURS}"
    assert "*3-5 business days*" in call.params["Body"]  # WhatsApp's own bold
    conversation = await hub.hub.store.find_conversation("whatsapp", PHONE)
    assert conversation is not None and conversation.contact_name == "Jane"


async def test_handoff_and_the_agent_reply_by_sms(hub: Running, fake: FakeTwilio) -> None:
    await post(hub, tw.incoming("I need a human"))
    await fake.wait_for("Messages")
    await take_over_and_reply(hub, "sms", PHONE, "Hi, it's Ann — I'll look into it.")
    calls = await fake.wait_for("Messages", 3)
    assert calls[2].params["Body"] == "Ann: Hi, it's Ann - I'll look into it."


async def test_a_redelivered_message_sid_is_stored_once(hub: Running, fake: FakeTwilio) -> None:
    fields = tw.incoming("how do I reset my password")
    assert (await post(hub, fields))[0] == 200
    assert (await post(hub, fields))[0] == 200
    await fake.wait_for("Messages")
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("Messages")) == 1
    assert [m["author"] for m in await thread(hub, "sms", PHONE)] == ["customer", "bot"]


async def test_bad_signatures_are_refused_and_nothing_is_stored(
    hub: Running, fake: FakeTwilio,
) -> None:
    fields = tw.incoming("hello")
    assert (await post(hub, fields, token="wrong-token"))[0] == 403
    # signed for the address the hub listens on, not the public one
    assert (await post(hub, fields, signed_url=hub.url("/webhooks/twilio/sms")))[0] == 403
    resp = await hub.client.post("/webhooks/twilio/sms", data=fields)
    assert resp.status == 403
    tampered = dict(fields)
    sig = tw.signature(AUTH, PUBLIC + "/webhooks/twilio/sms", fields)
    tampered["Body"] = "something else"
    resp = await hub.client.post("/webhooks/twilio/sms", data=tampered,
                                 headers={"X-Twilio-Signature": sig})
    assert resp.status == 403
    status = await post(hub, tw.status_callback("SM1", "delivered"),
                        path="/webhooks/twilio/status", token="wrong-token")
    assert status[0] == 403
    assert await hub.hub.store.list_conversations() == []
    assert fake.calls == []


async def test_429_is_retried_after_retry_after_and_delivered_once(
    hub: Running, fake: FakeTwilio,
) -> None:
    fake.fail_next("Messages", tw.rate_limited(retry_after=1), tw.server_error())
    await post(hub, tw.incoming("how long does shipping take?"))
    calls = await fake.wait_for("Messages", 3, timeout=10)
    await asyncio.sleep(0.5)
    assert len(fake.calls_to("Messages")) == 3  # 429, 503, delivered
    assert len({c.params["Body"] for c in calls}) == 1
    stats = await hub.hub.store.outbox_stats()
    assert (stats.sent, stats.pending, stats.dead) == (1, 0, 0)


async def test_an_invalid_number_dead_letters(hub: Running, fake: FakeTwilio) -> None:
    fake.fail_next("Messages", tw.invalid_number())
    await post(hub, tw.incoming("how long does shipping take?"))
    [dead] = await dead_letters(hub)
    assert dead["channel"] == "sms" and "21211" in dead["error"]
    status = await hub.hub.store.identity_status("sms", PHONE)
    assert status is not None and not status.reachable


async def test_stop_means_nothing_more_until_start(hub: Running, fake: FakeTwilio) -> None:
    await post(hub, tw.incoming("how long does shipping take?"))
    await fake.wait_for("Messages")
    status, body = await post(hub, tw.incoming("Stop"))
    assert status == 200 and "<Message>" not in body  # Twilio's opt-out management replies
    await post(hub, tw.incoming("what payment methods do you take"))
    await hub.settle()
    [dead] = await dead_letters(hub)  # the bot's answer is held back, visibly
    assert "opted out" in dead["error"]
    assert len(fake.calls_to("Messages")) == 1
    consent = await hub.hub.store.consent("sms", PHONE, OURS)  # per number and our sender
    assert consent is not None and not consent.allowed and "STOP" in consent.reason.upper()
    await post(hub, tw.incoming("START"))
    await post(hub, tw.incoming("what payment methods do you take"))
    calls = await fake.wait_for("Messages", 2)
    assert "PayPal" in calls[1].params["Body"]
    texts = [m["text"] for m in await thread(hub, "sms", PHONE) if m["author"] == "customer"]
    assert "[opt-out] Stop" in texts and "[opt-in] START" in texts


async def test_whatsapp_keywords_are_answered_by_the_hub(hub: Running) -> None:
    status, body = await post(hub, tw.incoming("HELP", sender=f"whatsapp:{PHONE}"))
    assert status == 200 and "<Message>" in body and "STOP" in body


async def test_mms_media_is_kept_as_an_attachment(hub: Running, fake: FakeTwilio) -> None:
    url = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1"
    await post(hub, tw.incoming("", media=((url, "image/jpeg"),)))
    [call] = await fake.wait_for("Messages")
    assert "only read text" in call.params["Body"]
    [customer] = [m for m in await thread(hub, "sms", PHONE) if m["author"] == "customer"]
    assert customer["text"] == "[photo]"


async def test_delivery_status_is_recorded_on_the_outbound_message(
    hub: Running, fake: FakeTwilio, db_path: Path,
) -> None:
    await post(hub, tw.incoming("how long does shipping take?"))
    await fake.wait_for("Messages")
    for _ in range(100):  # the outbox marks the item sent just after the API answers
        stats = await hub.hub.store.outbox_stats()
        if stats.sent:
            break
        await asyncio.sleep(0.02)
    with sqlite3.connect(db_path) as db:
        [(sid,)] = db.execute("SELECT platform_message_id FROM outbox").fetchall()
    status, _ = await post(hub, tw.status_callback(sid, "delivered"),
                           path="/webhooks/twilio/status")
    assert status == 204
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT delivery_status FROM outbox").fetchone() == ("delivered",)


async def test_a_long_answer_is_cut_at_a_sentence_within_the_segment_limit(
    hub: Running, fake: FakeTwilio,
) -> None:
    sentence = "Our warehouse team checks every parcel twice before it leaves the building. "
    await hub.hub.store.create_articles([NewArticle(
        "Parcel checks", ("how are parcels checked before shipping",), sentence * 12)])
    await hub.hub.knowledge.reload()
    await post(hub, tw.incoming("how are parcels checked before shipping"))
    [call] = await fake.wait_for("Messages")
    text = call.params["Body"]
    assert segments(text) <= 3 and text.endswith("building.")
    assert len(text) > 300


def test_segment_counting_knows_gsm7_and_ucs2() -> None:
    from bots.sms_text import gsm_friendly

    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("a" * 307) == 3
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2  # extension: two units each
    assert segments("ü" * 160) == 1  # in the GSM-7 alphabet
    assert segments("ł" * 70) == 1 and segments("ł" * 71) == 2  # UCS-2
    assert segments("😀" * 35) == 1 and segments("😀" * 36) == 2  # surrogate pairs
    assert is_gsm7(gsm_friendly("Open Account → Orders – it’s “quick”…"))


def _age_whatsapp(db_path: Path, hours: float) -> None:
    """Make every customer message ``hours`` older, as if they wrote that long ago."""
    from datetime import datetime, timedelta

    with sqlite3.connect(db_path, timeout=10) as db:
        for message_id, created in db.execute(
                "SELECT id, created_at FROM messages WHERE direction = 'in'").fetchall():
            older = datetime.fromisoformat(created) - timedelta(hours=hours)
            db.execute("UPDATE messages SET created_at = ? WHERE id = ?",
                       (older.isoformat(), message_id))


def window_closed() -> tw.Failure:
    return tw.Failure(400, {"code": 63016, "message": "Failed to send freeform message "
                            "because you are outside the allowed window.", "status": 400})


async def test_whatsapp_free_text_after_24_hours_needs_a_template(
    hub: Running, fake: FakeTwilio, db_path: Path,
) -> None:
    await post(hub, tw.incoming("I need a human", sender=f"whatsapp:{PHONE}"))
    await fake.wait_for("Messages")
    _age_whatsapp(db_path, 25)
    conversation = await hub.hub.store.find_conversation("whatsapp", PHONE)
    assert conversation is not None
    token = await hub.add_user("ann@example.com", name="Ann")
    await call(hub, "POST", f"/api/v1/conversations/{conversation.id}/claim", token)
    refused = await call(hub, "POST", f"/api/v1/conversations/{conversation.id}/messages",
                         token, {"text": "Your parcel is on its way."}, status=409)
    assert refused["error"]["code"] == "template_needed"
    dead = await dead_letters(hub)  # the claim's notice: free text the hub wrote
    assert "template needed" in dead[0]["error"]
    assert len(fake.calls_to("Messages")) == 1  # Twilio was not asked to send it
    # a template goes: ContentSid and ContentVariables, no Body
    from hub.model import OutboxItem, TemplateSend

    template = TemplateSend("order_update", "HX" + "1" * 32, {"1": "Jane", "2": "4711"})
    item = OutboxItem(999, 999, dead[0]["conversation_id"], "whatsapp", PHONE,
                      "order_update", (), 1, template=template)
    sid = await hub.hub.channels["whatsapp"].send(item)
    assert sid is not None and sid.startswith("SM")
    sent = fake.calls_to("Messages")[-1].params
    assert sent["ContentSid"] == template.content_sid and "Body" not in sent
    assert json.loads(sent["ContentVariables"]) == {"1": "Jane", "2": "4711"}


async def test_a_63016_from_twilio_is_template_needed_not_a_retry_loop(
    hub: Running, fake: FakeTwilio,
) -> None:
    fake.fail_next("Messages", window_closed())
    await post(hub, tw.incoming("how long does shipping take?", sender=f"whatsapp:{PHONE}"))
    [dead] = await dead_letters(hub)
    assert "template needed" in dead["error"] and "63016" in dead["error"]
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("Messages")) == 1
    status = await hub.hub.store.identity_status("whatsapp", PHONE)
    assert status is not None and status.reachable and not status.opted_out
