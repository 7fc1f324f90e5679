"""The hub's parts, wired once per application and reached through one typed app key."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry

from bots.base import OutputChannel
from handoff.desk import HandoffDesk
from hub.auth import RateLimiter, VisitorTokens, client_address, login_limiter
from hub.campaigns import CampaignRunner
from hub.config import Settings
from hub.events import EventBus, KnowledgeChanged, SessionsEnded
from hub.outbox import OutboxWorker
from hub.pipeline import Pipeline
from hub.sessions import SessionWatch
from hub.store import Store
from knowledge.service import KnowledgeBase


@dataclass
class Hub:
    settings: Settings
    store: Store
    bus: EventBus
    knowledge: KnowledgeBase
    pipeline: Pipeline
    desk: HandoffDesk
    outbox: OutboxWorker
    channels: dict[str, OutputChannel]
    visitor_tokens: VisitorTokens = field(default_factory=lambda: VisitorTokens(""))
    login_limiter: RateLimiter = field(default_factory=login_limiter)
    session_limiter: RateLimiter = field(init=False)  # new web-chat visitors per address
    trusted_proxies: frozenset[str] = field(init=False)
    # live sockets authorised by an agent session, closed when it ends (hub/sessions.py)
    session_watch: SessionWatch = field(init=False)
    # sends campaigns at their rate, resuming what a previous run left (hub/campaigns.py)
    campaigns: CampaignRunner = field(init=False)
    # what /metrics shows (hub/metrics.py), set by the app factory
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.session_limiter = RateLimiter(
            self.settings.webchat_sessions_per_minute,
            "too many new chat sessions from this address; wait a minute")
        self.trusted_proxies = frozenset(
            p.strip() for p in self.settings.trusted_proxies.split(",") if p.strip())
        self.session_watch = SessionWatch(self.store, self.bus,
                                          self.settings.session_check_seconds)
        self.campaigns = CampaignRunner(
            self.store, self.bus, self.settings, self.channels,
            lambda: [n for n, c in self.channels.items() if c.delivered_by_store],
            self.outbox.wake)

    def client_address(self, request: web.Request) -> str:
        """Who sent the request, seen through the trusted reverse proxies."""
        return client_address(request, self.trusted_proxies)

    def sessions_ended(self, user_id: int) -> None:
        """Some of this user's sessions ended: close their live sockets, in every process."""
        self.bus.publish(SessionsEnded(user_id))

    async def knowledge_changed(self) -> int:
        """Call after committing a knowledge-base change: the matcher is rebuilt in the
        background (coalesced with other changes; ``knowledge/service.py``) and other
        processes are told to do the same. Returns at once, with the change's generation
        (``await hub.knowledge.settled(generation)`` waits until it is matched)."""
        generation = self.knowledge.changed()
        self.bus.publish(KnowledgeChanged())
        return generation


HUB = web.AppKey("hub", Hub)


def hub_of(request: web.Request) -> Hub:
    """The hub serving this request."""
    return request.app[HUB]
