"""Reports end to end, on both engines: conversations driven through the web chat and
Telegram with a controlled clock (Monday 30 November 2026, Europe/Berlin, business hours
Mon–Fri 09:00–17:00), then every figure of the summary asserted exactly, in calendar and in
business time; the survey answered by button and by number; the API's refusals."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import TELEGRAM_TOKEN, HubFactory, Running, Visitor, bearer, call
from fakes import telegram as tg
from fakes.telegram import FakeTelegram

from bots.telegram import SECRET_HEADER
from handoff.survey import THANKS_BOTH_TEXT, THANKS_COMMENT_TEXT, THANKS_TEXT
from hub import reports
from hub.model import Conversation, Role

BERLIN = ZoneInfo("Europe/Berlin")
TOKEN = TELEGRAM_TOKEN
SECRET = "hook-secret_1"
WINDOW = "from=2026-11-30&to=2026-12-01"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def set(self, day: int, hour: int, minute: int = 0, second: int = 0) -> None:
        """A wall-clock time in Berlin in the week of Monday 30 November 2026 (day 0)."""
        base = datetime(2026, 11, 30, tzinfo=BERLIN) + timedelta(days=day)
        self.now = base.replace(hour=hour, minute=minute, second=second).timestamp()


@pytest.fixture
def db_url(any_engine_db_url: str) -> str:
    return any_engine_db_url


@pytest.fixture
async def world(start_hub: HubFactory, fake: FakeTelegram) -> dict[str, Any]:
    hub = await start_hub(telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                          telegram_api_url=fake.url(""), business_hours="Mon-Fri 09:00-17:00",
                          timezone="Europe/Berlin")
    clock = Clock()
    hub.hub.store.clock = clock  # type: ignore[method-assign]
    return {"hub": hub, "clock": clock, "fake": fake,
            "ann": await hub.add_user("ann@example.com", name="Ann"),
            "bob": await hub.add_user("bob@example.com", name="Bob"),
            "root": await hub.add_user("root@example.com", Role.ADMIN, name="Root")}


async def telegram(hub: Running, text: str, user_id: int) -> None:
    resp = await hub.client.post(
        "/webhooks/telegram", data=tg.json_body(tg.message_update(text, user_id=user_id)),
        headers={"Content-Type": "application/json", SECRET_HEADER: SECRET})
    assert resp.status == 200
    await hub.settle()


async def act(hub: Running, token: str, conversation_id: int, action: str,
              text: str | None = None) -> Any:
    path = f"/api/v1/conversations/{conversation_id}/{action}"
    body = {"text": text} if text is not None else None
    return await call(hub, "POST", path, token, body, 201 if text is not None else 200)


async def drive(world: dict[str, Any]) -> dict[str, int]:
    """The week's conversations (see test_report_definitions.py for the same by hand)."""
    hub: Running = world["hub"]
    clock: Clock = world["clock"]
    ann, bob = world["ann"], world["bob"]
    # 1 (web chat): the bot answers, and that is all
    clock.set(0, 9)
    one = await hub.visitor()
    assert "3-5 business days" in (await one.ask("how long does shipping take?"))["text"]
    # 2 (web chat): the answer didn't help, a person, resolved, rated 5 by button
    clock.set(0, 9, 10)
    two = await hub.visitor()
    answer = await two.ask("how long does shipping take?")
    clock.set(0, 9, 10, 10)
    await _post(two, {"feedback": "unhelpful", "message_id": answer["id"]})
    clock.set(0, 9, 10, 20)
    await two.ask("I want to talk to a human")
    clock.set(0, 9, 10, 50)
    await act(hub, ann, two.conversation_id, "claim")
    clock.set(0, 9, 11, 20)
    await act(hub, ann, two.conversation_id, "messages", "Hello, Ann here.")
    clock.set(0, 9, 20)
    await act(hub, ann, two.conversation_id, "resolve")
    survey = [m for m in await two.messages() if m["csat"]]
    assert [m["text"] for m in survey] == [
        "How did we do? Reply with a number from 1 (poor) to 5 (great)."]
    clock.set(0, 9, 25)
    await _post(two, {"csat": 5})
    await hub.settle()
    assert (await two.messages())[-1]["text"] == THANKS_TEXT
    # 2 again: reopened straight to a person (Bob), resolved, rated 3 by typing it
    clock.set(0, 10)
    await two.ask("I want to talk to a human")
    clock.set(0, 10, 0, 20)
    await act(hub, bob, two.conversation_id, "claim")
    clock.set(0, 10, 1, 40)
    await act(hub, bob, two.conversation_id, "messages", "Bob here.")
    clock.set(0, 10, 30)
    await act(hub, bob, two.conversation_id, "resolve")
    clock.set(0, 10, 35)
    await two.say("3")
    await hub.settle()
    conversation = await call(hub, "GET", f"/api/v1/conversations/{two.conversation_id}", bob)
    assert conversation["state"] == "resolved"  # a rating reopens nothing
    # 3 (Telegram): two fallbacks queue it at 16:29:59, Ann answers the next morning
    clock.set(0, 16)
    await telegram(hub, "xyzzy plugh frobnicate", 301)
    clock.set(0, 16, 29, 59)
    await telegram(hub, "qwerty zxcvb asdfgh", 301)
    three = await hub.hub.store.find_conversation("telegram", "301")
    assert three is not None and three.state.value == "queued"
    clock.set(1, 9, 20)
    await act(hub, ann, three.id, "claim")
    clock.set(1, 9, 30)
    await act(hub, ann, three.id, "messages", "Good morning!")
    clock.set(1, 10)
    await act(hub, ann, three.id, "resolve")
    # 4 (Telegram): asks for a person after hours and is told when one will answer
    clock.set(0, 18)
    await telegram(hub, "I want to talk to a human", 401)
    four = await hub.hub.store.find_conversation("telegram", "401")
    assert four is not None
    return {"one": one.conversation_id, "two": two.conversation_id, "three": three.id,
            "four": four.id}


