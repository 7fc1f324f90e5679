"""Who routes and who delivers after a process dies: routing claims, per-recipient outbox
order across processes, and the leases a previous process left (schema v5).

The PostgreSQL tests open two stores on one schema — two processes as far as the database
can tell: each has its own anchor session, and closing a store ends its session the way
``kill -9`` does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from hub.model import Author, InboundMessage, NewMessage
from hub.store import Store
from hub.store.postgres import PostgresStore


def _inbound(text: str, who: str = "u1") -> InboundMessage:
    return InboundMessage("sms", who, text)


async def _replies(store: Store, texts: list[str], who: str = "u1") -> None:
    msg = await store.ingest(_inbound("q", who))
    await store.record_turn(msg.conversation.id, [NewMessage(Author.BOT, t) for t in texts],
                            handled_message_id=msg.message.id)


async def test_a_message_waits_for_the_earlier_ones_of_its_conversation(store: Store) -> None:
    first = await store.ingest(_inbound("one"))
    second = await store.ingest(_inbound("two"))
    elsewhere = await store.ingest(_inbound("hi", who="u2"))
    assert not await store.earlier_unrouted(first.message)
    assert await store.earlier_unrouted(second.message)
    assert not await store.earlier_unrouted(elsewhere.message)
    await store.record_turn(first.conversation.id, [NewMessage(Author.BOT, "a1")],
                            handled_message_id=first.message.id)
    assert not await store.earlier_unrouted(second.message)


async def test_leases_found_when_the_worker_starts(store: Store) -> None:
    """SQLite: one process owns the file, so a lease found at start is a dead process's and
    is released. PostgreSQL: a lease of a live session stays (it names its session)."""
    await _replies(store, ["r0", "r1"])
    now = time.time()
    [leased] = await store.lease_outbox(now, 60, 10)
    released = await store.release_stale_leases()
    again = await store.lease_outbox(now + 1, 60, 10)
    if store.several_processes:
        assert (released, again) == (0, [])
    else:
        assert released == 1
        assert [(i.id, i.text, i.attempts) for i in again] == [(leased.id, "r0", 2)]


@pytest.fixture
async def two_stores(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    await first.open(migrate=False)
    await second.open(migrate=False)
    yield first, second
    await first.close()
    await second.close()


async def test_a_dead_sessions_unrouted_messages_go_to_a_survivor_once(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    dying, survivor = two_stores
    mine = await survivor.ingest(_inbound("mine", who="u9"))
    first = await dying.ingest(_inbound("one"))
    second = await dying.ingest(_inbound("two"))
    # routing belongs to the committing process while it lives, the survivor's own too
    assert await survivor.claim_unrouted() == []
    assert await dying.claim_unrouted() == []
    await dying.close()  # its session ends, as with kill -9
    claimed = await survivor.claim_unrouted()
    assert [m.id for m in claimed] == [first.message.id, second.message.id]
    assert [m.text for m in claimed] == ["one", "two"]
    assert await survivor.claim_unrouted() == []  # claimed now: nobody else takes them
    assert mine.message.id not in {m.id for m in claimed}


async def test_a_recipient_leased_by_a_live_session_waits_then_a_survivor_takes_over(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    dying, survivor = two_stores
    await _replies(survivor, ["r0", "r1"])
    await _replies(survivor, ["s0"], who="u2")
    now = time.time()
    leased = await dying.lease_outbox(now, 60, 1)
    assert [(i.recipient, i.text) for i in leased] == [("u1", "r0")]
    # r1 is not leased while r0 is leased by the other process; u2's reply is
    assert [(i.recipient, i.text) for i in await survivor.lease_outbox(now, 60, 10)] \
        == [("u2", "s0")]
    await dying.close()  # dies holding r0: its lease is void at once, r0 goes first
    [taken] = await survivor.lease_outbox(now + 1, 60, 10)
    assert (taken.id, taken.text, taken.attempts) == (leased[0].id, "r0", 2)
    await survivor.outbox_delivered(taken.id, None)
    assert [i.text for i in await survivor.lease_outbox(now + 1, 60, 10)] == ["r1"]
