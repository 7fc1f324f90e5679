"""SQLite plumbing in Datasette's manner: one writer thread fed by a queue, read-only
connections for reads, results returned to the event loop through futures.

The writer commits in groups: it takes every job queued while the previous commit ran,
runs each inside its own SAVEPOINT (a failing job rolls back alone) and commits them all
at once, so durability before the acknowledgement costs one fsync per batch, not per
message; the batch's results reach the event loop in one wake-up (one call_soon_threadsafe,
not one per job). Automatic WAL checkpoints are off (they caused the p99 stalls measured in
PERFORMANCE.md); the writer runs a PASSIVE checkpoint when it is idle instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from hub.store.sql import Fetch, ForeignKeyViolation, Rule, Sql, Step, UniqueViolation

# a datetime parameter is written as the text every timestamp column holds (what {now}
# gives: ISO 8601 with "T" and the UTC offset), not as sqlite3's default "YYYY-MM-DD HH:MM"
# adapter (deprecated since Python 3.12; its space sorts before "T")
sqlite3.register_adapter(datetime, datetime.isoformat)

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]

_STOP = object()
_MAX_BATCH = 512
_CHECKPOINT_EVERY_SECONDS = 1.0


def _configure(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")


class _Job:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: WriteFn, loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


_Outcome = tuple[_Job, Any, BaseException | None]  # a job, its result, or its error


def _apply(outcomes: list[_Outcome]) -> None:
    for job, result, error in outcomes:
        if job.future.done():
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)


def _settle(outcomes: list[_Outcome]) -> None:
    """Hand results to the waiting loops: one wake-up per loop for the whole batch (each
    ``call_soon_threadsafe`` writes to the loop's self-pipe), not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_apply, settled)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


class SQLiteEngine:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_lock = threading.Lock()
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # writer ----------------------------------------------------------------
    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._writer.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            _configure(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA journal_size_limit = 67108864")
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        last_checkpoint = time.monotonic()
        dirty = False
        try:
            while True:
                try:
                    first = self._queue.get(timeout=_CHECKPOINT_EVERY_SECONDS if dirty else None)
                except queue.Empty:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    last_checkpoint, dirty = time.monotonic(), False
                    continue
                if first is _STOP:
                    break
                batch = [first]
                stop = False
                while len(batch) < _MAX_BATCH:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stop = True
                        break
                    batch.append(job)
                self._commit_batch(conn, batch)
                dirty = True
                if time.monotonic() - last_checkpoint > 10 * _CHECKPOINT_EVERY_SECONDS:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    last_checkpoint = time.monotonic()
                if stop:
                    break
        finally:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            conn.close()
            self._fail_pending()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            _settle([(job, None, exc) for job in batch])
            return
        for job in batch:
            conn.execute("SAVEPOINT job")
            try:
                result = job.fn(conn)
            except BaseException as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((job, None, exc))
            else:
                conn.execute("RELEASE job")
                outcomes.append((job, result, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("commit failed")
            conn.execute("ROLLBACK")
            _settle([(job, None, exc) for job, _, _ in outcomes])
            return
        _settle(outcomes)

    def _fail_pending(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                _settle([(job, None, RuntimeError("the store is closed"))])

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None or not self._writer.is_alive():
            raise RuntimeError("the store is closed")
        job = _Job(fn, asyncio.get_running_loop())
        self._queue.put(job)
        result: T = await job.future
        return result

    # readers ---------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            uri = self.path.absolute().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            _configure(conn)
            self._local.conn = conn
            with self._read_lock:
                self._read_conns.append(conn)
        return conn

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    # shutdown --------------------------------------------------------------
    def stop(self) -> None:
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
            self._writer = None
        self._readers.shutdown(wait=True)
        with self._read_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()


# the rules' driver (see sql.py) ------------------------------------------------------
def _violation(exc: sqlite3.IntegrityError) -> BaseException:
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return UniqueViolation(str(exc))
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return ForeignKeyViolation(str(exc))
    return exc


def _adjusted(sql: Sql, params: tuple[Any, ...], stamp: str) -> tuple[Any, ...]:
    if sql.lists:  # id lists go to SQLite's json_each as JSON
        params = tuple(json.dumps(list(p)) if i in sql.lists else p
                       for i, p in enumerate(params))
    return (*params, stamp) if sql.now else params  # {now}: the time, the last parameter


def drive(conn: sqlite3.Connection, rule: Rule[T], step: Step) -> T:
    """Run a started rule to its end on this connection (the writer's, inside the job's
    SAVEPOINT, or a read-only one): a plain loop, kept lean (it is the hot path). Every
    ``{now}`` of one rule is the same time, as PostgreSQL's ``now()`` is the transaction's."""
    execute, send, one, many = conn.execute, rule.send, Fetch.ONE, Fetch.ALL
    stamp = ""
    while True:
        sql, params, fetch = step
        try:
            if sql.adjust:
                if sql.sqlite is None:  # a lock only PostgreSQL needs (Sql lock_only, sessions)
                    step = send(None)
                    continue
                stamp = stamp or datetime.now(UTC).isoformat()
                params = _adjusted(sql, params, stamp)
            try:
                cursor = execute(sql.sqlite, params)  # type: ignore[arg-type]
                result = (cursor.fetchone() if fetch is one else
                          cursor.fetchall() if fetch is many else cursor.rowcount)
            except sqlite3.IntegrityError as exc:
                step = rule.throw(_violation(exc))
            else:
                step = send(result)
        except StopIteration as stop:
            answer: T = stop.value
            return answer