async def _post(visitor: Visitor, body: dict[str, Any]) -> None:
    resp = await visitor.hub.client.post("/api/v1/webchat/messages", json=body,
                                         headers=visitor.headers)
    assert resp.status == 201, await resp.text()
    await visitor.hub.settle()


async def test_every_figure_of_the_summary(world: dict[str, Any]) -> None:
    hub: Running = world["hub"]
    root = world["root"]
    ids = await drive(world)
    summary = await call(hub, "GET", f"/api/v1/reports/summary?{WINDOW}", root)
    assert (summary["from"], summary["to"], summary["timezone"]) == \
        ("2026-11-30", "2026-12-01", "Europe/Berlin")
    assert {k: summary[k] for k in ("conversations", "cycles", "handoffs", "handoff_rate",
                                    "bot_handled", "contained", "containment_rate",
                                    "reopened")} == {
        "conversations": 4, "cycles": 5, "handoffs": 4, "handoff_rate": 0.8,
        "bot_handled": 3, "contained": 1, "containment_rate": 1 / 3, "reopened": 1}
    # 60 s, 100 s, and 17 h 0 min 1 s (business: 30 min 1 s on Monday, 30 min on Tuesday)
    assert summary["first_response"] == {"count": 3, "median_s": 100, "p90_s": 61201,
                                         "median_business_s": 100, "p90_business_s": 3601}
    # 600 s, 1,800 s, 18 h (business: 16:00–17:00 and 09:00–10:00)
    assert summary["resolution"] == {"count": 3, "median_s": 1800, "p90_s": 64800,
                                     "median_business_s": 1800, "p90_business_s": 7200}
    assert summary["csat"] == {"sent": 3, "answered": 2, "response_rate": 2 / 3,
                               "average": 4.0, "satisfied_rate": 0.5}
    webchat, telegram_ = summary["by_channel"]["webchat"], summary["by_channel"]["telegram"]
    assert (webchat["conversations"], webchat["cycles"], webchat["handoffs"],
            webchat["handoff_rate"], webchat["bot_handled"], webchat["contained"],
            webchat["containment_rate"]) == (2, 3, 2, 2 / 3, 2, 1, 0.5)
    assert webchat["first_response"]["median_s"] == 80
    assert (telegram_["cycles"], telegram_["handoff_rate"], telegram_["bot_handled"],
            telegram_["containment_rate"]) == (2, 1.0, 1, 0.0)
    assert telegram_["csat"]["sent"] == 1 and telegram_["csat"]["answered"] == 0
    ann, bob = summary["by_agent"]
    assert (ann["name"], ann["resolved"], bob["name"], bob["resolved"]) == ("Ann", 2, "Bob", 1)
    assert ann["first_response"]["median_s"] == (60 + 61201) / 2
    assert ann["csat"] == {"sent": 2, "answered": 1, "response_rate": 0.5, "average": 5.0,
                           "satisfied_rate": 1.0}
    assert bob["csat"]["average"] == 3.0 and bob["csat"]["satisfied_rate"] == 0.0

    # the SQL folds the recorded events as hub.reports defines cycles
    events = [e for cid in ids.values()
              for e in await hub.hub.store.conversation_events(cid)]
    since = datetime(2026, 11, 30, tzinfo=BERLIN).timestamp()
    assert await hub.hub.store.report_cycles(since, since + 2 * 86400) == \
        reports.fold_cycles(events)
    articles = (await call(hub, "GET", f"/api/v1/reports/articles?{WINDOW}", root))["articles"]
    assert [(a["title"], a["answers"], a["unhelpful"], a["handoffs"], a["deflected"],
             a["deflection_rate"]) for a in articles] == [
        ("How long does shipping take?", 2, 1, 1, 1, 0.5)]
    assert [(a.article_id, a.answers) for a in reports.fold_articles(events)] == \
        [(articles[0]["article_id"], 2)]

    # the after-hours handoff said when a person will answer; the survey went to Telegram
    fake: FakeTelegram = world["fake"]
    async with asyncio.timeout(10):  # the outbox delivers in the background
        while len({m["chat_id"] for m in fake.sent()} & {"301", "401"}) < 2 or not any(
                "How did we do?" in m["text"] for m in fake.sent() if m["chat_id"] == "301"):
            await asyncio.sleep(0.05)
    sent = [m["text"] for m in fake.sent() if m["chat_id"] == "401"]
    assert any("a person will answer from Tuesday 1 December at 09:00 (Europe/Berlin)" in t
               for t in sent), sent


