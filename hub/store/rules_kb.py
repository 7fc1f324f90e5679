"""Rules, once for both engines (see sql.py): articles and their history, unanswered
questions, knowledge-base settings (the interface: base_kb.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hub.model import Article, NewArticle
from hub.store.base import NotFound
from hub.store.base_kb import (
    ArticleChange,
    ArticleRevision,
    NewUnanswered,
    RevisionAuthor,
    Unanswered,
)
from hub.store.rows import (
    REVISION_COLUMNS,
    article_from_row,
    author_values,
    revision_from_row,
    unanswered_from_row,
)
from hub.store.sql import Rule, Sql, count, one, reads, rows, writes, writes_one

_COLUMNS = "title, questions, answer, tags, status, sms_answer"

ALL_ARTICLES = Sql("SELECT * FROM articles ORDER BY id")
ARTICLE = Sql("SELECT * FROM articles WHERE id = $1")
ANY_ARTICLE = Sql("SELECT EXISTS (SELECT 1 FROM articles) AS found")
# "is the knowledge base empty? then fill it" is decided by one process at a time
LOCK_FILL_EMPTY = Sql("SELECT pg_advisory_xact_lock(hashtext("
                      "'supporthub-fill-empty-kb-' || current_schema()))", lock_only=True)
# A genuine fork: a deleted article's id is never given again (its history stays its own).
# PostgreSQL's identity sequence never reuses one; SQLite's rowid would reuse the largest,
# so SQLite counts past every id the history has seen.
INSERT_ARTICLE = Sql(
    f"INSERT INTO articles ({_COLUMNS}, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, {now}, {now}) RETURNING *",
    sqlite_fork=f"INSERT INTO articles (id, {_COLUMNS}, created_at, updated_at)"
    " VALUES (max(coalesce((SELECT max(id) FROM articles), 0),"
    " coalesce((SELECT max(article_id) FROM article_revisions), 0)) + 1,"
    " $1, $2, $3, $4, $5, $6, {now}, {now}) RETURNING *")
UPDATE_ARTICLE = Sql(
    "UPDATE articles SET title = $1, questions = $2, answer = $3, tags = $4, status = $5,"
    " sms_answer = $6, updated_at = {now} WHERE id = $7 RETURNING *")
# an import's update writes nothing when the row already is so ("unchanged")
UPDATE_CHANGED_ARTICLE = Sql(
    "UPDATE articles SET title = $1, questions = $2, answer = $3, tags = $4, status = $5,"
    " sms_answer = $6, updated_at = {now} WHERE id = $7"
    f" AND ({_COLUMNS}) {{distinct}} ($1, $2, $3, $4, $5, $6) RETURNING *")
INSERT_ARTICLE_WITH_ID = Sql(
    f"INSERT INTO articles (id, {_COLUMNS}, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, {now}, {now}) RETURNING *")
DELETE_ARTICLE = Sql("DELETE FROM articles WHERE id = $1")
# a snapshot of the article's current row (for "delete": as it was right before)
WRITE_REVISION = Sql(
    f"INSERT INTO article_revisions (article_id, action, {_COLUMNS}, created_at, author_id,"
    f" author_name, author_email) SELECT id, $1, {_COLUMNS}, {{now}}, $3, $4, $5"
    " FROM articles WHERE id = $2")
HISTORY = Sql(f"SELECT {REVISION_COLUMNS} FROM article_revisions WHERE article_id = $1"
              " ORDER BY revision_id DESC")
REVISION = Sql(f"SELECT {_COLUMNS} FROM article_revisions WHERE id = $1 AND article_id = $2")

INSERT_UNANSWERED = Sql(
    "INSERT INTO unanswered (text, kind, conversation_id, message_id, article_id, dismissed,"
    " created_at) VALUES ($1, $2, $3, $4, $5, {false}, {now}) RETURNING *")
OPEN_UNANSWERED = Sql(
    "SELECT * FROM unanswered WHERE dismissed = {false} ORDER BY id DESC LIMIT $1")
DISMISS_UNANSWERED = Sql(
    "UPDATE unanswered SET dismissed = {true} WHERE dismissed = {false} AND id {ids $1}")
UNHELPFUL_COUNTS = Sql(
    "SELECT article_id, count(*) AS n FROM unanswered WHERE kind = 'unhelpful'"
    " AND article_id IS NOT NULL GROUP BY article_id")
KB_SETTING = Sql("SELECT value FROM kb_settings WHERE key = $1")
SET_KB_SETTING = Sql("INSERT INTO kb_settings (key, value) VALUES ($1, $2)"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value")


def _fields(article: NewArticle) -> tuple[str, str, str, str, str, str | None]:
    return (article.title, json.dumps(list(article.questions)), article.answer,
            json.dumps(list(article.tags)), article.status.value, article.sms_answer)


def _revision(article_id: int, action: str, author: RevisionAuthor | None) -> Rule[None]:
    yield count(WRITE_REVISION, action, article_id, *author_values(author))


class KnowledgeRules:
    @reads
    def list_articles(self) -> Rule[list[Article]]:
        return [article_from_row(row) for row in (yield rows(ALL_ARTICLES))]

    @reads
    def get_article(self, article_id: int) -> Rule[Article | None]:
        row = yield one(ARTICLE, article_id)
        return None if row is None else article_from_row(row)

    @writes
    def import_articles(self, items: Sequence[tuple[int | None, NewArticle]], *,
                        author: RevisionAuthor | None = None,
                        only_if_empty: bool = False) -> Rule[list[ArticleChange]]:
        if only_if_empty:
            yield one(LOCK_FILL_EMPTY)
            if (yield one(ANY_ARTICLE))["found"]:
                return []
        changes = []
        for article_id, article in items:
            if article_id is None:
                row = yield one(INSERT_ARTICLE, *_fields(article))
                yield from _revision(int(row["id"]), "create", author)
                changes.append(ArticleChange(article_from_row(row), "added"))
                continue
            row = yield one(UPDATE_CHANGED_ARTICLE, *_fields(article), article_id)
            if row is not None:
                yield from _revision(article_id, "update", author)
                changes.append(ArticleChange(article_from_row(row), "updated"))
                continue
            row = yield one(ARTICLE, article_id)
            if row is None:
                raise NotFound(f"article {article_id} not found")
            changes.append(ArticleChange(article_from_row(row), "unchanged"))
        return changes

    @writes
    def update_article(self, article_id: int, article: NewArticle, *,
                       author: RevisionAuthor | None = None) -> Rule[Article]:
        row = yield one(UPDATE_ARTICLE, *_fields(article), article_id)
        if row is None:
            raise NotFound(f"article {article_id} not found")
        yield from _revision(article_id, "update", author)
        return article_from_row(row)

    @writes
    def delete_article(self, article_id: int, *,
                       author: RevisionAuthor | None = None) -> Rule[None]:
        yield from _revision(article_id, "delete", author)
        if (yield count(DELETE_ARTICLE, article_id)) == 0:
            raise NotFound(f"article {article_id} not found")

    @reads
    def article_history(self, article_id: int) -> Rule[list[ArticleRevision]]:
        return [revision_from_row(row) for row in (yield rows(HISTORY, article_id))]

    @writes
    def restore_article(self, article_id: int, revision_id: int, *,
                        author: RevisionAuthor | None = None) -> Rule[Article]:
        rev = yield one(REVISION, revision_id, article_id)
        if rev is None:
            raise NotFound(f"article {article_id} has no revision {revision_id}")
        values = [rev[name] for name in _COLUMNS.split(", ")]
        row = yield one(UPDATE_ARTICLE, *values, article_id)
        if row is None:  # deleted: put it back under its own id
            row = yield one(INSERT_ARTICLE_WITH_ID, article_id, *values)
        yield from _revision(article_id, "restore", author)
        return article_from_row(row)

    # unanswered questions and settings ------------------------------------------
    @writes_one
    def log_unanswered(self, entry: NewUnanswered) -> Rule[Unanswered]:
        row = yield one(INSERT_UNANSWERED, entry.text, entry.kind.value, entry.conversation_id,
                        entry.message_id, entry.article_id)
        return unanswered_from_row(row)

    @reads
    def list_unanswered(self, limit: int = 2000) -> Rule[list[Unanswered]]:
        return [unanswered_from_row(row) for row in (yield rows(OPEN_UNANSWERED, limit))]

    @writes_one
    def dismiss_unanswered(self, ids: Sequence[int]) -> Rule[int]:
        wanted = [int(i) for i in ids]
        if not wanted:
            return 0
        n: int = yield count(DISMISS_UNANSWERED, wanted)
        return n

    @reads
    def unhelpful_counts(self) -> Rule[dict[int, int]]:
        return {int(r["article_id"]): int(r["n"]) for r in (yield rows(UNHELPFUL_COUNTS))}

    @reads
    def get_kb_setting(self, key: str) -> Rule[str | None]:
        row = yield one(KB_SETTING, key)
        return None if row is None else str(row["value"])

    @writes_one
    def set_kb_setting(self, key: str, value: str) -> Rule[None]:
        json.loads(value)  # settings are JSON; refuse anything else before writing
        yield count(SET_KB_SETTING, key, value)
