"""The store contract: every engine behind ``hub.store.Store`` passes the same tests.

Each test runs on SQLite (a temp file) and on the real PostgreSQL server (a fresh schema per
test, see ``pg_schema`` in conftest.py; skipped when the server is unreachable, failed then
if ``CI`` is set). Races are run for real with ``asyncio.gather``: on PostgreSQL they are
concurrent transactions on different pooled connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from hub.model import (
    ArticleStatus,
    Author,
    ConversationState,
    InboundMessage,
    NewArticle,
    NewMessage,
    Role,
)
from hub.store import Conflict, NotFound, SchemaMismatch, Store, make_store

QUEUED = frozenset({ConversationState.QUEUED})
BOT = frozenset({ConversationState.BOT})




def inbound(text: str, who: str = "u1", pid: str | None = None, channel: str = "sms",
            **extra: object) -> InboundMessage:
    return InboundMessage(channel, who, text, platform_message_id=pid, **extra)  # type: ignore[arg-type]


async def execute_sql(store: Store, sql: str) -> None:
    """Raw SQL for what the interface deliberately cannot do (e.g. deactivate a user)."""
    from hub.store.postgres import PostgresStore
    from hub.store.sqlite import SQLiteStore

    if isinstance(store, PostgresStore):
        async with store.connection() as conn:
            await conn.execute(sql)
    else:
        assert isinstance(store, SQLiteStore)
        with sqlite3.connect(store.path) as conn:
            conn.execute(sql)


# schema ---------------------------------------------------------------------------
async def test_an_unmigrated_database_is_refused_without_migrate(store_url: str) -> None:
    store = make_store(store_url)
    with pytest.raises(SchemaMismatch, match="supporthub db migrate"):
        await store.open(migrate=False)
    await store.open(migrate=True)
    assert await store.migrate() >= 1
    await store.close()
    again = make_store(store_url)
    await again.open(migrate=False)  # migrated now: accepted
    await again.close()


async def test_a_newer_schema_is_refused(store_url: str) -> None:
    store = make_store(store_url)
    await store.open(migrate=True)
    await execute_sql(store, "UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(SchemaMismatch, match="newer"):
        await store.migrate()
    await store.close()
    with pytest.raises(SchemaMismatch, match="999"):
        await make_store(store_url).open(migrate=False)


async def test_meta_default_keeps_the_first_value(store: Store) -> None:
    assert await store.get_meta("k") is None
    assert await store.set_meta_default("k", "one") == "one"
    assert await store.set_meta_default("k", "two") == "one"
    assert await store.get_meta("k") == "one"
    await store.ping()


# ingest ---------------------------------------------------------------------------
async def test_ingest_creates_contact_conversation_and_dedupes_platform_ids(
    store: Store,
) -> None:
    first = await store.ingest(inbound("hello", pid="p1", display_name="Ann",
                                       extras={"k": "v"}))
    assert not first.duplicate and not first.handled
    assert first.message.author is Author.CUSTOMER and first.message.direction == "in"
    assert first.conversation.state is ConversationState.BOT
    assert first.conversation.last_message_text == "hello"
    assert first.conversation.contact_name == "Ann"
    again = await store.ingest(inbound("hello", pid="p1"))
    assert again.duplicate and again.message.id == first.message.id
    assert again.conversation.id == first.conversation.id
    # the same platform id on another channel is another message
    other = await store.ingest(inbound("hello", pid="p1", channel="telegram"))
    assert not other.duplicate and other.message.id != first.message.id
    # without a platform id nothing is deduplicated
    a = await store.ingest(inbound("no id"))
    b = await store.ingest(inbound("no id"))
    assert a.message.id != b.message.id
    assert len(await store.list_messages(first.conversation.id)) == 3
    contact = await store.get_contact(first.conversation.contact_id)
    assert contact is not None and contact.name == "Ann"
    assert [(i.channel, i.external_id) for i in contact.identities] == [("sms", "u1")]
    assert contact.conversation_ids == (first.conversation.id,)
    assert await store.get_contact(10_000) is None


async def test_concurrent_first_messages_make_one_contact_and_one_copy(store: Store) -> None:
    results = await asyncio.gather(
        *(store.ingest(inbound("hi", who="new", pid="same")) for _ in range(5)),
        *(store.ingest(inbound(f"m{n}", who="new")) for n in range(5)),
    )
    assert len({r.conversation.id for r in results}) == 1
    assert len({r.conversation.contact_id for r in results}) == 1
    assert sum(not r.duplicate for r in results[:5]) == 1
    assert len({r.message.id for r in results[:5]}) == 1
    assert len(await store.list_messages(results[0].conversation.id)) == 6


async def test_a_resolved_conversation_is_reopened_by_a_new_message(store: Store) -> None:
    first = await store.ingest(inbound("hi"))
    cid = first.conversation.id
    turn = await store.record_turn(cid, handled_message_id=first.message.id,
                                   new_state=ConversationState.RESOLVED, fallback_streak=1)
    assert turn.applied and turn.conversation.state is ConversationState.RESOLVED
    again = await store.ingest(inbound("me again"))
    assert again.conversation.id == cid
    assert again.conversation.state is ConversationState.BOT
    assert again.conversation.fallback_streak == 0


async def test_start_and_find_conversation(store: Store) -> None:
    assert await store.find_conversation("webchat", "v1") is None
    started = await store.start_conversation("webchat", "v1", "Vee")
    assert started.state is ConversationState.BOT and started.contact_name == "Vee"
    assert (await store.start_conversation("webchat", "v1")).id == started.id
    found = await store.find_conversation("webchat", "v1")
    assert found is not None and found.id == started.id
    assert await store.get_conversation(started.id) == found
    assert await store.get_conversation(999_999) is None


# turns ------------------------------------------------------------------------------
async def test_record_turn_writes_replies_outbox_and_state(store: Store) -> None:
    agent = await store.create_user("ann@example.com", "Ann", Role.AGENT, "h")
    msg = await store.ingest(inbound("help"))
    cid = msg.conversation.id
    turn = await store.record_turn(
        cid, [NewMessage(Author.AGENT, "hello", agent_id=agent.id),
              NewMessage(Author.AGENT, "a note", agent_id=agent.id, private=True)],
        handled_message_id=msg.message.id, new_state=ConversationState.ASSIGNED,
        agent_id=agent.id,
    )
    assert turn.applied
    assert turn.conversation.assigned_agent_id == agent.id
    assert turn.conversation.assigned_agent_name == "Ann"
    assert turn.conversation.last_message_text == "hello"  # private notes do not count
    assert [m.text for m in turn.messages] == ["hello", "a note"]
    assert turn.messages[0].agent_name == "Ann" and turn.messages[1].private
    assert (await store.outbox_stats()).pending == 1  # the note is not sent
    assert await store.unhandled_inbound() == []
    # leaving ASSIGNED clears the agent
    back = await store.record_turn(cid, new_state=ConversationState.QUEUED)
    assert back.conversation.assigned_agent_id is None
    mine = await store.list_conversations(agent_id=agent.id)
    assert mine == []
    queued = await store.list_conversations(ConversationState.QUEUED)
    assert [c.id for c in queued] == [cid]


async def test_a_turn_expecting_another_state_writes_nothing(store: Store) -> None:
    msg = await store.ingest(inbound("hi"))
    cid = msg.conversation.id
    turn = await store.record_turn(cid, [NewMessage(Author.BOT, "answer")],
                                   handled_message_id=msg.message.id,
                                   new_state=ConversationState.ASSIGNED, expect_states=QUEUED)
    assert not turn.applied and turn.messages == ()
    assert turn.conversation.state is ConversationState.BOT
    assert [m.text for m in await store.list_messages(cid)] == ["hi"]
    assert (await store.outbox_stats()).pending == 0
    assert await store.unhandled_inbound() == []  # but it counts as handled
    wrong_agent = await store.record_turn(cid, [NewMessage(Author.BOT, "x")], expect_states=BOT,
                                          require_agent_id=42)
    assert not wrong_agent.applied
    with pytest.raises(NotFound):
        await store.record_turn(999_999, [NewMessage(Author.BOT, "x")])


async def test_a_handled_message_is_not_routed_twice(store: Store) -> None:
    msg = await store.ingest(inbound("hi"))
    assert [m.id for m in await store.unhandled_inbound()] == [msg.message.id]
    cid = msg.conversation.id
    first, second = await asyncio.gather(*(
        store.record_turn(cid, [NewMessage(Author.BOT, "answer")],
                          handled_message_id=msg.message.id, expect_states=BOT)
        for _ in range(2)
    ))
    assert sorted([first.applied, second.applied]) == [False, True]
    assert [m.text for m in await store.list_messages(cid)] == ["hi", "answer"]
    third = await store.record_turn(cid, [NewMessage(Author.BOT, "again")],
                                    handled_message_id=msg.message.id)
    assert not third.applied
    redelivered = await store.ingest(InboundMessage("sms", "u1", "hi", "p-x"))
    assert not redelivered.handled


async def test_of_concurrent_claims_exactly_one_wins(store: Store) -> None:
    agents = [await store.create_user(f"a{n}@example.com", f"A{n}", Role.AGENT, "h")
              for n in range(6)]
    msg = await store.ingest(inbound("a person please"))
    cid = msg.conversation.id
    await store.record_turn(cid, handled_message_id=msg.message.id,
                            new_state=ConversationState.QUEUED)
    turns = await asyncio.gather(*(
        store.record_turn(cid, [NewMessage(Author.SYSTEM, f"{a.name} joined")],
                          new_state=ConversationState.ASSIGNED, expect_states=QUEUED,
                          agent_id=a.id)
        for a in agents
    ))
    winners = [t for t in turns if t.applied]
    assert len(winners) == 1
    winner = winners[0].conversation.assigned_agent_id
    conversation = await store.get_conversation(cid)
    assert conversation is not None and conversation.assigned_agent_id == winner
    for loser in (t for t in turns if not t.applied):
        assert loser.conversation.state is ConversationState.ASSIGNED
    joined = [m for m in await store.list_messages(cid) if m.author is Author.SYSTEM]
    assert len(joined) == 1


async def test_list_messages_order_after_limit_and_private(store: Store) -> None:
    msg = await store.ingest(inbound("m0"))
    cid = msg.conversation.id
    turn = await store.record_turn(cid, [
        NewMessage(Author.BOT, "m1"), NewMessage(Author.AGENT, "note", private=True),
        NewMessage(Author.BOT, "m3"),
    ], handled_message_id=msg.message.id)
    await store.ingest(inbound("m4"))
    await store.ingest(inbound("elsewhere", who="u2"))
    everything = await store.list_messages(cid)
    assert [m.text for m in everything] == ["m0", "m1", "note", "m3", "m4"]
    ids = [m.id for m in everything]
    assert ids == sorted(ids)
    public = await store.list_messages(cid, include_private=False)
    assert [m.text for m in public] == ["m0", "m1", "m3", "m4"]
    assert [m.text for m in await store.list_messages(cid, after_id=turn.messages[0].id)] \
        == ["note", "m3", "m4"]
    assert [m.text for m in await store.list_messages(cid, limit=2)] == ["m3", "m4"]
    assert [m.text for m in await store.list_messages(cid, after_id=ids[0], limit=10,
                                                      include_private=False)] \
        == ["m1", "m3", "m4"]
    assert await store.list_messages(cid, after_id=ids[-1]) == []


async def test_get_message_reads_one_message_with_its_agent(store: Store) -> None:
    agent = await store.create_user("ann@example.com", "Ann", Role.AGENT, "x")
    msg = await store.ingest(inbound("hi"))
    await store.record_turn(msg.conversation.id, [
        NewMessage(Author.AGENT, "hello", agent_id=agent.id)], expect_states=None)
    listed = await store.list_messages(msg.conversation.id)
    for message in listed:  # what the event relay re-reads is what a listing shows
        assert await store.get_message(message.id) == message
    assert listed[1].agent_name == "Ann"
    assert await store.get_message(listed[-1].id + 1000) is None


# outbox ------------------------------------------------------------------------------
async def _replies(store: Store, count: int, who: str = "u1") -> int:
    msg = await store.ingest(inbound("q", who=who))
    await store.record_turn(msg.conversation.id,
                            [NewMessage(Author.BOT, f"r{n}") for n in range(count)],
                            handled_message_id=msg.message.id)
    return msg.conversation.id


async def test_outbox_lease_deliver_retry_and_dead_letter(store: Store) -> None:
    cids = [await _replies(store, 1, who=who) for who in ("u1", "u2", "u3")]
    now = time.time()
    leased = await store.lease_outbox(now, 60, 10)
    assert [(i.text, i.recipient) for i in leased] == [("r0", "u1"), ("r0", "u2"),
                                                       ("r0", "u3")]
    assert all(i.attempts == 1 and i.channel == "sms" for i in leased)
    assert [i.conversation_id for i in leased] == cids
    assert await store.lease_outbox(now + 1, 60, 10) == []  # leased to us
    first, second, third = leased
    await store.outbox_delivered(first.id, "platform-1")
    await store.outbox_failed(second.id, "429", now + 5)
    await store.outbox_failed(third.id, "blocked", None)
    assert await store.lease_outbox(now + 1, 60, 10) == []  # not due yet
    retried = await store.lease_outbox(now + 6, 60, 10)
    assert [(i.id, i.attempts) for i in retried] == [(second.id, 2)]
    stats = await store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead) == (1, 1, 1)
    dead = await store.dead_letters()
    assert [(d.outbox_id, d.text, d.last_error) for d in dead] == [(third.id, "r0", "blocked")]
    # an expired lease is leased again
    again = await store.lease_outbox(now + 6 + 61, 60, 10)
    assert [(i.id, i.attempts) for i in again] == [(second.id, 3)]
    assert await store.record_delivery_status("sms", "platform-1", "delivered")
    assert not await store.record_delivery_status("sms", "nope", "delivered")


async def test_replies_to_one_recipient_are_leased_one_at_a_time_in_order(
    store: Store,
) -> None:
    """A reply is not leased while an earlier one to the same recipient is pending: leased,
    or waiting for its retry. A dead-lettered reply no longer holds the later ones."""
    await _replies(store, 3, who="u1")
    other = await _replies(store, 1, who="u2")
    now = time.time()
    leased = await store.lease_outbox(now, 60, 10)
    assert [(i.recipient, i.text) for i in leased] == [("u1", "r0"), ("u2", "r0")]
    assert leased[1].conversation_id == other
    assert await store.lease_outbox(now, 60, 10) == []  # r1 waits for the leased r0
    await store.outbox_delivered(leased[0].id, None)
    [r1] = await store.lease_outbox(now, 60, 10)
    assert r1.text == "r1"
    await store.outbox_failed(r1.id, "429", now + 5)
    assert await store.lease_outbox(now + 1, 60, 10) == []  # r2 waits for r1's retry
    [again] = await store.lease_outbox(now + 6, 60, 10)
    assert (again.id, again.attempts) == (r1.id, 2)
    await store.outbox_failed(r1.id, "blocked", None)
    assert [i.text for i in await store.lease_outbox(now + 6, 60, 10)] == ["r2"]


async def test_several_deliveries_are_marked_sent_in_one_call(store: Store) -> None:
    """The outbox worker marks the deliveries that ended together in one write: each item
    is sent with its platform id, and each recipient's next reply becomes leasable."""
    for who in ("u1", "u2", "u3"):
        await _replies(store, 2, who=who)
    now = time.time()
    leased = await store.lease_outbox(now, 60, 10)
    assert [i.text for i in leased] == ["r0", "r0", "r0"]
    await store.outbox_delivered_many([(leased[0].id, "p-1"), (leased[1].id, None)])
    stats = await store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead) == (4, 2, 0)
    nxt = await store.lease_outbox(now, 60, 10)  # u3's r0 is still leased: its r1 waits
    assert sorted((i.recipient, i.text) for i in nxt) == [("u1", "r1"), ("u2", "r1")]
    assert await store.record_delivery_status("sms", "p-1", "delivered")
    await store.outbox_delivered_many([])  # nothing to mark: nothing happens
    assert (await store.outbox_stats()).sent == 2


