"""Rules, once for both engines (see sql.py): conversations, messages, turns, identities'
status and the outbox's bookkeeping. Leasing outbox items stays per engine.

Where two PostgreSQL processes could race, the deciding row is locked first:
``ingest`` locks the contact, so two first messages of one customer open one conversation
(a concurrent insert of the same identity or platform message id fails its unique index and
the transaction is run again, when it finds the other's row); ``record_turn`` locks the
conversation (``FOR NO KEY UPDATE``) before it checks the state, so of two claims exactly one
sees it queued. SQLite's single writer runs one rule at a time: ``{lock}`` is nothing there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.cycles import NewEvent
from hub.model import (
    Author,
    Contact,
    Conversation,
    ConversationState,
    InboundMessage,
    Ingested,
    Message,
    NewMessage,
)
from hub.store.base import DeadLetter, IdentityStatus, NotFound, OutboxStats, Turn
from hub.store.base_contacts import PHONE_CHANNELS
from hub.store.rows import (
    CONVERSATION_COLUMNS,
    CONVERSATION_FROM,
    MESSAGE_COLUMNS,
    conversation_from_row,
    dump_suggestions,
    message_from_row,
)
from hub.store.rules_contacts import (
    CONTACT,
    CONVERSATION,
    IDENTITY_OWNER,
    NEW_CONVERSATION,
    NEW_IDENTITY,
    RETURNING_CONVERSATION,
    contact,
    conversation,
    thread_id,
)
from hub.store.rules_reports import (
    COMMENT_PENDING,
    CSAT_PENDING,
    SURVEY_QUESTION_EXTRAS,
    first_reply,
    record,
    start_cycle,
)
from hub.store.sql import (
    Mode,
    Rule,
    Sql,
    count,
    one,
    reads,
    rows,
    snapshot,
    writes,
    writes_one,
    writes_retrying,
)

# the database session that routes a new message (PostgreSQL; SQLite: None, None)
RouteOwner = tuple[int | None, datetime | None]

_MESSAGES_FROM = "messages m LEFT JOIN users u ON u.id = m.agent_id"
NO_LIMIT = 2**62  # LIMIT NULL is "all" on PostgreSQL only

DUPLICATE = Sql("SELECT id, conversation_id, handled FROM messages"
                " WHERE channel = $1 AND platform_message_id = $2")
MESSAGE = Sql(f"SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM} WHERE m.id = $1")
LOCK_CONTACT = Sql("SELECT 1 FROM contacts WHERE id = $1 {lock}", lock_only=True)
NAME_CONTACT = Sql("UPDATE contacts SET name = $1 WHERE id = $2 AND name IS NULL")
PHONE_TWIN = Sql("SELECT contact_id FROM identities WHERE channel IN ($1, $2)"
                 " AND channel <> $3 AND external_id = $4 ORDER BY id LIMIT 1")
NEW_CONTACT = Sql(
    "INSERT INTO contacts (name, attributes, created_at) VALUES ($1, '{}', {now}) RETURNING id")
# a new message comes back as message_from_row reads it (no second statement to read it)
_RETURNING_MESSAGE = ("RETURNING id, conversation_id, author, channel, text, created_at,"
                      " direction, platform_message_id, suggestions, agent_id, article_id,"
                      " private, extras")
# a survey answer is stored handled: it is no question, and it reopens nothing
# created_at: when the customer's message reached us — given for a message taken in from
# the intake journal (when it was accepted), else now
INSERT_ANSWER = Sql(
    "INSERT INTO messages (conversation_id, direction, author, channel, text,"
    " platform_message_id, private, handled, created_at) VALUES ($1, 'in', 'customer', $2, $3,"
    f" $4, {{false}}, {{true}}, COALESCE($5, {{now}})) {_RETURNING_MESSAGE},"
    " NULL AS agent_name")
INSERT_INBOUND = Sql(
    "INSERT INTO messages (conversation_id, direction, author, channel, text,"
    " platform_message_id, article_id, private, handled, extras, route_pid, route_since,"
    " created_at) VALUES ($1, 'in', 'customer', $2, $3, $4, $5, {false}, {false}, $6, $7, $8,"
    f" COALESCE($9, {{now}})) {_RETURNING_MESSAGE}, NULL AS agent_name")
# a resolved conversation is reopened for the bot
TOUCH_INBOUND = Sql(
    "UPDATE conversations SET channel = $1, updated_at = {now}, last_message_text = $2,"
    " fallback_streak = CASE WHEN state = 'resolved' THEN 0 ELSE fallback_streak END,"
    " cycle = CASE WHEN cycle = 0 OR state = 'resolved' THEN cycle + 1 ELSE cycle END,"
    " state = CASE WHEN state = 'resolved' THEN 'bot' ELSE state END WHERE id = $3"
    f" {RETURNING_CONVERSATION}")
FIND_CONVERSATION = Sql(
    f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE c.id = ("
    " SELECT c2.id FROM identities i JOIN conversations c2 ON c2.contact_id = i.contact_id"
    " WHERE i.channel = $1 AND i.external_id = $2"
    " ORDER BY CASE WHEN c2.state = 'resolved' THEN 1 ELSE 0 END, c2.id DESC LIMIT 1)")
# one statement per filter combination (each has its plan; the tests prepare them all)
LIST_CONVERSATIONS = {
    (by_state, by_agent): Sql(
        f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM} WHERE "
        + " AND ".join(["TRUE"] + ["c.state = $2"] * by_state
                       + [f"c.assigned_agent_id = ${2 + by_state}"] * by_agent)
        + " ORDER BY c.updated_at DESC, c.id DESC LIMIT $1")
    for by_state in (False, True) for by_agent in (False, True)
}
# a thread's last messages: newest first through the (conversation_id, id) index
LAST_MESSAGES = Sql(
    f"SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM}"
    " WHERE m.conversation_id = $1 AND m.id > $2 AND ($3 OR m.private = {false})"
    " ORDER BY m.id DESC LIMIT $4")
EARLIER_UNROUTED = Sql("SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1"
                       " AND id < $2 AND handled = {false}) AS found")
UNHANDLED = Sql(f"SELECT {MESSAGE_COLUMNS} FROM {_MESSAGES_FROM} WHERE m.handled = {{false}}"
                " ORDER BY m.id LIMIT $1")
# Several processes (PostgreSQL): a message's routing belongs to the database session of the
# process that stored it; these are the unrouted messages whose session has ended (that
# process died) or that no session holds, claimed for this process's session. One process
# on its file (SQLite) routes every unrouted message and never runs this.
CLAIM_UNROUTED = Sql(
    "WITH orphaned AS ("
    " SELECT m.id FROM messages m WHERE NOT m.handled"
    " AND (m.route_pid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
    "  WHERE a.pid = m.route_pid"  # the claiming session has ended
    "  AND (a.backend_start = m.route_since OR a.backend_start IS NULL)))"
    " ORDER BY m.id LIMIT $1 {lock UPDATE OF m SKIP LOCKED}),"
    " claimed AS (UPDATE messages m SET route_pid = $2, route_since = $3"
    "  FROM orphaned WHERE m.id = orphaned.id RETURNING m.id)"
    f" SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users u ON u.id = m.agent_id"
    " WHERE m.id IN (SELECT id FROM claimed) ORDER BY m.id", sessions=True)
CONVERSATION_LOCKED = Sql(f"SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATION_FROM}"
                          " WHERE c.id = $1 {lock NO KEY UPDATE OF c}")
MARK_HANDLED = Sql("UPDATE messages SET handled = {true} WHERE id = $1 AND handled = {false}")
INSERT_REPLY = Sql(
    "INSERT INTO messages (conversation_id, direction, author, channel, text, suggestions,"
    " agent_id, article_id, private, handled, extras, created_at)"
    " VALUES ($1, 'out', $2, $3, $4, $5, $6, $7, $8, {true}, $9, {now})"
    f" {_RETURNING_MESSAGE}, (SELECT name FROM users WHERE id = $6) AS agent_name")
RECIPIENT = Sql("SELECT external_id FROM identities WHERE contact_id = $1 AND channel = $2"
                " ORDER BY id DESC LIMIT 1")
# a channel delivered by the store (the web chat) is delivered by this very commit
INSERT_OUTBOX = Sql(
    "INSERT INTO outbox (message_id, conversation_id, channel, recipient, status, attempts,"
    " next_attempt_at, created_at, sent_at) VALUES ($1, $2, $3, $4,"
    " CASE WHEN $5 THEN 'sent' ELSE 'pending' END, 0, 0, {now}, CASE WHEN $5 THEN {now} END)")
UPDATE_TURN = Sql(
    "UPDATE conversations SET state = $1, assigned_agent_id = $2, updated_at = {now},"
    " fallback_streak = $3, last_message_text = COALESCE($4, last_message_text) WHERE id = $5"
    f" {RETURNING_CONVERSATION}")
IDENTITY_STATUS = Sql("SELECT contact_id, reachable, opted_out FROM identities"
                      " WHERE channel = $1 AND external_id = $2")
SET_IDENTITY_STATUS = Sql(
    "UPDATE identities SET reachable = COALESCE($1, reachable),"
    " opted_out = COALESCE($2, opted_out) WHERE channel = $3 AND external_id = $4")

OUTBOX_SENT = Sql(
    "UPDATE outbox SET status = 'sent', sent_at = {now}, platform_message_id = $1,"
    " locked_until = NULL, last_error = NULL WHERE id = $2")
OUTBOX_DEAD = Sql(
    "UPDATE outbox SET status = 'dead', last_error = $1, locked_until = NULL WHERE id = $2")
OUTBOX_RETRY = Sql(
    "UPDATE outbox SET next_attempt_at = $1, last_error = $2, locked_until = NULL WHERE id = $3")
DELIVERY_STATUS = Sql(
    "UPDATE outbox SET delivery_status = $1 WHERE channel = $2 AND platform_message_id = $3")
DEAD_LETTERS = Sql(
    "SELECT o.id, o.message_id, o.conversation_id, o.channel, o.recipient, o.attempts,"
    " o.last_error, m.text FROM outbox o JOIN messages m ON m.id = o.message_id"
    " WHERE o.status = 'dead' ORDER BY o.id DESC LIMIT $1")
OUTBOX_STATS = Sql("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
CONVERSATION_COUNTS = Sql("SELECT state, COUNT(*) AS n FROM conversations GROUP BY state")


def reply_extras(reply: NewMessage) -> str | None:
    """What a reply carries besides its text: its marks ("csat") and the template it is sent
    as (the outbox reads both back when it leases the reply)."""
    extras: dict[str, object] = {}
    if reply.marks:
        extras["marks"] = list(reply.marks)
    if reply.template is not None:
        extras["template"] = {"name": reply.template.name,
                              "content_sid": reply.template.content_sid,
                              "variables": dict(reply.template.variables)}
    return json.dumps(extras) if extras else None


def _message(message_id: int) -> Rule[Message]:
    return message_from_row((yield one(MESSAGE, message_id)))


def _identity_contact(channel: str, external_id: str, display_name: str | None) -> Rule[int]:
    """The contact behind an identity (created if new), locked for this transaction."""
    owner = yield one(IDENTITY_OWNER, channel, external_id)
    if owner is not None:
        contact_id = int(owner["contact_id"])
        yield one(LOCK_CONTACT, contact_id)
        if display_name:
            yield count(NAME_CONTACT, display_name, contact_id)
        return contact_id
    twin = None
    if channel in PHONE_CHANNELS:  # the same phone number on the other phone channel
        twin = yield one(PHONE_TWIN, *PHONE_CHANNELS, channel, external_id)
    if twin is None:
        contact_id = int((yield one(NEW_CONTACT, display_name))["id"])
    else:
        contact_id = int(twin["contact_id"])
        yield one(LOCK_CONTACT, contact_id)
    # a concurrent first message of the same identity fails here; PostgreSQL retries
    yield count(NEW_IDENTITY, contact_id, channel, external_id)
    return contact_id


def _open_conversation(contact_id: int, channel: str) -> Rule[int]:
    """The contact's thread, created if they have none."""
    found = yield from thread_id(contact_id)
    if found is not None:
        return found
    return int((yield one(NEW_CONVERSATION, contact_id, channel))["id"])


