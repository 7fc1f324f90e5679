"""The aiohttp application factory: every part built here, every resource owned by a
``cleanup_ctx`` so it is opened at start and closed, in reverse order, at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace

from aiohttp import web

from bots.base import Channel, OutputChannel
from bots.registry import configured_channels
from bots.webchat import WebChatChannel
from handoff.assignment import Assigner
from handoff.console import console_routes
from handoff.contacts_api import contacts_routes
from handoff.desk import HandoffDesk
from handoff.email_api import email_routes
from handoff.outreach_api import outreach_routes
from handoff.unsubscribe_api import unsubscribe_routes
from hub import api, metrics, openapi
from hub.auth import VisitorTokens
from hub.config import Settings
from hub.core import HUB, Hub
from hub.errors import error_middleware
from hub.events import EventBus
from hub.outbox import OutboxWorker
from hub.pipeline import Pipeline
from hub.relay import make_relay
from hub.reports_api import reports_routes
from hub.store import Store, make_store
from knowledge.admin import admin_routes
from knowledge.matcher import Thresholds
from knowledge.service import KnowledgeBase

log = logging.getLogger(__name__)


def _thresholds(settings: Settings) -> Thresholds | None:
    if settings.kb_answer_threshold is None and settings.kb_suggest_threshold is None:
        return None
    defaults = Thresholds()
    return replace(
        defaults,
        answer=settings.kb_answer_threshold or defaults.answer,
        suggest=settings.kb_suggest_threshold or defaults.suggest,
    )


def create_app(
    settings: Settings,
    *,
    channels: Sequence[Channel] = (),
    store: Store | None = None,
    run_outbox: bool = True,
) -> web.Application:
    app = web.Application(
        middlewares=[_webhook_timing, error_middleware], client_max_size=settings.max_body_bytes
    )
    store = store or make_store(settings.database_url)
    bus = EventBus()
    knowledge = KnowledgeBase(store, _thresholds(settings))
    outputs: dict[str, OutputChannel] = {}
    outbox = OutboxWorker(store, outputs, settings)
    pipeline = Pipeline(store, bus, knowledge, settings, outbox.wake, outputs)
    outbox.step_back_while(pipeline.acks_busy)  # acknowledgements first during a burst
    # the desk and the assigner write turns through the pipeline (handoff/desk.py TurnWriter)
    desk = HandoffDesk(store, pipeline, settings.csat)
    hub = Hub(settings, store, bus, knowledge, pipeline, desk, outbox, outputs)
    app[HUB] = hub
    figures = metrics.StoreFigures(
        lambda: _store_figures(store), settings.metrics_refresh_seconds,
        lambda: {"supporthub_live_subscribers": len(bus),
                 "supporthub_knowledge_articles": len(knowledge)})
    hub.metrics = metrics.registry(figures)
    webchat = WebChatChannel(store, bus, hub)
    all_channels: list[Channel] = [webchat, *configured_channels(settings, store), *channels]
    for channel in all_channels:
        outputs[channel.name] = channel

    for channel in all_channels:
        app.router.add_routes(channel.routes(pipeline.receive, pipeline.accept))
    app.router.add_routes(api.routes)
    app.router.add_routes(console_routes())
    app.router.add_routes(contacts_routes())
    app.router.add_routes(outreach_routes())
    app.router.add_routes(email_routes())
    app.router.add_routes(unsubscribe_routes())
    app.router.add_routes(admin_routes())
    app.router.add_routes(reports_routes())
    app.router.add_get("/api/openapi.json", openapi.document)
    app.router.add_get("/", _index)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        await store.open(migrate=store.auto_migrate)
        secret = settings.secret_key or await store.set_meta_default(
            "secret_key", secrets.token_urlsafe(32)
        )
        hub.visitor_tokens = webchat.tokens = VisitorTokens(secret)
        if settings.demo:
            from knowledge.demo import load_demo

            added = await load_demo(store)
            if added:
                log.info("loaded %d demo articles", added)
        yield
        await store.close()

    async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
        try:
            await knowledge.reload()
        except BaseException:
            await knowledge.close()  # no rebuild left retrying behind a failed start
            raise
        yield
        await knowledge.close()

    async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
        # several processes on one database hear each other's events (hub/relay.py);
        # listening starts before the knowledge base loads, so no change falls between
        # (a change another process announces is rebuilt in the background, coalesced)
        relay = make_relay(store, bus, knowledge.refresh)
        if relay is not None:
            await relay.start()
        yield
        if relay is not None:
            await relay.stop()

    async def channels_ctx(app: web.Application) -> AsyncIterator[None]:
        for channel in all_channels:
            await channel.start()
        yield
        for channel in reversed(all_channels):
            await channel.stop()

    async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
        recovered = await pipeline.start()
        if recovered:
            log.info("routing %d messages left unanswered by the last run", recovered)
        yield
        await pipeline.close()

    async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(outbox.run(), name="outbox") if run_outbox else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def assignment_ctx(app: web.Application) -> AsyncIterator[None]:
        # automatic assignment and the no-agent-online notice (handoff/assignment.py)
        assigner = Assigner(store, bus, hub.desk, pipeline, settings)
        task = asyncio.create_task(assigner.run(), name="assignment")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def session_watch_ctx(app: web.Application) -> AsyncIterator[None]:
        # live sockets of ended or expired sessions are closed (hub/sessions.py)
        task = asyncio.create_task(hub.session_watch.run(), name="session-watch")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def campaigns_ctx(app: web.Application) -> AsyncIterator[None]:
        # campaigns go out at their rate; a restarted hub resumes them (hub/campaigns.py)
        task = asyncio.create_task(hub.campaigns.run(), name="campaigns") \
            if run_outbox else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
        # the queue and outbox gauges: read once now, then refreshed in the background
        await figures.refresh()
        task = asyncio.create_task(figures.run(), name="metrics-figures")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close_live(app: web.Application) -> None:
        bus.close_all()

    app.cleanup_ctx.extend(
        [store_ctx, relay_ctx, knowledge_ctx, channels_ctx, pipeline_ctx, outbox_ctx,
         assignment_ctx, session_watch_ctx, campaigns_ctx, metrics_ctx]
    )
    app.on_shutdown.append(close_live)
    return app


async def _store_figures(store: Store) -> metrics.Figures:
    stats = await store.outbox_stats()
    counts = await store.conversation_counts()
    return metrics.Figures(
        outbox={"pending": stats.pending, "sent": stats.sent, "dead": stats.dead},
        conversations={state.value: n for state, n in counts.items()},
        journaled=await store.accepted_waiting(), set_aside=await store.accepted_failed(),
        at=time.time())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _webhook_timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time each platform webhook from arrival to acknowledgement, by channel
    (``/webhooks/<channel>/…``; only routes that exist, so a stray path adds no label)."""
    if (not request.path.startswith("/webhooks/")
            or request.match_info.http_exception is not None):
        return await handler(request)
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        channel = request.path.split("/")[2] or "unknown"
        metrics.WEBHOOK_ACK_SECONDS.labels(channel).observe(time.perf_counter() - started)


async def _index(request: web.Request) -> web.Response:
    return web.Response(
        text=(
            "<!doctype html><meta charset=utf-8><title>supporthub</title>"
            "<h1>supporthub</h1><ul><li><a href=/chat>Web chat</a></li>"
            "<li><a href=/console>Agent console</a></li>"
            "<li><a href=/api/openapi.json>API (OpenAPI 3)</a></li></ul>"
        ),
        content_type="text/html",
    )
