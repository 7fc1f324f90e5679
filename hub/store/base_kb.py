"""The knowledge side of the store interface (issue 6): article history, unanswered
questions, feedback, synonyms and knowledge-base settings. Mixed into :class:`Store`.

Every change to an article (create, update, delete, restore) writes a revision row in the
same transaction, so the history is complete whichever way an article was changed (API,
import, CLI). Revisions outlive their article: a deleted article can be restored. Since
schema version 4 each revision names its author (``RevisionAuthor``): the user as they were
at the time, or a label for changes made outside the API ("cli import", "demo").
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.model import Article, User


class UnansweredKind(enum.StrEnum):
    FALLBACK = "fallback"  # the bot had no answer
    UNHELPFUL = "unhelpful"  # the customer said a direct answer did not help


@dataclass(frozen=True, slots=True)
class RevisionAuthor:
    """Who made a change: a user (their id, and name and email as they were then), or, for a
    change made outside the API, only a label such as "cli import"."""

    name: str
    user_id: int | None = None
    email: str | None = None

    @classmethod
    def of(cls, user: User) -> RevisionAuthor:
        return cls(user.name, user.id, user.email)


CLI_IMPORT = RevisionAuthor("cli import")
DEMO = RevisionAuthor("demo knowledge base")


@dataclass(frozen=True, slots=True)
class ArticleChange:
    """What ``Store.import_articles`` did with one article: ``"added"``, ``"updated"``, or
    ``"unchanged"`` (the row already matched the article: no revision was written)."""

    article: Article
    action: str


@dataclass(frozen=True, slots=True)
class ArticleRevision:
    """The article as it was right after one change (for "delete": right before it)."""

    id: int
    article_id: int
    action: str  # "create", "update", "delete", "restore"
    article: Article
    created_at: datetime
    author: RevisionAuthor | None = None  # None: written before schema version 4


@dataclass(frozen=True, slots=True)
class NewUnanswered:
    text: str
    kind: UnansweredKind
    conversation_id: int | None = None
    message_id: int | None = None
    article_id: int | None = None  # the article that did not help (UNHELPFUL)


@dataclass(frozen=True, slots=True)
class Unanswered:
    id: int
    text: str
    kind: UnansweredKind
    conversation_id: int | None
    message_id: int | None
    article_id: int | None
    created_at: datetime


class KnowledgeStore(ABC):
    """Abstract knowledge-administration methods every engine implements."""

    @abstractmethod
    async def article_history(self, article_id: int) -> list[ArticleRevision]:
        """Newest first; empty for an article that never existed."""

    @abstractmethod
    async def restore_article(self, article_id: int, revision_id: int, *,
                              author: RevisionAuthor | None = None) -> Article:
        """Put the article back as that revision left it (re-created if it was deleted).
        Raises NotFound if the revision is not one of that article's."""

    @abstractmethod
    async def log_unanswered(self, entry: NewUnanswered) -> Unanswered: ...

    @abstractmethod
    async def list_unanswered(self, limit: int = 2000) -> list[Unanswered]:
        """Open (not dismissed) entries, newest first."""

    @abstractmethod
    async def dismiss_unanswered(self, ids: Sequence[int]) -> int:
        """Take entries off the open list (they still count as feedback); how many were."""

    @abstractmethod
    async def unhelpful_counts(self) -> dict[int, int]:
        """Article id -> how many times customers said its answer did not help."""

    @abstractmethod
    async def get_kb_setting(self, key: str) -> str | None:
        """A knowledge-base setting (JSON text): ``synonyms``, ``thresholds``."""

    @abstractmethod
    async def set_kb_setting(self, key: str, value: str) -> None: ...
