"""Campaigns: a message or template sent to many contacts at a throttled rate.

Each recipient is settled once (``Store.campaign_deliver``): their message joins their
thread and the outbox in the transaction that marks them sent, or they are skipped with the
reason (opted out, window closed, no channel). Nothing is held in memory that a restart
needs: a campaign is "running" in the store until nobody is pending, and every process
picks up what is pending, so a restart, or a ``kill -9``, resumes where it stopped and never
writes to anyone twice. The rate holds over all processes: the campaign's next send time is
in the store, and a process sends only the slots it claimed there (``Store.campaign_slots``).
Replies land in each contact's thread like any other message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from handoff import reach
from hub import marks
from hub.config import Settings
from hub.events import ConversationChanged, EventBus, MessageCreated
from hub.model import Author, NewMessage, TemplateSend
from hub.store import Store
from hub.store.base_reach import Campaign

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
BATCH = 50


class CampaignRunner:
    def __init__(self, store: Store, bus: EventBus, settings: Settings,
                 channels: Collection[str], delivered_by_store: Callable[[], Collection[str]],
                 on_outbox: Callable[[], None]) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self._channels = channels
        self._by_store = delivered_by_store
        self._on_outbox = on_outbox
        self.settled = 0  # recipients this process settled (sent or skipped)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                for campaign in await self._store.list_campaigns():
                    if campaign.status == "running":
                        await self._step(campaign)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("campaigns: a step failed; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()

    async def _step(self, campaign: Campaign) -> None:
        """Send to as many pending recipients as the rate allows now: one every
        ``60 / per_minute`` seconds over all hub processes (the slots are claimed in the
        store), never a burst to catch up after a pause."""
        interval = 60.0 / max(campaign.per_minute, 1)
        slots = await self._store.campaign_slots(campaign.id, time.time(), interval, BATCH)
        if slots == 0:
            return
        # another process may settle some of these first: each claimed slot is used by one
        # recipient this process settles, never more
        pending = await self._store.campaign_recipients(campaign.id, pending_only=True,
                                                        limit=slots * 2 + 4)
        template = await self._template(campaign)
        for recipient in pending:
            if slots == 0:
                break
            if await self._settle(campaign, recipient.contact_id, template):
                slots -= 1
                self.settled += 1

    async def _template(self, campaign: Campaign) -> TemplateSend | None:
        if campaign.template is None:
            return None
        for found in await self._store.list_templates():
            if found.name == campaign.template:
                return TemplateSend(found.name, found.content_sid, dict(campaign.variables))
        return None

    async def _settle(self, campaign: Campaign, contact_id: int,
                      template: TemplateSend | None) -> bool:
        """Settle one recipient; False when someone else already had."""
        contact = await self._store.get_contact(contact_id)
        if contact is None:
            return (await self._store.campaign_deliver(campaign.id, contact_id, None,
                                                       error="the contact is gone")).applied
        if campaign.template is not None and template is None:
            return (await self._store.campaign_deliver(campaign.id, contact_id, None, error=(
                f"template {campaign.template!r} is no longer registered"))).applied
        last_wrote, suppressed = await reach.facts(self._store, self._settings, contact,
                                                   proactive=True)
        route = reach.choose(
            contact, channel=campaign.audience.get("channel"), template=template is not None,
            channels_on=self._channels, last_wrote=last_wrote, suppressed=suppressed,
            now=datetime.now(UTC), human_agent_tag=False, by_agent=False)
        if isinstance(route, reach.Refusal):
            return (await self._store.campaign_deliver(campaign.id, contact_id, None,
                                                       error=route.message)).applied
        text = campaign.text if template is None else reach.describe(template)
        reply = NewMessage(Author.BOT, text or "", channel=route.channel, template=template,
                           marks=(marks.PROACTIVE,))
        done = await self._store.campaign_deliver(campaign.id, contact_id, reply,
                                                  delivered_by_store=tuple(self._by_store()))
        if done.message is not None:
            # as for an agent's or a notify's message: the console's lists and open thread
            # refresh live (the thread moved up, its last message changed)
            self._bus.publish(MessageCreated(done.message))
            conversation = await self._store.get_conversation(done.message.conversation_id)
            if conversation is not None:
                self._bus.publish(ConversationChanged(conversation))
            self._on_outbox()
        return done.applied
