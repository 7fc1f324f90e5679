"""A Telegram update, read into the hub's terms (no I/O here, so it is easy to test).

Identity: the chat. In a private chat the chat id is the user id; in a group the group is
the customer (its members see the bot's answers there), named by its title.
Dedupe key: ``<chat id>:<message id>``, unique per bot and the same in every redelivery of
the update, by webhook or by polling; an edit adds ``:edit:<edit date>``, a button press is
``cb:<callback query id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, Chat, Message, MessageEntity, Update

from hub import marks
from hub.model import InboundMessage, id_in_text

CHANNEL = "telegram"
CALLBACK_PREFIX = "kb:"
RATING_PREFIX = "csat:"  # a satisfaction-survey button: csat:1 … csat:5
GROUPS = frozenset({Chat.GROUP, Chat.SUPERGROUP})


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str  # without "@"


@dataclass(frozen=True, slots=True)
class Choice:
    """A pressed suggestion button: the hub needs the article's title before it commits."""

    callback_query_id: str
    chat_id: str
    article_id: int
    title: str | None  # the button's label, when the keyboard is still on the message
    display_name: str | None


_PLAIN_MESSAGE_KEYS = frozenset({"message_id", "from", "chat", "date", "text"})
_PLAIN_USER_KEYS = frozenset({"id", "is_bot", "first_name", "last_name", "username",
                              "language_code"})


def read_plain_text(data: Mapping[str, Any]) -> InboundMessage | None:
    """Most traffic, read straight from the Bot API's JSON: a new text message in a private
    chat, nothing else on it. None for every other update, which ``read_update`` reads
    through python-telegram-bot. The result is the one ``read_update`` gives (tested): this
    only skips building PTB's objects, about a third of the event loop's time per update
    when the webhook is saturated.
    """
    message = data.get("message")
    if len(data) != 2 or not isinstance(data.get("update_id"), int) \
            or type(message) is not dict or not message.keys() <= _PLAIN_MESSAGE_KEYS:
        return None
    chat, sender, text, message_id = (message.get("chat"), message.get("from"),
                                      message.get("text"), message.get("message_id"))
    if type(chat) is not dict or chat.get("type") != Chat.PRIVATE \
            or type(chat.get("id")) is not int or type(sender) is not dict \
            or not sender.keys() <= _PLAIN_USER_KEYS or sender.get("is_bot") is not False \
            or type(sender.get("id")) is not int or type(message_id) is not int \
            or not isinstance(message.get("date"), int) or type(text) is not str \
            or not text.strip() or text.startswith("/start"):
        return None
    first, last, username = (sender.get("first_name"), sender.get("last_name"),
                             sender.get("username"))
    if type(first) is not str or not isinstance(last, str | None) \
            or not isinstance(username, str | None):
        return None
    extras: dict[str, Any] = {"chat_type": Chat.PRIVATE, "message_id": message_id,
                              "user_id": sender["id"]}
    if username:
        extras["username"] = username
    return InboundMessage(CHANNEL, str(chat["id"]), text.strip(),
                          platform_message_id=f"{chat['id']}:{message_id}",
                          display_name=f"{first} {last}" if last else first, extras=extras)


def read_update(update: Update, me: BotIdentity | None) -> InboundMessage | Choice | None:
    """What the hub should do with ``update``; None: nothing (not for us, or not supported)."""
    if update.callback_query is not None:
        return _choice(update.callback_query)
    if update.message is not None:
        return _message(update.message, me, edited=False)
    if update.edited_message is not None:
        return _message(update.edited_message, me, edited=True)
    return None


def _choice(query: CallbackQuery) -> Choice | InboundMessage | None:
    data = query.data or ""
    message = query.message
    if data.startswith(RATING_PREFIX) and data[len(RATING_PREFIX):] in ("1", "2", "3", "4", "5"):
        score = int(data[len(RATING_PREFIX):])
        chat = message.chat.id if message is not None else query.from_user.id
        return InboundMessage(CHANNEL, str(chat), str(score), platform_message_id=f"cb:{query.id}",
                              display_name=query.from_user.full_name, csat_score=score)
    # callback data comes back from the client, which may send anything
    article = id_in_text(data[len(CALLBACK_PREFIX):])
    if not data.startswith(CALLBACK_PREFIX) or article is None:
        return None
    chat_id = message.chat.id if message is not None else query.from_user.id
    title = None
    markup = getattr(message, "reply_markup", None)
    if markup is not None:
        for row in markup.inline_keyboard:
            for button in row:
                if button.callback_data == data:
                    title = button.text
    return Choice(query.id, str(chat_id), article, title,
                  query.from_user.full_name)


