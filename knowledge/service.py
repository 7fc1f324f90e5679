"""The live knowledge base: the current matcher, rebuilt in the background when articles change.

A change is committed to the store first; then ``changed()`` says so and returns at once. The
rebuild is coalesced: at most one build runs, and any number of changes made meanwhile are
covered by one more build after it (it re-reads the store, so it sees all of them). A build
runs off the event loop (``knowledge.builder``: a thread when small, a worker process when
large) and the new matcher replaces the old one in a single assignment, so a message is
always matched against one whole, consistent index — the previous one until the new one is
ready. A rebuild also reads the admin-edited synonyms and thresholds (knowledge/settings.py).

Generations: every ``changed()`` returns a number; ``settled(n)`` waits until the matcher in
use includes change ``n`` (``reload()`` is ``changed()`` then ``settled()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hub import metrics
from hub.model import Article, ArticleStatus
from hub.store import Store
from knowledge import settings as kb_settings
from knowledge.builder import MatcherBuilder
from knowledge.matcher import Matcher, MatchResult, Thresholds

log = logging.getLogger(__name__)

QUIET_SECONDS = 0.05  # a large rebuild, or one after a burst, waits for a pause this long ...
QUIET_MAX_SECONDS = 1.0  # ... but never longer than this
RETRY_SECONDS = 1.0  # a failed rebuild (the store unreachable) is retried with back-off
MAX_RETRY_SECONDS = 60.0


class KnowledgeBase:
    def __init__(
        self,
        store: Store,
        thresholds: Thresholds | None = None,
        builder: MatcherBuilder | None = None,
    ) -> None:
        self._store = store
        self.default_thresholds = thresholds or Thresholds()
        self._matcher = Matcher.build([], thresholds)
        self._articles: dict[int, Article] = {}
        self.synonyms: dict[str, list[str]] = {}
        self.builder = builder or MatcherBuilder()
        self._requested = 0  # generation of the latest change
        self._built = 0  # generation the matcher in use includes
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Condition()
        self._error: BaseException | None = None
        self.last_build_seconds = 0.0

    # changes -------------------------------------------------------------------
    def changed(self) -> int:
        """Note a committed change and make sure a rebuild will include it; returns at once.
        The result is the change's generation, for ``settled``."""
        self._requested += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._rebuild_until_current(), name="kb-rebuild")
        return self._requested

    async def settled(self, generation: int | None = None) -> None:
        """Wait until the matcher in use includes change ``generation`` (default: every
        change so far). Raises the rebuild's error if it failed."""
        target = self._requested if generation is None else generation
        async with self._progress:
            await self._progress.wait_for(
                lambda: self._built >= target or self._error is not None)
        if self._built < target and self._error is not None:
            raise self._error

    async def reload(self) -> None:
        """Rebuild from the store and wait for it (at start, and after a lost connection)."""
        await self.settled(self.changed())

    async def refresh(self) -> None:
        """Rebuild in the background (another process changed the knowledge base)."""
        self.changed()

    @property
    def phrasings(self) -> int:
        """Phrasings in the matcher in use."""
        return len(self._matcher)

    @property
    def pending(self) -> bool:
        """True while a committed change is not in the matcher yet."""
        return self._built < self._requested

    async def close(self) -> None:
        """Stop rebuilding and end the builder's worker process."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.builder.close()

    async def _rebuild_until_current(self) -> None:
        delay = RETRY_SECONDS
        while self._built < self._requested:
            burst = self._requested - self._built > 1  # changes came while building
            if burst or len(self._matcher) >= self.builder.process_from:
                await self._pause_in_writes()
            target = self._requested  # the store read below sees every change up to here
            try:
                await self._rebuild()
            except Exception as exc:  # waiters hear of it; the rebuild is tried again
                log.exception("knowledge base: rebuild failed; retrying in %.0f s", delay)
                self._error = exc
                async with self._progress:
                    self._progress.notify_all()
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            self._built, self._error, delay = target, None, RETRY_SECONDS
            async with self._progress:
                self._progress.notify_all()

    async def _pause_in_writes(self) -> None:
        """Before a large (seconds-long) rebuild: let a burst of writes finish, so one build
        covers it instead of one build of part of it and another of the rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUIET_MAX_SECONDS
        seen = self._requested
        while loop.time() < deadline:
            await asyncio.sleep(QUIET_SECONDS)
            if self._requested == seen:
                return
            seen = self._requested

    async def _rebuild(self) -> None:
        started = time.perf_counter()
        articles = await self._store.list_articles()
        synonyms = kb_settings.load(await self._store.get_kb_setting(kb_settings.SYNONYMS),
                                    kb_settings.parse_synonyms, "synonyms")
        overrides = kb_settings.load(
            await self._store.get_kb_setting(kb_settings.THRESHOLDS),
            kb_settings.parse_thresholds, "thresholds")
        thresholds = kb_settings.apply_thresholds(self.default_thresholds, overrides)
        matcher = await self.builder.build(articles, thresholds, synonyms)
        articles_by_id = {a.id: a for a in articles}
        self._matcher, self._articles, self.synonyms = matcher, articles_by_id, synonyms
        self.last_build_seconds = time.perf_counter() - started
        log.info("knowledge base: %d articles, %d phrasings (built in %.2f s)",
                 len(articles), len(matcher), self.last_build_seconds)

    # reading ---------------------------------------------------------------------
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
