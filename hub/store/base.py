"""The store interface every engine implements, and the errors it raises.

Each method is one transaction: it either happens whole or not at all.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from hub.cycles import ArticleFigures, Cycle, Event, NewEvent
from hub.model import (
    Article,
    Contact,
    Conversation,
    ConversationState,
    InboundMessage,
    Ingested,
    MailAttachment,
    Message,
    NewArticle,
    NewMailAttachment,
    NewMessage,
    OutboxItem,
    Role,
    User,
)
from hub.store.base_contacts import ContactStore
from hub.store.base_kb import ArticleChange, KnowledgeStore, RevisionAuthor
from hub.store.base_reach import ReachStore
from hub.store.notifications import Notifications

SCHEMA_VERSION = 11


class StoreError(Exception):
    """Base of the errors the store raises on purpose."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class SchemaMismatch(StoreError):
    """The database's schema is missing, older or newer than this code's."""


@dataclass(frozen=True, slots=True)
class Turn:
    """What a committed turn changed: the conversation as it is now and the new messages."""

    conversation: Conversation
    messages: tuple[Message, ...]
    applied: bool = True  # False: the conversation left the expected state; nothing written


@dataclass(frozen=True, slots=True)
class Accepted:
    """A platform's message as it was accepted into the intake journal (hub/intake.py):
    its journal row, and when (seconds since the epoch)."""

    id: int
    inbound: InboundMessage
    at: float


@dataclass(frozen=True, slots=True)
class SetAside:
    """A journal row the intake set aside (``inbox_failed``): what it was, and why."""

    id: int
    channel: str
    chat: str
    text: str
    accepted_at: float  # seconds since the epoch
    error: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    outbox_id: int
    message_id: int
    conversation_id: int
    channel: str
    recipient: str
    text: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class IdentityStatus:
    contact_id: int
    reachable: bool
    opted_out: bool


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    sent: int
    dead: int


