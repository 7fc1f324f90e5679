"""The domain model: frozen, typed values that cross module boundaries.

Platform leftovers travel in ``extras`` mappings so the core never learns a
platform's shape.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ConversationState(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class Author(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class Role(enum.StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class ArticleStatus(enum.StrEnum):
    PUBLISHED = "published"
    DRAFT = "draft"


@dataclass(frozen=True, slots=True)
class Suggestion:
    article_id: int
    title: str


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message as any channel adapter hands it to the hub."""

    channel: str
    external_id: str  # the sender's id on that channel (visitor id, chat id, phone…)
    text: str
    platform_message_id: str | None = None  # dedupe key, unique per channel
    display_name: str | None = None
    choice_article_id: int | None = None  # a pressed suggestion button
    # what the adapter knows the message is besides its words (hub/marks.py): "edited",
    # "photo", "opt-out"… Only adapters set these; words a customer types are never marks.
    marks: tuple[str, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict)
    # a 1–5 rating (a survey button, or a bare number the pipeline read): recorded as the
    # answer to a pending satisfaction survey, else an ordinary message
    csat_score: int | None = None
    # the words this message leaves as the survey's optional comment (set by the pipeline,
    # or sent with a rating): the comment of a rating given with it, else of the cycle's
    # rating when that came within the comment window and has none yet; else ignored
    csat_comment: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    author: Author
    channel: str
    text: str
    created_at: datetime
    direction: str  # "in" (from the customer) or "out"
    platform_message_id: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    agent_id: int | None = None
    agent_name: str | None = None
    article_id: int | None = None
    private: bool = False
    marks: tuple[str, ...] = ()  # set by the channel adapter, see InboundMessage.marks


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    contact_id: int
    state: ConversationState
    channel: str  # where the customer last wrote from
    assigned_agent_id: int | None
    assigned_agent_name: str | None
    created_at: datetime
    updated_at: datetime
    contact_name: str | None = None
    last_message_text: str | None = None
    fallback_streak: int = 0


@dataclass(frozen=True, slots=True)
class Identity:
    channel: str
    external_id: str


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    name: str | None
    identities: tuple[Identity, ...]
    attributes: Mapping[str, Any]
    conversation_ids: tuple[int, ...]
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    merged_into: int | None = None  # set while this contact is merged into another


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str
    role: Role
    password_hash: str
    active: bool = True
    status: str = "away"  # "online" or "away": automatic assignment picks online agents


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    title: str
    questions: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()
    status: ArticleStatus = ArticleStatus.PUBLISHED
    updated_at: datetime | None = None
    sms_answer: str | None = None  # a shorter variant for SMS and WhatsApp


# Limits of one article, whichever way it arrives (API, admin page, import).
MAX_ARTICLE_QUESTIONS = 200
MAX_ARTICLE_TEXT = 20_000  # characters of an answer or its SMS variant


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An article's fields before the store gives it an id."""

    title: str
    questions: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()
    status: ArticleStatus = ArticleStatus.PUBLISHED
    sms_answer: str | None = None  # a shorter variant for SMS and WhatsApp


@dataclass(frozen=True, slots=True)
class TemplateSend:
    """A pre-approved template to send instead of free text (WhatsApp through Twilio
    Content: ``ContentSid`` and ``ContentVariables``), with the values of its variables."""

    name: str
    content_sid: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    message_id: int
    conversation_id: int
    channel: str
    recipient: str  # the external id on that channel
    text: str
    suggestions: tuple[Suggestion, ...]
    attempts: int
    agent_name: str | None = None
    template: TemplateSend | None = None  # send this template instead of ``text``
    marks: tuple[str, ...] = ()  # "csat": the satisfaction survey (buttons where they exist)


@dataclass(frozen=True, slots=True)
class Ingested:
    """The result of committing an inbound message."""

    message: Message
    conversation: Conversation
    duplicate: bool
    handled: bool  # already routed (a redelivery of a handled message)
    csat_score: int | None = None  # the message answered a pending survey with this score
    csat_comment: str | None = None  # the message left this comment on the cycle's survey


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A reply or note the pipeline appends to a conversation."""

    author: Author
    text: str
    suggestions: tuple[Suggestion, ...] = ()
    agent_id: int | None = None
    article_id: int | None = None
    channel: str | None = None  # default: the conversation's current channel
    private: bool = False
    template: TemplateSend | None = None  # sent instead of ``text`` (which describes it)
    marks: tuple[str, ...] = ()  # "csat": the satisfaction survey


@dataclass(frozen=True, slots=True)
class NewMailAttachment:
    """An attachment of a received mail, as the email channel hands it to the store:
    ``data`` is None when it was over ``SUPPORTHUB_EMAIL_MAX_ATTACHMENT_BYTES`` (listed,
    not kept)."""

    filename: str
    content_type: str
    size: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class MailAttachment:
    """A stored attachment's description (its bytes are fetched on their own)."""

    id: int
    message_id: int
    filename: str
    content_type: str
    size: int
    kept: bool


def id_in_text(text: str) -> int | None:
    """A 64-bit id written in ASCII digits (a query parameter, a button's payload), or None:
    ``str.isdigit`` also takes "²" (no number to ``int``) and "１２", and ``int`` refuses
    5,000 digits — text that comes from outside is read here, not with ``int`` alone."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    value = int(text)
    return value if value <= 2**63 - 1 else None


def storable_text(text: str) -> bool:
    """Text both engines can keep: PostgreSQL refuses NUL in text, and a lone surrogate
    (JSON's "\\ud800") is no UTF-8 at all — either was a 500 from the store."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
