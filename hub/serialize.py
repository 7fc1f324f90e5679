"""Domain values as the HTTP API shows them."""

from __future__ import annotations

from typing import Any

from hub.model import Article, Contact, Conversation, Message, User


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "author": message.author.value,
        "direction": message.direction,
        "channel": message.channel,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "suggestions": [
            {"article_id": s.article_id, "title": s.title} for s in message.suggestions
        ],
        "agent_name": message.agent_name,
        "article_id": message.article_id,
        "private": message.private,
        "csat": "csat" in message.marks,  # the satisfaction survey (answer with 1–5)
    }


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    agent = None
    if conversation.assigned_agent_id is not None:
        agent = {"id": conversation.assigned_agent_id, "name": conversation.assigned_agent_name}
    return {
        "id": conversation.id,
        "contact_id": conversation.contact_id,
        "contact_name": conversation.contact_name,
        "state": conversation.state.value,
        "assigned_agent": agent,
        "channel": conversation.channel,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "last_message": conversation.last_message_text,
    }


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.name,
        "identities": [
            {"channel": i.channel, "external_id": i.external_id} for i in contact.identities
        ],
        "attributes": dict(contact.attributes),
        "email": contact.email,
        "phone": contact.phone,
        "merged_into": contact.merged_into,
        "conversations": list(contact.conversation_ids),
        "created_at": contact.created_at.isoformat(),
    }


def article_json(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "questions": list(article.questions),
        "answer": article.answer,
        "tags": list(article.tags),
        "status": article.status.value,
        "updated_at": article.updated_at.isoformat() if article.updated_at else None,
    }


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role.value}