async def test_replies_to_a_channel_delivered_by_the_store_are_written_sent(
    store: Store,
) -> None:
    web = await store.ingest(inbound("hi", who="v1", channel="webchat"))
    turn = await store.record_turn(
        web.conversation.id, [NewMessage(Author.BOT, "answer"),
                              NewMessage(Author.SYSTEM, "a note", private=True)],
        handled_message_id=web.message.id, delivered_by_store={"webchat"},
    )
    assert turn.applied and [m.text for m in turn.messages] == ["answer", "a note"]
    stats = await store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead) == (0, 1, 0)  # sent at once; no note row
    assert await store.lease_outbox(time.time() + 3600, 60, 10) == []  # nothing to lease
    # any other channel keeps the outbox: pending, leased, sent by the worker
    sms = await store.ingest(inbound("hello", who="u1"))
    await store.record_turn(sms.conversation.id, [NewMessage(Author.BOT, "by sms")],
                            handled_message_id=sms.message.id, delivered_by_store={"webchat"})
    # and without the channel named, a web-chat reply is pending as before
    await store.record_turn(web.conversation.id, [NewMessage(Author.BOT, "again")])
    leased = await store.lease_outbox(time.time(), 60, 10)
    assert [(i.channel, i.text) for i in leased] == [("sms", "by sms"), ("webchat", "again")]
    stats = await store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead) == (2, 1, 0)
    assert await store.dead_letters() == []


