"""The PostgreSQL outbox lease on a large table: ``python bench/outbox_lease_plan.py``.

The lease takes only the oldest pending reply of each recipient (``PostgresStore.lease_outbox``),
so it must find "an earlier pending reply to the same recipient" by index, never by a scan.
In a schema of its own (dropped at the end) it fills the outbox with ``--sent`` delivered
rows and ``--pending`` pending ones, spread over ``--recipients`` recipients, prints the
plan of the lease's candidate query (``EXPLAIN ANALYZE``) and the time of ``lease_outbox``
(100 items) and of ``claim_unrouted``. Run it twice to see both shapes of the backlog:
the default (pending replies to many recipients) and ``--recipients 10`` (thousands of
replies waiting behind a few chats, which the due-index scan steps over).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.store.postgres import PostgresStore

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

CANDIDATES = (
    "EXPLAIN (ANALYZE, COSTS OFF) SELECT o.id FROM outbox o"
    " WHERE o.status = 'pending' AND o.next_attempt_at <= $1"
    " AND (o.locked_until IS NULL OR o.locked_until <= $1"
    "  OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = o.leased_pid"
    "   AND (a.backend_start = o.leased_since OR a.backend_start IS NULL)))"
    " AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.status = 'pending'"
    "  AND e.channel = o.channel AND e.recipient = o.recipient AND e.id < o.id)"
    " ORDER BY o.next_attempt_at, o.id LIMIT 100 FOR UPDATE OF o SKIP LOCKED"
)


async def fill(store: PostgresStore, sent: int, pending: int, recipients: int) -> None:
    total = sent + pending
    async with store.connection() as conn:
        await conn.execute("INSERT INTO contacts (name) VALUES ('bench')")
        await conn.execute("INSERT INTO conversations (contact_id, state, channel)"
                           " VALUES (1, 'bot', 'telegram')")
        await conn.execute(
            "INSERT INTO messages (conversation_id, direction, author, channel, text)"
            " SELECT 1, 'out', 'bot', 'telegram', 'reply' FROM generate_series(1, $1)", total)
        await conn.execute(
            "INSERT INTO outbox (message_id, conversation_id, channel, recipient, status,"
            " next_attempt_at) SELECT g, 1, 'telegram', (g % 50000)::text, 'sent', 0"
            " FROM generate_series(1, $1) g", sent)
        await conn.execute(
            "INSERT INTO outbox (message_id, conversation_id, channel, recipient, status,"
            " next_attempt_at) SELECT g, 1, 'telegram', (g % $2)::text, 'pending', 0"
            " FROM generate_series($1 + 1, $1 + $3) g", sent, recipients, pending)
        await conn.execute(
            "INSERT INTO messages (conversation_id, direction, author, channel, text, handled)"
            " SELECT 1, 'in', 'customer', 'telegram', 'q', false FROM generate_series(1, 200)")
        await conn.execute("ANALYZE")


async def main(args: argparse.Namespace) -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(args.pg_url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    store = PostgresStore(f"{args.pg_url}?schema={schema}")
    try:
        await store.open(migrate=True)
        await fill(store, args.sent, args.pending, args.recipients)
        print(f"outbox: {args.sent:,} sent, {args.pending:,} pending to"
              f" {args.recipients:,} recipients\n")
        async with store.connection() as conn, conn.transaction():
            for row in await conn.fetch(CANDIDATES, time.time()):
                print(row[0])
        timings = []
        for _ in range(args.repeat):  # leased and then put back, so each lease sees the same
            started = time.perf_counter()
            items = await store.lease_outbox(time.time(), 60, 100)
            timings.append((time.perf_counter() - started) * 1000)
            async with store.connection() as conn:
                await conn.execute("UPDATE outbox SET locked_until = NULL, leased_pid = NULL"
                                   " WHERE id = ANY($1::bigint[])", [i.id for i in items])
        print(f"\nlease_outbox(100): {len(items)} items, median"
              f" {statistics.median(timings):.2f} ms over {args.repeat}")
        started = time.perf_counter()
        claimed = await store.claim_unrouted()
        print(f"claim_unrouted: {len(claimed)} messages in"
              f" {(time.perf_counter() - started) * 1000:.2f} ms")
    finally:
        await store.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--sent", type=int, default=295_000)
    parser.add_argument("--pending", type=int, default=5_000)
    parser.add_argument("--recipients", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
