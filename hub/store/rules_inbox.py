"""Rules, once for both engines (see sql.py): the intake journal (``inbox``, hub/intake.py).

A platform's message is *accepted* with one insert — the whole of what the webhook's
acknowledgement waits for — and *taken in* later: the accepted row is deleted in the same
transaction that stores the message in its conversation (``ingest_rule``), so a message is
taken in exactly once whoever does it, and one a process accepted but had not taken in when
it died is still there for the next (SQLite: the next start; PostgreSQL: a survivor adopts
the rows of a session that ended, like a routing claim).

Order: each process takes in its own rows oldest first, one chat after another; a row waits
while an older row of the same chat is held by another process (on PostgreSQL a row is
visible once committed, so a message acknowledged before another was sent is always the
older one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from hub.model import InboundMessage, Ingested
from hub.store.base import Accepted, SetAside
from hub.store.rules_conversations import (
    NO_LIMIT,
    RoutedRules,
    RouteOwner,
    SurveyWindows,
    ingest_rule,
)
from hub.store.sql import Mode, Rule, Sql, count, one, reads, rows, writes, writes_one

ACCEPT = Sql("INSERT INTO inbox (channel, chat, body, accepted_at, owner_pid, owner_since)"
             " VALUES ($1, $2, $3, $4, $5, $6)")
# this process's rows, oldest first, but not one whose chat has an older row another
# process holds (SQLite: every owner is NULL, so every row is this process's)
ACCEPTED = Sql(
    "SELECT i.id, i.body, i.accepted_at FROM inbox i WHERE NOT (i.owner_pid {distinct} $1)"
    " AND NOT EXISTS (SELECT 1 FROM inbox o WHERE o.channel = i.channel AND o.chat = i.chat"
    "  AND o.id < i.id AND o.owner_pid {distinct} $1)"
    " ORDER BY i.id LIMIT $2")
# Several processes (PostgreSQL): the journal's rows of sessions that ended (or of none:
# copied from SQLite), adopted by this process's session; never run on SQLite, where every
# row is the one process's
ADOPT_ACCEPTED = Sql(
    "WITH orphaned AS ("
    " SELECT i.id FROM inbox i"
    " WHERE i.owner_pid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
    "  WHERE a.pid = i.owner_pid AND (a.backend_start = i.owner_since"
    "  OR a.backend_start IS NULL))"
    " ORDER BY i.id LIMIT $1 {lock UPDATE OF i SKIP LOCKED})"
    " UPDATE inbox i SET owner_pid = $2, owner_since = $3 FROM orphaned"
    " WHERE i.id = orphaned.id", sessions=True)
TAKE = Sql("DELETE FROM inbox WHERE id = $1")
CHAT_ACCEPTED = Sql("SELECT EXISTS (SELECT 1 FROM inbox WHERE channel = $1 AND chat = $2)"
                    " AS found")
WAITING = Sql("SELECT COUNT(*) AS n FROM inbox")
SET_ASIDE = Sql(
    "INSERT INTO inbox_failed (id, channel, chat, body, accepted_at, error, failed_at)"
    " SELECT id, channel, chat, body, accepted_at, $2, {now} FROM inbox WHERE id = $1")
FAILED = Sql("SELECT COUNT(*) AS n FROM inbox_failed")
# back at the journal's end, owned by no process (SQLite: this one; PostgreSQL: adopted by
# the next live process that looks)
REQUEUE = Sql(
    "INSERT INTO inbox (channel, chat, body, accepted_at, owner_pid, owner_since)"
    " SELECT channel, chat, body, accepted_at, NULL, NULL FROM inbox_failed ORDER BY id")
CLEAR_FAILED = Sql("DELETE FROM inbox_failed")
REQUEUE_SOME = Sql(
    "INSERT INTO inbox (channel, chat, body, accepted_at, owner_pid, owner_since)"
    " SELECT channel, chat, body, accepted_at, NULL, NULL FROM inbox_failed"
    " WHERE id {ids $1} ORDER BY id")
CLEAR_SOME = Sql("DELETE FROM inbox_failed WHERE id {ids $1}")
FAILED_ROWS = Sql("SELECT id, channel, chat, body, accepted_at, error FROM inbox_failed"
                  " ORDER BY id LIMIT $1")


def encode(inbound: InboundMessage) -> str:
    # field by field: dataclasses.asdict deep-copies, and was a tenth of an acknowledgement
    return _ENCODER.encode({name: getattr(inbound, name) for name in _FIELDS})


_FIELDS = tuple(f.name for f in fields(InboundMessage))
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=dict)  # extras: any Mapping


def decode(body: str) -> InboundMessage:
    values: dict[str, Any] = json.loads(body)
    values["marks"] = tuple(values.get("marks") or ())
    return InboundMessage(**values)


def _take_in(accepted: Accepted, route_owner: RouteOwner,
             windows: SurveyWindows) -> Rule[Ingested | None]:
    if (yield count(TAKE, accepted.id)) == 0:
        return None  # taken in already (by another process)
    return (yield from ingest_rule(accepted.inbound, route_owner, accepted.at, windows,
                                   datetime.fromtimestamp(accepted.at, UTC)))


class InboxRules(RoutedRules):
    async def accept(self, inbound: InboundMessage) -> None:
        owner = await self._owner()
        await self._accept(inbound, self.clock(), owner)

    @writes_one
    def _accept(self, inbound: InboundMessage, at: float, owner: RouteOwner) -> Rule[None]:
        yield count(ACCEPT, inbound.channel, inbound.external_id, encode(inbound), at, *owner)

    async def accepted(self, limit: int = 500) -> list[Accepted]:
        pid, _ = await self._owner()
        return await self._accepted(pid, limit)

    @reads
    def _accepted(self, pid: int | None, limit: int) -> Rule[list[Accepted]]:
        found = yield rows(ACCEPTED, pid, limit)
        return [Accepted(int(r["id"]), decode(r["body"]), float(r["accepted_at"]))
                for r in found]

    async def take_in(self, accepted: Accepted, csat_window: float = 0.0,
                      comment_window: float = 0.0) -> Ingested | None:
        route_owner = await self._owner()
        windows = SurveyWindows(csat_window, comment_window)
        return await self._run(Mode.RETRY,
                               lambda: _take_in(accepted, route_owner, windows))

    async def adopt_accepted(self, limit: int = 500) -> int:
        if not self.several_processes:  # one process owns the file: every row is its own
            return 0
        pid, since = await self._route_owner()
        return await self._adopt_accepted(limit, pid, since)

    @writes_one
    def _adopt_accepted(self, limit: int, pid: int | None,
                        since: datetime | None) -> Rule[int]:
        adopted: int = yield count(ADOPT_ACCEPTED, limit, pid, since)
        return adopted

    @reads
    def chat_accepted(self, channel: str, chat: str) -> Rule[bool]:
        return bool((yield one(CHAT_ACCEPTED, channel, chat))["found"])

    @reads
    def accepted_waiting(self) -> Rule[int]:
        return int((yield one(WAITING))["n"])

    @writes
    def set_aside(self, accepted: Accepted, error: str) -> Rule[bool]:
        """Move a row whose take-in keeps failing out of the journal (into
        ``inbox_failed``), so its chat's later messages go on; False if it was gone."""
        if (yield count(SET_ASIDE, accepted.id, error[:2000])) == 0:
            return False
        yield count(TAKE, accepted.id)
        return True

    @writes
    def requeue_set_aside(self, ids: Sequence[int] | None = None) -> Rule[int]:
        """Put the set-aside rows (``ids``: only those) back into the journal, once their
        cause is fixed; return how many."""
        if ids is None:
            moved: int = yield count(REQUEUE)
            yield count(CLEAR_FAILED)
            return moved
        moved = yield count(REQUEUE_SOME, list(ids))
        yield count(CLEAR_SOME, list(ids))
        return moved

    @reads
    def set_aside_rows(self, limit: int | None = 1000) -> Rule[list[SetAside]]:
        return [SetAside(int(r["id"]), r["channel"], r["chat"], decode(r["body"]).text,
                         float(r["accepted_at"]), r["error"])
                for r in (yield rows(FAILED_ROWS, NO_LIMIT if limit is None else limit))]

    @reads
    def accepted_failed(self) -> Rule[int]:
        return int((yield one(FAILED))["n"])