@dataclass(frozen=True, slots=True)
class SurveyWindows:
    """How long a survey waits for its rating, and a rating for its comment (seconds; 0:
    not at all)."""

    rating: float = 0.0
    comment: float = 0.0


def _survey_answer(inbound: InboundMessage, conversation_id: int, at: float,
                   windows: SurveyWindows, written_at: datetime | None
                   ) -> Rule[Ingested | None]:
    """A rating that answers the conversation's pending survey (with the comment sent along,
    if any): stored handled, recorded once per cycle and credited to the resolving agent;
    None when no survey waits for it."""
    if windows.rating <= 0:
        return None
    pending = yield one(CSAT_PENDING, conversation_id, at - windows.rating,
                        SURVEY_QUESTION_EXTRAS)
    if pending is None:
        return None
    message = yield one(INSERT_ANSWER, conversation_id, inbound.channel, inbound.text,
                        inbound.platform_message_id, written_at)
    events = [NewEvent("csat_answered", score=inbound.csat_score, agent_id=pending["agent_id"])]
    if inbound.csat_comment:
        events.append(NewEvent("csat_commented", agent_id=pending["agent_id"],
                               note=inbound.csat_comment))
    yield from record(conversation_id, at, events)
    return Ingested(message=message_from_row(message),
                    conversation=(yield from conversation(conversation_id)),
                    duplicate=False, handled=True, csat_score=inbound.csat_score,
                    csat_comment=inbound.csat_comment or None)


