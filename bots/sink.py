"""A test and diagnostic output channel: each reply is POSTed as JSON to one URL.

It is not a platform: it exists so a test (or an operator checking a deployment) can watch
what the outbox of real ``supporthub serve`` processes delivers, from outside them — the
in-memory channel cannot be reached in another process. It is on only when
``SUPPORTHUB_TEST_SINK_URL`` is set, and only ``supporthub serve`` reads that variable.

Each request carries ``Idempotency-Key: outbox-<id>`` (a receiver can drop a repeat, e.g.
a reply re-sent after its sender was killed before it could record the delivery) and
``X-Supporthub-Node: <pid>`` (which process sent it). A 2xx answer is a delivery; 429 and
5xx are retried (honouring ``Retry-After``); any other status is a permanent failure.
"""

from __future__ import annotations

import os

import aiohttp
from aiohttp import web

from bots.base import InputChannel, OnAccept, OnMessage, OutputChannel, PermanentFailure, RetryLater
from hub.model import OutboxItem

ENV = "SUPPORTHUB_TEST_SINK_URL"
CHANNEL = "sink"


class SinkChannel(InputChannel, OutputChannel):
    name = CHANNEL

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None

    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        return []  # outbound only

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, reply: OutboxItem) -> str | None:
        if self._session is None:
            raise RetryLater("the sink channel is not started")
        body = {"outbox_id": reply.id, "message_id": reply.message_id,
                "conversation_id": reply.conversation_id, "recipient": reply.recipient,
                "text": self.render_text(reply)}
        headers = {"Idempotency-Key": f"outbox-{reply.id}", "X-Supporthub-Node": str(os.getpid())}
        try:
            async with self._session.post(self.url, json=body, headers=headers) as resp:
                if resp.status < 300:
                    return f"sink-{reply.id}"
                if resp.status == 429 or resp.status >= 500:
                    retry_after = resp.headers.get("Retry-After")
                    raise RetryLater(f"sink answered {resp.status}",
                                     float(retry_after) if retry_after else None)
                raise PermanentFailure(f"sink answered {resp.status}")
        except aiohttp.ClientError as exc:
            raise RetryLater(f"sink unreachable: {exc}") from exc


def sink_from_env() -> list[SinkChannel]:
    """The sink channel when ``SUPPORTHUB_TEST_SINK_URL`` is set, else nothing."""
    url = os.environ.get(ENV, "").strip()
    return [SinkChannel(url)] if url else []
