"""Turning database rows into domain values; shared by every engine."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.model import (
    Article,
    ArticleStatus,
    Author,
    Contact,
    Conversation,
    ConversationState,
    Identity,
    Message,
    OutboxItem,
    Role,
    Suggestion,
    TemplateSend,
    User,
)
from hub.store.base_kb import ArticleRevision, RevisionAuthor, Unanswered, UnansweredKind

Row = Mapping[str, Any]


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dump_suggestions(suggestions: tuple[Suggestion, ...]) -> str | None:
    if not suggestions:
        return None
    return json.dumps([{"article_id": s.article_id, "title": s.title} for s in suggestions])


def load_suggestions(raw: str | None) -> tuple[Suggestion, ...]:
    if not raw:
        return ()
    return tuple(Suggestion(int(s["article_id"]), str(s["title"])) for s in json.loads(raw))


def message_from_row(row: Row) -> Message:
    return Message(
        id=int(row["id"]),
        conversation_id=int(row["conversation_id"]),
        author=Author(row["author"]),
        channel=row["channel"],
        text=row["text"],
        created_at=as_datetime(row["created_at"]),
        direction=row["direction"],
        platform_message_id=row["platform_message_id"],
        suggestions=load_suggestions(row["suggestions"]),
        agent_id=row["agent_id"],
        agent_name=row["agent_name"],
        article_id=row["article_id"],
        private=bool(row["private"]),
        marks=tuple(json.loads(row["extras"]).get("marks", ())) if row["extras"] else (),
    )


def conversation_from_row(row: Row) -> Conversation:
    return Conversation(
        id=int(row["id"]),
        contact_id=int(row["contact_id"]),
        state=ConversationState(row["state"]),
        channel=row["channel"],
        assigned_agent_id=row["assigned_agent_id"],
        assigned_agent_name=row["agent_name"],
        created_at=as_datetime(row["created_at"]),
        updated_at=as_datetime(row["updated_at"]),
        contact_name=row["contact_name"],
        last_message_text=row["last_message_text"],
        fallback_streak=int(row["fallback_streak"]),
    )


def user_from_row(row: Row) -> User:
    return User(
        id=int(row["id"]),
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        active=bool(row["active"]),
        status=row["status"] if "status" in row.keys() else "away",
    )


def article_from_row(row: Row) -> Article:
    return Article(
        id=int(row["id"]),
        title=row["title"],
        questions=tuple(json.loads(row["questions"])),
        answer=row["answer"],
        tags=tuple(json.loads(row["tags"])),
        status=ArticleStatus(row["status"]),
        updated_at=as_datetime(row["updated_at"]),
        sms_answer=row["sms_answer"],
    )


def outbox_from_row(row: Row) -> OutboxItem:
    return OutboxItem(
        id=int(row["id"]),
        message_id=int(row["message_id"]),
        conversation_id=int(row["conversation_id"]),
        channel=row["channel"],
        recipient=row["recipient"],
        text=row["text"],
        suggestions=load_suggestions(row["suggestions"]),
        attempts=int(row["attempts"]),
        agent_name=row["agent_name"],
        template=template_from_extras(row["extras"] if "extras" in row.keys() else None),
        marks=tuple(json.loads(row["extras"]).get("marks", ())) if row["extras"] else (),
    )


def template_from_extras(extras: str | None) -> TemplateSend | None:
    """The template a reply is sent as (``reply_extras`` in rules_conversations)."""
    found = json.loads(extras).get("template") if extras else None
    if not isinstance(found, dict):
        return None
    return TemplateSend(found["name"], found["content_sid"], dict(found.get("variables") or {}))


MESSAGE_COLUMNS = """m.id, m.conversation_id, m.author, m.channel, m.text, m.created_at,
    m.direction, m.platform_message_id, m.suggestions, m.agent_id, m.article_id, m.private,
    m.extras, u.name AS agent_name"""

CONVERSATION_COLUMNS = """c.id, c.contact_id, c.state, c.channel, c.assigned_agent_id,
    c.created_at, c.updated_at, c.last_message_text, c.fallback_streak,
    u.name AS agent_name, ct.name AS contact_name"""

CONVERSATION_FROM = """conversations c JOIN contacts ct ON ct.id = c.contact_id
    LEFT JOIN users u ON u.id = c.assigned_agent_id"""


def contact_from_row(row: Row, identities: list[Any], conversations: list[Any]) -> Contact:
    return Contact(
        id=int(row["id"]),
        name=row["name"],
        identities=tuple(Identity(i["channel"], i["external_id"]) for i in identities),
        attributes=json.loads(row["attributes"]),
        conversation_ids=tuple(int(c["id"]) for c in conversations),
        created_at=as_datetime(row["created_at"]),
        email=row["email"],
        phone=row["phone"],
        merged_into=row["merged_into"] if "merged_into" in row.keys() else None,
    )


# a contact's thread: its latest open conversation, else its latest one
THREAD_ORDER = "ORDER BY CASE WHEN state = 'resolved' THEN 1 ELSE 0 END, id DESC"


# a revision row read as an article row (article_from_row) plus its own columns
REVISION_COLUMNS = """id AS revision_id, article_id AS id, action, title, questions, answer,
    tags, status, sms_answer, created_at, created_at AS updated_at, author_id, author_name,
    author_email"""


def author_values(author: RevisionAuthor | None) -> tuple[int | None, str | None, str | None]:
    """The ``author_id, author_name, author_email`` columns of a revision."""
    if author is None:
        return None, None, None
    return author.user_id, author.name, author.email


def revision_from_row(row: Any) -> ArticleRevision:
    name = row["author_name"]
    return ArticleRevision(
        id=int(row["revision_id"]),
        article_id=int(row["id"]),
        action=row["action"],
        article=article_from_row(row),
        created_at=as_datetime(row["created_at"]),
        author=None if name is None else RevisionAuthor(
            name, None if row["author_id"] is None else int(row["author_id"]),
            row["author_email"]),
    )


def unanswered_from_row(row: Any) -> Unanswered:
    return Unanswered(
        id=int(row["id"]),
        text=row["text"],
        kind=UnansweredKind(row["kind"]),
        conversation_id=row["conversation_id"],
        message_id=row["message_id"],
        article_id=row["article_id"],
        created_at=as_datetime(row["created_at"]),
    )
