"""The satisfaction survey by email, end to end over real SMTP: a conversation of a customer
on email is resolved, the survey mail goes out through the provider's SMTP server, the
customer answers by mail (the rating and a comment in one mail, or in two), and the
report's figures and its export show it."""

from __future__ import annotations

import asyncio
import csv
import io

from conftest import HubFactory, Running, bearer, call
from fakes.mail import ProviderSmtp, Sent, mail
from test_email import JANE, SUPPORT, deliver, start

from handoff.survey import QUESTION_TEXT, THANKS_BOTH_TEXT, THANKS_COMMENT_TEXT, THANKS_TEXT
from hub.model import Role

BOB = "bob@customer.test"


def body(sent: Sent) -> str:
    part = sent.message.get_body(("plain",))
    assert part is not None
    text: str = part.get_content()  # type: ignore[attr-defined]
    return text


async def mailed(provider: ProviderSmtp, to: str, text: str) -> Sent:
    """The mail to ``to`` with ``text`` in its body (waiting for it, bounded): exactly one."""
    async with asyncio.timeout(10):
        while not (found := [s for s in provider.sent
                             if s.rcpt_tos == [to] and text in body(s)]):
            await provider.wait_for(len(provider.sent) + 1)
    assert len(found) == 1, [body(s) for s in found]
    return found[0]


async def surveyed(hub: Running, provider: ProviderSmtp, sender: str, ann: str) -> Sent:
    """``sender`` asks for a person by mail; Ann claims, replies and resolves: the survey
    mail."""
    await deliver(hub, mail(sender=sender, message_id=f"<ask-{sender}>",
                            body="I want to talk to a human"), sender=sender)
    await mailed(provider, sender, "connecting you with a person")
    conversation = await hub.hub.store.find_conversation("email", sender)
    assert conversation is not None and conversation.state.value == "queued"
    path = f"/api/v1/conversations/{conversation.id}"
    await call(hub, "POST", f"{path}/claim", ann)
    await call(hub, "POST", f"{path}/messages", ann, {"text": "Ann here: done!"}, 201)
    await mailed(provider, sender, "Ann here: done!")
    await call(hub, "POST", f"{path}/resolve", ann)
    survey = await mailed(provider, sender, QUESTION_TEXT)
    assert survey.message["Subject"] == "Re: Shipping"
    return survey


def answer(survey: Sent, sender: str, message_id: str, text: str) -> bytes:
    """The customer's reply to the survey mail, quoting it as mail programs do."""
    quoted = "\n".join(f"> {line}" for line in body(survey).splitlines())
    return mail(sender=sender, subject="Re: Shipping", message_id=message_id,
                body=f"{text}\n\nOn Mon, Nov 30, 2026 Support <{SUPPORT}> wrote:\n{quoted}\n",
                headers={"In-Reply-To": survey.message["Message-ID"],
                         "References": survey.message["Message-ID"]})


async def test_the_survey_answered_by_mail(start_hub: HubFactory,
                                           provider: ProviderSmtp) -> None:
    hub = await start(start_hub, provider)
    root = await hub.add_user("root@example.com", Role.ADMIN, name="Root")
    ann = await hub.add_user("ann@example.com", name="Ann")
    # Jane: the rating and a comment in one mail
    survey = await surveyed(hub, provider, JANE, ann)
    await deliver(hub, answer(survey, JANE, "<rate@customer.test>",
                              "5\n\nAnn sorted it out in minutes."))
    thanks = await mailed(provider, JANE, THANKS_BOTH_TEXT)
    assert thanks.message["In-Reply-To"] == "<rate@customer.test>"
    # Bob: the rating in one mail, thanked with an invitation; the comment in the next
    survey = await surveyed(hub, provider, BOB, ann)
    await deliver(hub, answer(survey, BOB, "<rate@bob.test>", "4"), sender=BOB)
    await mailed(provider, BOB, THANKS_TEXT)
    await deliver(hub, mail(sender=BOB, subject="Re: Shipping", message_id="<more@bob.test>",
                            body="The first answer was slow.",
                            headers={"In-Reply-To": "<rate@bob.test>"}), sender=BOB)
    await mailed(provider, BOB, THANKS_COMMENT_TEXT)
    await hub.settle()
    for address in (JANE, BOB):  # answers reopen nothing
        conversation = await hub.hub.store.find_conversation("email", address)
        assert conversation is not None and conversation.state.value == "resolved"

    summary = await call(hub, "GET", "/api/v1/reports/summary", root)
    assert summary["csat"] == {"sent": 2, "answered": 2, "response_rate": 1.0,
                               "average": 4.5, "satisfied_rate": 1.0}
    assert summary["by_channel"]["email"]["csat"]["answered"] == 2
    assert [(c["score"], c["comment"], c["channel"]) for c in summary["csat_comments"]] == [
        (4, "The first answer was slow.", "email"),
        (5, "Ann sorted it out in minutes.", "email")]
    resp = await hub.client.get("/api/v1/reports/export.csv", headers=bearer(root))
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert sorted((r["channel"], r["csat_sent"], r["csat_score"], r["csat_comment"])
                  for r in rows) == [
        ("email", "true", "4", "The first answer was slow."),
        ("email", "true", "5", "Ann sorted it out in minutes.")]
