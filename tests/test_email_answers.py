"""What the bot does with a mail: answers only when sure, suggestions as a numbered list
answered by number, anything else straight to the agents; "agent", a link code from the web
chat, and an agent's reply by email."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import pytest
from conftest import HubFactory, Running
from fakes.agent import take_over_and_reply
from fakes.mail import ProviderSmtp, mail
from test_email import JANE, SUPPORT, deliver, start

from hub.pipeline import EMAIL_QUEUED_TEXT


@pytest.fixture
async def hub(start_hub: HubFactory, provider: ProviderSmtp) -> Running:
    return await start(start_hub, provider)


def text_of(sent: Any) -> str:
    return str(sent.message.get_body(("plain",)).get_content())


async def state(hub: Running, address: str = JANE) -> str:
    conversation = await hub.hub.store.find_conversation("email", address)
    assert conversation is not None
    return conversation.state.value


async def test_a_question_the_bot_cannot_answer_goes_straight_to_the_agents(
    hub: Running, provider: ProviderSmtp,
) -> None:
    await deliver(hub, mail(subject="Partnership",
                            body="Our choir would like to sing in your lobby at Christmas."))
    sent = await provider.wait_for(1)
    assert EMAIL_QUEUED_TEXT in text_of(sent[0])
    assert "put it another way" not in text_of(sent[0])
    assert await state(hub) == "queued"


async def test_suggestions_are_numbered_and_a_reply_with_the_number_answers(
    hub: Running, provider: ProviderSmtp,
) -> None:
    await deliver(hub, mail(subject="refund", body="refund"))
    first = text_of((await provider.wait_for(1))[0])
    assert "1. " in first and "Reply with the number" in first
    lines = [line for line in first.splitlines() if line[:2] in ("1.", "2.", "3.")]
    number = next(i for i, line in enumerate(lines, 1) if "Refunds" in line)
    reply = mail(subject="Re: refund", message_id="<m2@customer.test>",
                 body=f"{number}\n\nOn Mon, Nov 30, 2026 Support <{SUPPORT}> wrote:\n> {first}")
    await deliver(hub, reply)
    second = text_of((await provider.wait_for(2))[1])
    assert "within 5 business days" in second
    assert await state(hub) == "bot"


async def test_saying_agent_hands_over_and_the_agent_replies_by_email_with_their_name(
    hub: Running, provider: ProviderSmtp,
) -> None:
    await deliver(hub, mail(subject="Help", body="agent\n\nThanks,\nJane"))
    await provider.wait_for(1)
    assert await state(hub) == "queued"
    await take_over_and_reply(hub, "email", JANE, "Hi Jane, I'm on it.", agent_name="Ann")
    async with asyncio.timeout(10):
        while not any("on it" in text_of(s) for s in provider.sent):
            await asyncio.sleep(0.05)
    agent = next(s.message for s in provider.sent if "on it" in text_of(s))
    assert agent["From"].addresses[0].display_name == "Ann (Support)"
    assert agent["Auto-Submitted"] is None
    assert agent["Subject"] == "Re: Help"
    assert "I'm on it." in str(agent.get_body(("plain",)).get_content())  # type: ignore[union-attr]


async def test_a_web_chat_visitor_continues_by_email(
    hub: Running, provider: ProviderSmtp,
) -> None:
    visitor = await hub.visitor()
    await visitor.say("hello, where is my parcel?")
    resp = await hub.client.post("/api/v1/webchat/links", json={"channel": "email"},
                                 headers=visitor.headers)
    assert resp.status == 201, await resp.text()
    offer = await resp.json()
    assert SUPPORT in offer["instructions"]
    await deliver(hub, mail(subject=f"Re: {offer['code']}", body="Here I am by email."))
    await provider.wait_for(1)
    conversation = await hub.hub.store.find_conversation("email", JANE)
    assert conversation is not None and conversation.id == visitor.conversation_id
    assert "You're connected" in text_of(provider.sent[0])
    # and the customer asks for it in the chat itself
    other = await hub.visitor()
    answer = await other.ask("continue by email")
    assert SUPPORT in answer["text"]


SITE_SECRET = "the site's secret"


async def test_a_site_user_vouched_for_by_hmac_is_the_same_contact_by_email(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider, webchat_identity_secret=SITE_SECRET)
    signed = hmac.new(SITE_SECRET.encode(), JANE.encode(), hashlib.sha256).hexdigest()
    resp = await hub.client.post("/api/v1/webchat/sessions",
                                 json={"email": JANE.upper(), "email_hash": signed})
    assert resp.status == 201, await resp.text()
    chat = (await resp.json())["conversation_id"]
    forged = await hub.client.post("/api/v1/webchat/sessions",
                                   json={"email": "mallory@evil.test", "email_hash": signed})
    assert forged.status == 201
    assert await hub.hub.store.find_conversation("email", "mallory@evil.test") is None
    await deliver(hub, mail(subject="My order", body="how long does shipping take?"))
    await provider.wait_for(1)
    by_mail = await hub.hub.store.find_conversation("email", JANE)
    assert by_mail is not None and by_mail.id == chat


async def test_an_agent_writes_by_email_to_a_chat_customer_whose_address_is_known(
    hub: Running, provider: ProviderSmtp,
) -> None:
    visitor = await hub.visitor()
    await visitor.say("agent")
    await hub.settle()
    token = await hub.add_user("ann@example.com", name="Ann")
    headers = {"Authorization": f"Bearer {token}"}
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None
    contact_path = f"/api/v1/contacts/{conversation.contact_id}"
    path = f"/api/v1/conversations/{visitor.conversation_id}"
    refused = await hub.client.post(f"{path}/messages", headers=headers,
                                    json={"text": "Hello by mail", "channel": "email"})
    assert refused.status == 409  # no address known yet
    assert (await hub.client.patch(contact_path, headers=headers,
                                   json={"email": JANE})).status == 200
    detail = await (await hub.client.get(contact_path, headers=headers)).json()
    assert "email" in detail["reachable_channels"]
    assert (await hub.client.post(f"{path}/claim", headers=headers)).status == 200
    sent = await hub.client.post(f"{path}/messages", headers=headers,
                                 json={"text": "Hello by mail", "channel": "email"})
    assert sent.status == 201, await sent.text()
    out = (await provider.wait_for(1))[0]
    assert out.rcpt_tos == [JANE]
    token_address = out.message["Reply-To"].addresses[0].addr_spec
    await deliver(hub, mail(to=token_address, subject="Re: Your message to us",
                            message_id="<r1@customer.test>", body="Thanks Ann!"),
                  to=token_address)
    await hub.settle()
    replied = await hub.hub.store.find_conversation("email", JANE)
    assert replied is not None and replied.id == visitor.conversation_id


async def test_replying_no_to_an_answer_reaches_a_person_or_the_other_matches(
    hub: Running, provider: ProviderSmtp,
) -> None:
    await deliver(hub, mail(subject="Shipping", body="how long does shipping take?"))
    answer = text_of((await provider.wait_for(1))[0])
    assert "3-5 business days" in answer
    await deliver(hub, mail(subject="Re: Shipping", message_id="<m2@customer.test>",
                            body=f"no\n\nOn Mon, Nov 30, 2026 Support <{SUPPORT}> wrote:\n> x"))
    second = text_of((await provider.wait_for(2))[1])
    assert "put your question another way" not in second
    conversation = await hub.hub.store.find_conversation("email", JANE)
    assert conversation is not None
    assert "Reply with the number" in second, second  # the other good matches, numbered


async def test_a_mail_to_a_resolved_conversation_reopens_it(
    hub: Running, provider: ProviderSmtp,
) -> None:
    await deliver(hub, mail(subject="Help", body="agent"))
    await provider.wait_for(1)
    conversation = await hub.hub.store.find_conversation("email", JANE)
    assert conversation is not None
    token = await hub.add_user("ann@example.com", name="Ann")
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/conversations/{conversation.id}"
    assert (await hub.client.post(f"{path}/claim", headers=headers)).status == 200
    assert (await hub.client.post(f"{path}/resolve", headers=headers)).status == 200
    await deliver(hub, mail(subject="Re: Help", message_id="<m2@customer.test>",
                            body="how long does shipping take?"))
    async with asyncio.timeout(10):
        while not any("3-5 business days" in text_of(s) for s in provider.sent):
            await asyncio.sleep(0.05)
    reopened = await hub.hub.store.find_conversation("email", JANE)
    assert reopened is not None and reopened.id == conversation.id
    assert reopened.state.value == "bot"
