"""PostgreSQL group commit (hub/store/postgres_group.py): concurrent writes share
transactions, each returns only once committed, and one failing write fails alone."""

from __future__ import annotations

import asyncio

import asyncpg

from hub.model import InboundMessage, Role
from hub.store import Conflict
from hub.store.postgres import PostgresStore


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

