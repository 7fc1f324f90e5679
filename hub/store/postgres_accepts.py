"""PostgreSQL: the intake journal's inserts, batched (issue 16).

A webhook's acknowledgement waits for one journal row (``Store.accept``, hub/intake.py).
Through the group commit each would be a SAVEPOINT, an INSERT and a RELEASE — three round
trips — before its batch's COMMIT. The journal is append-only and an insert of a new row
cannot lose a race, so no savepoint is needed: the accepts queued meanwhile go in as one
``INSERT … SELECT FROM unnest(…)``, one statement (its own transaction: one round trip, one
WAL flush) for the whole batch, and each caller returns once it has committed. One batch is
in flight at a time; the next gathers while it runs. The rows get their ids in the order the
accepts were made (``WITH ORDINALITY``), so the intake takes them in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from hub.model import InboundMessage
from hub.store.rules_inbox import encode
from hub.store.sql import Sql

MAX_BATCH = 1000  # rows in one INSERT

ACCEPT_MANY = Sql(
    "INSERT INTO inbox (channel, chat, body, accepted_at, owner_pid, owner_since)"
    " SELECT t.channel, t.chat, t.body, t.at, $5, $6 FROM unnest($1::text[], $2::text[],"
    " $3::text[], $4::float8[]) WITH ORDINALITY AS t(channel, chat, body, at, n)"
    " ORDER BY t.n")

_Queued = tuple[InboundMessage, float, "asyncio.Future[None]"]


class AcceptBatches:
    """Batches ``accept``'s inserts; ``execute`` runs one statement (autocommit),
    ``owner`` names this process's database session."""

    def __init__(self, execute: Callable[..., Awaitable[object]],
                 owner: Callable[[], Awaitable[tuple[int, datetime]]]) -> None:
        self._execute = execute
        self._owner = owner
        self._queue: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None

    async def accept(self, inbound: InboundMessage, at: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((inbound, at, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="pg-accepts")
        await future

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        for _, _, future in self._queue:
            if not future.done():
                future.set_exception(RuntimeError("the store is closed"))
        self._queue.clear()

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    pid, since = await self._owner()
                    await self._execute(
                        ACCEPT_MANY, [m.channel for m, _, _ in batch],
                        [m.external_id for m, _, _ in batch],
                        [encode(m) for m, _, _ in batch], [at for _, at, _ in batch],
                        pid, since)
                except BaseException as exc:  # none of the batch was written (or cancelled)
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception)
                                                 else RuntimeError("the store is closed"))
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._flusher = None
