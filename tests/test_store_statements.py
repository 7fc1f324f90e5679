"""The store's statements, written once (hub/store/sql.py), hold on both engines.

- Every statement a rule can yield is a module-level constant, and each one is prepared on
  both engines: SQLite compiles it (``EXPLAIN``), PostgreSQL plans it (``prepare``). A
  statement only one engine runs (its outbox leasing; routing claims and journal adoption,
  about several processes' sessions) is prepared on that one.
- The hot lookups use their indexes on SQLite (``EXPLAIN QUERY PLAN``).
- A rule takes no more statements (round trips on PostgreSQL) than the engine-specific code
  it replaced did, counted on both engines as the rules run for real.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from hub.model import (
    Author,
    ConversationState,
    InboundMessage,
    NewArticle,
    NewMessage,
    Role,
)
from hub.store import (
    Store,
    make_store,
    rules_contacts,
    rules_conversations,
    rules_email,
    rules_inbox,
    rules_kb,
    rules_reach,
    rules_reports,
    rules_users,
    sqlite,
)
from hub.store.sql import Rule, Sql, Step
from hub.store.sqlite_engine import _configure


def all_statements(*modules: Any) -> list[Sql]:
    """Every statement constant in those modules (including those in dicts and tuples)."""
    found: list[Sql] = []
    for module in modules:
        for value in vars(module).values():
            values = value.values() if isinstance(value, dict) else (
                value if isinstance(value, tuple) else (value,))
            found.extend(v for v in values if isinstance(v, Sql) and v not in found)
    return found


SHARED = all_statements(rules_users, rules_kb, rules_contacts, rules_conversations,
                        rules_email, rules_reports, rules_reach, rules_inbox)
SQLITE_ONLY = all_statements(sqlite)


def _arity(text: str) -> int:
    """How many parameters a statement in either engine's spelling takes."""
    return max((int(n) for n in re.findall(r"[$?](\d+)", text)), default=0)


def test_the_statements_are_enumerated() -> None:
    assert len(SHARED) > 80  # every rules module is seen, dicts of variants included
    assert rules_conversations.LAST_MESSAGES in SHARED
    assert all(s in SQLITE_ONLY for s in (sqlite.DUE_OUTBOX, sqlite.LEASE))


async def test_every_statement_compiles_on_sqlite(tmp_path: Any) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'hub.db'}")
    await store.open(migrate=True)
    await store.close()
    conn = sqlite3.connect(tmp_path / "hub.db")
    _configure(conn)
    failures = []
    for sql in SHARED + SQLITE_ONLY:
        if sql.sqlite is None:
            continue  # a lock only PostgreSQL takes
        try:
            conn.execute(f"EXPLAIN {sql.sqlite}", [None] * _arity(sql.sqlite)).fetchall()
        except sqlite3.Error as exc:
            failures.append(f"{sql.text}: {exc}")
    conn.close()
    assert failures == []


async def test_every_statement_is_prepared_on_postgresql(pg_url: str) -> None:
    from hub.store import postgres, postgres_accepts
    from hub.store.postgres import PostgresStore

    # its leasing, NOTIFY and batched journal inserts (the shared statements include the
    # routing claims and journal adoption, which only several processes run)
    own = all_statements(postgres, postgres_accepts)
    assert postgres.LEASE_DUE in own and postgres_accepts.ACCEPT_MANY in own
    assert rules_conversations.CLAIM_UNROUTED in SHARED and rules_inbox.ADOPT_ACCEPTED in SHARED

    store = PostgresStore(pg_url)
    await store.open(migrate=False)
    failures = []
    try:
        async with store.connection() as conn:
            for sql in SHARED + own:
                try:
                    await conn.prepare(sql.postgres)
                except Exception as exc:  # handed to the rule, as the driver does
                    failures.append(f"{sql.postgres}: {exc}")
    finally:
        await store.close()
    assert failures == []


# the hot lookups' plans on SQLite ---------------------------------------------------------
HOT = {
    "duplicate message": (rules_conversations.DUPLICATE, "messages_platform_id"),
    "unhandled messages": (rules_conversations.UNHANDLED, "messages_unhandled"),
    "due outbox items": (sqlite.DUE_OUTBOX, "idx_outbox_status_next_attempt_at"),
    "a thread's last messages": (rules_conversations.LAST_MESSAGES,
                                 "idx_messages_conversation_id_id"),
    "a chat's message in the intake journal": (rules_inbox.CHAT_ACCEPTED, "inbox_chat"),
}


