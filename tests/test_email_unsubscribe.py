"""Email consent, over real SMTP (the built-in receiver in, the provider stand-in out), on
both engines: mail we write first (notify, campaigns) carries ``List-Unsubscribe`` with a
signed one-click link and a mailto; one click (or a mail to the mailto) records the opt-out;
then notify by email is refused and a campaign skips the address, while the contact's other
channels and the answers to their own mail still go. A forged token changes nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from conftest import HubFactory, Running, bearer, call
from fakes.agent import dead_letters
from fakes.mail import ProviderSmtp, Sent, mail
from test_email import JANE, SUPPORT, channel, deliver, start

from hub.model import Role

PUBLIC = "https://support.example.com"
BOB = "bob@customer.test"


@pytest.fixture
def db_url(any_engine_db_url: str) -> str:
    return any_engine_db_url


@pytest.fixture
async def hub(start_hub: HubFactory, provider: ProviderSmtp) -> Running:
    return await start(start_hub, provider, public_url=PUBLIC)


def text_of(sent: Sent) -> str:
    return str(sent.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def links(sent: Sent) -> list[str]:
    return re.findall(r"<([^>]+)>", str(sent.message["List-Unsubscribe"] or ""))


async def mailed_in(hub: Running, provider: ProviderSmtp, address: str = JANE,
                    n: int = 1) -> int:
    """``address`` writes in and gets the bot's answer; their contact id."""
    await deliver(hub, mail(sender=address, message_id=f"<m{n}@customer.test>"),
                  sender=address)
    await provider.wait_for(n)
    conversation = await hub.hub.store.find_conversation("email", address)
    assert conversation is not None
    return conversation.contact_id


async def noted_address(hub: Running, address: str) -> tuple[int, str]:
    """A web-chat visitor whose address an agent noted on their contact: (contact, agent)."""
    visitor = await hub.visitor()
    await visitor.say("please email me when it ships")
    await hub.settle()
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None
    agent = await hub.add_user("ann@example.com")
    await call(hub, "PATCH", f"/api/v1/contacts/{conversation.contact_id}", agent,
               {"email": address})
    return conversation.contact_id, agent


async def until_sent(provider: ProviderSmtp, count: int) -> list[Sent]:
    return await provider.wait_for(count, timeout=10)


async def test_one_click_stops_notify_by_email_but_not_other_channels_or_answers(
    hub: Running, provider: ProviderSmtp,
) -> None:
    contact_id = await mailed_in(hub, provider)
    [answer] = provider.sent
    assert answer.message["List-Unsubscribe"] is None  # an answer is no mail we wrote first
    agent = await hub.add_user("ann@example.com")
    sent = await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify", agent,
                      {"text": "Your order shipped", "channel": "email"}, status=201)
    assert sent["channel"] == "email"
    notice = (await until_sent(provider, 2))[1]
    assert notice.rcpt_tos == [JANE]
    assert notice.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url, mailto = links(notice)
    assert url.startswith(f"{PUBLIC}/email/unsubscribe/")
    token = url.rsplit("/", 1)[1]
    assert mailto == f"mailto:{SUPPORT}?subject=unsubscribe%20{token}"
    assert url in text_of(notice)  # said at its foot too
    path = url.removeprefix(PUBLIC)
    store = hub.hub.store

    # a forged or broken token: 404, nothing recorded
    forged = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    for bad in (forged, "/email/unsubscribe/nonsense", path.replace(token[:4], "Ym9i")):
        refused = await hub.client.post(bad, data="List-Unsubscribe=One-Click")
        assert refused.status == 404
        assert (await refused.json())["error"]["code"]
        page = await hub.client.get(bad)
        assert page.status == 404 and page.content_type == "text/html"
    assert await store.consent("email", JANE, SUPPORT) is None

    # the link's page only offers the button: a GET (a link scanner) unsubscribes nobody
    page = await hub.client.get(path)
    assert page.status == 200 and 'data-testid="unsubscribe"' in await page.text()
    assert "j***@customer.test" in await page.text()
    assert await store.consent("email", JANE, SUPPORT) is None

    # the mail client's one click (RFC 8058)
    clicked = await hub.client.post(path, data="List-Unsubscribe=One-Click", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert clicked.status == 200, await clicked.text()
    assert await clicked.json() == {"unsubscribed": True, "channel": "email"}
    record = await store.consent("email", JANE, SUPPORT)
    assert record is not None and not record.allowed and "unsubscribed" in record.reason

    refused_notify = await hub.client.post(
        f"/api/v1/contacts/{contact_id}/notify", json={"text": "Sale!", "channel": "email"},
        headers={"Authorization": f"Bearer {agent}"})
    assert refused_notify.status == 409
    error = (await refused_notify.json())["error"]
    assert error["code"] == "suppressed" and "unsubscribed" in error["message"]
    # agents see it on the contact panel
    detail = await call(hub, "GET", f"/api/v1/contacts/{contact_id}", agent)
    [consent] = detail["consents"]
    assert (consent["channel"], consent["external_id"], consent["sender"],
            consent["allowed"]) == ("email", JANE, SUPPORT, False)

    # the contact's other channel still carries a notify, chosen when none is named
    await store.attach_identity(contact_id, "memory", "jane-chat")
    routed = await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify", agent,
                        {"text": "Your order shipped"}, status=201)
    assert routed["channel"] == "memory"
    async with asyncio.timeout(10):
        while not any(i.text == "Your order shipped" for i in hub.memory.sent):
            await asyncio.sleep(0.05)

    # and Jane's own mail is still answered
    await deliver(hub, mail(subject="Another question", message_id="<m9@customer.test>"))
    answered = (await until_sent(provider, 3))[2]
    assert answered.rcpt_tos == [JANE] and answered.message["List-Unsubscribe"] is None
    assert len(provider.sent) == 3  # the refused notify never went