def _survey_comment(inbound: InboundMessage, conversation_id: int, at: float,
                    windows: SurveyWindows, written_at: datetime | None
                    ) -> Rule[Ingested | None]:
    """The message after a rating, within the comment window: the cycle's comment, stored
    handled (no question, reopens nothing), once; None when no rating waits for one."""
    if windows.comment <= 0 or not inbound.csat_comment:
        return None
    if (yield one(COMMENT_PENDING, conversation_id, at - windows.comment)) is None:
        return None
    message = yield one(INSERT_ANSWER, conversation_id, inbound.channel, inbound.text,
                        inbound.platform_message_id, written_at)
    yield from record(conversation_id, at, [NewEvent("csat_commented",
                                                     note=inbound.csat_comment)])
    return Ingested(message=message_from_row(message),
                    conversation=(yield from conversation(conversation_id)),
                    duplicate=False, handled=True, csat_comment=inbound.csat_comment)


def ingest_rule(inbound: InboundMessage, route_owner: RouteOwner, at: float,
                windows: SurveyWindows, written_at: datetime | None = None
                ) -> Rule[Ingested]:
    """Store a customer's message in their conversation (``written_at``: its time when it
    is not now — a message taken in from the intake journal keeps when it was accepted)."""
    if inbound.platform_message_id is not None:
        row = yield one(DUPLICATE, inbound.channel, inbound.platform_message_id)
        if row is not None:
            return Ingested(
                message=(yield from _message(row["id"])),
                conversation=(yield from conversation(row["conversation_id"])),
                duplicate=True, handled=bool(row["handled"]))
    contact_id = yield from _identity_contact(inbound.channel, inbound.external_id,
                                              inbound.display_name)
    conversation_id = yield from _open_conversation(contact_id, inbound.channel)
    answered = None
    if inbound.csat_score is not None:
        answered = yield from _survey_answer(inbound, conversation_id, at, windows,
                                             written_at)
    if answered is None:  # also a rating typed again after the button, with words after it
        answered = yield from _survey_comment(inbound, conversation_id, at, windows,
                                              written_at)
    if answered is not None:
        return answered
    yield from start_cycle(conversation_id, at, inbound.channel)
    extras = dict(inbound.extras)
    if inbound.marks:
        extras["marks"] = list(inbound.marks)
    message = yield one(INSERT_INBOUND, conversation_id, inbound.channel, inbound.text,
                        inbound.platform_message_id, inbound.choice_article_id,
                        json.dumps(extras) if extras else None, *route_owner, written_at)
    touched = yield one(TOUCH_INBOUND, inbound.channel, inbound.text, conversation_id)
    return Ingested(message=message_from_row(message),
                    conversation=conversation_from_row(touched), duplicate=False, handled=False)


