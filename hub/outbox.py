"""The outbox worker: delivers committed replies, retrying with back-off.

Items are leased (not deleted) before sending, so a crash mid-delivery leaves them to be
sent again; a delivered item is marked sent. A lease of a process that died is void: on
PostgreSQL at once (a lease names its holder's database session), on SQLite when the next
process's worker starts (``Store.release_stale_leases``: one process owns the file).

Replies to one recipient go out in order, across processes: the store leases only the
oldest pending reply of each recipient (``Store.lease_outbox``), so a batch holds at most
one reply per recipient and the next is leased once it is sent or dead-lettered — never
while it waits for a retry or is leased elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping

from bots.base import OutputChannel, PermanentFailure, RetryLater
from hub.config import Settings
from hub.model import OutboxItem
from hub.store import Store

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
POLL_SECONDS = 1.0
BATCH = 100


class OutboxWorker:
    def __init__(
        self, store: Store, channels: Mapping[str, OutputChannel], settings: Settings
    ) -> None:
        self._store = store
        self._channels = channels
        self._settings = settings
        self._wake = asyncio.Event()
        self.delivered = 0

    def wake(self) -> None:
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        base = self._settings.outbox_base_delay * (2 ** max(attempts - 1, 0))
        return min(base, self._settings.outbox_max_delay) * random.uniform(0.8, 1.2)

    async def run(self) -> None:
        try:
            released = await self._store.release_stale_leases()
        except Exception:
            log.exception("outbox: could not release the leases of a previous run")
        else:
            if released:
                log.info("outbox: released %d leases of a previous run", released)
        while True:
            try:
                items = await self._store.lease_outbox(time.time(), LEASE_SECONDS, BATCH)
            except Exception:
                log.exception("outbox: could not lease items")
                items = []
            if items:
                await self._deliver_batch(items)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def _deliver_batch(self, items: list[OutboxItem]) -> None:
        # one item per recipient (see the module's note): all may go at once
        results = await asyncio.gather(*(self._deliver(item) for item in items),
                                       return_exceptions=True)
        for item, result in zip(items, results, strict=True):
            if isinstance(result, Exception):  # e.g. the store unreachable: leased still,
                log.error("outbox %s: %s", item.id, result)  # so sent again after the lease

    async def _deliver(self, item: OutboxItem) -> None:
        """Send one item: mark it sent, schedule its retry, or dead-letter it."""
        channel = self._channels.get(item.channel)
        try:
            if channel is None:
                raise RetryLater(f"channel {item.channel!r} is not configured")
            platform_id = await channel.send(item)
        except PermanentFailure as exc:
            log.warning("outbox %s: permanent failure: %s", item.id, exc)
            await self._store.outbox_failed(item.id, str(exc), None)
            if exc.unreachable:
                await self._store.set_identity_status(item.channel, item.recipient,
                                                      reachable=False)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            retry_after = exc.retry_after if isinstance(exc, RetryLater) else None
            error = f"{type(exc).__name__}: {exc}"
            if item.attempts >= self._settings.outbox_max_attempts:
                log.warning("outbox %s: giving up after %d attempts: %s", item.id,
                            item.attempts, error)
                await self._store.outbox_failed(item.id, error, None)
                return
            retry_at = time.time() + (
                retry_after if retry_after is not None else self.backoff(item.attempts)
            )
            log.info("outbox %s: retry at %.1f: %s", item.id, retry_at, error)
            await self._store.outbox_failed(item.id, error, retry_at)
            return
        await self._store.outbox_delivered(item.id, platform_id)
        self.delivered += 1
