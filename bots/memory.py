"""A first-class in-memory channel, in the manner of Errbot's test backend: end-to-end
tests (and local experiments) talk to the hub through it exactly as a platform would."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

from aiohttp import web

from bots.base import Channel, OnAccept, OnMessage, PermanentFailure, RetryLater
from hub.model import InboundMessage, Ingested, OutboxItem


class MemoryChannel(Channel):
    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.sent: list[OutboxItem] = []
        self.failures: deque[Exception] = deque()
        self.delivered = asyncio.Condition()
        self._on_message: OnMessage | None = None
        self._ids = itertools.count(1)

    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        self._on_message = on_message
        return []

    async def receive(
        self, external_id: str, text: str, message_id: str | None = None, **kwargs: object
    ) -> Ingested:
        if self._on_message is None:
            raise RuntimeError("the memory channel is not attached to a hub")
        mid = message_id if message_id is not None else f"m{next(self._ids)}"
        return await self._on_message(
            InboundMessage(self.name, external_id, text, platform_message_id=mid, **kwargs)  # type: ignore[arg-type]
        )

    def fail_next(self, *errors: Exception) -> None:
        """The next sends raise these, in order (RetryLater, PermanentFailure, …)."""
        self.failures.extend(errors)

    async def send(self, reply: OutboxItem) -> str | None:
        if self.failures:
            raise self.failures.popleft()
        async with self.delivered:
            self.sent.append(reply)
            self.delivered.notify_all()
        return f"{self.name}-{reply.message_id}"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[OutboxItem]:
        """Wait until at least ``count`` replies were sent."""
        async with self.delivered:
            await asyncio.wait_for(
                self.delivered.wait_for(lambda: len(self.sent) >= count), timeout
            )
        return list(self.sent)


__all__ = ["MemoryChannel", "PermanentFailure", "RetryLater"]
