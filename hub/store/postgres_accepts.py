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

from collections.abc import Awaitable, Callable
from datetime import datetime

from hub.model import InboundMessage
from hub.store.coalesce import Coalesced
from hub.store.rules_inbox import encode
from hub.store.sql import Sql

MAX_BATCH = 1000  # rows in one INSERT

ACCEPT_MANY = Sql(
    "INSERT INTO inbox (channel, chat, body, accepted_at, owner_pid, owner_since)"
    " SELECT t.channel, t.chat, t.body, t.at, $5, $6 FROM unnest($1::text[], $2::text[],"
    " $3::text[], $4::float8[]) WITH ORDINALITY AS t(channel, chat, body, at, n)"
    " ORDER BY t.n")

class AcceptBatches:
    """Batches ``accept``'s inserts; ``execute`` runs one statement (autocommit),
    ``owner`` names this process's database session."""

    def __init__(self, execute: Callable[..., Awaitable[object]],
                 owner: Callable[[], Awaitable[tuple[int, datetime]]]) -> None:
        self._execute = execute
        self._owner = owner
        self._batches: Coalesced[tuple[InboundMessage, float]] = Coalesced(
            self._insert, "pg-accepts", MAX_BATCH)

    async def accept(self, inbound: InboundMessage, at: float) -> None:
        await self._batches.add((inbound, at))

    async def close(self) -> None:
        await self._batches.close()

    async def _insert(self, batch: list[tuple[InboundMessage, float]]) -> None:
        pid, since = await self._owner()
        await self._execute(ACCEPT_MANY, [m.channel for m, _ in batch],
                            [m.external_id for m, _ in batch], [encode(m) for m, _ in batch],
                            [at for _, at in batch], pid, since)
