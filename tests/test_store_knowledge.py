"""The knowledge half of the store contract (history, unanswered questions, feedback,
settings), on SQLite and on PostgreSQL alike (fixtures as in test_store_contract.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from hub.model import ArticleStatus, NewArticle
from hub.store import NotFound, Store, make_store
from hub.store.base_kb import NewUnanswered, RevisionAuthor, UnansweredKind


async def test_sms_answer_round_trips(store: Store) -> None:
    [a] = await store.create_articles([NewArticle("T", ("q",), "long answer", sms_answer="short")])
    assert a.sms_answer == "short"
    b = await store.update_article(a.id, NewArticle("T", ("q",), "long answer"))
    assert b.sms_answer is None
    assert (await store.get_article(a.id)).sms_answer is None  # type: ignore[union-attr]


async def test_every_change_is_in_the_history_and_can_be_restored(store: Store) -> None:
    [a] = await store.create_articles([NewArticle("Shipping", ("how long",), "3 days")])
    await store.update_article(a.id, NewArticle("Shipping", ("how long",), "2 days",
                                                status=ArticleStatus.DRAFT))
    history = await store.article_history(a.id)
    assert [r.action for r in history] == ["update", "create"]
    assert history[0].article.answer == "2 days" and history[1].article.answer == "3 days"
    assert history[0].article.status is ArticleStatus.DRAFT

    restored = await store.restore_article(a.id, history[1].id)
    assert restored.answer == "3 days" and restored.status is ArticleStatus.PUBLISHED
    assert [r.action for r in await store.article_history(a.id)] == [
        "restore", "update", "create"]

    await store.delete_article(a.id)
    assert await store.get_article(a.id) is None
    history = await store.article_history(a.id)
    assert history[0].action == "delete" and history[0].article.answer == "3 days"
    back = await store.restore_article(a.id, history[0].id)  # a deleted article comes back
    assert back.id == a.id and back.title == "Shipping"
    [new] = await store.create_articles([NewArticle("Other", ("q",), "a")])
    assert new.id != a.id


async def test_restore_refuses_another_articles_revision(store: Store) -> None:
    a, b = await store.create_articles([NewArticle("A", ("a",), "a"),
                                        NewArticle("B", ("b",), "b")])
    rev_b = (await store.article_history(b.id))[0]
    with pytest.raises(NotFound):
        await store.restore_article(a.id, rev_b.id)
    with pytest.raises(NotFound):
        await store.restore_article(a.id, 999_999)
    assert await store.article_history(12345) == []


async def test_failed_changes_write_no_history(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update_article(777, NewArticle("x", ("y",), "z"))
    with pytest.raises(NotFound):
        await store.delete_article(777)
    assert await store.article_history(777) == []
    broken = NewArticle(None, ("q",), "a")  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 (the engine's own integrity error)
        await store.create_articles([NewArticle("Fine", ("q",), "a"), broken])
    assert await store.list_articles() == []
    assert await store.article_history(1) == []


async def test_import_articles_adds_updates_in_order_and_is_all_or_nothing(
    store: Store,
) -> None:
    a, b = await store.create_articles([NewArticle("A", ("a",), "a"),
                                        NewArticle("B", ("b",), "b")])
    changes = await store.import_articles(
        [(b.id, NewArticle("B2", ("b",), "b")), (None, NewArticle("C", ("c",), "c")),
         (a.id, NewArticle("A", ("a",), "a"))], author=RevisionAuthor("sheet"))
    assert [(c.action, c.article.title) for c in changes] == [
        ("updated", "B2"), ("added", "C"), ("unchanged", "A")]
    assert changes[1].article.id > b.id and changes[2].article == a
    assert [(r.action, r.author) for r in await store.article_history(b.id)] == [
        ("update", RevisionAuthor("sheet")), ("create", None)]
    assert [r.action for r in await store.article_history(a.id)] == ["create"]

    before = await store.list_articles()
    with pytest.raises(NotFound):  # after an update and an insert in the same transaction
        await store.import_articles([(a.id, NewArticle("A3", ("a",), "a")),
                                     (None, NewArticle("D", ("d",), "d")),
                                     (999, NewArticle("X", ("x",), "x"))])
    assert await store.list_articles() == before
    assert len(await store.article_history(a.id)) == 1
    assert await store.article_history(changes[1].article.id + 1) == []  # D left no trace


async def test_unanswered_log_dismiss_and_feedback_counts(store: Store) -> None:
    [a] = await store.create_articles([NewArticle("A", ("a",), "a")])
    first = await store.log_unanswered(NewUnanswered("where is my parrot", UnansweredKind.FALLBACK))
    second = await store.log_unanswered(NewUnanswered(
        "how long", UnansweredKind.UNHELPFUL, article_id=a.id, message_id=5))
    third = await store.log_unanswered(NewUnanswered(
        "how long?", UnansweredKind.UNHELPFUL, article_id=a.id))
    assert second.kind is UnansweredKind.UNHELPFUL and second.message_id == 5
    assert [u.id for u in await store.list_unanswered()] == [third.id, second.id, first.id]
    assert await store.list_unanswered(limit=1) == [third]
    assert await store.unhelpful_counts() == {a.id: 2}

    assert await store.dismiss_unanswered([first.id, second.id, 424242]) == 2
    assert await store.dismiss_unanswered([first.id]) == 0
    assert await store.dismiss_unanswered([]) == 0
    assert [u.id for u in await store.list_unanswered()] == [third.id]
    assert await store.unhelpful_counts() == {a.id: 2}  # dismissed still counts


async def test_kb_settings(store: Store) -> None:
    assert await store.get_kb_setting("synonyms") is None
    await store.set_kb_setting("synonyms", json.dumps({"delivery": ["shipping"]}))
    await store.set_kb_setting("synonyms", json.dumps({"delivery": ["shipment"]}))
    assert json.loads(await store.get_kb_setting("synonyms") or "") == {
        "delivery": ["shipment"]}
    with pytest.raises(ValueError):
        await store.set_kb_setting("thresholds", "not json")
    assert await store.get_kb_setting("thresholds") is None


async def test_filling_an_empty_knowledge_base_happens_once(store: Store,
                                                             store_url: str) -> None:
    """Two hub processes starting with ``--demo`` at once: the demo articles once."""
    other = make_store(store_url)  # a second process's connections
    await other.open(migrate=False)
    try:
        articles = [NewArticle(f"Article {n}", (f"question {n}",), "answer") for n in range(20)]
        results = await asyncio.gather(
            *(s.create_articles(articles, only_if_empty=True)
              for s in (store, other, store, other)))
        assert sorted(len(r) for r in results) == [0, 0, 0, 20]
        assert len(await store.list_articles()) == 20
        assert await other.create_articles(articles[:1], only_if_empty=True) == []
        assert len(await other.create_articles(articles[:1])) == 1  # a plain create still adds
    finally:
        await other.close()
