"""The PostgreSQL store: the engine for several hub processes on one database (asyncpg).

Each method is one transaction on a pooled connection, at READ COMMITTED. Where two
processes could race, the row that decides is locked first:

- ``ingest`` locks the contact, so two first messages of one customer open one conversation;
  a concurrent insert of the same identity or platform message id fails the unique index
  and the transaction is retried, when it finds the other's row.
- ``record_turn`` locks the conversation (``FOR NO KEY UPDATE``) before checking its state, so
  of two claims exactly one sees it queued.
- ``lease_outbox`` takes due rows ``FOR UPDATE SKIP LOCKED``: two workers never lease one
  item, and only the oldest pending item of a recipient is leasable, so no two workers
  hold replies to one recipient at once. A lease records the database session of the
  process holding it (an ``anchor`` connection each store keeps open); when that session
  has ended — the process died, even by ``kill -9`` — the lease is void at once, so a
  survivor delivers the item on its next poll instead of after the lease time. See the
  schema's note.
- ``ingest`` claims the new message's routing for the same session; ``claim_unrouted`` hands
  a survivor the unrouted messages of sessions that have ended (its hub polls it), so what
  a killed process acknowledged but had not routed is routed within seconds.

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
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from asyncpg import Connection as Conn

from hub.model import (
    Article,
    Contact,
    Conversation,
    ConversationState,
    InboundMessage,
    Ingested,
    Message,
    NewArticle,
    NewMessage,
    OutboxItem,
    Role,
    User,
)
from hub.store.base import (
    SCHEMA_VERSION,
    Conflict,
    DeadLetter,
    IdentityStatus,
    NotFound,
    OutboxStats,
    SchemaMismatch,
    Store,
    StoreError,
    Turn,
)
from hub.store.base_contacts import PHONE_CHANNELS
from hub.store.base_kb import ArticleChange, RevisionAuthor
from hub.store.postgres_contacts import PostgresContacts
from hub.store.postgres_kb import PostgresKnowledge, write_revision
from hub.store.postgres_relay import PgNotifications
from hub.store.postgres_schema import MIGRATIONS
from hub.store.postgres_url import PgTarget, parse_pg_url
from hub.store.rows import (
    CONVERSATION_COLUMNS,
    CONVERSATION_FROM,
    MESSAGE_COLUMNS,
    THREAD_ORDER,
    article_from_row,
    contact_from_row,
    conversation_from_row,
    dump_suggestions,
    message_from_row,
    outbox_from_row,
    user_from_row,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
_RETRIES = 5
_RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)

_MESSAGES_FROM = "messages m LEFT JOIN users u ON u.id = m.agent_id"


async def _schema_version(conn: Conn) -> int:
    if await conn.fetchval("SELECT to_regclass('meta')") is None:
        return 0
    value = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(value) if value is not None else 0


async def _conversation(conn: Conn, conversation_id: int) -> Conversation:
    row = await conn.fetchrow(
        f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE c.id = $1",
        conversation_id,
    )
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation_from_row(row)


async def _messages(conn: Conn, ids: Sequence[int]) -> tuple[Message, ...]:
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM} WHERE m.id = ANY($1::bigint[])"
        " ORDER BY m.id",
        list(ids),
    )
    return tuple(message_from_row(row) for row in rows)


async def _identity_contact(
    conn: Conn, channel: str, external_id: str, display_name: str | None
) -> int:
    """The contact behind an identity (created if new), locked for this transaction."""
    contact_id = await conn.fetchval(
        "SELECT contact_id FROM identities WHERE channel = $1 AND external_id = $2",
        channel, external_id,
    )
    if contact_id is not None:
        await conn.execute("SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE", contact_id)
        if display_name:
            await conn.execute(
                "UPDATE contacts SET name = $1 WHERE id = $2 AND name IS NULL",
                display_name, contact_id,
            )
        return int(contact_id)
    contact_id = await _phone_twin(conn, channel, external_id)
    if contact_id is None:
        contact_id = await conn.fetchval(
            "INSERT INTO contacts (name, attributes) VALUES ($1, '{}') RETURNING id",
            display_name,
        )
    else:
        await conn.execute("SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE", contact_id)
    # a concurrent first message of the same identity fails here; the caller retries
    await conn.execute(
        "INSERT INTO identities (contact_id, channel, external_id) VALUES ($1, $2, $3)",
        contact_id, channel, external_id,
    )
    return int(contact_id)


async def _phone_twin(conn: Conn, channel: str, external_id: str) -> int | None:
    """The contact of the same phone number on the other phone channel (SMS ↔ WhatsApp)."""
    if channel not in PHONE_CHANNELS:
        return None
    found = await conn.fetchval(
        "SELECT contact_id FROM identities WHERE channel = ANY($1::text[]) AND channel <> $2"
        " AND external_id = $3 ORDER BY id LIMIT 1",
        list(PHONE_CHANNELS), channel, external_id,
    )
    return None if found is None else int(found)


async def _open_conversation(conn: Conn, contact_id: int, channel: str) -> int:
    """The contact's thread: their latest conversation, created if they have none."""
    conversation_id = await conn.fetchval(
        f"SELECT id FROM conversations WHERE contact_id = $1 {THREAD_ORDER} LIMIT 1", contact_id
    )
    if conversation_id is None:
        conversation_id = await conn.fetchval(
            "INSERT INTO conversations (contact_id, state, channel) VALUES ($1, 'bot', $2)"
            " RETURNING id",
            contact_id, channel,
        )
    return int(conversation_id)