async def test_filters_series_export_and_the_survey_window(world: dict[str, Any]) -> None:
    hub: Running = world["hub"]
    root, clock = world["root"], world["clock"]
    ids = await drive(world)
    by_channel = await call(hub, "GET", f"/api/v1/reports/summary?{WINDOW}&channel=telegram",
                            root)
    assert (by_channel["cycles"], by_channel["handoffs"]) == (2, 2)
    ann_id = (await call(hub, "GET", "/api/v1/auth/me", world["ann"]))["user"]["id"]
    by_agent = await call(hub, "GET", f"/api/v1/reports/summary?{WINDOW}&agent_id={ann_id}",
                          root)
    assert (by_agent["cycles"], by_agent["resolution"]["median_s"]) == (2, (600 + 64800) / 2)
    series = await call(hub, "GET", "/api/v1/reports/timeseries?metric=cycles&interval=hour"
                        "&from=2026-11-30&to=2026-11-30", root)
    assert len(series["points"]) == 24
    assert {p["start"][11:13]: p["value"] for p in series["points"] if p["value"]} == {
        "09": 2, "10": 1, "16": 1, "18": 1}
    resp = await hub.client.get(f"/api/v1/reports/export.csv?{WINDOW}", headers=bearer(root))
    assert resp.status == 200 and resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert len(rows) == 5
    [telegram_row] = [r for r in rows if r["conversation_id"] == str(ids["three"])]
    assert (telegram_row["first_response_s"], telegram_row["first_response_business_s"],
            telegram_row["resolution_business_s"]) == ("61201", "3601", "7200")

    # four days after the survey, "4" is no rating: it reopens the conversation
    clock.set(5, 12)
    await telegram(hub, "4", 301)
    week = await call(hub, "GET", "/api/v1/reports/summary?from=2026-11-30&to=2026-12-06",
                      root)
    assert (week["cycles"], week["reopened"], week["csat"]["answered"]) == (6, 2, 2)