async def _campaign_done(hub: Running, admin: str, campaign_id: int) -> dict[str, Any]:
    for _ in range(200):
        status = await call(hub, "GET", f"/api/v1/campaigns/{campaign_id}", admin)
        if status["status"] == "done":
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"campaign {campaign_id} did not finish: {status}")


async def test_a_campaign_by_email_skips_who_unsubscribed(
    hub: Running, provider: ProviderSmtp,
) -> None:
    await mailed_in(hub, provider, JANE, 1)
    await mailed_in(hub, provider, BOB, 2)
    admin = await hub.add_user("root@example.com", Role.ADMIN)
    first = await call(hub, "POST", "/api/v1/campaigns", admin,
                       {"name": "Spring", "text": "Spring sale starts today",
                        "audience": {"channel": "email"}, "per_minute": 6000}, status=201)
    assert (await _campaign_done(hub, admin, first["id"]))["progress"]["sent"] == 2
    sent = await until_sent(provider, 4)
    campaign_mails = {s.rcpt_tos[0]: s for s in sent[2:]}
    assert set(campaign_mails) == {JANE, BOB}
    to_jane = campaign_mails[JANE].message
    assert to_jane["Auto-Submitted"] == "auto-generated"  # no reply to anything
    assert to_jane["Subject"] == "Re: Shipping"  # it joined Jane's thread
    url = links(campaign_mails[JANE])[0]
    clicked = await hub.client.post(url.removeprefix(PUBLIC), data="List-Unsubscribe=One-Click")
    assert clicked.status == 200

    second = await call(hub, "POST", "/api/v1/campaigns", admin,
                        {"name": "Summer", "text": "Summer sale starts today",
                         "audience": {"channel": "email"}, "per_minute": 6000}, status=201)
    status = await _campaign_done(hub, admin, second["id"])
    assert status["progress"] == {"pending": 0, "sent": 1, "skipped": 1}
    [skipped] = [r for r in status["recipients"] if r["status"] == "skipped"]
    assert "unsubscribed" in skipped["error"]
    await until_sent(provider, 5)
    await asyncio.sleep(0.3)  # nothing else on its way
    assert [s.rcpt_tos for s in provider.sent[4:]] == [[BOB]]


async def test_a_mail_to_the_mailto_unsubscribes_and_is_not_answered(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    hub = await start(start_hub, provider)  # no public URL: the mailto only
    contact_id = await mailed_in(hub, provider)
    agent = await hub.add_user("ann@example.com")
    await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify", agent,
               {"text": "Your order shipped", "channel": "email"}, status=201)
    notice = (await until_sent(provider, 2))[1]
    assert notice.message["List-Unsubscribe-Post"] is None  # one click needs an https link
    [mailto] = links(notice)
    token = mailto.rsplit("%20", 1)[1]
    store = hub.hub.store
    # a forged token in the subject is an ordinary mail: answered, nothing recorded
    await deliver(hub, mail(subject=f"unsubscribe {token[:-2]}xx",
                            message_id="<u1@customer.test>"))
    await until_sent(provider, 3)
    assert await store.consent("email", JANE, SUPPORT) is None
    await deliver(hub, mail(subject=f"unsubscribe {token}", body="",
                            message_id="<u2@customer.test>"))
    for _ in range(100):
        if await store.consent("email", JANE, SUPPORT) is not None:
            break
        await asyncio.sleep(0.05)
    record = await store.consent("email", JANE, SUPPORT)
    assert record is not None and not record.allowed
    await hub.settle()
    await asyncio.sleep(0.3)
    assert len(provider.sent) == 3  # the request itself is kept, not answered
    refused = await hub.client.post(
        f"/api/v1/contacts/{contact_id}/notify", json={"text": "Sale!", "channel": "email"},
        headers={"Authorization": f"Bearer {agent}"})
    assert refused.status == 409


