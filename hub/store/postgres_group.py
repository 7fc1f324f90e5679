"""Group commit on PostgreSQL: concurrent writes share one transaction, so one fsync.

Each write would otherwise be its own transaction, and a commit waits for its WAL flush: on
a disk that flushes in a few milliseconds, 64 concurrent writers got ~640 commits/s however
many connections they had. Here writes are queued; one connection (``lanes`` of them, each
its own transaction) takes whatever is queued, runs each job in its own SAVEPOINT (a job
that fails is rolled back alone and its caller gets the error), commits once, and only then
settles every job's future: a caller's write is durable when its ``await`` returns, exactly
as before, and the jobs of one batch commit together or not at all.

A job that loses a race it can win on a second try (a serialisation failure or a deadlock
with another lane or process, or, for ``retry_on``, a unique-index clash) is rolled back to
its savepoint and queued again, first, for a later batch: run again in the same batch it
would meet the same locks, which the batch's earlier jobs still hold. If the COMMIT itself
fails, every job of the batch gets that error (none of them happened).

Lock waits are bounded (``LOCK_TIMEOUT``): a job of one open batch can wait for a row that
another lane's (or process's) open batch has locked, and two batches that lock rows in
opposite orders wait for each other until PostgreSQL's deadlock detector breaks the cycle
after ``deadlock_timeout`` (1 s by default, and only a superuser may lower it), stalling
both batches that long. A wait longer than ``LOCK_TIMEOUT`` instead rolls the waiting job
back to its savepoint; its batch goes on and commits, which releases what the other batch
waits for, and the job is run again in a later batch — retried this way for up to
``LOCK_RETRY_SECONDS``, since the row's holder is another batch that will commit.

The SQLite engine's writer does the same in its thread (``sqlite_engine.py``); this is the
asyncio form, on an asyncpg connection from the store's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from asyncpg import Connection as Conn

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH = 256  # jobs in one transaction
LOCK_TIMEOUT_MS = 100  # the longest a job waits for a row another open batch holds ...
LOCK_RETRY_SECONDS = 30.0  # ... and how long it is run again for, batch after batch
_RETRIES = 5
_RETRYABLE: tuple[type[BaseException], ...] = (
    asyncpg.SerializationError, asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError)
_SET_LOCK_TIMEOUT = f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"

# a job: given the batch's connection, run the job's statements (already inside its
# savepoint) and return its answer
Job = Callable[[Conn], Awaitable[T]]


@dataclass(eq=False)
class _Queued(Generic[T]):
    job: Job[T]
    retry_on: tuple[type[BaseException], ...]
    future: asyncio.Future[T] = field(default_factory=lambda: asyncio.get_running_loop()
                                      .create_future())
    tries: int = 0
    queued_at: float = field(default_factory=time.monotonic)

    def may_retry(self, error: BaseException) -> bool:
        """Whether a job that failed with ``error`` is run again in a later batch."""
        if isinstance(error, asyncpg.LockNotAvailableError):  # its row's holder will commit
            return time.monotonic() - self.queued_at < LOCK_RETRY_SECONDS
        return isinstance(error, self.retry_on) and self.tries < _RETRIES


class GroupCommit:
    """Run write jobs in shared transactions on ``lanes`` connections taken from
    ``acquire`` (an asyncpg pool's ``acquire``)."""

    def __init__(self, acquire: Callable[[], Any], lanes: int = 1) -> None:
        self._acquire = acquire
        self._lanes = lanes
        self._queue: deque[_Queued[Any]] = deque()
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0  # transactions committed (tests and benchmarks read these)
        self.jobs = 0
        self.lock_waits_cut = 0  # jobs rolled back after waiting LOCK_TIMEOUT_MS for a row

    async def run(self, job: Job[T], *, retry_on: tuple[type[BaseException], ...] = ()) -> T:
        """Queue ``job``; return its answer once its batch has committed."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._lane(), name=f"pg-group-commit-{n}")
                           for n in range(self._lanes)]
        queued: _Queued[T] = _Queued(job, (*_RETRYABLE, *retry_on))
        self._queue.append(queued)
        self._ready.set()
        return await queued.future

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._queue:
            queued = self._queue.popleft()
            if not queued.future.done():
                queued.future.set_exception(RuntimeError("the store is closed"))

    async def _lane(self) -> None:
        while True:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                for queued in batch:
                    if not queued.future.done():
                        queued.future.set_exception(RuntimeError("the store is closed"))
                raise
            except Exception as exc:  # the connection or the COMMIT failed: none happened
                for queued in batch:
                    if not queued.future.done():
                        queued.future.set_exception(exc)

    async def _commit(self, batch: list[_Queued[Any]]) -> None:
        outcomes: list[tuple[_Queued[Any], Any, BaseException | None]] = []
        again: list[_Queued[Any]] = []
        async with self._acquire() as conn:
            async with conn.transaction():
                await conn.execute(_SET_LOCK_TIMEOUT)
                for queued in batch:
                    answer, error = await self._one(conn, queued)
                    if error is not None and queued.may_retry(error):
                        again.append(queued)  # lost a race: in a later batch, once this
                        # batch's locks are released (a retry here could meet it again)
                        if isinstance(error, asyncpg.LockNotAvailableError):
                            self.lock_waits_cut += 1
                    else:
                        outcomes.append((queued, answer, error))
        self.batches += 1
        self.jobs += len(outcomes)
        if again:
            self._queue.extendleft(reversed(again))
            self._ready.set()
        for queued, answer, error in outcomes:  # committed: now each caller may go on
            if queued.future.done():
                continue  # its caller went away (cancelled); the write stands
            if error is None:
                queued.future.set_result(answer)
            else:
                queued.future.set_exception(error)

    async def _one(self, conn: Conn, queued: _Queued[Any]) -> tuple[Any, BaseException | None]:
        """Run one job in its savepoint: (answer, None), or (None, the error) with the job
        rolled back alone."""
        queued.tries += 1
        savepoint = conn.transaction()
        await savepoint.start()
        try:
            answer = await queued.job(conn)
        except (asyncpg.InterfaceError, OSError, TimeoutError):
            raise  # the connection is gone: the whole batch fails
        except Exception as exc:
            with contextlib.suppress(asyncpg.InterfaceError):
                await savepoint.rollback()
            return None, exc
        await savepoint.commit()
        return answer, None


__all__ = ["GroupCommit", "Job"]
