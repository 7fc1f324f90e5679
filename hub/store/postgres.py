"""The PostgreSQL store: the engine for several hub processes on one database (asyncpg).

The rules are the shared ones (``rules_*.py``), driven by :func:`_drive` on a pooled
connection: each method is one transaction at READ COMMITTED (a single statement is its own;
plain reads need none), where the rules lock the row that decides a race first (see
``rules_conversations.py``). What is PostgreSQL's own: the pool, migrations, and leasing:

- ``lease_outbox`` takes due rows ``FOR UPDATE SKIP LOCKED``: two workers never lease one
  item, and only the oldest pending item of a recipient is leasable, so no two workers
  hold replies to one recipient at once. A lease records the database session of the
  process holding it (an ``anchor`` connection each store keeps open); when that session
  has ended — the process died, even by ``kill -9`` — the lease is void at once, so a
  survivor delivers the item on its next poll instead of after the lease time. See the
  schema's note.
- ``ingest`` claims the new message's routing for the same session; ``claim_unrouted`` (a
  shared rule, with a statement about sessions) hands a survivor the unrouted messages of
  sessions that have ended (its hub polls it), so what a killed process acknowledged but
  had not routed is routed within seconds; ``adopt_accepted`` does the same for the intake
  journal's rows.

Every hub process must reach PostgreSQL directly or through a *session* pooler, as the same
role (or one with ``pg_read_all_stats``): LISTEN and the lease holder's session id need a
server session of their own, which transaction pooling (e.g. PgBouncer's default) does not
give. If a process's anchor connection drops while the process lives, its leases are void
too and a reply in flight may be sent twice — the same at-least-once edge a platform without
idempotency keys has after any crash.

The URL may carry ``?schema=NAME`` (the connections' ``search_path``) and ``?pool_size=N``:
see :mod:`hub.store.postgres_url`.

Unlike SQLite, opening does not migrate by default (``auto_migrate = False``): with several
processes on one database, schema changes are an operator's step (``supporthub db migrate``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from asyncpg import Connection as Conn

from hub.model import InboundMessage, OutboxItem
from hub.store.base import SCHEMA_VERSION, SchemaMismatch, Store, StoreError
from hub.store.postgres_accepts import AcceptBatches
from hub.store.postgres_group import GroupCommit
from hub.store.postgres_relay import PgNotifications
from hub.store.postgres_schema import MIGRATIONS
from hub.store.postgres_url import PgTarget, parse_pg_url
from hub.store.rows import outbox_from_row
from hub.store.rules_contacts import ContactRules
from hub.store.rules_conversations import ConversationRules
from hub.store.rules_email import EmailRules
from hub.store.rules_inbox import InboxRules
from hub.store.rules_kb import KnowledgeRules
from hub.store.rules_reach import ReachRules
from hub.store.rules_reports import ReportRules
from hub.store.rules_users import UserRules
from hub.store.sql import (
    Fetch,
    ForeignKeyViolation,
    Mode,
    Rule,
    Sql,
    Step,
    UniqueViolation,
    start,
)

T = TypeVar("T")
_RETRIES = 5
_RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


# PostgreSQL's own statements (leasing is per engine; see the module's note).
# Leasing: due items that no live session holds, oldest due first, only each recipient's
# oldest pending reply, taken FOR UPDATE SKIP LOCKED and leased to this store's session.
LEASE_DUE = Sql(
    "WITH due AS ("
    " SELECT o.id FROM outbox o"
    " WHERE o.status = 'pending' AND o.next_attempt_at <= $1"
    " AND (o.locked_until IS NULL OR o.locked_until <= $1"
    "  OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a"  # the holder's session ended
    "   WHERE a.pid = o.leased_pid"
    "   AND (a.backend_start = o.leased_since OR a.backend_start IS NULL)))"
    " AND NOT EXISTS (SELECT 1 FROM outbox e"  # an earlier reply is unsent
    "  WHERE e.status = 'pending' AND e.channel = o.channel"
    "  AND e.recipient = o.recipient AND e.id < o.id)"
    " ORDER BY o.next_attempt_at, o.id LIMIT $3 FOR UPDATE OF o SKIP LOCKED)"
    " UPDATE outbox o SET locked_until = $2, attempts = o.attempts + 1,"
    " leased_pid = $4, leased_since = $5"
    " FROM due, messages m LEFT JOIN users u ON u.id = m.agent_id"
    " WHERE o.id = due.id AND m.id = o.message_id"
    " RETURNING o.id, o.message_id, o.conversation_id, o.channel, o.recipient,"
    " o.attempts, o.next_attempt_at, m.text, m.suggestions, m.extras,"
    " u.name AS agent_name")
# NOTIFYs, in order, in one round trip (delivered when this statement commits)
NOTIFY_MANY = Sql("SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS t(p)")
ANCHOR_SESSION = Sql("SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")


async def _schema_version(conn: Conn) -> int:
    if await conn.fetchval("SELECT to_regclass('meta')") is None:
        return 0
    value = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(value) if value is not None else 0


async def _drive(conn: Conn, rule: Rule[T], step: Step, single: bool = False) -> T:
    """Run a started rule to its end on this connection: an ``await`` loop."""
    while True:
        statement, params, fetch = step
        sql = statement.postgres
        try:
            try:
                if fetch is Fetch.ONE:
                    result = await conn.fetchrow(sql, *params)
                elif fetch is Fetch.ALL:
                    result = await conn.fetch(sql, *params)
                else:
                    tag = await conn.execute(sql, *params)  # such as "UPDATE 1"
                    result = int(tag.rsplit(" ", 1)[-1])
            except asyncpg.UniqueViolationError as exc:
                step = rule.throw(UniqueViolation(str(exc)))
            except asyncpg.ForeignKeyViolationError as exc:
                step = rule.throw(ForeignKeyViolation(str(exc)))
            else:
                step = rule.send(result)
        except StopIteration as stop:
            answer: T = stop.value
            return answer
        if single:
            raise RuntimeError(f"a one-statement rule went on to {step[0]!r}")


class PostgresStore(ConversationRules, InboxRules, ContactRules, KnowledgeRules, UserRules,
                    EmailRules, ReportRules, ReachRules, Store):
    auto_migrate = False
    several_processes = True

    def __init__(self, url: str, *, group_commit: bool = True, lanes: int = 4) -> None:
        """``group_commit=False`` gives each write its own transaction (benchmarks compare)."""
        self.url = url
        self._group_commit = group_commit
        self._lanes = lanes
        self.target: PgTarget = parse_pg_url(url)
        self._pool: asyncpg.Pool | None = None
        self._anchor: Conn | None = None
        self._lease_owner: tuple[int, datetime] | None = None
        self._anchor_lock = asyncio.Lock()
        self._group: GroupCommit | None = None
        self._accepts = AcceptBatches(self._fetch, self._lease_owner_id)

    # lifecycle -----------------------------------------------------------
    async def connect(self) -> Conn:
        """A connection of its own, outside the pool (the event relay listens on one)."""
        try:
            conn: Conn = await asyncpg.connect(
                self.target.dsn, server_settings=self.target.server_settings
            )
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.target.display}: {exc}"
            ) from exc
        return conn

    async def open(self, *, migrate: bool = True) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.target.dsn, min_size=min(2, self.target.pool_size),
                max_size=self.target.pool_size, server_settings=self.target.server_settings,
                command_timeout=60,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.target.display}: {exc}"
            ) from exc
        self._group = GroupCommit(self._pool.acquire, self._lanes) if self._group_commit else None
        try:
            if migrate:
                await self.migrate()
            else:
                async with self._pool.acquire() as conn:
                    version = await _schema_version(conn)
                if version != SCHEMA_VERSION:
                    newer = version > SCHEMA_VERSION
                    raise SchemaMismatch(
                        f"the database schema at {self.target.display} is version {version},"
                        f" this hub needs {SCHEMA_VERSION}: "
                        + ("upgrade supporthub" if newer else "run `supporthub db migrate`")
                    )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await self._accepts.close()
        if self._group is not None:
            group, self._group = self._group, None
            await group.close()
        if self._anchor is not None:
            anchor, self._anchor = self._anchor, None
            try:
                await anchor.close(timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                anchor.terminate()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()

    async def migrate(self) -> int:
        schema = self.target.schema

        async def run(conn: Conn) -> int:
            # one migrator at a time, even when several processes start together
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                               f"supporthub-migrate-{schema}")
            if schema:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            version = await _schema_version(conn)
            if version > len(MIGRATIONS):
                raise SchemaMismatch(
                    f"database schema is version {version}, newer than this hub's"
                    f" {SCHEMA_VERSION}: upgrade supporthub"
                )
            for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', $1)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    str(number),
                )
            return len(MIGRATIONS)

        async with self.connection() as conn, conn.transaction():
            return await run(conn)

    def connection(self) -> Any:
        """``async with store.connection() as conn``: a pooled connection, for bulk work
        outside the Store interface (``db copy``, benchmarks)."""
        if self._pool is None:
            raise RuntimeError("the store is closed")
        return self._pool.acquire()

    async def _run(self, mode: Mode, make: Callable[[], Rule[T]]) -> T:
        """Drive a rule on a pooled connection, in a transaction unless it is one statement
        or plain reads; run it again when it lost a race it can win next time."""
        if self._pool is None:
            raise RuntimeError("the store is closed")
        retryable = (*_RETRYABLE, UniqueViolation) if mode is Mode.RETRY else _RETRYABLE
        if mode is not Mode.READ and mode is not Mode.SNAPSHOT and self._group is not None:
            return await self._group_write(mode, make)
        for attempt in range(_RETRIES):
            rule = make()
            step, answer = start(rule)
            if step is None:
                return answer  # type: ignore[return-value]
            async with self._pool.acquire() as conn:
                try:
                    if mode is Mode.READ or mode is Mode.WRITE_ONE:
                        return await _drive(conn, rule, step, single=mode is Mode.WRITE_ONE)
                    async with conn.transaction(
                        isolation="repeatable_read" if mode is Mode.SNAPSHOT
                        else "read_committed", readonly=mode is Mode.SNAPSHOT,
                    ):
                        return await _drive(conn, rule, step)
                except retryable:
                    if attempt == _RETRIES - 1:
                        raise
                    await asyncio.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _group_write(self, mode: Mode, make: Callable[[], Rule[T]]) -> T:
        """A write joins the group commit (``postgres_group.py``): it runs in its own
        SAVEPOINT of a transaction shared with the writes queued meanwhile, and returns once
        that transaction has committed."""
        assert self._group is not None
        rule = make()
        first, answer = start(rule)  # bad input fails here, before any database work
        if first is None:
            return answer  # type: ignore[return-value]
        started: list[tuple[Rule[T], Step]] = [(rule, first)]

        async def job(conn: Conn) -> T:
            if started:  # the first try uses the rule already started
                job_rule, step = started.pop()
            else:  # a retry: a fresh rule
                job_rule = make()
                step_or_none, _ = start(job_rule)
                assert step_or_none is not None
                step = step_or_none
            return await _drive(conn, job_rule, step, single=mode is Mode.WRITE_ONE)

        retry_on = (UniqueViolation,) if mode is Mode.RETRY else ()
        return await self._group.run(job, retry_on=retry_on)

    async def _fetch(self, sql: Sql, *args: Any) -> list[Any]:
        if self._pool is None:
            raise RuntimeError("the store is closed")
        rows: list[Any] = await self._pool.fetch(sql.postgres, *args)
        return rows

    def notifications(self) -> PgNotifications:
        """LISTEN/NOTIFY between the processes on this schema (hub/store/postgres_relay.py)."""
        return PgNotifications(self)

    async def notify_many(self, channel: str, payloads: Sequence[str]) -> None:
        """Send NOTIFYs, in order, in one round trip (delivered when this statement commits)."""
        await self._fetch(NOTIFY_MANY, channel, list(payloads))

    # outbox --------------------------------------------------------------
    async def _lease_owner_id(self) -> tuple[int, datetime]:
        """(pid, backend_start) of this store's anchor session, reconnecting it if it died."""
        async with self._anchor_lock:
            if self._anchor is None or self._anchor.is_closed():
                self._anchor = await self.connect()
                row = await self._anchor.fetchrow(ANCHOR_SESSION.postgres)
                self._lease_owner = (int(row["pid"]), row["backend_start"])
            assert self._lease_owner is not None
            return self._lease_owner

    async def lease_outbox(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        pid, since = await self._lease_owner_id()
        rows = await self._fetch(LEASE_DUE, now, now + lease_seconds, limit, pid, since)
        rows.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
        return [outbox_from_row(row) for row in rows]

    async def release_stale_leases(self) -> int:
        return 0  # a lease is void once its session ends (see lease_outbox)

    # routing claims and journal rows are bound to this process's session, like leases -----
    async def _route_owner(self) -> tuple[int, datetime]:
        return await self._lease_owner_id()

    async def accept(self, inbound: InboundMessage) -> None:
        # batched, one statement for all the accepts queued meanwhile (postgres_accepts.py)
        await self._accepts.accept(inbound, self.clock())


__all__ = ["PostgresStore"]