async def test_notify_by_email_reaches_the_address_a_visitor_left(
    hub: Running, provider: ProviderSmtp,
) -> None:
    """A contact known by the web chat, whose address an agent noted: the first mail we
    write them goes to it (it becomes their email identity), with List-Unsubscribe."""
    contact_id, agent = await noted_address(hub, "Carol@Customer.test")
    sent = await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify",
                      agent, {"text": "It shipped today", "channel": "email"}, status=201)
    assert sent["channel"] == "email"
    [notice] = await until_sent(provider, 1)
    assert notice.rcpt_tos == ["carol@customer.test"]
    assert notice.message["Subject"] == "A message from Support"
    assert len(links(notice)) == 2 and "It shipped today" in text_of(notice)


async def test_a_queued_notify_mail_is_dropped_once_the_address_unsubscribes(
    start_hub: HubFactory, provider: ProviderSmtp,
) -> None:
    """The provider defers our notify (451, and keeps deferring it); the customer unsubscribes
    meanwhile (an earlier mail's link): the next attempt finds the opt-out and drops the mail
    as suppressed, instead of retrying it."""
    hub = await start(start_hub, provider, public_url=PUBLIC, outbox_base_delay=0.3)
    contact_id = await mailed_in(hub, provider)
    agent = await hub.add_user("ann@example.com")
    provider.refuse = "451 4.7.1 try later"
    await call(hub, "POST", f"/api/v1/contacts/{contact_id}/notify", agent,
               {"text": "Your order shipped", "channel": "email"}, status=201)
    token = channel(hub).signer.unsubscribe_token(JANE)
    clicked = await hub.client.post(f"/email/unsubscribe/{token}")
    assert clicked.status == 200
    [dead] = await dead_letters(hub, timeout=15)
    assert dead["error"].startswith("suppressed: unsubscribed")
    assert len(provider.sent) == 1  # only the bot's answer to Jane's own mail


async def test_a_refused_notify_by_email_leaves_the_contact_as_it_was(
    hub: Running, provider: ProviderSmtp,
) -> None:
    """The address an agent noted has unsubscribed before (a link in an earlier mail): the
    notify is refused, and the address does not become the contact's email identity."""
    contact_id, agent = await noted_address(hub, "dan@customer.test")
    token = channel(hub).signer.unsubscribe_token("dan@customer.test")
    assert (await hub.client.post(f"/email/unsubscribe/{token}")).status == 200
    resp = await hub.client.post(
        f"/api/v1/contacts/{contact_id}/notify",
        json={"text": "Sale!", "channel": "email"}, headers=bearer(agent))
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "suppressed"
    contact = await hub.hub.store.get_contact(contact_id)
    assert contact is not None and [i.channel for i in contact.identities] == ["webchat"]
    assert provider.sent == []


async def test_an_older_address_that_unsubscribed_does_not_silence_the_newer_one(
    hub: Running, provider: ProviderSmtp,
) -> None:
    """Jane wrote from two addresses and the contacts were merged: mail goes to the newest
    address, and only its consent counts — the old one's unsubscribe leaves it free."""
    old_contact = await mailed_in(hub, provider, JANE, 1)
    new_contact = await mailed_in(hub, provider, BOB, 2)
    agent = await hub.add_user("ann@example.com")
    await call(hub, "POST", f"/api/v1/contacts/{new_contact}/merge", agent,
               {"other_id": old_contact})
    token = channel(hub).signer.unsubscribe_token(JANE)
    assert (await hub.client.post(f"/email/unsubscribe/{token}")).status == 200
    sent = await call(hub, "POST", f"/api/v1/contacts/{new_contact}/notify", agent,
                      {"text": "Your order shipped", "channel": "email"}, status=201)
    assert sent["channel"] == "email"
    notices = await until_sent(provider, 3)  # two answers, then the notify
    assert notices[-1].rcpt_tos == [BOB]
