"""``GET /metrics`` through prometheus-client, read back with prometheus-client's own parser:
per-process counters move with what the hub does; the queue and outbox gauges come from the
store through a cache refreshed in the background."""

from __future__ import annotations

import asyncio
import functools
import math

import pytest
from conftest import TELEGRAM_TOKEN, HubFactory, Running, call, hold_intake
from fakes import meta as fb
from fakes import telegram as tg
from fakes.meta import FakeGraph
from fakes.telegram import FakeTelegram
from prometheus_client.parser import text_string_to_metric_families

from bots.telegram import SECRET_HEADER
from hub import metrics

TOKEN = TELEGRAM_TOKEN
SECRET = "hook-secret_1"
SECRET_META = "app-secret-1"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(running: Running) -> Samples:
    resp = await running.client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def change(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample moved between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_histograms_and_gauges_follow_the_hub(
    start_hub: HubFactory, fake: FakeTelegram,
) -> None:
    hub = await start_hub(telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                          telegram_api_url=fake.url(""), metrics_refresh_seconds=0.05)
    before = await scrape(hub)

    visitor = await hub.visitor()
    assert "3-5 business days" in (await visitor.ask("how long does shipping take?"))["text"]
    await visitor.ask("refund")  # suggestions
    await visitor.ask("xyzzy plugh frobnicate")  # a fallback
    await visitor.ask("I want to talk to a human")  # queued

    def telegram(text: str, secret: str) -> object:
        return hub.client.post("/webhooks/telegram", data=tg.json_body(tg.message_update(text)),
                               headers={"Content-Type": "application/json",
                                        SECRET_HEADER: secret})

    assert (await telegram("how long does shipping take?", SECRET)).status == 200  # type: ignore[attr-defined]
    assert (await telegram("hello", "wrong")).status == 403  # type: ignore[attr-defined]
    await fake.wait_for("sendMessage")
    await hub.settle()

    async with asyncio.timeout(5):  # the gauges catch up within a refresh
        while (value(after := await scrape(hub), "supporthub_conversations", state="queued"),
               value(after, "supporthub_outbox_items", status="sent")) != (1, 5):
            await asyncio.sleep(0.05)

    delta = functools.partial(change, before, after)

    assert delta("supporthub_messages_received_total", channel="webchat") == 4
    assert delta("supporthub_messages_received_total", channel="telegram") == 1
    # web chat: answer, suggestions, fallback, handoff text; Telegram: one answer
    assert delta("supporthub_messages_sent_total", channel="webchat") == 4
    assert delta("supporthub_messages_sent_total", channel="telegram") == 1
    assert delta("supporthub_bot_outcomes_total", outcome="answer") == 2
    assert delta("supporthub_bot_outcomes_total", outcome="suggest") == 1
    assert delta("supporthub_bot_outcomes_total", outcome="fallback") == 1
    assert delta("supporthub_handoffs_total", reason="asked") == 1
    assert delta("supporthub_webhook_verification_failures_total", channel="telegram") == 1
    assert delta("supporthub_webhook_ack_seconds_count", channel="telegram") == 2
    assert delta("supporthub_webhook_ack_seconds_sum", channel="telegram") > 0
    assert delta("supporthub_knowledge_match_seconds_count") == 4
    # the shared figures, from the store
    assert value(after, "supporthub_conversations", state="queued") == 1
    assert value(after, "supporthub_conversations", state="bot") == 1  # the Telegram chat
    assert value(after, "supporthub_outbox_items", status="sent") == 5
    assert value(after, "supporthub_outbox_items", status="pending") == 0
    assert value(after, "supporthub_store_figures_age_seconds") < 5
    assert value(after, "supporthub_knowledge_articles") > 0
    # the process and runtime collectors
    assert value(after, "process_cpu_seconds_total") > 0
    assert any(name == "python_info" for name, _ in after)
    assert value(after, "python_gc_objects_collected_total", generation="0") >= 0


async def test_a_stray_webhook_path_adds_no_label(hub: Running) -> None:
    assert (await hub.client.post("/webhooks/nonsense", data=b"{}")).status == 404
    samples = await scrape(hub)
    assert not [k for k in samples if ("channel", "nonsense") in k[1]]


async def test_a_scrape_reads_only_the_cache() -> None:
    reads = 0

    async def read() -> metrics.Figures:
        nonlocal reads
        reads += 1
        return metrics.Figures(outbox={"pending": 3}, conversations={"queued": 2}, at=1.0)

    figures = metrics.StoreFigures(read, every=3600)
    collected = {m.name: m for m in figures.collect()}
    assert reads == 0 and math.isnan(collected["supporthub_store_figures_age_seconds"]
                                     .samples[0].value)
    await figures.refresh()
    for _ in range(3):
        collected = {m.name: m for m in figures.collect()}
    assert reads == 1
    queued = [s.value for s in collected["supporthub_conversations"].samples
              if s.labels == {"state": "queued"}]
    assert queued == [2]


async def test_meta_signature_failures_and_survey_answers_are_counted(
    start_hub: HubFactory,
) -> None:
    graph = FakeGraph("EAAPage")
    await graph.start()
    try:
        hub = await start_hub(meta_app_secret=SECRET_META, messenger_page_token="EAAPage",
                              meta_api_url=graph.api_url, meta_verify_token="verify-me")
        ann = await hub.add_user("ann@example.com")
        before = await scrape(hub)
        raw = fb.body(fb.text_event("how long does shipping take?"))
        statuses = []
        for signature in (None, fb.signature("not-the-secret", raw),
                          fb.sha1_signature(SECRET_META, raw), fb.signature(SECRET_META, raw)):
            headers = {"Content-Type": "application/json"}
            if signature is not None:
                headers["X-Hub-Signature-256"] = signature
            resp = await hub.client.post("/webhooks/meta", data=raw, headers=headers)
            statuses.append(resp.status)
        assert statuses == [403, 403, 403, 200]  # missing, wrong, the retired sha1=; right
        for token, status in (("not-it", 403), ("verify-me", 200)):  # the subscription check
            resp = await hub.client.get("/webhooks/meta", params={
                "hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"})
            assert resp.status == status
        # the survey: a rating with its comment, then a rating alone
        for score, comment in ((4, "Quick"), (2, None)):
            visitor = await hub.visitor()
            await visitor.ask("I want to talk to a human")
            path = f"/api/v1/conversations/{visitor.conversation_id}"
            await call(hub, "POST", f"{path}/claim", ann)
            await call(hub, "POST", f"{path}/resolve", ann)
            await visitor.say(str(score) + (f"\n{comment}" if comment else ""))
            await hub.settle()
        after = await scrape(hub)
    finally:
        await graph.close()

    delta = functools.partial(change, before, after)

    assert delta("supporthub_webhook_verification_failures_total", channel="meta") == 4
    assert delta("supporthub_webhook_ack_seconds_count", channel="meta") == 6  # with the GETs
    assert delta("supporthub_messages_received_total", channel="messenger") == 1
    assert delta("supporthub_csat_answers_total", score="4") == 1
    assert delta("supporthub_csat_answers_total", score="2") == 1
    assert delta("supporthub_csat_comments_total") == 1


async def test_the_intake_backlog_is_a_gauge(
    start_hub: HubFactory, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = await start_hub(telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                          telegram_api_url=fake.url(""), metrics_refresh_seconds=0.05)
    gate = hold_intake(hub, monkeypatch)  # acknowledged, not taken in: a burst's backlog
    for _ in range(3):
        resp = await hub.client.post(
            "/webhooks/telegram", data=tg.json_body(tg.message_update("shipping time?")),
            headers={"Content-Type": "application/json", SECRET_HEADER: SECRET})
        assert resp.status == 200

    async def waiting() -> float:
        return value(await scrape(hub), "supporthub_intake_waiting")

    for _ in range(100):
        if await waiting() == 3:
            break
        await asyncio.sleep(0.05)
    assert await waiting() == 3
    gate.set()
    await hub.settle()
    for _ in range(100):
        if await waiting() == 0:
            break
        await asyncio.sleep(0.05)
    assert await waiting() == 0