async def test_refusals(world: dict[str, Any]) -> None:
    hub: Running = world["hub"]
    root, ann = world["root"], world["ann"]
    for query, name in [("from=2026-13-01", "'from'"), ("to=yesterday", "'to'"),
                        ("from=2026-12-02&to=2026-12-01", "'to' is before 'from'"),
                        ("channel=fax", "'channel'"), ("agent_id=999999", "'agent_id'"),
                        ("agent_id=ann", "'agent_id'")]:
        resp = await hub.client.get(f"/api/v1/reports/summary?{query}", headers=bearer(root))
        assert resp.status == 422, query
        assert name in (await resp.json())["error"]["message"], query
    resp = await hub.client.get("/api/v1/reports/timeseries?metric=nope", headers=bearer(root))
    assert resp.status == 422 and "'metric'" in (await resp.json())["error"]["message"]
    for path in ("summary", "articles", "timeseries?metric=cycles", "export.csv"):
        assert (await hub.client.get(f"/api/v1/reports/{path}",
                                     headers=bearer(ann))).status == 403
        assert (await hub.client.get(f"/api/v1/reports/{path}")).status == 401


async def test_a_survey_is_answered_once_per_cycle(world: dict[str, Any]) -> None:
    hub: Running = world["hub"]
    clock, ann = world["clock"], world["ann"]
    clock.set(0, 9)
    visitor = await hub.visitor()
    await visitor.ask("I want to talk to a human")
    await act(hub, ann, visitor.conversation_id, "claim")
    await act(hub, ann, visitor.conversation_id, "resolve")
    clock.set(0, 9, 5)
    await _post(visitor, {"csat": 2})
    await _post(visitor, {"csat": 4})  # the cycle has its answer: an ordinary message
    kinds = [e.kind for e in await hub.hub.store.conversation_events(visitor.conversation_id)]
    assert kinds.count("csat_answered") == 1 and kinds[-2:] == ["reopened", "fallback"]


async def test_no_survey_when_it_is_off(start_hub: HubFactory) -> None:
    hub = await start_hub(csat=False)
    ann = await hub.add_user("ann@example.com")
    visitor = await hub.visitor()
    await visitor.ask("I want to talk to a human")
    await act(hub, ann, visitor.conversation_id, "claim")
    await act(hub, ann, visitor.conversation_id, "resolve")
    assert not [m for m in await visitor.messages() if m["csat"]]
    await visitor.ask("5")  # a question like any other: the conversation reopens
    kinds = [e.kind for e in await hub.hub.store.conversation_events(visitor.conversation_id)]
    assert "csat_asked" not in kinds and kinds[-2:] == ["reopened", "fallback"]


async def telegram_resolved(hub: Running, agent: str, chat: int) -> Conversation:
    """A Telegram chat that asked for a person, claimed and resolved by ``agent``."""
    await telegram(hub, "I want to talk to a human", chat)
    conversation = await hub.hub.store.find_conversation("telegram", str(chat))
    assert conversation is not None
    await act(hub, agent, conversation.id, "claim")
    await act(hub, agent, conversation.id, "resolve")
    return conversation


