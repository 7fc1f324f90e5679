"""Writes that callers make one by one, done together: while one write runs, whatever is
queued meanwhile waits for the next, which takes it all (up to ``limit``) in one call.

Each caller's ``add`` returns once the call that carried its item has returned, or raises
that call's error: for a write that commits, "returned" means "committed". The outbox's
"sent" marks (hub/outbox.py) and PostgreSQL's journal inserts (postgres_accepts.py) use it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    def __init__(self, write: Callable[[list[T]], Awaitable[object]], name: str,
                 limit: int | None = None) -> None:
        self._write = write
        self._name = name
        self._limit = limit
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name=self._name)
        await done

    async def close(self) -> None:
        """Stop writing; every caller still waiting gets an error (nothing of theirs is
        known to be written)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        _settle([done for _, done in self._queue], RuntimeError(f"{self._name}: closed"))
        self._queue.clear()

    async def _write_all(self) -> None:
        try:
            while self._queue:
                cut = len(self._queue) if self._limit is None else self._limit
                batch, self._queue = self._queue[:cut], self._queue[cut:]
                waiting = [done for _, done in batch]
                try:
                    await self._write([item for item, _ in batch])
                except asyncio.CancelledError:
                    _settle(waiting, RuntimeError(f"{self._name}: closed"))
                    raise
                except Exception as exc:  # none of the batch is known to be written
                    _settle(waiting, exc)
                else:
                    _settle(waiting, None)
        finally:
            self._writer = None


def _settle(waiting: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for done in waiting:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
