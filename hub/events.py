"""The in-process event bus: what changed, pushed to live WebSockets.

Subscribers get a bounded queue; one that falls too far behind is cut off (its
``overflowed`` flag is set) so it reconnects and resyncs from the store instead of
holding memory for ever. Events are hints: the store stays the source of truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hub.model import Conversation, Message


@dataclass(frozen=True, slots=True)
class MessageCreated:
    message: Message


@dataclass(frozen=True, slots=True)
class ConversationChanged:
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class KnowledgeChanged:
    pass


@dataclass(frozen=True, slots=True)
class Typing:
    """Someone is typing in a conversation: ephemeral (never stored; relayed to other
    processes as it is, without a store read)."""

    conversation_id: int
    author: str  # "customer" or "agent"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """One or all of a user's sessions ended (logout, deactivation, password reset, a role
    change): every process re-checks the sessions of that user's live sockets at once and
    closes those that no longer hold (hub/sessions.py)."""

    user_id: int


Event = MessageCreated | ConversationChanged | KnowledgeChanged | Typing | SessionsEnded


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize + 1)
        self._maxsize = maxsize
        self.overflowed = False
        self.close_code: int | None = None  # set when the socket must close with this code

    def offer(self, event: Event) -> None:
        if self.overflowed:
            return
        if self._queue.qsize() >= self._maxsize:
            self.end(overflowed=True)
            return
        self._queue.put_nowait(event)

    def end(self, overflowed: bool = False, close_code: int | None = None) -> None:
        """Stop the iteration: drop what is queued and wake the reader."""
        self.overflowed = self.overflowed or overflowed
        self.close_code = self.close_code or close_code
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self._queue.get()) is not None:
            yield event

class EventBus:
    def __init__(self, max_queue: int = 2000) -> None:
        self._subscribers: set[Subscription] = set()
        self._max_queue = max_queue
        self._relays: list[Callable[[Event], None]] = []
        self._listeners: list[Callable[[Event], None]] = []

    def publish(self, event: Event) -> None:
        """Deliver to local subscribers and hand to relays (other processes)."""
        self.deliver(event)
        for relay in self._relays:
            relay(event)

    def deliver(self, event: Event) -> None:
        """Deliver to this process's subscribers (and listeners) only."""
        for listener in self._listeners:
            listener(event)
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` (synchronously) with every event delivered in this process."""
        self._listeners.append(listener)

    def add_relay(self, relay: Callable[[Event], None]) -> None:
        self._relays.append(relay)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        subscription = Subscription(self._max_queue)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def close_all(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.end()

    def __len__(self) -> int:
        return len(self._subscribers)