def _changes(current: Conversation, state: ConversationState,
             agent_id: int | None) -> list[NewEvent]:
    """The events of a state change: queued, claimed, released, resolved (credited to the
    agent acting, else the one assigned)."""
    if state is current.state:
        return []
    changes = []
    if current.state is ConversationState.ASSIGNED:
        changes.append(NewEvent("released", agent_id=current.assigned_agent_id))
    if state is ConversationState.QUEUED:
        changes.append(NewEvent("queued"))
    elif state is ConversationState.ASSIGNED:
        changes.append(NewEvent("claimed", agent_id=agent_id))
    elif state is ConversationState.RESOLVED:
        changes = [NewEvent("resolved", agent_id=agent_id or current.assigned_agent_id)]
    return changes


class RoutedRules:
    """What rules that store a customer's message need of their engine: its driver, its
    clock, and — where several processes share the database — this process's session,
    which a new message's routing (and a journal row) belongs to."""

    several_processes: bool
    clock: Callable[[], float]

    if TYPE_CHECKING:
        async def _run(self, mode: Mode, make: Callable[[], Rule[Any]]) -> Any: ...

        async def _route_owner(self) -> RouteOwner: ...

    async def _owner(self) -> RouteOwner:
        """This process's session (PostgreSQL); (None, None) when one process owns the
        database (SQLite)."""
        return await self._route_owner() if self.several_processes else (None, None)