def _message(message: Message, me: BotIdentity | None, edited: bool) -> InboundMessage | None:
    chat = message.chat
    sender = message.from_user
    if sender is not None and sender.is_bot:
        return None
    if chat.type in GROUPS:
        if not _addressed(message, me):
            return None
    elif chat.type != Chat.PRIVATE:
        return None  # channel posts
    words = message.text or message.caption or ""
    if chat.type in GROUPS and me is not None:
        words = words.replace(f"@{me.username}", "").strip()
    attachments = _attachments(message)
    tags = [marks.mark(a["kind"], a.get("file_name") or a.get("emoji")) for a in attachments]
    extras: dict[str, Any] = {"chat_type": chat.type, "message_id": message.message_id}
    if sender is not None:
        extras["user_id"] = sender.id
        if sender.username:
            extras["username"] = sender.username
    if attachments:
        extras["attachments"] = attachments
    platform_id = f"{chat.id}:{message.message_id}"
    if edited:
        tags.insert(0, marks.mark(marks.EDITED))
        edit_date = message.edit_date.timestamp() if message.edit_date else 0
        platform_id += f":edit:{int(edit_date)}"
        extras["edit_of"] = f"{chat.id}:{message.message_id}"
    elif words.split(maxsplit=1)[:1] in (["/start"], [f"/start@{me.username if me else ''}"]):
        payload = words.split(maxsplit=1)[1:]
        if payload:  # a deep link: t.me/<bot>?start=<payload>, e.g. a continuation code
            words = payload[0].strip()
            extras["start_payload"] = words
        else:
            tags.append(marks.mark(marks.START))
            words = "/start"
    if not words and not tags:
        return None  # a service message: someone joined, a pinned message…
    name = chat.title if chat.type in GROUPS else (sender.full_name if sender else None)
    return InboundMessage(CHANNEL, str(chat.id), marks.marked_text(tags, words),
                          marks=marks.tag_names(tags), platform_message_id=platform_id,
                          display_name=name, extras=extras)


def _addressed(message: Message, me: BotIdentity | None) -> bool:
    """In a group the bot answers only when mentioned, or when someone replies to it."""
    if me is None:
        return False
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return True
    entities = message.parse_entities() if message.text else message.parse_caption_entities()
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == f"@{me.username.lower()}":
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None \
                and entity.user.id == me.id:
            return True
        if entity.type == MessageEntity.BOT_COMMAND and text.lower().endswith(
                f"@{me.username.lower()}"):
            return True
    return False


def _attachments(message: Message) -> list[dict[str, Any]]:
    """What the agent needs to fetch the file later (``getFile`` with the file id)."""
    found: list[dict[str, Any]] = []
    if message.photo:
        largest = message.photo[-1]
        found.append({"kind": "photo", "file_id": largest.file_id,
                      "file_unique_id": largest.file_unique_id,
                      "width": largest.width, "height": largest.height})
    for kind, media in (("voice", message.voice), ("audio", message.audio),
                        ("video", message.video), ("video note", message.video_note),
                        ("animation", message.animation), ("document", message.document),
                        ("sticker", message.sticker)):
        if media is None:
            continue
        item: dict[str, Any] = {"kind": kind, "file_id": media.file_id,
                                "file_unique_id": media.file_unique_id}
        for attribute in ("file_name", "mime_type", "emoji", "file_size"):
            value = getattr(media, attribute, None)
            if value:
                item[attribute] = value
        found.append(item)
    if message.location is not None:
        found.append({"kind": "location", "latitude": message.location.latitude,
                      "longitude": message.location.longitude})
    if message.contact is not None:
        found.append({"kind": "contact", "phone_number": message.contact.phone_number,
                      "first_name": message.contact.first_name})
    return found
