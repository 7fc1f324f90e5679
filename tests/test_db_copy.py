"""``supporthub db copy``: a populated SQLite hub, copied to PostgreSQL, reads back the same
through the Store API — ids, states, threads, outbox, users, sessions, articles, secrets."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from conftest import pg_schema

from hub.db_copy import CopyRefused, copy_database
from hub.model import (
    ArticleStatus,
    Author,
    ConversationState,
    InboundMessage,
    NewArticle,
    NewMessage,
    Role,
)
from hub.store import Store, make_store
from hub.store.base_kb import CLI_IMPORT, NewUnanswered, RevisionAuthor, UnansweredKind

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()


async def populate(store: Store) -> None:
    ann = await store.create_user("ann@example.com", "Ann", Role.AGENT, "hash-ann")
    root = RevisionAuthor.of(
        await store.create_user("root@example.com", "Root", Role.ADMIN, "hash-root"))
    await store.create_session("session-ann", ann.id, NOW + 3600)
    await store.set_meta_default("secret_key", "s3cret")
    articles = await store.create_articles([
        NewArticle("Shipping", ("how long is shipping",), "3 days", ("orders",)),
        NewArticle("Draft", ("q",), "a", status=ArticleStatus.DRAFT),
    ], author=CLI_IMPORT)
    # a conversation answered by the bot, with suggestions, on two channels
    first = await store.ingest(InboundMessage("webchat", "v1", "shipping?", "w-1",
                                              display_name="Vee", extras={"page": "/faq"}))
    await store.record_turn(first.conversation.id, [NewMessage(
        Author.BOT, "Did you mean", suggestions=())], handled_message_id=first.message.id)
    # handed off, claimed, a private note and an agent reply
    second = await store.ingest(InboundMessage("sms", "+15550001", "a person please", "SM1"))
    cid = second.conversation.id
    await store.record_turn(cid, [NewMessage(Author.BOT, "connecting")],
                            handled_message_id=second.message.id,
                            new_state=ConversationState.QUEUED)
    await store.record_turn(cid, [NewMessage(Author.SYSTEM, "Ann joined"),
                                  NewMessage(Author.AGENT, "note", agent_id=ann.id,
                                             private=True),
                                  NewMessage(Author.AGENT, "hi!", agent_id=ann.id,
                                             article_id=articles[0].id)],
                            new_state=ConversationState.ASSIGNED, agent_id=ann.id)
    # a resolved one, and an unanswered message
    third = await store.ingest(InboundMessage("telegram", "42", "thanks", "tg-1"))
    await store.record_turn(third.conversation.id, handled_message_id=third.message.id,
                            new_state=ConversationState.RESOLVED)
    await store.ingest(InboundMessage("telegram", "43", "still there?", "tg-2"))
    await store.set_identity_status("sms", "+15550001", opted_out=True)
    # outbox: one sent, one dead, the rest pending
    leased = await store.lease_outbox(NOW, 60, 2)
    await store.outbox_delivered(leased[0].id, "platform-1")
    await store.outbox_failed(leased[1].id, "blocked", None)
    await store.record_delivery_status("webchat", "platform-1", "delivered")
    # knowledge administration (schema v2): history (v4: with authors), unanswered log,
    # settings; the last article deleted, so its id must not be handed out again
    await store.update_article(articles[0].id, NewArticle(
        "Shipping", ("how long is shipping", "delivery time"), "2-3 days", ("orders",)),
        author=root)
    [gone] = await store.create_articles([NewArticle("Gone", ("q",), "a")], author=root)
    await store.delete_article(gone.id, author=root)
    await store.log_unanswered(NewUnanswered("boiling point of tungsten",
                                             UnansweredKind.FALLBACK, first.conversation.id,
                                             first.message.id))
    await store.set_kb_setting("synonyms", '{"delivery": ["shipping"]}')
    # contacts and agents (schema v3): a merge, profile fields, canned responses, status
    contact = (await store.get_conversation(third.conversation.id))
    assert contact is not None
    await store.update_contact(contact.contact_id, name="Tee", email="tee@example.com",
                               attributes={"plan": "gold"})
    await store.merge_contacts(second.conversation.contact_id, contact.contact_id)
    await store.save_canned("hello", "Hi {{first_name}}!")


async def snapshot(store: Store) -> dict[str, object]:
    conversations = await store.list_conversations(limit=1000)
    contact_ids = sorted({c.contact_id for c in conversations})
    return {
        "conversations": conversations,
        "messages": {c.id: await store.list_messages(c.id) for c in conversations},
        "contacts": [await store.get_contact(i) for i in contact_ids],
        "users": [await store.get_user_by_email(e)
                  for e in ("ann@example.com", "root@example.com")],
        "session": await store.session_user("session-ann", NOW),
        "articles": await store.list_articles(),
        "secret": await store.get_meta("secret_key"),
        "unhandled": await store.unhandled_inbound(),
        "identity": await store.identity_status("sms", "+15550001"),
        "stats": await store.outbox_stats(),
        "dead": await store.dead_letters(),
        "history": [await store.article_history(i) for i in (1, 2, 3)],
        "unanswered": await store.list_unanswered(),
        "kb_setting": await store.get_kb_setting("synonyms"),
        "canned": await store.list_canned(),
        "users_all": await store.list_users(),
    }


async def test_copy_round_trips_a_populated_sqlite_store(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'hub.db'}"
    source = make_store(source_url)
    await source.open()
    await populate(source)
    expected = await snapshot(source)
    await source.close()
    async with pg_schema(migrate=False) as target_url:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub", "db", "copy", "--from", source_url, "--to", target_url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        assert "copied" in out.decode() and "messages 9" in out.decode()

        target = make_store(target_url)
        await target.open(migrate=False)
        try:
            assert await snapshot(target) == expected
            source = make_store(source_url)
            await source.open()
            try:
                pending = await source.lease_outbox(NOW + 1, 60, 100)
            finally:
                await source.close()
            # two replies to one customer are pending: the older is leasable, on both
            assert [i.text for i in pending] == ["Ann joined"]
            assert await target.lease_outbox(NOW + 1, 60, 100) == pending
            # new rows continue after the copied ids
            largest = max(m.id for ms in expected["messages"].values()  # type: ignore[attr-defined]
                          for m in ms)
            fresh = await target.ingest(InboundMessage("sms", "+15550009", "new"))
            assert fresh.message.id > largest
            # revisions kept their authors; the deleted article's id stays its own
            history = await target.article_history(1)
            assert [r.author and r.author.name for r in history] == ["Root", "cli import"]
            [new] = await target.create_articles([NewArticle("New", ("q",), "a")])
            assert new.id == 4 and len(await target.article_history(3)) == 2
        finally:
            await target.close()

        with pytest.raises(CopyRefused, match="not empty"):
            await copy_database(source_url, target_url)


async def test_copy_refuses_what_it_cannot_copy(tmp_path: Path) -> None:
    with pytest.raises(CopyRefused, match="no such database file"):
        await copy_database(f"sqlite:///{tmp_path / 'missing.db'}", "postgresql://x@h/db")
    with pytest.raises(CopyRefused, match="PostgreSQL URL"):
        await copy_database(f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}")