def _affected(status: str) -> int:
    """Rows touched, from a command tag such as ``UPDATE 1``."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore(PostgresKnowledge, PostgresContacts, Store):
    auto_migrate = False
    several_processes = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.target: PgTarget = parse_pg_url(url)
        self._pool: asyncpg.Pool | None = None
        self._anchor: Conn | None = None
        self._lease_owner: tuple[int, datetime] | None = None
        self._anchor_lock = asyncio.Lock()

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

        return await self._tx(run)

    def connection(self) -> Any:
        """``async with store.connection() as conn``: a pooled connection, for bulk work
        outside the Store interface (``db copy``, benchmarks)."""
        if self._pool is None:
            raise RuntimeError("the store is closed")
        return self._pool.acquire()

    async def _tx(
        self, fn: Callable[[Conn], Awaitable[T]], *, retry_unique: bool = False,
        readonly: bool = False,
    ) -> T:
        """Run ``fn`` in one transaction; retry it when it lost a race it can win next time."""
        if self._pool is None:
            raise RuntimeError("the store is closed")
        retryable: tuple[type[BaseException], ...] = _RETRYABLE
        if retry_unique:
            retryable = (*retryable, asyncpg.UniqueViolationError)
        for attempt in range(_RETRIES):
            async with self._pool.acquire() as conn:
                try:
                    async with conn.transaction(
                        isolation="repeatable_read" if readonly else "read_committed",
                        readonly=readonly,
                    ):
                        return await fn(conn)
                except retryable:
                    if attempt == _RETRIES - 1:
                        raise
                    await asyncio.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        if self._pool is None:
            raise RuntimeError("the store is closed")
        rows: list[Any] = await self._pool.fetch(sql, *args)
        return rows

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        if self._pool is None:
            raise RuntimeError("the store is closed")
        return await self._pool.fetchrow(sql, *args)

    async def ping(self) -> None:
        await self._fetchrow("SELECT 1")

    async def get_meta(self, key: str) -> str | None:
        row = await self._fetchrow("SELECT value FROM meta WHERE key = $1", key)
        return None if row is None else str(row["value"])

    async def set_meta_default(self, key: str, value: str) -> str:
        async def run(conn: Conn) -> str:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                key, value,
            )
            return str(await conn.fetchval("SELECT value FROM meta WHERE key = $1", key))

        return await self._tx(run)

    def notifications(self) -> PgNotifications:
        """LISTEN/NOTIFY between the processes on this schema (hub/store/postgres_relay.py)."""
        return PgNotifications(self)

    async def notify_many(self, channel: str, payloads: Sequence[str]) -> None:
        """Send NOTIFYs, in order, in one round trip (delivered when this statement commits)."""
        await self._fetchrow(
            "SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS t(p)",
            channel, list(payloads),
        )

    # conversations -------------------------------------------------------
    async def ingest(self, inbound: InboundMessage) -> Ingested:
        pid, since = await self._lease_owner_id()  # routing the message is ours to do

        async def run(conn: Conn) -> Ingested:
            if inbound.platform_message_id is not None:
                row = await conn.fetchrow(
                    "SELECT id, conversation_id, handled FROM messages"
                    " WHERE channel = $1 AND platform_message_id = $2",
                    inbound.channel, inbound.platform_message_id,
                )
                if row is not None:
                    return Ingested(
                        message=(await _messages(conn, [row["id"]]))[0],
                        conversation=await _conversation(conn, row["conversation_id"]),
                        duplicate=True,
                        handled=bool(row["handled"]),
                    )
            contact_id = await _identity_contact(
                conn, inbound.channel, inbound.external_id, inbound.display_name
            )
            conversation_id = await _open_conversation(conn, contact_id, inbound.channel)
            extras = dict(inbound.extras)
            if inbound.marks:
                extras["marks"] = list(inbound.marks)
            message_id = await conn.fetchval(
                "INSERT INTO messages (conversation_id, direction, author, channel, text,"
                " platform_message_id, article_id, handled, extras, route_pid, route_since)"
                " VALUES ($1, 'in', 'customer', $2, $3, $4, $5, false, $6, $7, $8)"
                " RETURNING id",
                conversation_id, inbound.channel, inbound.text, inbound.platform_message_id,
                inbound.choice_article_id, json.dumps(extras) if extras else None, pid, since,
            )
            await conn.execute(
                "UPDATE conversations SET channel = $1, updated_at = now(),"
                " last_message_text = $2,"
                " fallback_streak = CASE WHEN state = 'resolved' THEN 0"
                " ELSE fallback_streak END,"
                " state = CASE WHEN state = 'resolved' THEN 'bot' ELSE state END"
                " WHERE id = $3",
                inbound.channel, inbound.text, conversation_id,
            )
            return Ingested(
                message=(await _messages(conn, [message_id]))[0],
                conversation=await _conversation(conn, conversation_id),
                duplicate=False,
                handled=False,
            )

        return await self._tx(run, retry_unique=True)

    async def start_conversation(
        self, channel: str, external_id: str, display_name: str | None = None
    ) -> Conversation:
        async def run(conn: Conn) -> Conversation:
            contact_id = await _identity_contact(conn, channel, external_id, display_name)
            return await _conversation(conn, await _open_conversation(conn, contact_id, channel))

        return await self._tx(run, retry_unique=True)

    async def find_conversation(self, channel: str, external_id: str) -> Conversation | None:
        row = await self._fetchrow(
            f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE c.id = ("
            " SELECT c2.id FROM identities i JOIN conversations c2"
            " ON c2.contact_id = i.contact_id WHERE i.channel = $1 AND i.external_id = $2"
            " ORDER BY CASE WHEN c2.state = 'resolved' THEN 1 ELSE 0 END, c2.id DESC LIMIT 1)",
            channel, external_id,
        )
        return None if row is None else conversation_from_row(row)

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        row = await self._fetchrow(
            f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE c.id = $1",
            conversation_id,
        )
        return None if row is None else conversation_from_row(row)

    async def list_conversations(
        self,
        state: ConversationState | None = None,
        agent_id: int | None = None,
        limit: int = 200,
    ) -> list[Conversation]:
        clauses: list[str] = []
        params: list[Any] = []
        if state is not None:
            params.append(state.value)
            clauses.append(f"c.state = ${len(params)}")
        if agent_id is not None:
            params.append(agent_id)
            clauses.append(f"c.assigned_agent_id = ${len(params)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit)
        rows = await self._fetch(
            f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} {where}"
            f" ORDER BY c.updated_at DESC, c.id DESC LIMIT ${len(params)}",
            *params,
        )
        return [conversation_from_row(row) for row in rows]

    async def list_messages(
        self,
        conversation_id: int,
        after_id: int | None = None,
        limit: int | None = None,
        include_private: bool = True,
    ) -> list[Message]:
        rows = await self._fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM}"
            " WHERE m.conversation_id = $1 AND m.id > $2"
            + ("" if include_private else " AND NOT m.private")
            + " ORDER BY m.id DESC LIMIT $3",
            conversation_id, after_id or 0, limit,  # LIMIT NULL: all of them
        )
        return [message_from_row(row) for row in reversed(rows)]

    async def get_message(self, message_id: int) -> Message | None:
        """One message by id (the event relay re-reads what another process announced)."""
        row = await self._fetchrow(
            f"SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM} WHERE m.id = $1", message_id
        )
        return None if row is None else message_from_row(row)

    async def unhandled_inbound(self, limit: int = 500) -> list[Message]:
        rows = await self._fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM} WHERE NOT m.handled"
            " ORDER BY m.id LIMIT $1",
            limit,
        )
        return [message_from_row(row) for row in rows]

    async def claim_unrouted(self, limit: int = 500) -> list[Message]:
        pid, since = await self._lease_owner_id()
        rows = await self._fetch(
            "WITH orphaned AS ("
            " SELECT m.id FROM messages m WHERE NOT m.handled"
            " AND (m.route_pid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
            "  WHERE a.pid = m.route_pid"  # the claiming session has ended
            "  AND (a.backend_start = m.route_since OR a.backend_start IS NULL)))"
            " ORDER BY m.id LIMIT $1 FOR UPDATE OF m SKIP LOCKED),"
            " claimed AS (UPDATE messages m SET route_pid = $2, route_since = $3"
            "  FROM orphaned WHERE m.id = orphaned.id RETURNING m.id)"
            f" SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM}"
            " WHERE m.id IN (SELECT id FROM claimed) ORDER BY m.id",
            limit, pid, since,
        )
        return [message_from_row(row) for row in rows]

    async def earlier_unrouted(self, message: Message) -> bool:
        row = await self._fetchrow(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND id < $2"
            " AND NOT handled) AS found",
            message.conversation_id, message.id,
        )
        return bool(row["found"])

    async def get_contact(self, contact_id: int) -> Contact | None:
        async def run(conn: Conn) -> Contact | None:
            row = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1", contact_id)
            if row is None:
                return None
            identities = await conn.fetch(
                "SELECT channel, external_id FROM identities WHERE contact_id = $1 ORDER BY id",
                contact_id,
            )
            conversations = await conn.fetch(
                "SELECT id FROM conversations WHERE contact_id = $1 ORDER BY id", contact_id
            )
            return contact_from_row(row, identities, conversations)

        return await self._tx(run, readonly=True)

    async def record_turn(
        self,
        conversation_id: int,
        replies: Sequence[NewMessage] = (),
        *,
        handled_message_id: int | None = None,
        new_state: ConversationState | None = None,
        expect_states: Collection[ConversationState] | None = None,
        agent_id: int | None = None,
        require_agent_id: int | None = None,
        fallback_streak: int | None = None,
        delivered_by_store: Collection[str] = (),
    ) -> Turn:
        async def run(conn: Conn) -> Turn:
            # lock first: a concurrent turn waits here, then reads what this one wrote
            locked = await conn.fetchrow(
                "SELECT id FROM conversations WHERE id = $1 FOR NO KEY UPDATE", conversation_id
            )
            if locked is None:
                raise NotFound(f"conversation {conversation_id} not found")
            current = await _conversation(conn, conversation_id)
            if handled_message_id is not None and _affected(await conn.execute(
                "UPDATE messages SET handled = true WHERE id = $1 AND NOT handled",
                handled_message_id,
            )) == 0:
                return Turn(current, (), applied=False)  # routed already (a redelivery)
            if (expect_states is not None and current.state not in expect_states) or (
                require_agent_id is not None and current.assigned_agent_id != require_agent_id
            ):
                return Turn(current, (), applied=False)
            message_ids: list[int] = []
            last_text: str | None = None
            for reply in replies:
                channel = reply.channel or current.channel
                message_id = await conn.fetchval(
                    "INSERT INTO messages (conversation_id, direction, author, channel, text,"
                    " suggestions, agent_id, article_id, private, handled)"
                    " VALUES ($1, 'out', $2, $3, $4, $5, $6, $7, $8, true) RETURNING id",
                    conversation_id, reply.author.value, channel, reply.text,
                    dump_suggestions(reply.suggestions), reply.agent_id, reply.article_id,
                    reply.private,
                )
                message_ids.append(int(message_id))
                if reply.private:
                    continue
                last_text = reply.text
                recipient = await conn.fetchval(
                    "SELECT external_id FROM identities WHERE contact_id = $1 AND channel = $2"
                    " ORDER BY id DESC LIMIT 1",
                    current.contact_id, channel,
                )
                if recipient is None:
                    raise NotFound(f"the contact has no identity on channel {channel!r}")
                # a channel delivered by the store is delivered by this very commit
                await conn.execute(
                    "INSERT INTO outbox (message_id, conversation_id, channel, recipient,"
                    " status, next_attempt_at, sent_at) VALUES ($1, $2, $3, $4,"
                    " CASE WHEN $5 THEN 'sent' ELSE 'pending' END, 0,"
                    " CASE WHEN $5 THEN now() END)",
                    message_id, conversation_id, channel, recipient,
                    channel in delivered_by_store,
                )
            state = new_state or current.state
            if state is ConversationState.ASSIGNED:
                assigned = agent_id if agent_id is not None else current.assigned_agent_id
            else:
                assigned = None
            await conn.execute(
                "UPDATE conversations SET state = $1, assigned_agent_id = $2,"
                " updated_at = now(), fallback_streak = $3,"
                " last_message_text = COALESCE($4, last_message_text) WHERE id = $5",
                state.value, assigned,
                current.fallback_streak if fallback_streak is None else fallback_streak,
                last_text, conversation_id,
            )
            return Turn(await _conversation(conn, conversation_id),
                        await _messages(conn, message_ids))

        return await self._tx(run)

    async def identity_status(self, channel: str, external_id: str) -> IdentityStatus | None:
        row = await self._fetchrow(
            "SELECT contact_id, reachable, opted_out FROM identities"
            " WHERE channel = $1 AND external_id = $2",
            channel, external_id,
        )
        if row is None:
            return None
        return IdentityStatus(int(row["contact_id"]), bool(row["reachable"]),
                              bool(row["opted_out"]))

    async def set_identity_status(
        self,
        channel: str,
        external_id: str,
        *,
        reachable: bool | None = None,
        opted_out: bool | None = None,
    ) -> None:
        await self._fetchrow(
            "UPDATE identities SET reachable = COALESCE($1, reachable),"
            " opted_out = COALESCE($2, opted_out) WHERE channel = $3 AND external_id = $4",
            reachable, opted_out, channel, external_id,
        )

    # outbox --------------------------------------------------------------
    async def _lease_owner_id(self) -> tuple[int, datetime]:
        """(pid, backend_start) of this store's anchor session, reconnecting it if it died."""
        async with self._anchor_lock:
            if self._anchor is None or self._anchor.is_closed():
                self._anchor = await self.connect()
                row = await self._anchor.fetchrow(
                    "SELECT pid, backend_start FROM pg_stat_activity"
                    " WHERE pid = pg_backend_pid()"
                )
                self._lease_owner = (int(row["pid"]), row["backend_start"])
            assert self._lease_owner is not None
            return self._lease_owner

    async def lease_outbox(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        pid, since = await self._lease_owner_id()
        rows = await self._fetch(
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
            " o.attempts, o.next_attempt_at, m.text, m.suggestions, u.name AS agent_name",
            now, now + lease_seconds, limit, pid, since,
        )
        rows.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
        return [outbox_from_row(row) for row in rows]

    async def release_stale_leases(self) -> int:
        return 0  # a lease is void once its session ends (see lease_outbox)

    async def outbox_delivered(self, outbox_id: int, platform_message_id: str | None) -> None:
        await self._fetchrow(
            "UPDATE outbox SET status = 'sent', sent_at = now(), platform_message_id = $1,"
            " locked_until = NULL, leased_pid = NULL, last_error = NULL WHERE id = $2",
            platform_message_id, outbox_id,
        )

    async def outbox_failed(self, outbox_id: int, error: str, retry_at: float | None) -> None:
        if retry_at is None:
            await self._fetchrow(
                "UPDATE outbox SET status = 'dead', last_error = $1, locked_until = NULL,"
                " leased_pid = NULL WHERE id = $2",
                error, outbox_id,
            )
        else:
            await self._fetchrow(
                "UPDATE outbox SET next_attempt_at = $1, last_error = $2, locked_until = NULL,"
                " leased_pid = NULL WHERE id = $3",
                retry_at, error, outbox_id,
            )

    async def record_delivery_status(
        self, channel: str, platform_message_id: str, status: str
    ) -> bool:
        row = await self._fetchrow(
            "WITH hit AS (UPDATE outbox SET delivery_status = $1 WHERE channel = $2"
            " AND platform_message_id = $3 RETURNING 1) SELECT count(*) AS n FROM hit",
            status, channel, platform_message_id,
        )
        return int(row["n"]) > 0

    async def dead_letters(self, limit: int = 200) -> list[DeadLetter]:
        rows = await self._fetch(
            "SELECT o.id, o.message_id, o.conversation_id, o.channel, o.recipient,"
            " o.attempts, o.last_error, m.text FROM outbox o JOIN messages m"
            " ON m.id = o.message_id WHERE o.status = 'dead' ORDER BY o.id DESC LIMIT $1",
            limit,
        )
        return [
            DeadLetter(int(r["id"]), int(r["message_id"]), int(r["conversation_id"]),
                       r["channel"], r["recipient"], r["text"], int(r["attempts"]),
                       r["last_error"])
            for r in rows
        ]

    async def outbox_stats(self) -> OutboxStats:
        rows = await self._fetch("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        counts = {row["status"]: int(row["n"]) for row in rows}
        return OutboxStats(counts.get("pending", 0), counts.get("sent", 0), counts.get("dead", 0))

    async def conversation_counts(self) -> dict[ConversationState, int]:
        rows = await self._fetch("SELECT state, COUNT(*) AS n FROM conversations GROUP BY state")
        counts = {ConversationState(row["state"]): int(row["n"]) for row in rows}
        return {state: counts.get(state, 0) for state in ConversationState}

    # users and sessions --------------------------------------------------
    async def create_user(self, email: str, name: str, role: Role, password_hash: str) -> User:
        try:
            row = await self._fetchrow(
                "INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)"
                " RETURNING *",
                email, name, role.value, password_hash,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a user with email {email} exists already") from None
        return user_from_row(row)

    async def update_user_password(self, email: str, password_hash: str) -> User:
        async def run(conn: Conn) -> User:
            row = await conn.fetchrow(
                "UPDATE users SET password_hash = $1 WHERE email = $2 RETURNING *",
                password_hash, email,
            )
            if row is None:
                raise NotFound(f"no user with email {email}")
            await conn.execute("DELETE FROM sessions WHERE user_id = $1", row["id"])
            return user_from_row(row)

        return await self._tx(run)

    async def get_user(self, user_id: int) -> User | None:
        row = await self._fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        return None if row is None else user_from_row(row)

    async def get_user_by_email(self, email: str) -> User | None:
        row = await self._fetchrow("SELECT * FROM users WHERE email = $1", email)
        return None if row is None else user_from_row(row)

    async def create_session(self, token_hash: str, user_id: int, expires_at: float) -> None:
        await self._fetchrow(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
            token_hash, user_id, expires_at,
        )

    async def session_user(self, token_hash: str, now: float) -> User | None:
        row = await self._fetchrow(
            "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active",
            token_hash, now,
        )
        return None if row is None else user_from_row(row)

    async def delete_session(self, token_hash: str) -> None:
        await self._fetchrow("DELETE FROM sessions WHERE token_hash = $1", token_hash)

    async def delete_user_sessions(self, user_id: int) -> None:
        await self._fetchrow("DELETE FROM sessions WHERE user_id = $1", user_id)

    # knowledge -----------------------------------------------------------
    async def list_articles(self) -> list[Article]:
        rows = await self._fetch("SELECT * FROM articles ORDER BY id")
        return [article_from_row(row) for row in rows]

    async def get_article(self, article_id: int) -> Article | None:
        row = await self._fetchrow("SELECT * FROM articles WHERE id = $1", article_id)
        return None if row is None else article_from_row(row)

    async def import_articles(self, items: Sequence[tuple[int | None, NewArticle]], *,
                              author: RevisionAuthor | None = None,
                              only_if_empty: bool = False) -> list[ArticleChange]:
        async def run(conn: Conn) -> list[ArticleChange]:
            if only_if_empty:
                # serialise "is it empty? then fill it" between processes (until commit)
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                                   f"supporthub-fill-empty-kb-{self.target.schema}")
                if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM articles)"):
                    return []
            changes = []
            for article_id, article in items:
                if article_id is None:
                    row = await conn.fetchrow(
                        "INSERT INTO articles (title, questions, answer, tags, status,"
                        " sms_answer) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                        *_article_fields(article),
                    )
                    await write_revision(conn, int(row["id"]), "create", author)
                    changes.append(ArticleChange(article_from_row(row), "added"))
                    continue
                row = await conn.fetchrow(
                    "UPDATE articles SET title = $1, questions = $2, answer = $3, tags = $4,"
                    " status = $5, sms_answer = $6, updated_at = now() WHERE id = $7 AND"
                    " (title, questions, answer, tags, status, sms_answer) IS DISTINCT FROM"
                    " ($1, $2, $3, $4, $5, $6) RETURNING *",
                    *_article_fields(article), article_id,
                )
                if row is not None:
                    await write_revision(conn, article_id, "update", author)
                    changes.append(ArticleChange(article_from_row(row), "updated"))
                    continue
                row = await conn.fetchrow("SELECT * FROM articles WHERE id = $1", article_id)
                if row is None:
                    raise NotFound(f"article {article_id} not found")
                changes.append(ArticleChange(article_from_row(row), "unchanged"))
            return changes

        return await self._tx(run)

    async def update_article(self, article_id: int, article: NewArticle, *,
                             author: RevisionAuthor | None = None) -> Article:
        async def run(conn: Conn) -> Article:
            row = await conn.fetchrow(
                "UPDATE articles SET title = $1, questions = $2, answer = $3, tags = $4,"
                " status = $5, sms_answer = $6, updated_at = now() WHERE id = $7 RETURNING *",
                *_article_fields(article), article_id,
            )
            if row is None:
                raise NotFound(f"article {article_id} not found")
            await write_revision(conn, article_id, "update", author)
            return article_from_row(row)

        return await self._tx(run)

    async def delete_article(self, article_id: int, *,
                             author: RevisionAuthor | None = None) -> None:
        async def run(conn: Conn) -> None:
            await write_revision(conn, article_id, "delete", author)
            row = await conn.fetchrow("DELETE FROM articles WHERE id = $1 RETURNING id",
                                      article_id)
            if row is None:
                raise NotFound(f"article {article_id} not found")

        await self._tx(run)


def _article_fields(article: NewArticle) -> tuple[str, str, str, str, str, str | None]:
    return (article.title, json.dumps(list(article.questions)), article.answer,
            json.dumps(list(article.tags)), article.status.value, article.sms_answer)


__all__ = ["PostgresStore"]
