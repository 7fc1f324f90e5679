"""The outbox worker: delivers committed replies, retrying with back-off.

Items are leased (not deleted) before sending, so a crash mid-delivery leaves them to be
sent again; a delivered item is marked sent. A lease of a process that died is void: on
PostgreSQL at once (a lease names its holder's database session), on SQLite when the next
process's worker starts (``Store.release_stale_leases``: one process owns the file).

Replies to one recipient go out in order, across processes: the store leases only the
oldest pending reply of each recipient (``Store.lease_outbox``), so a batch holds at most
one reply per recipient and the next is leased once it is sent or dead-lettered — never
while it waits for a retry or is leased elsewhere.

Deliveries are marked sent in batches: a delivery that ends while such a write runs waits
for the next one, which marks every delivery that ended meanwhile in one store call
(``Store.outbox_delivered_many``). A delivery counts as done (and its recipient's next reply
may be leased) only once its mark is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping

from bots.base import OutputChannel, PermanentFailure, RetryLater
from handoff.reach import consent_applies, sender
from hub import marks
from hub.config import Settings
from hub.model import OutboxItem
from hub.store import Store
from hub.store.coalesce import Coalesced

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
POLL_SECONDS = 1.0
BATCH = 100
BUSY_BATCH = 8  # deliveries in flight while acknowledgements come first (a burst)
BUSY_POLL_SECONDS = 0.1


class OutboxWorker:
    def __init__(
        self, store: Store, channels: Mapping[str, OutputChannel], settings: Settings
    ) -> None:
        self._store = store
        self._channels = channels
        self._settings = settings
        self._wake = asyncio.Event()
        self.delivered = 0
        self._busy: Callable[[], bool] = lambda: False
        # deliveries waiting for their "sent" mark, and the task writing marks
        # "sent" marks: every delivery that ends while one such write runs goes in the next
        self._marks: Coalesced[tuple[int, str | None]] = Coalesced(
            self._store.outbox_delivered_many, "outbox-marks")

    def step_back_while(self, busy: Callable[[], bool]) -> None:
        """While ``busy()`` (the pipeline's ``acks_busy``: a burst of inbound messages),
        keep at most ``BUSY_BATCH`` deliveries in flight, so acknowledgements come first."""
        self._busy = busy

    def wake(self) -> None:
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        base = self._settings.outbox_base_delay * (2 ** max(attempts - 1, 0))
        return min(base, self._settings.outbox_max_delay) * random.uniform(0.8, 1.2)

    async def run(self) -> None:
        """Keep up to ``BATCH`` deliveries in flight; lease again whenever one ends (the
        next reply to that recipient may now go), a reply is committed, or every
        ``POLL_SECONDS``. A slow send holds up only its own recipient."""
        try:
            released = await self._store.release_stale_leases()
        except Exception:
            log.exception("outbox: could not release the leases of a previous run")
        else:
            if released:
                log.info("outbox: released %d leases of a previous run", released)
        in_flight: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._wake.set()

        try:
            while True:
                self._wake.clear()  # before leasing: a wake-up meanwhile is not lost
                busy = self._busy()
                room = (BUSY_BATCH if busy else BATCH) - len(in_flight)
                if room > 0:
                    try:
                        items = await self._store.lease_outbox(time.time(), LEASE_SECONDS,
                                                               room)
                    except Exception:
                        log.exception("outbox: could not lease items")
                        items = []
                    for item in items:  # at most one per recipient: all may go at once
                        task = asyncio.create_task(self._deliver_logged(item))
                        in_flight.add(task)
                        task.add_done_callback(finished)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancellation that lands as the event is set, and the worker never stops
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(BUSY_POLL_SECONDS if busy else POLL_SECONDS):
                        await self._wake.wait()
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            await self._marks.close()

    async def _deliver_logged(self, item: OutboxItem) -> None:
        try:
            await self._deliver(item)
        except Exception as exc:  # e.g. the store unreachable: the item stays leased,
            log.error("outbox %s: %s", item.id, exc)  # so it is sent again after the lease

    async def _deliver(self, item: OutboxItem) -> None:
        """Send one item: mark it sent, schedule its retry, or dead-letter it."""
        channel = self._channels.get(item.channel)
        record = await self._store.consent(item.channel, item.recipient,
                                           sender(item.channel, self._settings))
        if record is not None and not record.allowed and consent_applies(  # every send
                item.channel, proactive=marks.PROACTIVE in item.marks):  # checks consent
            log.info("outbox %s: suppressed: %s", item.id, record.reason)
            await self._store.outbox_failed(item.id, f"suppressed: {record.reason}", None)
            return
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
        await self._mark_sent(item.id, platform_id)
        self.delivered += 1

    async def _mark_sent(self, outbox_id: int, platform_id: str | None) -> None:
        """Mark an item sent, in one store call with every other delivery that ends while
        the previous call runs; return once the mark is committed."""
        await self._marks.add((outbox_id, platform_id))
