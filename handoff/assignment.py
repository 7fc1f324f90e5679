"""Automatic assignment and the no-one-is-here notice.

When ``SUPPORTHUB_AUTO_ASSIGN`` is on, a conversation entering the queue is claimed for the
next online agent in round-robin order (by id, after the last one picked) who has fewer than
``SUPPORTHUB_MAX_OPEN_PER_AGENT`` open conversations; when nobody qualifies it waits, and a
periodic sweep tries again (an agent came online, or resolved one). The claim goes through
the desk, guarded by the state it expects, so several hub processes doing this at once
assign each conversation once.

The sweep also tells a customer whose conversation has waited in the queue longer than
``SUPPORTHUB_NO_AGENT_WAIT_SECONDS`` while no agent is online, once, and offers them to leave
a message: it stays queued and an agent answers it later on the customer's channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

from handoff.desk import HandoffDesk, TurnWriter
from hub.config import Settings
from hub.events import ConversationChanged, EventBus
from hub.model import Author, ConversationState, NewMessage, User
from hub.store import Conflict, Store

log = logging.getLogger(__name__)

NO_AGENT_TEXT = ("Everyone on our team is away right now, sorry for the wait. Leave us a "
                 "message here with any details, and a person will reply on this channel "
                 "as soon as they are back.")
QUEUED = frozenset({ConversationState.QUEUED})


class Assigner:
    def __init__(self, store: Store, bus: EventBus, desk: HandoffDesk, turns: TurnWriter,
                 settings: Settings) -> None:
        self._store = store
        self._bus = bus
        self._desk = desk
        self._turns = turns
        self._settings = settings
        self._last_agent = 0
        self._lock = asyncio.Lock()

    async def online_agents(self) -> list[User]:
        return [u for u in await self._store.list_users() if u.active and u.status == "online"]

    async def assign(self, conversation_id: int) -> User | None:
        """Claim the conversation for the next eligible agent; None when nobody is."""
        async with self._lock:
            counts = await self._store.open_counts()
            limit = self._settings.max_open_per_agent
            eligible = sorted((a for a in await self.online_agents()
                               if counts.get(a.id, 0) < limit), key=lambda a: a.id)
            if not eligible:
                return None
            agent = next((a for a in eligible if a.id > self._last_agent), eligible[0])
            try:
                await self._desk.claim(conversation_id, agent)
            except Conflict:
                return None  # someone claimed it first
            self._last_agent = agent.id
            return agent

    async def sweep(self) -> None:
        """Assign what waits (when on), and tell long waiters that nobody is online."""
        queued = sorted(await self._store.list_conversations(ConversationState.QUEUED),
                        key=lambda c: c.updated_at)
        if self._settings.auto_assign:
            for conversation in queued:
                if await self.assign(conversation.id) is None:
                    break
            queued = await self._store.list_conversations(ConversationState.QUEUED)
        wait = self._settings.no_agent_wait_seconds
        if wait <= 0 or not queued or await self.online_agents():
            return
        cutoff = datetime.now(UTC) - timedelta(seconds=wait)
        for conversation in queued:
            if conversation.updated_at > cutoff:
                continue
            recent = await self._store.list_messages(conversation.id, limit=20,
                                                     include_private=False)
            if any(m.text == NO_AGENT_TEXT for m in recent):
                continue
            await self._turns.commit(conversation.id, [NewMessage(Author.BOT, NO_AGENT_TEXT)],
                                        expect=QUEUED)

    async def run(self) -> None:
        """Until cancelled: assign each conversation entering the queue, and sweep."""
        await asyncio.gather(self._listen(), self._sweep_forever())

    async def _listen(self) -> None:
        while True:  # a subscription that fell behind ends: subscribe again
            with self._bus.subscribe() as subscription:
                async for event in subscription:
                    if self._settings.auto_assign and isinstance(event, ConversationChanged) \
                            and event.conversation.state is ConversationState.QUEUED:
                        await self._safely(self.assign(event.conversation.id))
            await asyncio.sleep(0.1)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.assignment_sweep_seconds)
            await self._safely(self.sweep())

    @staticmethod
    async def _safely(work: Awaitable[object]) -> None:
        try:
            await work
        except Exception:
            log.exception("assignment failed")
