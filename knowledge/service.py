"""The live knowledge base: the current matcher, rebuilt whenever articles change.

Rebuilding happens off the event loop and the new matcher replaces the old one in a single
assignment, so a message is always matched against one whole, consistent index. A rebuild
also reads the admin-edited synonyms and thresholds (knowledge/settings.py) from the store.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hub import metrics
from hub.model import Article, ArticleStatus
from hub.store import Store
from knowledge import settings as kb_settings
from knowledge.matcher import Matcher, MatchResult, Thresholds

log = logging.getLogger(__name__)


class KnowledgeBase:
    def __init__(self, store: Store, thresholds: Thresholds | None = None) -> None:
        self._store = store
        self.default_thresholds = thresholds or Thresholds()
        self._matcher = Matcher.build([], thresholds)
        self._articles: dict[int, Article] = {}
        self.synonyms: dict[str, list[str]] = {}
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        async with self._lock:
            articles = await self._store.list_articles()
            synonyms = kb_settings.load(await self._store.get_kb_setting(kb_settings.SYNONYMS),
                                        kb_settings.parse_synonyms, "synonyms")
            overrides = kb_settings.load(
                await self._store.get_kb_setting(kb_settings.THRESHOLDS),
                kb_settings.parse_thresholds, "thresholds")
            thresholds = kb_settings.apply_thresholds(self.default_thresholds, overrides)
            matcher = await asyncio.to_thread(Matcher.build, articles, thresholds, synonyms)
            self._matcher, self._articles = matcher, {a.id: a for a in articles}
            self.synonyms = synonyms
            log.info("knowledge base: %d articles, %d phrasings", len(articles), len(matcher))

    @property
    def thresholds(self) -> Thresholds:
        return self._matcher.thresholds

    def match(self, text: str) -> MatchResult:
        started = time.perf_counter()
        result = self._matcher.match(text)
        metrics.KNOWLEDGE_MATCH_SECONDS.observe(time.perf_counter() - started)
        return result

    def article(self, article_id: int) -> Article | None:
        """A published article, the only kind a customer is ever answered with (a draft,
        even one named by a forged suggestion button on any channel, is None)."""
        article = self._articles.get(article_id)
        return article if article is not None and article.status is ArticleStatus.PUBLISHED \
            else None

    def __len__(self) -> int:
        return len(self._articles)
