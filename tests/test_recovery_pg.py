"""PostgreSQL, several processes: what a dead process acknowledged is routed by a running
one — continuously, not only when a process starts — and a conversation is still answered
in order. The "other process" is a second store on the same schema: it commits messages
(as a hub does before it acknowledges them) and then ends its session, as ``kill -9`` does.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import HubFactory

from hub.model import InboundMessage
from hub.store.postgres import PostgresStore


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


async def test_a_running_hub_routes_what_a_dead_process_committed_in_order(
    start_hub: HubFactory, pg_url: str,
) -> None:
    running = await start_hub()
    await running.settle()
    other = PostgresStore(pg_url)
    await other.open(migrate=False)
    try:  # the other process acknowledged the customer's first question, then died
        first = await other.ingest(InboundMessage("memory", "cust-7",
                                                  "how long does shipping take?", "p-1"))
        # the customer's next question reaches the running hub
        await running.memory.receive("cust-7", "what payment methods do you take", "p-2")
        await asyncio.sleep(1.5)  # the first question's routing is still the other's …
        assert running.memory.sent == []  # … so its later question waits, unanswered
    finally:
        await other.close()
    died = time.monotonic()
    sent = await running.memory.wait_for(2, timeout=10)
    assert time.monotonic() - died < 5  # picked up within seconds, with no restart
    assert [item.conversation_id for item in sent] == [first.conversation.id] * 2
    assert "business days" in sent[0].text  # the earlier question is answered first
    assert "PayPal" in sent[1].text
    await asyncio.sleep(1.2)  # a second look finds nothing left: answered once each
    assert len(running.memory.sent) == 2
