"""The hub's Prometheus metrics, through ``prometheus-client``.

The counters and histograms are per process (each hub process counts what it did); they are
module-level objects registered in no global registry: each application collects them in its
own :class:`CollectorRegistry` (:func:`registry`), together with the process and runtime
collectors and a :class:`StoreFigures` collector for what is shared between processes (the
queue, the outbox), which reads figures a background task refreshes from the store — a scrape
never waits for the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MESSAGES_RECEIVED = Counter(
    "supporthub_messages_received", "Customer messages committed (redeliveries not counted).",
    ["channel"], registry=None)
MESSAGES_SENT = Counter(
    "supporthub_messages_sent", "Customer-visible replies written (bot and agents), by channel.",
    ["channel"], registry=None)
BOT_OUTCOMES = Counter(
    "supporthub_bot_outcomes", "The bot's decisions on customer questions.",
    ["outcome"], registry=None)  # answer | suggest | fallback
HANDOFFS = Counter(
    "supporthub_handoffs", "Conversations handed to the queue, by why.",
    ["reason"], registry=None)  # asked | fallbacks
CSAT_ANSWERS = Counter(
    "supporthub_csat_answers", "Satisfaction-survey answers recorded, by score (1-5).",
    ["score"], registry=None)
CSAT_COMMENTS = Counter(
    "supporthub_csat_comments", "Satisfaction-survey comments recorded.", registry=None)
WEBHOOK_VERIFICATION_FAILURES = Counter(
    "supporthub_webhook_verification_failures",
    "Webhook requests refused for a missing or wrong signature or secret.",
    ["channel"], registry=None)
WEBHOOK_ACK_SECONDS = Histogram(
    "supporthub_webhook_ack_seconds",
    "Time from a webhook request's arrival to its acknowledgement (the response).",
    ["channel"], registry=None,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
KNOWLEDGE_MATCH_SECONDS = Histogram(
    "supporthub_knowledge_match_seconds", "Time of one knowledge-base match.",
    registry=None,
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1))

PER_PROCESS: tuple[Collector, ...] = (
    MESSAGES_RECEIVED, MESSAGES_SENT, BOT_OUTCOMES, HANDOFFS, CSAT_ANSWERS, CSAT_COMMENTS,
    WEBHOOK_VERIFICATION_FAILURES, WEBHOOK_ACK_SECONDS, KNOWLEDGE_MATCH_SECONDS)


@dataclass(frozen=True, slots=True)
class Figures:
    """What the store says, as of ``at`` (``time.time()``)."""

    outbox: Mapping[str, int] = field(default_factory=dict)  # status → items
    conversations: Mapping[str, int] = field(default_factory=dict)  # state → conversations
    journaled: int = 0  # webhook messages acknowledged, not yet taken in (hub/intake.py)
    set_aside: int = 0  # journal rows whose take-in kept failing (inbox_failed)
    at: float = 0.0


class StoreFigures(Collector):
    """Gauges of what several processes share, from figures cached by :meth:`run`;
    ``collect`` only reads the cache. ``live`` adds per-process gauges (sockets, articles)."""

    def __init__(self, read: Callable[[], Awaitable[Figures]], every: float,
                 live: Callable[[], Mapping[str, float]] = dict) -> None:
        self._read = read
        self._every = every
        self._live = live
        self.figures = Figures()

    async def refresh(self) -> None:
        self.figures = await self._read()

    async def run(self) -> None:
        """Refresh the cached figures every ``every`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.refresh()
            except Exception as exc:  # a database hiccup: keep the last figures
                log.warning("metrics: could not read the store's figures: %s", exc)

    def collect(self) -> Iterable[Metric]:
        figures = self.figures
        outbox = GaugeMetricFamily("supporthub_outbox_items", "Outbox items by status.",
                                   labels=["status"])
        for status in ("pending", "sent", "dead"):
            outbox.add_metric([status], figures.outbox.get(status, 0))
        yield outbox
        conversations = GaugeMetricFamily(
            "supporthub_conversations", "Conversations by state (queued: the handoff queue).",
            labels=["state"])
        for state in ("bot", "queued", "assigned", "resolved"):
            conversations.add_metric([state], figures.conversations.get(state, 0))
        yield conversations
        yield GaugeMetricFamily(
            "supporthub_intake_waiting",
            "Webhook messages acknowledged and journaled, not yet taken into their"
            " conversations (all processes).", value=figures.journaled)
        yield GaugeMetricFamily(
            "supporthub_intake_set_aside",
            "Journaled webhook messages set aside because taking them in kept failing"
            " (the inbox_failed table; all processes).", value=figures.set_aside)
        yield GaugeMetricFamily(
            "supporthub_store_figures_age_seconds",
            "Seconds since the outbox and conversation figures were read from the store.",
            value=max(0.0, time.time() - figures.at) if figures.at else float("nan"))
        for name, value in self._live().items():
            yield GaugeMetricFamily(name, LIVE_HELP.get(name, name), value=value)


LIVE_HELP = {
    "supporthub_live_subscribers": "Open live connections (WebSockets) in this process.",
    "supporthub_knowledge_articles": "Articles loaded in this process's matcher.",
}


def registry(figures: StoreFigures) -> CollectorRegistry:
    """One application's registry: per-process counters, the process and runtime
    collectors, and the store's figures."""
    reg = CollectorRegistry(auto_describe=True)
    for collector in PER_PROCESS:
        reg.register(collector)
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    GCCollector(registry=reg)
    reg.register(figures)
    return reg
