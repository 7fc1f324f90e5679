"""Where a matcher is built: never on the event loop, and for a large knowledge base not even
in the hub's process.

Measured (README, "Knowledge base under writes"): building the index of 15,000 phrasings in
a thread stalled the event loop for 100–400 ms, because numpy calls such as ``np.unique``
and the training's array arithmetic hold the GIL for tens of milliseconds at a time. So a
knowledge base of ``process_from`` phrasings or more is built in one worker process (spawned
once, on the first large build, kept for the hub's life, at the lowest CPU priority so the
hub's own work always runs first); only the finished matcher travels back, unpickled in the
executor's result thread, where the GIL is given up between its objects. A small one is
built in a thread: it is done before the process could even start, and below 500 phrasings
(up to 150 articles) the worst stall it caused was 28 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

from hub.model import Article
from knowledge.matcher import Matcher, Thresholds

PROCESS_FROM_PHRASINGS = 500
_NICENESS = 19


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.nice(_NICENESS)


def build(
    articles: Sequence[Article], thresholds: Thresholds, synonyms: Mapping[str, list[str]]
) -> Matcher:
    """The build itself (module level, so a worker process can run it)."""
    return Matcher.build(articles, thresholds, synonyms)


class MatcherBuilder:
    """Builds matchers off the event loop: in a thread when small, in a worker process when
    large. Owns the worker process: ``close`` ends it, also in the middle of a build."""

    def __init__(self, process_from: int = PROCESS_FROM_PHRASINGS) -> None:
        self.process_from = process_from
        self._pool: ProcessPoolExecutor | None = None
        self.builds = 0  # matchers built, for the tests and /metrics

    async def build(
        self,
        articles: Sequence[Article],
        thresholds: Thresholds,
        synonyms: Mapping[str, list[str]],
    ) -> Matcher:
        phrasings = sum(len(a.questions) for a in articles)
        if phrasings < self.process_from:
            matcher = await asyncio.to_thread(build, articles, thresholds, synonyms)
        else:
            loop = asyncio.get_running_loop()
            matcher = await loop.run_in_executor(
                self._worker(), build, list(articles), thresholds, dict(synonyms))
        self.builds += 1
        return matcher

    def _worker(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, never fork: the hub has threads (the SQLite writer), and a forked
            # child would inherit their locks
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority)
        return self._pool

    def close(self) -> None:
        """End the worker process now (a build in flight is abandoned)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())  # no public handle
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()  # nothing to save: a build in flight is abandoned
