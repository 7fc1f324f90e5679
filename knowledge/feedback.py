"""What the bot says with an article, and what it does when the answer did not help.

- ``answer_text``: the article's answer for a channel (the shorter ``sms_answer`` on SMS
  and WhatsApp) with the contact's fields filled in: ``{{first_name}}``, ``{{name}}``, any
  contact attribute, and ``{{first_name|there}}`` for a fallback; a missing field with no
  fallback renders as nothing, and the space it leaves is tidied.
- ``is_unhelpful``: the customer's reply to a direct answer says it did not help ("no",
  "that didn't help"…).
- A thumbs-down in the web chat arrives as a message the adapter marks ``[unhelpful: <id>]``
  (``feedback_inbound``), naming the bot message it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub import marks
from hub.model import (
    Article,
    Author,
    Contact,
    InboundMessage,
    Message,
    NewMessage,
    Suggestion,
)
from hub.store.base_kb import NewUnanswered, UnansweredKind
from knowledge.normalize import normalize

if TYPE_CHECKING:
    from hub.store import Store
    from knowledge.service import KnowledgeBase

UNHELPFUL = "unhelpful"  # the mark of a thumbs-down
SHORT_CHANNELS = frozenset({"sms", "whatsapp"})

_PHRASES = (
    "no", "nope", "nah", "no it did not", "no that did not help", "that did not help",
    "did not help", "it did not help", "this did not help", "does not help",
    "that does not help", "not helpful", "unhelpful", "not really", "that is not it",
    "that is wrong", "wrong answer", "that is not what i asked", "not what i asked",
    "that does not answer my question", "no that is not it", "no that is wrong",
    "that was not helpful", "not what i meant", "no not really", "that is not helpful",
)
_UNHELPFUL = frozenset(normalize(p) for p in _PHRASES)
_FIELD = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\|([^}]*))?\}\}")
_MARK_DETAIL = re.compile(r"\[" + UNHELPFUL + r": (\d+)\]")


def is_unhelpful(text: str) -> bool:
    return normalize(text) in _UNHELPFUL


def contact_fields(contact: Contact | None) -> dict[str, str]:
    if contact is None:
        return {}
    fields: dict[str, str] = {}
    for key, value in contact.attributes.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            fields[str(key)] = str(value)
    if contact.name:
        fields["name"] = contact.name.strip()
        fields.setdefault("first_name", contact.name.strip().split()[0])
    for extra in ("email", "phone"):  # present once contacts carry them (issue 7)
        value = getattr(contact, extra, None)
        if isinstance(value, str) and value:
            fields.setdefault(extra, value)
    return fields


def render(template: str, fields: Mapping[str, Any]) -> str:
    """Fill ``{{field}}`` / ``{{field|fallback}}``; tidy what an empty field leaves."""
    if "{{" not in template:
        return template

    def fill(match: re.Match[str]) -> str:
        value = str(fields.get(match.group(1)) or "").strip()
        return value or (match.group(2) or "").strip()

    text = _FIELD.sub(fill, template)
    text = re.sub(r"[ \t]+([,.!?;:])", r"\1", text)  # "Hi , there" -> "Hi, there"
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"(?m)^[ \t]*[,;:][ \t]*", "", text).strip()


def answer_text(article: Article, channel: str, contact: Contact | None) -> str:
    base = article.answer
    if channel in SHORT_CHANNELS and article.sms_answer:
        base = article.sms_answer
    return render(base, contact_fields(contact))


def feedback_inbound(channel: str, external_id: str, message_id: int) -> InboundMessage:
    """The message a channel adapter commits for a thumbs-down on bot message ``message_id``
    (kept in the thread so the agent sees it, and routed like any message)."""
    text = marks.marked_text([marks.mark(UNHELPFUL, str(message_id))], "That didn't help")
    return InboundMessage(channel, external_id, text, marks=(UNHELPFUL,))


def marked_message_id(text: str) -> int | None:
    """The bot message a thumbs-down names (from its ``[unhelpful: <id>]`` mark)."""
    match = _MARK_DETAIL.match(text)
    return int(match.group(1)) if match else None


SORRY_SUGGEST_TEXT = (
    "Sorry that didn't help. Did you mean one of these? "
    "Or say \"agent\" and I'll connect you with a person."
)
SORRY_PERSON_TEXT = (
    "Sorry that didn't help. Could you put your question another way? "
    "Or say \"agent\" and I'll connect you with a person."
)
_LOOK_BACK = 30  # messages searched for the answer a "no" or a thumbs-down is about


@dataclass(frozen=True, slots=True)
class Unhelpful:
    """A direct answer the customer said did not help, and the question it answered."""

    answer: Message
    article_id: int
    question: str

    def entry(self) -> NewUnanswered:
        return NewUnanswered(self.question, UnansweredKind.UNHELPFUL,
                             self.answer.conversation_id, self.answer.id, self.article_id)


async def find_unhelpful(store: Store, message: Message, thumbs_down: bool) -> Unhelpful | None:
    """The bot answer ``message`` says did not help: the one a thumbs-down names, or — for
    a typed "no" — the bot's latest message, if that was a direct answer."""
    recent = await store.list_messages(message.conversation_id, limit=_LOOK_BACK,
                                       include_private=False)
    before = [m for m in recent if m.id < message.id]
    answer: Message | None
    if thumbs_down:
        target = marked_message_id(message.text)
        answer = next((m for m in before if m.id == target), None)
    else:
        answer = next((m for m in reversed(before) if m.author is not Author.CUSTOMER), None)
    if answer is None or answer.author is not Author.BOT or answer.article_id is None \
            or answer.suggestions:
        return None
    question = next((m.text for m in reversed(before)
                     if m.id < answer.id and m.author is Author.CUSTOMER), "")
    return Unhelpful(answer, answer.article_id, question or f"(article {answer.article_id})")


def unhelpful_reply(knowledge: KnowledgeBase, found: Unhelpful | None) -> NewMessage:
    """Offer the other good matches of the original question, or else a person."""
    if found is None:
        return NewMessage(Author.BOT, SORRY_PERSON_TEXT)
    result = knowledge.match(found.question)
    floor = knowledge.thresholds.suggest
    others = tuple(Suggestion(m.article_id, m.title) for m in result.matches
                   if m.article_id != found.article_id and m.score >= floor)
    if not others:
        return NewMessage(Author.BOT, SORRY_PERSON_TEXT)
    return NewMessage(Author.BOT, SORRY_SUGGEST_TEXT, suggestions=others)
