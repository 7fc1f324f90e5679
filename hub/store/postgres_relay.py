"""PostgreSQL's :class:`~hub.store.notifications.Notifications`: ``NOTIFY`` through the pool
and ``LISTEN`` on a connection of its own, one channel per schema (notifications are
database-wide). Imported only when a PostgreSQL store is asked for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

import asyncpg

from hub.store.notifications import Listening, Notifications

if TYPE_CHECKING:
    from hub.store.postgres import PostgresStore

PROBE_TIMEOUT_SECONDS = 5.0


class PgListening(Listening):
    def __init__(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        self._conn = conn
        self._lost = lost

    async def until_lost(self, keepalive: float) -> None:
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), keepalive)
            if not self._lost.is_set():  # a half-open connection shows up here
                await self._conn.execute("SELECT 1", timeout=PROBE_TIMEOUT_SECONDS)


class PgNotifications(Notifications):
    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self.channel = store.target.events_channel

    async def send(self, payloads: Sequence[str]) -> None:
        await self._store.notify_many(self.channel, payloads)

    @contextlib.asynccontextmanager
    async def listen(self, on_payload: Callable[[str], None]) -> AsyncIterator[Listening]:
        conn = await self._store.connect()
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(
                self.channel, lambda _conn, _pid, _channel, payload: on_payload(payload))
            yield PgListening(conn, lost)
        finally:
            conn.terminate()