async def test_concurrent_leases_never_share_an_item_nor_a_recipient(store: Store) -> None:
    for n in range(10):
        await _replies(store, 5, who=f"u{n}")
    now = time.time()
    sent: list[str] = []
    for _ in range(5):
        batches = await asyncio.gather(*(store.lease_outbox(now, 60, 7) for _ in range(8)))
        items = [item for batch in batches for item in batch]
        assert len(items) == len({i.id for i in items}) == len({i.recipient for i in items}) \
            == 10
        for item in items:
            await store.outbox_delivered(item.id, None)
            sent.append(item.text)
    assert sent.count("r0") == sent.count("r4") == 10
    assert await store.lease_outbox(now, 60, 100) == []


async def test_identity_status(store: Store) -> None:
    msg = await store.ingest(inbound("hi", who="+15550001"))
    status = await store.identity_status("sms", "+15550001")
    assert status is not None and status.reachable and not status.opted_out
    assert status.contact_id == msg.conversation.contact_id
    await store.set_identity_status("sms", "+15550001", opted_out=True)
    await store.set_identity_status("sms", "+15550001", reachable=False)
    status = await store.identity_status("sms", "+15550001")
    assert status is not None and not status.reachable and status.opted_out
    assert await store.identity_status("sms", "unknown") is None
    await store.set_identity_status("sms", "unknown", reachable=False)  # ignored


