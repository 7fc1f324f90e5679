"""PostgreSQL group commit (hub/store/postgres_group.py): concurrent writes share
transactions, each returns only once committed, one failing write fails alone, and a job
waiting for a row another batch holds neither deadlocks nor holds up its own batch."""

from __future__ import annotations

import asyncio

import asyncpg

from hub.model import InboundMessage, Role
from hub.store import Conflict
from hub.store.postgres import PostgresStore
from hub.store.postgres_group import GroupCommit, Job


async def test_concurrent_writes_share_transactions_and_are_committed_when_answered(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url)
    await store.open(migrate=False)
    try:
        assert store._group is not None
        ingested = await asyncio.gather(*(
            store.ingest(InboundMessage("sms", f"u{n % 10}", f"message {n}",
                                        platform_message_id=f"p{n}")) for n in range(200)))
        # fewer transactions than writes: they were grouped
        assert store._group.batches < store._group.jobs == 200
        # each answer means committed: another connection sees every message at once
        other = await asyncpg.connect(pg_url.split("?")[0],
                                      server_settings={"search_path": _schema(pg_url)})
        try:
            ids = {r["id"] for r in await other.fetch("SELECT id FROM messages")}
        finally:
            await other.close()
        assert {i.message.id for i in ingested} <= ids and len(ids) == 200
        # order within a conversation is the order of the calls
        by_chat = [ingested[n].message.id for n in range(3, 200, 10)]  # u3's messages
        assert by_chat == sorted(by_chat)
    finally:
        await store.close()


async def test_a_failing_write_fails_alone_in_its_batch(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open(migrate=False)
    try:
        users = asyncio.gather(
            *(store.create_user(f"a{n}@example.com", f"A{n}", Role.AGENT, "h")
              for n in range(5)),
            store.create_user("a1@example.com", "again", Role.AGENT, "h"),  # taken
            return_exceptions=True,
        )
        messages = asyncio.gather(
            *(store.ingest(InboundMessage("sms", "u1", f"m{n}")) for n in range(5)))
        made, ingested = await asyncio.gather(users, messages)
        assert isinstance(made[5], Conflict)
        assert not any(isinstance(r, BaseException) for r in made[:5])
        assert len(await store.list_users()) == 5
        assert len(await store.list_messages(ingested[0].conversation.id)) == 5
    finally:
        await store.close()


def _schema(url: str) -> str:
    return url.split("schema=")[1].split("&")[0]



async def _crossing_pool(pg_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(pg_url.split("?")[0], min_size=1, max_size=4,
                                     server_settings={"search_path": _schema(pg_url)})
    await pool.execute("CREATE TABLE crossing (id int PRIMARY KEY, v int NOT NULL)")
    await pool.execute("INSERT INTO crossing VALUES (1, 0), (2, 0)")
    return pool


def _bump(row: int, then: asyncio.Event | None = None,
          wait_for: asyncio.Event | None = None) -> Job[int]:
    async def job(conn: asyncpg.Connection) -> int:
        await conn.execute("UPDATE crossing SET v = v + 1 WHERE id = $1", row)
        if then is not None and wait_for is not None:
            then.set()
            await wait_for.wait()
        return row
    return job


async def test_two_batches_locking_rows_in_opposite_orders_both_commit(pg_url: str) -> None:
    """Two lanes (or processes) whose open batches lock two rows in opposite orders: the
    wait is cut after LOCK_TIMEOUT_MS (not PostgreSQL's 1 s deadlock detector), the waiting
    job is run again in a later batch, and every write commits once."""
    pool = await _crossing_pool(pg_url)
    lane_a, lane_b = GroupCommit(pool.acquire), GroupCommit(pool.acquire)
    a_locked, b_locked = asyncio.Event(), asyncio.Event()
    try:
        jobs = [asyncio.create_task(lane_a.run(_bump(1, a_locked, b_locked))),
                asyncio.create_task(lane_a.run(_bump(2))),  # same batch: waits for B's row
                asyncio.create_task(lane_b.run(_bump(2, b_locked, a_locked))),
                asyncio.create_task(lane_b.run(_bump(1)))]  # same batch: waits for A's row
        assert await asyncio.wait_for(asyncio.gather(*jobs), 20) == [1, 2, 2, 1]
        assert lane_a.lock_waits_cut + lane_b.lock_waits_cut >= 1
        rows = await pool.fetch("SELECT id, v FROM crossing ORDER BY id")
        assert [(r["id"], r["v"]) for r in rows] == [(1, 2), (2, 2)]
    finally:
        await lane_a.close()
        await lane_b.close()
        await pool.close()


async def test_a_job_waiting_for_a_held_row_does_not_hold_up_its_batch(pg_url: str) -> None:
    """A row held by another transaction: the rest of the waiting job's batch commits
    meanwhile, and the job itself commits once the row is free."""
    pool = await _crossing_pool(pg_url)
    lane = GroupCommit(pool.acquire)
    try:
        async with pool.acquire() as holder:
            held = holder.transaction()
            await held.start()
            await holder.execute("UPDATE crossing SET v = 100 WHERE id = 1")
            blocked = asyncio.create_task(lane.run(_bump(1)))
            free = asyncio.create_task(lane.run(_bump(2)))
            assert await asyncio.wait_for(free, 10) == 2  # committed while row 1 is held
            assert not blocked.done()
            await held.commit()
            assert await asyncio.wait_for(blocked, 10) == 1
        assert lane.lock_waits_cut >= 1
        rows = await pool.fetch("SELECT id, v FROM crossing ORDER BY id")
        assert [(r["id"], r["v"]) for r in rows] == [(1, 101), (2, 1)]
    finally:
        await lane.close()
        await pool.close()
