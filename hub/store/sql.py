"""The store's rules written once, in the sans-I/O manner of psycopg 3's protocol layer.

A *rule* (``ingest``, ``record_turn``, ``merge_contacts``…) is a generator: it yields
:class:`Step` values (a statement, its parameters, what to fetch) and receives each one's
result; it returns the method's answer. It does no I/O. A small *driver* per engine runs it:
a plain loop in SQLite's writer thread (or on a read-only connection), an ``await`` loop on an
asyncpg connection (see ``SQLiteStore._run`` / ``PostgresStore._run``). A database error a
rule should see (a unique or foreign-key clash) is thrown into the generator as
:class:`UniqueViolation` / :class:`ForeignKeyViolation`; on PostgreSQL the transaction is then
aborted, so a rule that catches one may only raise (``Conflict``, ``NotFound``), never go on.

Statements are module-level :class:`Sql` constants (the tests enumerate and prepare every one
on both engines), written once in PostgreSQL's ``$1`` placeholder style with a fixed, small
set of dialect markers, translated for each engine when the constant is made:

==========================  =========================  ====================================
marker                      PostgreSQL                 SQLite
==========================  =========================  ====================================
``$1``                      ``$1``                     ``?1``
``{true}`` / ``{false}``    ``true`` / ``false``       ``1`` / ``0`` (partial indexes match)
``{ids $2}`` (id list)      ``= ANY($2::bigint[])``    ``IN (SELECT value FROM json_each(?2))``
``{lock}``, ``{lock X}``    ``FOR UPDATE``, ``FOR X``  nothing: one writer at a time
``{least}``/``{greatest}``  ``LEAST``/``GREATEST``     ``min``/``max``
``{distinct}`` (rows)       ``IS DISTINCT FROM``       ``IS NOT``
``{now}``                   ``now()``                  the time, a parameter (below)
==========================  =========================  ====================================

``{now}`` is ``now()`` on PostgreSQL (the transaction's start) and, on SQLite, one more
parameter the driver appends: the ISO-8601 UTC text its timestamp columns hold, taken in
Python before the statement runs (a SQLite function calling back into Python would need the
GIL in the middle of a statement, and wait for the event loop's thread to let it go).
A statement that only serialises processes (an advisory lock, locking rows it does not read)
is ``Sql(..., lock_only=True)``: SQLite skips it, its single writer serialises already.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Concatenate, ParamSpec, TypeVar

from hub.store.base import StoreError

T = TypeVar("T")
P = ParamSpec("P")


class UniqueViolation(StoreError):
    """A statement broke a unique index (thrown into the rule that yielded it)."""


class ForeignKeyViolation(StoreError):
    """A statement named a row that does not exist (thrown into the rule)."""


_IDS = re.compile(r"\{ids \$(\d+)\}")
_LOCK = re.compile(r" ?\{lock(?: ([^}]*))?\}")
_PLACEHOLDER = re.compile(r"\$(\d+)")
_COMMON = {"{least}": ("LEAST", "min"), "{greatest}": ("GREATEST", "max"),
           "{true}": ("true", "1"), "{false}": ("false", "0"),
           "{distinct}": ("IS DISTINCT FROM", "IS NOT")}


def _postgres(text: str) -> str:
    text = _IDS.sub(r"= ANY($\1::bigint[])", text)
    text = _LOCK.sub(lambda m: f" FOR {m.group(1) or 'UPDATE'}", text).replace("{now}", "now()")
    for marker, (pg, _) in _COMMON.items():
        text = text.replace(marker, pg)
    return text


def _sqlite(text: str) -> str:
    # the time is one more parameter, which the driver appends (see Sql.now)
    last = max((int(n) for n in _PLACEHOLDER.findall(text)), default=0)
    text = text.replace("{now}", f"${last + 1}")
    text = _IDS.sub(r"IN (SELECT value FROM json_each($\1))", text)
    text = _LOCK.sub("", text)
    for marker, (_, lite) in _COMMON.items():
        text = text.replace(marker, lite)
    return _PLACEHOLDER.sub(r"?\1", text)


class Sql:
    """One statement, in both engines' spelling (translated once, when the constant is made).

    ``lists``: the (0-based) parameters that are id lists, which SQLite receives as JSON.
    ``now``: whether it says ``{now}``; SQLite then gets the time as one more parameter.
    ``sqlite_fork``: SQLite's own wording of a genuine fork (say where it is made, and why).
    ``sessions``: a statement about the database sessions of several processes (routing
    claims and journal adoption, through ``pg_stat_activity``): one process owns a SQLite
    file, so its rules never run it there, and SQLite has no wording of it.
    """

    __slots__ = ("adjust", "lists", "now", "postgres", "sqlite", "text")

    def __init__(self, text: str, *, lock_only: bool = False,
                 sqlite_fork: str | None = None, sessions: bool = False) -> None:
        self.text = " ".join(text.split())
        self.postgres = _postgres(self.text)
        self.sqlite: str | None = None if lock_only or sessions else _sqlite(
            " ".join((sqlite_fork or text).split()))
        self.lists = tuple(int(n) - 1 for n in _IDS.findall(self.text))
        self.now = "{now}" in self.text
        # whether SQLite's driver has more to do than run it as it is
        self.adjust = self.sqlite is None or bool(self.lists) or self.now

    def __repr__(self) -> str:
        return f"Sql({self.text!r})"


class Fetch(enum.Enum):
    ALL = "all"  # a list of rows
    ONE = "one"  # the first row, or None
    COUNT = "count"  # how many rows the statement changed


# (statement, parameters, what to fetch): a plain tuple, made for every statement a rule
# runs (the hot path), so made cheaply
Step = tuple[Sql, tuple[Any, ...], Fetch]


def rows(sql: Sql, *params: Any) -> Step:
    return sql, params, Fetch.ALL


def one(sql: Sql, *params: Any) -> Step:
    return sql, params, Fetch.ONE


def count(sql: Sql, *params: Any) -> Step:
    return sql, params, Fetch.COUNT


Rule = Generator[Step, Any, T]


class Mode(enum.Enum):
    """How an engine runs a rule. SQLite: reads on a read-only connection, writes in the
    writer's per-job SAVEPOINT. PostgreSQL: as each says."""

    READ = "read"  # statements on a pooled connection, no transaction (one round trip each)
    SNAPSHOT = "snapshot"  # several reads that must agree: a read-only REPEATABLE READ tx
    WRITE = "write"  # a READ COMMITTED transaction
    WRITE_ONE = "write_one"  # a single statement: it is its own transaction (no BEGIN/COMMIT)
    RETRY = "retry"  # WRITE, run again when it lost a unique-index race to a concurrent one


def _rule(mode: Mode) -> Callable[[Callable[Concatenate[Any, P], Rule[T]]],
                                  Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]]:
    def decorate(fn: Callable[Concatenate[Any, P], Rule[T]]
                 ) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
        @functools.wraps(fn)
        async def method(self: Any, *args: P.args, **kwargs: P.kwargs) -> T:
            return await self._run(mode, lambda: fn(self, *args, **kwargs))

        return method

    return decorate


# ``@reads def get_user(self, user_id) -> Rule[User | None]`` becomes the Store method
# ``async def get_user(self, user_id) -> User | None`` that the engine runs in that mode.
reads = _rule(Mode.READ)
snapshot = _rule(Mode.SNAPSHOT)
writes = _rule(Mode.WRITE)
writes_one = _rule(Mode.WRITE_ONE)
writes_retrying = _rule(Mode.RETRY)


def start(rule: Rule[T]) -> tuple[Step | None, T | None]:
    """The rule's first step, or (None, its answer) if it needs none (bad input fails here)."""
    try:
        return next(rule), None
    except StopIteration as stop:
        return None, stop.value