# users and sessions ---------------------------------------------------------------------
async def test_users_and_sessions(store: Store) -> None:
    ann = await store.create_user("ann@example.com", "Ann", Role.ADMIN, "hash-1")
    assert ann.role is Role.ADMIN and ann.active
    with pytest.raises(Conflict):
        await store.create_user("ann@example.com", "Other", Role.AGENT, "h")
    assert await store.get_user(ann.id) == ann
    assert await store.get_user_by_email("ann@example.com") == ann
    assert await store.get_user_by_email("nobody@example.com") is None
    now = time.time()
    await store.create_session("tok-1", ann.id, now + 100)
    await store.create_session("tok-2", ann.id, now + 100)
    assert await store.session_user("tok-1", now) == ann
    assert await store.session_user("tok-1", now + 101) is None  # expired
    assert await store.session_user("unknown", now) is None
    await store.delete_session("tok-1")
    assert await store.session_user("tok-1", now) is None
    changed = await store.update_user_password("ann@example.com", "hash-2")
    assert changed.password_hash == "hash-2"
    assert await store.session_user("tok-2", now) is None  # a new password ends sessions
    with pytest.raises(NotFound):
        await store.update_user_password("nobody@example.com", "h")
    await store.create_session("tok-3", ann.id, now + 100)
    await execute_sql(store, "UPDATE users SET active = false")
    assert await store.session_user("tok-3", now) is None  # inactive