@pytest.mark.parametrize("lookup", HOT)
async def test_the_hot_lookups_use_their_indexes_on_sqlite(lookup: str, tmp_path: Any) -> None:
    sql, index = HOT[lookup]
    store = make_store(f"sqlite:///{tmp_path / 'hub.db'}")
    await store.open(migrate=True)
    await store.close()
    conn = sqlite3.connect(tmp_path / "hub.db")
    _configure(conn)
    assert sql.sqlite is not None
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql.sqlite}",
                                           [1] * _arity(sql.sqlite))]
    conn.close()
    assert any(re.search(rf"\b(SEARCH|SCAN) \w+ USING (COVERING )?INDEX {index}\b", step)
               for step in plan), plan
    assert not any(re.fullmatch(r"SCAN \w+", step) for step in plan), plan


# round trips ------------------------------------------------------------------------------
def _counted(rule: Rule[Any], seen: list[Step]) -> Rule[Any]:
    """The rule, unchanged, recording each statement it yields."""
    try:
        step = next(rule)
    except StopIteration as stop:
        return stop.value
    while True:
        seen.append(step)
        try:
            try:
                result = yield step
            except Exception as exc:  # handed to the rule, as the driver does
                step = rule.throw(exc)
            else:
                step = rule.send(result)
        except StopIteration as stop:
            return stop.value


@pytest.fixture
def statements(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Step]]:
    """The statements the store's rules yield from now on."""
    seen: list[Step] = []
    run = store._run  # type: ignore[attr-defined]

    async def counting(mode: Any, make: Callable[[], Rule[Any]]) -> Any:
        return await run(mode, lambda: _counted(make(), seen))

    monkeypatch.setattr(store, "_run", counting)
    yield seen
    assert all(sql in SHARED for sql, _, _ in seen)  # nothing made up at run time


async def test_a_rule_takes_no_more_statements_than_before(store: Store,
                                                           statements: list[Step]) -> None:
    # the statements the PostgreSQL code before issue 13 sent (SQLite's sent as many or
    # more); a new customer on SMS is also looked for on WhatsApp (the phone twin)
    before = {"ingest, new customer": 11, "ingest, returning customer": 8,
              "ingest, duplicate": 3, "a bot reply": 9, "a claim": 5, "get_contact": 3,
              "merge_contacts": 14, "import, one update": 2, "import, unchanged": 2}
    counted: dict[str, int] = {}

    async def count(name: str, call: Any) -> Any:
        statements.clear()
        result = await call
        counted[name] = len(statements)
        return result

    first = await count("ingest, new customer",
                        store.ingest(InboundMessage("sms", "+1555", "hi", "p1")))
    await count("ingest, returning customer",
                store.ingest(InboundMessage("sms", "+1555", "again", "p2")))
    await count("ingest, duplicate", store.ingest(InboundMessage("sms", "+1555", "hi", "p1")))
    conversation_id = first.conversation.id
    await count("a bot reply", store.record_turn(
        conversation_id, [NewMessage(Author.BOT, "sure", channel="sms")],
        handled_message_id=first.message.id, new_state=ConversationState.QUEUED))
    agent = await store.create_user("a@example.com", "Ann", Role.AGENT, "x")
    turn = await count("a claim", store.record_turn(
        conversation_id, new_state=ConversationState.ASSIGNED, agent_id=agent.id,
        expect_states={ConversationState.QUEUED}))
    assert turn.applied
    await count("get_contact", store.get_contact(first.conversation.contact_id))
    other = await store.ingest(InboundMessage("telegram", "42", "hello"))
    merge = await count("merge_contacts", store.merge_contacts(
        first.conversation.contact_id, other.conversation.contact_id))
    assert merge.contact.id == first.conversation.contact_id
    article = NewArticle("Shipping", ("how long is shipping",), "3 days")
    [created] = await store.create_articles([article])
    [updated] = await count("import, one update", store.import_articles(
        [(created.id, replace(article, answer="2 days"))]))
    [unchanged] = await count("import, unchanged", store.import_articles(
        [(created.id, replace(article, answer="2 days"))]))
    assert (updated.action, unchanged.action) == ("updated", "unchanged")
    assert {name: n for name, n in counted.items() if n > before[name]} == {}