async def test_telegram_survey_buttons(world: dict[str, Any]) -> None:
    hub: Running = world["hub"]
    clock, ann, fake = world["clock"], world["ann"], world["fake"]
    clock.set(0, 11)
    conversation = await telegram_resolved(hub, ann, 501)
    async with asyncio.timeout(10):
        while not (surveys := [m for m in fake.sent() if m["chat_id"] == "501"
                               and "How did we do?" in m["text"]]):
            await asyncio.sleep(0.05)
    [row] = surveys[0]["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in row] == ["1", "2", "3", "4", "5"]
    message = {"message_id": 7000, "date": 0, "chat": tg.private_chat(501), "from": tg.BOT,
               "text": surveys[0]["text"], "reply_markup": surveys[0]["reply_markup"]}
    clock.set(0, 11, 5)
    resp = await hub.client.post(
        "/webhooks/telegram", data=tg.json_body(tg.callback_update(message, row[3], 501)),
        headers={"Content-Type": "application/json", SECRET_HEADER: SECRET})
    assert resp.status == 200
    await hub.settle()
    events = await hub.hub.store.conversation_events(conversation.id)
    ann_id = (await call(hub, "GET", "/api/v1/auth/me", ann))["user"]["id"]
    assert [(e.kind, e.score, e.agent_id) for e in events if e.kind == "csat_answered"] == [
        ("csat_answered", 4, ann_id)]
    refreshed = await hub.hub.store.get_conversation(conversation.id)
    assert refreshed is not None and refreshed.state.value == "resolved"


async def _resolved_visitor(hub: Running, ann: str) -> Visitor:
    visitor = await hub.visitor()
    await visitor.ask("I want to talk to a human")
    await act(hub, ann, visitor.conversation_id, "claim")
    await act(hub, ann, visitor.conversation_id, "resolve")
    return visitor


async def _rated_visitor(world: dict[str, Any], score: int) -> Visitor:
    """Resolved at 10:00, rated ``score`` with the button at 10:01; the clock at 10:02."""
    clock = world["clock"]
    clock.set(0, 10)
    visitor = await _resolved_visitor(world["hub"], world["ann"])
    clock.set(0, 10, 1)
    await _post(visitor, {"csat": score})
    clock.set(0, 10, 2)
    return visitor


async def _export(hub: Running, root: str) -> list[dict[str, str]]:
    resp = await hub.client.get(f"/api/v1/reports/export.csv?{WINDOW}", headers=bearer(root))
    assert resp.status == 200
    return list(csv.DictReader(io.StringIO(await resp.text())))


async def test_the_comment_after_a_rating(world: dict[str, Any]) -> None:
    """A comment sent with the button; one typed after it (the next message, inside the
    comment window) on the web chat and on Telegram; one typed too late is a question."""
    hub: Running = world["hub"]
    clock, ann, root = world["clock"], world["ann"], world["root"]
    ann_id = (await call(hub, "GET", "/api/v1/auth/me", ann))["user"]["id"]
    # 1: the comment comes with the button
    clock.set(0, 9)
    one = await _resolved_visitor(hub, ann)
    clock.set(0, 9, 1)
    await _post(one, {"csat": 4, "comment": "Quick, but I had to ask twice."})
    assert [m["text"] for m in await one.messages()][-2:] == [
        "4\nQuick, but I had to ask twice.", THANKS_BOTH_TEXT]
    # 2: the button, thanked with an invitation; the next message is the comment, which
    # reopens nothing and goes to no bot; a second one is a question again
    clock.set(0, 10)
    two = await _resolved_visitor(hub, ann)
    clock.set(0, 10, 1)
    await _post(two, {"csat": 2})
    assert (await two.messages())[-1]["text"] == THANKS_TEXT
    clock.set(0, 10, 11)  # ten minutes later: inside the 15-minute window
    comment = await two.say("=The shipping answer was wrong")
    await hub.settle()
    after = await two.messages(after=comment["id"])
    assert [m["text"] for m in after] == [THANKS_COMMENT_TEXT]
    state = (await call(hub, "GET", f"/api/v1/conversations/{two.conversation_id}", ann))
    assert state["state"] == "resolved"
    clock.set(0, 10, 12)
    await two.ask("how long does shipping take?")
    kinds = [e.kind for e in await hub.hub.store.conversation_events(two.conversation_id)]
    assert kinds.count("csat_commented") == 1 and kinds[-2:] == ["reopened", "answer"]
    # 3 (Telegram): a typed rating, then a typed comment
    clock.set(0, 11)
    three = await telegram_resolved(hub, ann, 601)
    clock.set(0, 11, 5)
    await telegram(hub, "5", 601)
    clock.set(0, 11, 6)
    await telegram(hub, "Ann was great", 601)
    # 4: a message after the comment window is an ordinary message
    clock.set(0, 12)
    four = await _resolved_visitor(hub, ann)
    clock.set(0, 12, 1)
    await _post(four, {"csat": 5})
    clock.set(0, 12, 16, 2)  # 15 minutes and a second after the rating
    assert "3-5 business days" in (await four.ask("how long does shipping take?"))["text"]

    summary = await call(hub, "GET", f"/api/v1/reports/summary?{WINDOW}", root)
    assert summary["csat"]["answered"] == 4 and summary["csat"]["average"] == 4.0
    assert [(c["conversation_id"], c["score"], c["comment"], c["agent"], c["channel"])
            for c in summary["csat_comments"]] == [
        (three.id, 5, "Ann was great", "Ann", "telegram"),
        (two.conversation_id, 2, "=The shipping answer was wrong", "Ann", "webchat"),
        (one.conversation_id, 4, "Quick, but I had to ask twice.", "Ann", "webchat")]
    rows = {(r["conversation_id"], r["cycle"]): r for r in await _export(hub, root)}
    assert rows[str(one.conversation_id), "1"]["csat_comment"] == \
        "Quick, but I had to ask twice."
    # a customer's words never run as a spreadsheet formula
    assert rows[str(two.conversation_id), "1"]["csat_comment"] == \
        "'=The shipping answer was wrong"
    assert rows[str(two.conversation_id), "2"]["csat_comment"] == ""
    assert (rows[str(four.conversation_id), "1"]["csat_score"],
            rows[str(four.conversation_id), "1"]["csat_comment"]) == ("5", "")
    assert rows[str(three.id), "1"]["resolved_by"] == str(ann_id)
    # the rows hold what the events say
    events = [e for cid in (one.conversation_id, two.conversation_id, three.id,
                            four.conversation_id)
              for e in await hub.hub.store.conversation_events(cid)]
    since = datetime(2026, 11, 30, tzinfo=BERLIN).timestamp()
    assert await hub.hub.store.report_cycles(since, since + 2 * 86400) == \
        reports.fold_cycles(events)
    assert [(e.kind, e.note) for e in events if e.kind == "csat_commented"] == [
        ("csat_commented", "Quick, but I had to ask twice."),
        ("csat_commented", "=The shipping answer was wrong"),
        ("csat_commented", "Ann was great")]


async def test_after_a_message_we_wrote_the_customers_reply_is_no_comment(
        world: dict[str, Any]) -> None:
    """Rated, then an agent writes to the customer (a notify: "your order shipped") inside
    the comment window: the customer's reply answers that — it reopens the conversation for
    the bot and is no survey comment swallowed with a "thank you"."""
    hub: Running = world["hub"]
    clock, ann = world["clock"], world["ann"]
    clock.set(0, 10)
    visitor = await _resolved_visitor(hub, ann)
    clock.set(0, 10, 1)
    await _post(visitor, {"csat": 4})
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None
    clock.set(0, 10, 3)
    await call(hub, "POST", f"/api/v1/contacts/{conversation.contact_id}/notify", ann,
               {"text": "Your second order shipped today."}, status=201)
    clock.set(0, 10, 5)  # four minutes after the rating: inside the 15-minute window
    answer = await visitor.ask("how long does shipping take?")
    assert "3-5 business days" in answer["text"]
    kinds = [e.kind for e in await hub.hub.store.conversation_events(visitor.conversation_id)]
    assert "csat_commented" not in kinds and kinds[-2:] == ["reopened", "answer"]


async def test_after_a_message_we_wrote_a_number_is_no_rating(world: dict[str, Any]) -> None:
    """The survey waits for its rating, then an agent asks the customer something (a
    notify): the customer's "2" answers that question — an ordinary message that reopens
    the conversation — and is no rating of 2."""
    hub: Running = world["hub"]
    clock, ann = world["clock"], world["ann"]
    clock.set(0, 10)
    visitor = await _resolved_visitor(hub, ann)
    assert [m for m in await visitor.messages() if m["csat"]]  # the survey was asked
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None
    clock.set(0, 10, 3)
    await call(hub, "POST", f"/api/v1/contacts/{conversation.contact_id}/notify", ann,
               {"text": "How many parcels arrived?"}, status=201)
    clock.set(0, 10, 5)
    await visitor.say("2")
    await hub.settle()
    kinds = [e.kind for e in await hub.hub.store.conversation_events(visitor.conversation_id)]
    assert "csat_answered" not in kinds and "reopened" in kinds
    # without the agent's question in between, the same "2" rates (the control)
    clock.set(0, 11)
    other = await _resolved_visitor(hub, ann)
    clock.set(0, 11, 5)
    await other.say("2")
    await hub.settle()
    events = await hub.hub.store.conversation_events(other.conversation_id)
    assert [e.score for e in events if e.kind == "csat_answered"] == [2]


async def test_a_rating_typed_again_with_words_after_the_button_keeps_the_words(
        world: dict[str, Any]) -> None:
    """Rated with the button, then "4" and a line of words typed in the chat: the words are
    the comment (the repeated rating is no second rating), nothing reopens."""
    hub: Running = world["hub"]
    visitor = await _rated_visitor(world, 5)
    await visitor.say("4\nbut it was slow")
    await hub.settle()
    events = await hub.hub.store.conversation_events(visitor.conversation_id)
    assert [(e.kind, e.score, e.note) for e in events if e.kind.startswith("csat_a")
            or e.kind == "csat_commented"] == [("csat_asked", None, None),
                                               ("csat_answered", 5, None),
                                               ("csat_commented", None, "but it was slow")]
    assert "reopened" not in [e.kind for e in events]


async def test_asking_for_a_person_after_a_rating_is_no_comment(
        world: dict[str, Any]) -> None:
    """Rated, then "I want to talk to a human" inside the comment window: a handoff (the
    conversation reopens and is queued for an agent), not words thanked as a comment."""
    hub: Running = world["hub"]
    visitor = await _rated_visitor(world, 2)
    await visitor.say("I want to talk to a human again")
    await hub.settle()
    kinds = [e.kind for e in await hub.hub.store.conversation_events(visitor.conversation_id)]
    assert "csat_commented" not in kinds and kinds[-2:] == ["reopened", "queued"]
    conversation = await hub.hub.store.get_conversation(visitor.conversation_id)
    assert conversation is not None and conversation.state.value == "queued"


async def test_a_question_after_a_rating_is_answered_not_taken_as_its_comment(
        world: dict[str, Any]) -> None:
    """Rated, then a question inside the comment window: the bot answers it (the
    conversation reopens); it is no comment."""
    hub: Running = world["hub"]
    visitor = await _rated_visitor(world, 4)
    reply = await visitor.ask("How do I reset my password?")
    assert reply["author"] == "bot" and reply["text"].startswith("Use *Sign in")
    kinds = [e.kind for e in await hub.hub.store.conversation_events(visitor.conversation_id)]
    assert "csat_commented" not in kinds and "reopened" in kinds


async def test_a_message_almost_a_rating_is_read_at_once(world: dict[str, Any]) -> None:
    """"1", thousands of spaces, "x": no rating, and read in linear time — the hub answers
    the post at once (the earlier pattern backtracked cubically, holding the event loop,
    and so every customer, for tens of seconds)."""
    hub: Running = world["hub"]
    visitor = await hub.visitor()
    started = time.monotonic()
    await visitor.say("1" + " " * 3000 + "x")
    assert time.monotonic() - started < 2.0


async def test_a_comment_without_a_rating_or_too_long_is_refused(
        world: dict[str, Any]) -> None:
    hub: Running = world["hub"]
    visitor = await hub.visitor()
    for body, status in [({"comment": "nice"}, 422), ({"csat": 4, "comment": 7}, 422),
                         ({"text": "hi", "comment": "nice"}, 422),  # not silently dropped
                         ({"csat": 4, "comment": "x" * 5000}, 413),
                         # PostgreSQL keeps no NUL, nobody keeps a lone surrogate: 422, not 500
                         ({"csat": 4, "comment": "ok\u0000"}, 422),
                         ({"csat": 4, "comment": "\ud83d"}, 422),
                         ({"text": "hi\u0000there"}, 422)]:
        resp = await hub.client.post("/api/v1/webchat/messages", json=body,
                                     headers=visitor.headers)
        assert resp.status == status, body
        assert "error" in await resp.json()
    assert await visitor.messages() == []