# knowledge --------------------------------------------------------------------------------
async def test_articles_crud(store: Store) -> None:
    created = await store.create_articles([
        NewArticle("Shipping", ("how long is shipping",), "3 days", ("orders",)),
        NewArticle("Draft", ("q",), "a", status=ArticleStatus.DRAFT),
    ])
    assert [a.title for a in created] == ["Shipping", "Draft"]
    shipping, draft = created
    assert shipping.questions == ("how long is shipping",) and shipping.tags == ("orders",)
    assert draft.status is ArticleStatus.DRAFT
    assert await store.list_articles() == created
    assert await store.get_article(shipping.id) == shipping
    updated = await store.update_article(
        shipping.id, NewArticle("Delivery", ("when will it arrive",), "2 days"))
    assert updated.title == "Delivery" and updated.tags == ()
    assert await store.get_article(shipping.id) == updated
    await store.delete_article(draft.id)
    assert [a.id for a in await store.list_articles()] == [shipping.id]
    with pytest.raises(NotFound):
        await store.delete_article(draft.id)
    with pytest.raises(NotFound):
        await store.update_article(draft.id, NewArticle("x", ("y",), "z"))
    assert await store.get_article(draft.id) is None


async def test_create_articles_is_all_or_nothing(store: Store) -> None:
    broken = NewArticle(None, ("q",), "a")  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - each engine names its own constraint error
        await store.create_articles([NewArticle("Fine", ("q",), "a"), broken])
    assert await store.list_articles() == []