class ConversationRules(RoutedRules):
    async def ingest(self, inbound: InboundMessage, csat_window: float = 0.0,
                     comment_window: float = 0.0) -> Ingested:
        # on PostgreSQL routing the new message is this process's (its session's) to do
        route_owner = await self._owner()
        at = self.clock()
        windows = SurveyWindows(csat_window, comment_window)
        return await self._run(Mode.RETRY, lambda: ingest_rule(inbound, route_owner, at, windows))

    @writes_retrying
    def start_conversation(self, channel: str, external_id: str,
                           display_name: str | None = None) -> Rule[Conversation]:
        contact_id = yield from _identity_contact(channel, external_id, display_name)
        return (yield from conversation((yield from _open_conversation(contact_id, channel))))

    @reads
    def find_conversation(self, channel: str, external_id: str) -> Rule[Conversation | None]:
        row = yield one(FIND_CONVERSATION, channel, external_id)
        return None if row is None else conversation_from_row(row)

    @reads
    def get_conversation(self, conversation_id: int) -> Rule[Conversation | None]:
        row = yield one(CONVERSATION, conversation_id)
        return None if row is None else conversation_from_row(row)

    @reads
    def list_conversations(self, state: ConversationState | None = None,
                           agent_id: int | None = None,
                           limit: int = 200) -> Rule[list[Conversation]]:
        sql = LIST_CONVERSATIONS[state is not None, agent_id is not None]
        params = [p for p in (None if state is None else state.value, agent_id)
                  if p is not None]
        return [conversation_from_row(row) for row in (yield rows(sql, limit, *params))]

    @reads
    def list_messages(self, conversation_id: int, after_id: int | None = None,
                      limit: int | None = None,
                      include_private: bool = True) -> Rule[list[Message]]:
        found = yield rows(LAST_MESSAGES, conversation_id, after_id or 0, include_private,
                           NO_LIMIT if limit is None else limit)
        return [message_from_row(row) for row in reversed(found)]

    @reads
    def get_message(self, message_id: int) -> Rule[Message | None]:
        """One message by id (the event relay re-reads what another process announced)."""
        row = yield one(MESSAGE, message_id)
        return None if row is None else message_from_row(row)

    @reads
    def earlier_unrouted(self, message: Message) -> Rule[bool]:
        row = yield one(EARLIER_UNROUTED, message.conversation_id, message.id)
        return bool(row["found"])

    @reads
    def unhandled_inbound(self, limit: int = 500) -> Rule[list[Message]]:
        return [message_from_row(row) for row in (yield rows(UNHANDLED, limit))]

    async def claim_unrouted(self, limit: int = 500) -> list[Message]:
        if not self.several_processes:  # one process owns the file: all of them are its own
            return await self.unhandled_inbound(limit)
        pid, since = await self._route_owner()
        return await self._claim_unrouted(limit, pid, since)

    @writes_one
    def _claim_unrouted(self, limit: int, pid: int | None,
                        since: datetime | None) -> Rule[list[Message]]:
        return [message_from_row(row)
                for row in (yield rows(CLAIM_UNROUTED, limit, pid, since))]

    @snapshot
    def get_contact(self, contact_id: int) -> Rule[Contact | None]:
        row = yield one(CONTACT, contact_id)
        return None if row is None else (yield from contact(contact_id, row))

    @writes
    def record_turn(
        self, conversation_id: int, replies: Sequence[NewMessage] = (), *,
        handled_message_id: int | None = None, new_state: ConversationState | None = None,
        expect_states: Collection[ConversationState] | None = None,
        agent_id: int | None = None, require_agent_id: int | None = None,
        fallback_streak: int | None = None, delivered_by_store: Collection[str] = (),
        events: Sequence[NewEvent] = (),
    ) -> Rule[Turn]:
        # locked first: a concurrent turn waits here, then reads what this one wrote
        row = yield one(CONVERSATION_LOCKED, conversation_id)
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        current = conversation_from_row(row)
        if handled_message_id is not None and (
                yield count(MARK_HANDLED, handled_message_id)) == 0:
            return Turn(current, (), applied=False)  # routed already (a redelivery)
        if (expect_states is not None and current.state not in expect_states) or (
            require_agent_id is not None and current.assigned_agent_id != require_agent_id
        ):
            return Turn(current, (), applied=False)
        messages: list[Message] = []
        last_text: str | None = None
        for reply in replies:
            channel = reply.channel or current.channel
            message = yield one(INSERT_REPLY, conversation_id, reply.author.value, channel,
                                reply.text, dump_suggestions(reply.suggestions),
                                reply.agent_id, reply.article_id, reply.private,
                                reply_extras(reply))
            messages.append(message_from_row(message))
            if reply.private:
                continue
            last_text = reply.text
            recipient = yield one(RECIPIENT, current.contact_id, channel)
            if recipient is None:
                raise NotFound(f"the contact has no identity on channel {channel!r}")
            yield count(INSERT_OUTBOX, message["id"], conversation_id, channel,
                        recipient["external_id"], channel in delivered_by_store)
        state = new_state or current.state
        if state is ConversationState.ASSIGNED:
            assigned = agent_id if agent_id is not None else current.assigned_agent_id
        else:
            assigned = None
        at = self.clock()
        yield from record(conversation_id, at, [
            *_changes(current, state, agent_id), *events])
        if any(r.author is Author.AGENT and not r.private for r in replies):
            agent = next(r.agent_id for r in replies if r.author is Author.AGENT)
            yield from first_reply(conversation_id, at, agent)
        updated = yield one(UPDATE_TURN, state.value, assigned,
                            current.fallback_streak if fallback_streak is None
                            else fallback_streak, last_text, conversation_id)
        return Turn(conversation_from_row(updated), tuple(messages))

    @reads
    def identity_status(self, channel: str, external_id: str) -> Rule[IdentityStatus | None]:
        row = yield one(IDENTITY_STATUS, channel, external_id)
        if row is None:
            return None
        return IdentityStatus(int(row["contact_id"]), bool(row["reachable"]),
                              bool(row["opted_out"]))

    @writes_one
    def set_identity_status(self, channel: str, external_id: str, *,
                            reachable: bool | None = None,
                            opted_out: bool | None = None) -> Rule[None]:
        yield count(SET_IDENTITY_STATUS, reachable, opted_out, channel, external_id)

    # the outbox's bookkeeping (leasing stays per engine) -------------------------
    @writes_one
    def outbox_delivered(self, outbox_id: int, platform_message_id: str | None) -> Rule[None]:
        yield count(OUTBOX_SENT, platform_message_id, outbox_id)

    @writes
    def outbox_delivered_many(self, delivered: Sequence[tuple[int, str | None]]) -> Rule[None]:
        for outbox_id, platform_message_id in delivered:
            yield count(OUTBOX_SENT, platform_message_id, outbox_id)

    @writes_one
    def outbox_failed(self, outbox_id: int, error: str, retry_at: float | None) -> Rule[None]:
        if retry_at is None:
            yield count(OUTBOX_DEAD, error, outbox_id)
        else:
            yield count(OUTBOX_RETRY, retry_at, error, outbox_id)

    @writes_one
    def record_delivery_status(self, channel: str, platform_message_id: str,
                               status: str) -> Rule[bool]:
        return (yield count(DELIVERY_STATUS, status, channel, platform_message_id)) > 0

    @reads
    def dead_letters(self, limit: int = 200) -> Rule[list[DeadLetter]]:
        return [DeadLetter(int(r["id"]), int(r["message_id"]), int(r["conversation_id"]),
                           r["channel"], r["recipient"], r["text"], int(r["attempts"]),
                           r["last_error"])
                for r in (yield rows(DEAD_LETTERS, limit))]

    @reads
    def outbox_stats(self) -> Rule[OutboxStats]:
        counts = {row["status"]: int(row["n"]) for row in (yield rows(OUTBOX_STATS))}
        return OutboxStats(counts.get("pending", 0), counts.get("sent", 0),
                           counts.get("dead", 0))

    @reads
    def conversation_counts(self) -> Rule[dict[ConversationState, int]]:
        found = yield rows(CONVERSATION_COUNTS)
        counts = {ConversationState(row["state"]): int(row["n"]) for row in found}
        return {state: counts.get(state, 0) for state in ConversationState}