class Store(KnowledgeStore, ContactStore, ReachStore, ABC):
    """The conversation store. Implementations: SQLite (embedded), PostgreSQL (scale-out)."""

    url: str
    # Whether the hub migrates the schema itself when it opens the store. True for the
    # embedded SQLite (one process owns the file); False for PostgreSQL, where several hub
    # processes share the database and migrating is the operator's `supporthub db migrate`.
    auto_migrate: bool = True
    # Whether several hub processes may serve this database at once (PostgreSQL). Then the
    # routing of a committed message belongs to the process that committed it until that
    # process dies (``claim_unrouted`` hands its messages to a survivor), and a
    # conversation's messages are routed in order across processes (``earlier_unrouted``).
    several_processes: bool = False
    # "now" for the events reports are made of, in seconds since the epoch (tests set a
    # controlled clock)
    clock: Callable[[], float] = time.time

    # lifecycle -----------------------------------------------------------
    @abstractmethod
    async def open(self, *, migrate: bool = True) -> None:
        """Connect; apply migrations when ``migrate``, otherwise refuse a schema mismatch."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def migrate(self) -> int:
        """Bring the schema to ``SCHEMA_VERSION``; return the version now in place."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    def notifications(self) -> Notifications | None:
        """Notes between the hub processes sharing this database (``hub/relay.py`` carries
        the event bus over them), or None where one process owns the database (SQLite)."""
        return None

    @abstractmethod
    async def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    async def set_meta_default(self, key: str, value: str) -> str:
        """Set ``key`` unless it exists; return the stored value either way."""

    # conversations -------------------------------------------------------
    @abstractmethod
    async def ingest(self, inbound: InboundMessage, csat_window: float = 0.0,
                     comment_window: float = 0.0) -> Ingested:
        """Commit a customer message, creating contact, identity and conversation as needed.

        A repeated (channel, platform_message_id) is not stored again: the first copy is
        returned with ``duplicate=True``. A resolved conversation is reopened for the bot,
        unless the message answers its survey: a rating within ``csat_window`` seconds of
        the survey, or (``inbound.csat_comment``) the rating's comment within
        ``comment_window`` seconds of it; those are stored handled, once per cycle.
        """

    # the intake journal (hub/intake.py, rules_inbox.py) ---------------------------
    @abstractmethod
    async def accept(self, inbound: InboundMessage) -> None:
        """Journal a platform's message with one insert (the platform may be acknowledged
        once this returns); :meth:`take_in` stores it in its conversation later."""

    @abstractmethod
    async def accepted(self, limit: int = 500) -> list[Accepted]:
        """This process's accepted messages, oldest first, leaving out any whose chat has an
        older one another process holds (that one goes first)."""

    @abstractmethod
    async def take_in(self, accepted: Accepted, csat_window: float = 0.0,
                      comment_window: float = 0.0) -> Ingested | None:
        """:meth:`ingest` an accepted message and remove it from the journal, in one
        transaction; None if it was taken in already."""

    @abstractmethod
    async def adopt_accepted(self, limit: int = 500) -> int:
        """Make accepted messages no live process holds this process's (PostgreSQL: those
        of sessions that ended; SQLite: none, every row is this process's); return how
        many."""

    @abstractmethod
    async def chat_accepted(self, channel: str, chat: str) -> bool:
        """Whether a message from this chat waits in the journal."""

    @abstractmethod
    async def accepted_waiting(self) -> int:
        """How many accepted messages wait to be taken in (all processes)."""

    @abstractmethod
    async def set_aside(self, accepted: Accepted, error: str) -> bool:
        """Move a journal row whose take-in keeps failing into ``inbox_failed`` (with the
        error), in one transaction; False if it was no longer in the journal."""

    @abstractmethod
    async def requeue_set_aside(self, ids: Sequence[int] | None = None) -> int:
        """Put the rows of ``inbox_failed`` back into the journal (``ids``: only those),
        oldest first; return how many."""

    @abstractmethod
    async def set_aside_rows(self, limit: int | None = 1000) -> list[SetAside]:
        """The rows of ``inbox_failed``, oldest first (``limit=None``: all of them)."""

    @abstractmethod
    async def accepted_failed(self) -> int:
        """How many journal rows were set aside (all processes)."""

    @abstractmethod
    async def start_conversation(
        self, channel: str, external_id: str, display_name: str | None = None
    ) -> Conversation:
        """The open conversation of that identity, created (with its contact) if none."""

    @abstractmethod
    async def find_conversation(self, channel: str, external_id: str) -> Conversation | None:
        """The latest conversation of the contact behind that identity."""

    @abstractmethod
    async def get_conversation(self, conversation_id: int) -> Conversation | None: ...

    @abstractmethod
    async def list_conversations(
        self,
        state: ConversationState | None = None,
        agent_id: int | None = None,
        limit: int = 200,
    ) -> list[Conversation]:
        """Most recently updated first."""

    @abstractmethod
    async def list_messages(
        self,
        conversation_id: int,
        after_id: int | None = None,
        limit: int | None = None,
        include_private: bool = True,
    ) -> list[Message]:
        """Oldest first; with ``limit`` the newest ``limit`` of them."""

    @abstractmethod
    async def get_message(self, message_id: int) -> Message | None:
        """One message by id (the event relay re-reads what another process announced)."""

    @abstractmethod
    async def unhandled_inbound(self, limit: int = 500) -> list[Message]:
        """Customer messages committed but not yet routed (e.g. before a crash)."""

    @abstractmethod
    async def claim_unrouted(self, limit: int = 500) -> list[Message]:
        """Customer messages committed but not routed that no live process is routing,
        oldest first, now this process's to route.

        SQLite (one process owns the file): every unrouted message. PostgreSQL: ``ingest``
        claims a new message for the committing store's database session; this returns the
        messages whose claiming session has ended (that process died, even by ``kill -9``)
        or that no session claimed, and claims them for this store's session.
        """

    @abstractmethod
    async def earlier_unrouted(self, message: Message) -> bool:
        """Whether an earlier customer message of ``message``'s conversation is not yet
        routed (its turn not committed)."""

    @abstractmethod
    async def get_contact(self, contact_id: int) -> Contact | None: ...

    @abstractmethod
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
        events: Sequence[NewEvent] = (),
    ) -> Turn:
        """Append replies (each customer-visible one with its outbox row), change state, and
        mark the inbound message handled — all in one transaction.

        ``delivered_by_store``: the channels whose delivery is the store itself (the web
        chat). A reply to one of them gets its outbox row already ``sent``: nothing is left
        for the outbox worker to lease. Replies to any other channel are ``pending``.

        If ``handled_message_id`` was handled already (a concurrent redelivery), nothing is
        written and ``applied`` is False.
        ``expect_states``: if the conversation is in none of them, nothing is written except
        marking ``handled_message_id`` handled, and ``applied`` is False; with
        ``require_agent_id`` the conversation must also be assigned to that agent.
        ``agent_id`` sets the assigned agent when ``new_state`` is ASSIGNED; leaving ASSIGNED
        clears it.
        The turn's events are written with it (hub/store/rules_reports.py): the state
        change's (queued, claimed, released, resolved — credited to ``agent_id``, else the
        assigned agent), the cycle's first public agent reply, and ``events``.
        """

    @abstractmethod
    async def identity_status(self, channel: str, external_id: str) -> IdentityStatus | None:
        """Whether replies may go to that identity (None: unknown identity)."""

    @abstractmethod
    async def set_identity_status(
        self,
        channel: str,
        external_id: str,
        *,
        reachable: bool | None = None,
        opted_out: bool | None = None,
    ) -> None:
        """Mark an identity unreachable (a permanent delivery failure) or opted out (SMS
        STOP); None leaves that flag as it is. Unknown identities are ignored."""

    # outbox --------------------------------------------------------------
    @abstractmethod
    async def lease_outbox(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        """Due, pending items, each leased to the caller until ``now + lease_seconds``.

        Only the oldest pending item of each recipient (channel + recipient) is ever leased:
        a reply is not leased while an earlier reply to the same recipient is pending —
        leased by any process, or waiting for its retry. So at most one item per recipient
        is in any batch, and replies to one recipient go out in order across processes.
        """

    @abstractmethod
    async def release_stale_leases(self) -> int:
        """Release the outbox leases of processes that are gone; how many were released.
        Called when the outbox worker starts.

        SQLite: one hub process owns the file, so every lease found when its worker starts
        was taken by an earlier process: all are released. PostgreSQL: a lease names its
        holder's database session and is void as soon as that session ends: nothing to do.
        """

    @abstractmethod
    async def outbox_delivered(self, outbox_id: int, platform_message_id: str | None) -> None: ...

    @abstractmethod
    async def outbox_delivered_many(
        self, delivered: Sequence[tuple[int, str | None]]
    ) -> None:
        """Mark several items sent (outbox id, the platform's message id) in one write: the
        outbox worker gathers the deliveries that end while one such write runs."""

    @abstractmethod
    async def outbox_failed(self, outbox_id: int, error: str, retry_at: float | None) -> None:
        """Schedule a retry at ``retry_at``, or dead-letter the item when it is None."""

    @abstractmethod
    async def record_delivery_status(
        self, channel: str, platform_message_id: str, status: str
    ) -> bool:
        """Store a platform's delivery report (e.g. Twilio's "delivered") on the outbound
        message it names; False when no such message was sent."""

    @abstractmethod
    async def dead_letters(self, limit: int = 200) -> list[DeadLetter]: ...

    @abstractmethod
    async def outbox_stats(self) -> OutboxStats: ...

    @abstractmethod
    async def conversation_counts(self) -> dict[ConversationState, int]:
        """How many conversations are in each state (every state present, zero or not)."""

    # users and sessions --------------------------------------------------
    @abstractmethod
    async def create_user(self, email: str, name: str, role: Role, password_hash: str) -> User:
        """Raises Conflict when the email is taken."""

    @abstractmethod
    async def update_user_password(self, email: str, password_hash: str) -> User: ...

    @abstractmethod
    async def get_user(self, user_id: int) -> User | None: ...

    @abstractmethod
    async def get_user_by_email(self, email: str) -> User | None: ...

    @abstractmethod
    async def create_session(self, token_hash: str, user_id: int, expires_at: float) -> None: ...

    @abstractmethod
    async def session_user(self, token_hash: str, now: float) -> User | None:
        """The active user of an unexpired session."""

    @abstractmethod
    async def delete_session(self, token_hash: str) -> None: ...

    @abstractmethod
    async def delete_user_sessions(self, user_id: int) -> None:
        """End every session of a user (e.g. when their role changes)."""

    # reports (hub/store/rules_reports.py) -----------------------------------
    @abstractmethod
    async def report_cycles(self, since: float, until: float) -> list[Cycle]:
        """Every cycle that started in [since, until) (seconds since the epoch)."""

    @abstractmethod
    async def report_articles(self, since: float, until: float) -> list[ArticleFigures]:
        """Per article answered directly in [since, until): what followed the answers."""

    @abstractmethod
    async def conversation_events(self, conversation_id: int) -> list[Event]:
        """A conversation's events, in the order they were recorded."""

    # knowledge -----------------------------------------------------------
    @abstractmethod
    async def list_articles(self) -> list[Article]: ...

    @abstractmethod
    async def get_article(self, article_id: int) -> Article | None: ...

    # ``author`` is written into the article's history (None: not known)
    async def create_articles(self, articles: Sequence[NewArticle], *,
                              author: RevisionAuthor | None = None,
                              only_if_empty: bool = False) -> list[Article]:
        """All or nothing. ``only_if_empty``: only into a knowledge base with no articles,
        decided in the writing transaction (two processes starting with ``--demo`` at once
        load the demo articles once); nothing is created otherwise."""
        changes = await self.import_articles([(None, a) for a in articles], author=author,
                                             only_if_empty=only_if_empty)
        return [c.article for c in changes]

    @abstractmethod
    async def import_articles(self, items: Sequence[tuple[int | None, NewArticle]], *,
                              author: RevisionAuthor | None = None,
                              only_if_empty: bool = False) -> list[ArticleChange]:
        """In one transaction, all or nothing, in order: an item without an id is a new
        article ("added"); one with an id replaces that article ("updated", with an "update"
        revision), unless the article already is exactly so ("unchanged": nothing written).
        An id that is no article raises NotFound and nothing is written."""

    @abstractmethod
    async def update_article(self, article_id: int, article: NewArticle, *,
                             author: RevisionAuthor | None = None) -> Article: ...

    @abstractmethod
    async def delete_article(self, article_id: int, *,
                             author: RevisionAuthor | None = None) -> None: ...

    # email (bots/email.py) ----------------------------------------------------
    @abstractmethod
    async def save_mail(self, message_id: int, raw: bytes,
                        attachments: Sequence[NewMailAttachment]) -> bool:
        """Keep a received mail's original and attachments with its message, once (a second
        call for the same message changes nothing and returns False)."""

    @abstractmethod
    async def mail_original(self, message_id: int) -> bytes | None: ...

    @abstractmethod
    async def mail_attachments(self, message_ids: Sequence[int]) -> list[MailAttachment]: ...

    @abstractmethod
    async def mail_attachment(self, attachment_id: int
                              ) -> tuple[MailAttachment, bytes | None] | None:
        """The attachment and its bytes (None: it was too large to keep)."""

    @abstractmethod
    async def imap_cursor(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last committed UID) of an IMAP mailbox."""

    @abstractmethod
    async def save_imap_cursor(self, mailbox: str, uidvalidity: int, last_uid: int) -> None: ...