async def test_conversation_counts_by_state(store: Store) -> None:
    counts = await store.conversation_counts()
    assert set(counts) == set(ConversationState) and sum(counts.values()) == 0
    first = await store.ingest(InboundMessage("sms", "+1", "hi", "c-1"))
    await store.ingest(InboundMessage("sms", "+2", "hi", "c-2"))
    await store.record_turn(first.conversation.id, new_state=ConversationState.QUEUED)
    counts = await store.conversation_counts()
    assert counts[ConversationState.BOT] == 1 and counts[ConversationState.QUEUED] == 1
    assert counts[ConversationState.ASSIGNED] == counts[ConversationState.RESOLVED] == 0


async def test_campaign_send_slots_are_shared_by_every_store_and_claimed_once(
        store: Store, store_url: str) -> None:
    """The rate of a campaign holds over every hub process: its next send time is in the
    store, and of concurrent claims by two stores (two processes) at one instant only the
    slots the rate allows are handed out."""
    other = make_store(store_url)
    await other.open()
    try:
        campaign = await store.create_campaign("Sale", "hi", None, {}, {}, 60, None, [])
        assert campaign.status == "done"  # nobody to write to: no slots either
        assert await store.campaign_slots(campaign.id, 1000.0, 1.0, 50) == 0
        contact = (await store.start_conversation("telegram", "1", "A")).contact_id
        running = await store.create_campaign("Sale", "hi", None, {}, {}, 60, None,
                                              [contact])
        claims = await asyncio.gather(*(
            s.campaign_slots(running.id, 1000.0, 1.0, 50)
            for s in (store, other) * 5))
        assert sum(claims) == 1  # the first send, once
        assert await other.campaign_slots(running.id, 1000.5, 1.0, 50) == 0  # not yet due
        assert await other.campaign_slots(running.id, 1001.0, 1.0, 50) == 1
        # after a long pause: at most two at once, no burst to catch up
        assert await store.campaign_slots(running.id, 5000.0, 1.0, 50) == 2
        assert await other.campaign_slots(running.id, 5000.0, 1.0, 50) == 0
    finally:
        await other.close()
