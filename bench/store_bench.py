"""The store on both engines: ``python bench/store_bench.py [--messages N] [--engines …]``.

1. Inbound commits per second: N concurrent writers (1, 8, 64) each call ``Store.ingest``
   in a loop for a few seconds — the real path, one durable transaction per message (SQLite
   groups concurrent ones into one fsync; PostgreSQL commits each on a pooled connection).
2. Reading a thread: the last 50 messages of a conversation (``list_messages(limit=50)``),
   asked of random conversations among ``--messages`` stored ones (default 1,000,000, in
   10,000 conversations, interleaved as real traffic is), p50/p99 over sequential calls.
   The table is filled in bulk (executemany / COPY), not through ``ingest``.

PostgreSQL: ``--pg-url`` (default the test server); each part runs in a schema of its own,
dropped at the end. SQLite: files in a temporary directory (``--tmp`` to choose the disk).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.model import InboundMessage
from hub.store import Store, make_store
from hub.store.postgres import PostgresStore

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONVERSATIONS = 10_000
CHUNK = 50_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@asynccontextmanager
async def fresh_store(engine: str, args: argparse.Namespace, tag: str,
                      fill: int = 0) -> AsyncIterator[Store]:
    """An empty, migrated store of that engine (with ``fill`` messages put in by bulk SQL),
    removed afterwards."""
    if engine == "sqlite":
        path = Path(args.tmp) / f"bench-{tag}-{uuid.uuid4().hex[:8]}.db"
        store = make_store(f"sqlite:///{path}")
        try:
            await store.open(migrate=True)
            if fill:
                await store.close()  # fill the file directly, then open it again
                await populate_sqlite(path, fill)
                store = make_store(f"sqlite:///{path}")
                await store.open(migrate=False)
            yield store
        finally:
            await store.close()
            await asyncio.to_thread(remove_sqlite, path)
        return
    schema = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
    pg = PostgresStore(f"{args.pg_url}?schema={schema}&pool_size={args.pool_size}")
    await pg.open(migrate=True)
    try:
        if fill:
            await populate_pg(pg, fill)
        yield pg
    finally:
        async with pg.connection() as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pg.close()


# 1. commits per second -------------------------------------------------------------------
async def commits(store: Store, writers: int, seconds: float,
                  journal: bool = False) -> tuple[float, float, float]:
    """Inbound writes per second from ``writers`` concurrent callers: ``Store.ingest``, or
    with ``journal`` ``Store.accept`` (what a webhook's acknowledgement waits for)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    write = store.accept if journal else store.ingest

    async def writer(n: int) -> None:
        k = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await write(InboundMessage("bench", f"w{n}-{k % 20}", f"message {k}",
                                       platform_message_id=f"{n}-{k}"))
            latencies.append(time.perf_counter() - started)
            k += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return len(latencies) / elapsed, statistics.median(ms), pct(ms, 0.99)


# 2. reading the last 50 of a thread among many -------------------------------------------
def message_rows(total: int, as_text: bool) -> Iterator[list[tuple[Any, ...]]]:
    """(conversation_id, direction, author, channel, text, private, handled, created_at),
    conversations interleaved so no thread is stored contiguously."""
    now = datetime.now(UTC)
    created: Any = now.isoformat() if as_text else now
    chunk: list[tuple[Any, ...]] = []
    for i in range(total):
        inbound = i % 2 == 0
        chunk.append((i % CONVERSATIONS + 1, "in" if inbound else "out",
                      "customer" if inbound else "bot", "bench",
                      f"message number {i} with some ordinary length of text in it",
                      False, True, created))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def populate_sqlite(path: Path, total: int) -> None:
    def run() -> None:
        conn = sqlite3.connect(path)
        now = datetime.now(UTC).isoformat()
        with conn:
            conn.executemany(
                "INSERT INTO contacts (id, name, attributes, created_at) VALUES (?, ?, '{}', ?)",
                [(n, f"c{n}", now) for n in range(1, CONVERSATIONS + 1)])
            conn.executemany(
                "INSERT INTO conversations (id, contact_id, state, channel, fallback_streak,"
                " created_at, updated_at) VALUES (?, ?, 'bot', 'bench', 0, ?, ?)",
                [(n, n, now, now) for n in range(1, CONVERSATIONS + 1)])
            for chunk in message_rows(total, as_text=True):
                conn.executemany(
                    "INSERT INTO messages (conversation_id, direction, author, channel, text,"
                    " private, handled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk)
        conn.execute("ANALYZE")
        conn.close()

    await asyncio.to_thread(run)


async def populate_pg(store: PostgresStore, total: int) -> None:
    async with store.connection() as conn:
        await conn.execute(
            "INSERT INTO contacts (id, name) SELECT n, 'c' || n FROM generate_series(1, $1) n",
            CONVERSATIONS)
        await conn.execute(
            "INSERT INTO conversations (id, contact_id, state, channel)"
            " SELECT n, n, 'bot', 'bench' FROM generate_series(1, $1) n", CONVERSATIONS)
        columns = ["conversation_id", "direction", "author", "channel", "text", "private",
                   "handled", "created_at"]
        for chunk in message_rows(total, as_text=False):
            await conn.copy_records_to_table("messages", records=chunk, columns=columns)
        await conn.execute("ANALYZE")


async def fetches(engine: str, args: argparse.Namespace) -> tuple[float, float, float]:
    started = time.perf_counter()
    async with fresh_store(engine, args, "fetch", fill=args.messages) as store:
        fill = time.perf_counter() - started
        rng = random.Random(7)
        for _ in range(50):  # warm up
            await store.list_messages(rng.randint(1, CONVERSATIONS), limit=50)
        latencies = []
        for _ in range(args.fetches):
            cid = rng.randint(1, CONVERSATIONS)
            t = time.perf_counter()
            got = await store.list_messages(cid, limit=50)
            latencies.append((time.perf_counter() - t) * 1000)
            assert len(got) == min(50, args.messages // CONVERSATIONS)
        return fill, statistics.median(latencies), pct(latencies, 0.99)


async def main(args: argparse.Namespace) -> None:
    engines = args.engines.split(",")
    print(f"store benchmark: {args.seconds:g} s per writer count, {args.messages:,} messages"
          f" for the fetch; SQLite in {args.tmp}; PostgreSQL pool_size={args.pool_size}")
    print(f"\n{'engine':<12}{'writers':>8}{'commits/s':>12}{'p50 ms':>9}{'p99 ms':>9}")
    for engine in engines:
        for writers in args.writers:
            async with fresh_store(engine, args, "commit") as store:
                rate, p50, p99 = await commits(store, writers, args.seconds)
            print(f"{engine:<12}{writers:>8}{rate:>12,.0f}{p50:>9.2f}{p99:>9.2f}", flush=True)
    print(f"\n{'engine':<12}{'messages':>11}{'fill s':>8}"
          f"{'last-50 p50 ms':>16}{'p99 ms':>9}")
    for engine in engines:
        fill, p50, p99 = await fetches(engine, args)
        print(f"{engine:<12}{args.messages:>11,}{fill:>8.1f}{p50:>16.3f}{p99:>9.3f}",
              flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fetches", type=int, default=2000)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
