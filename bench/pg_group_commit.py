"""PostgreSQL group commit against bare single-row inserts, in one run.

    python bench/pg_group_commit.py [--rounds 3] [--seconds 3] [--writers 64]

Each round measures, one after another on the same server:

- *bare*: single-row INSERTs of a message-sized row into a table of their own, each its own
  transaction (autocommit), on 8 connections in parallel: what PostgreSQL commits per
  second on this disk when every commit waits for its own WAL flush;
- *ingest, group commit*: ``Store.ingest`` (the hub's real inbound write: contact,
  conversation, message, routing claim) from ``--writers`` concurrent callers on the
  PostgreSQL store as the hub runs it: writes queued meanwhile share one transaction
  (``hub/store/postgres_group.py``), each returning once its transaction has committed;
- *ingest, one transaction each*: the same with ``group_commit=False`` (the store before);
- *accept*: ``Store.accept`` from ``--writers`` concurrent callers — the one journal row a
  webhook's acknowledgement waits for since the intake journal (hub/intake.py), the
  accepts queued meanwhile inserted by one statement (``hub/store/postgres_accepts.py``).

Medians over the rounds; the ratios that matter are accept / bare (what a webhook waits
for) and ingest with group commit / bare.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import PG_URL, commits, pct

from hub.store.postgres import PostgresStore
from hub.store.postgres_group import LOCK_TIMEOUT_MS

LANES = 4


async def bare_inserts(url: str, connections: int, seconds: float) -> tuple[float, float, float]:
    schema = f"bench_bare_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    await admin.execute(f'CREATE TABLE "{schema}".m (id bigserial PRIMARY KEY, chat text,'
                        " body text, created_at timestamptz DEFAULT now())")
    conns = [await asyncpg.connect(url) for _ in range(connections)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def insert(conn: asyncpg.Connection, n: int) -> None:
        k = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await conn.execute(f'INSERT INTO "{schema}".m (chat, body) VALUES ($1, $2)',
                               f"w{n}-{k % 20}", f"message {k}")
            latencies.append(time.perf_counter() - started)
            k += 1

    started = time.perf_counter()
    await asyncio.gather(*(insert(c, n) for n, c in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await admin.close()
    ms = [x * 1000 for x in latencies]
    return len(latencies) / elapsed, statistics.median(ms), pct(ms, 0.99)


async def ingest(url: str, writers: int, seconds: float, group: bool,
                 pool_size: int, journal: bool = False) -> tuple[float, float, float]:
    schema = f"bench_group_{uuid.uuid4().hex[:8]}"
    store = PostgresStore(f"{url}?schema={schema}&pool_size={pool_size}", group_commit=group,
                          lanes=LANES)
    await store.open(migrate=True)
    try:
        figures = await commits(store, writers, seconds, journal)
        if store._group is not None and store._group.lock_waits_cut:
            print(f"  ({store._group.lock_waits_cut} lock waits cut at"
                  f" {LOCK_TIMEOUT_MS} ms and run again)")
        return figures
    finally:
        async with store.connection() as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--lanes", type=int, default=4)
    args = parser.parse_args()
    global LANES
    LANES = args.lanes
    results: dict[str, list[tuple[float, float, float]]] = {
        "bare": [], "accept": [], "group": [], "each": []}
    for round_no in range(args.rounds):
        results["bare"].append(await bare_inserts(args.pg_url, 8, args.seconds))
        results["accept"].append(await ingest(args.pg_url, args.writers, args.seconds, True,
                                              args.pool_size, journal=True))
        results["group"].append(await ingest(args.pg_url, args.writers, args.seconds, True,
                                             args.pool_size))
        results["each"].append(await ingest(args.pg_url, args.writers, args.seconds, False,
                                            args.pool_size))
        print(f"round {round_no + 1}: " + ", ".join(
            f"{name} {figs[-1][0]:.0f}/s p99 {figs[-1][2]:.1f} ms"
            for name, figs in results.items()), flush=True)
    labels = {"bare": "bare single-row INSERTs, 8 connections",
              "accept": f"Store.accept, {args.writers} writers (journal)",
              "group": f"Store.ingest, {args.writers} writers, group commit",
              "each": f"Store.ingest, {args.writers} writers, a transaction each"}
    bare = statistics.median(r[0] for r in results["bare"])
    print(f"\nmedians of {args.rounds} rounds:")
    for name, figs in results.items():
        rate = statistics.median(r[0] for r in figs)
        print(f"  {labels[name]:<48} {rate:7.0f} commits/s  p50 "
              f"{statistics.median(r[1] for r in figs):6.2f} ms  p99 "
              f"{statistics.median(r[2] for r in figs):7.2f} ms  ({rate / bare:.2f}x bare)")


if __name__ == "__main__":
    asyncio.run(main())
