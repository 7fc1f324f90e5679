"""Continue elsewhere: one-time link codes, and a website's verified users.

A code is 8 characters from an alphabet without look-alikes (shown ``ABCD-2345``; typed with
or without the dash, in any case), at least two letters and two digits, so no ordinary word
is ever taken for one. The store keeps only its SHA-256. It joins the identity it arrives
from to the contact it was made for, once, before ``SUPPORTHUB_LINK_CODE_TTL`` runs out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hub.config import Settings
from hub.events import ConversationChanged, EventBus, MessageCreated
from hub.model import Author, Conversation, ConversationState, Message, NewMessage
from hub.store import Store, Turn
from hub.store.base_contacts import Redemption

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LINK_CHANNELS = ("telegram", "sms", "whatsapp", "slack", "messenger", "instagram", "email")
SITE_USER_CHANNEL = "web_user"  # a website's own user id, vouched for by its HMAC
_CODE = re.compile(r"^\s*/?(?:start\s+)?([A-Za-z2-9]{4})[\s-]?([A-Za-z2-9]{4})\s*$")

LINKED_TEXT = ("You're connected: this chat now continues your conversation with us, "
               "so there's no need to repeat anything. Replies will reach you here.")
REFUSED_TEXT = {
    "unknown": "That code isn't valid. Please check it, or ask for a new one in the chat "
               "you started in. Nothing was linked.",
    "expired": "That code has expired. Please ask for a new one in the chat you started in. "
               "Nothing was linked.",
    "used": "That code has been used already. Please ask for a new one in the chat you "
            "started in. Nothing was linked.",
}


@dataclass(frozen=True, slots=True)
class LinkOffer:
    code: str
    expires_at: datetime
    instructions: str
    url: str | None


_CHANNEL_WORDS = {
    "telegram": "telegram", "sms": "sms", "text": "sms", "texts": "sms", "text message": "sms",
    "text messages": "sms", "phone": "sms", "whatsapp": "whatsapp", "whats app": "whatsapp",
    "slack": "slack", "messenger": "messenger", "facebook messenger": "messenger",
    "facebook": "messenger", "instagram": "instagram", "insta": "instagram",
    "email": "email", "e-mail": "email", "mail": "email",
}
_CONTINUE = re.compile(
    r"^\s*(?:/link\s+|(?:i\s+(?:want|would like|'d like)\s+to\s+|can\s+i\s+|let'?s\s+|please\s+)?"
    r"(?:continue|carry on|switch|move|talk|chat)\s+(?:on|by|in|over|via|to|with)\s+)"
    r"(?P<channel>telegram|sms|texts?|text messages?|phone|whats ?app|slack|"
    r"(?:facebook )?messenger|facebook|instagram|insta|e-?mail|mail)"
    r"(?:\s+(?:please|instead))?\s*[.!?]*\s*$",
    re.IGNORECASE,
)
OFFER_TEXT = ("Your code is {code} (valid for {minutes} minutes, once). {instructions} "
              "We'll carry on this conversation there.")
SAME_CHANNEL_TEXT = "You're already talking to us on {channel}."
UNAVAILABLE_TEXT = "Sorry, we can't be reached on {channel} yet."
CHANNEL_NAMES = {"telegram": "Telegram", "sms": "SMS", "whatsapp": "WhatsApp",
                 "slack": "Slack", "webchat": "the web chat", "messenger": "Messenger",
                 "instagram": "Instagram", "email": "email"}


def continue_request(text: str) -> str | None:
    """The channel a customer asks to continue on ("continue on Telegram", "switch to SMS",
    "/link whatsapp"), or None."""
    match = _CONTINUE.match(text)
    if match is None:
        return None
    return _CHANNEL_WORDS.get(re.sub(r"\s+", " ", match.group("channel").lower()))


def new_code() -> str:
    while True:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
        digits = sum(ch.isdigit() for ch in raw)
        if 2 <= digits <= 6:
            return f"{raw[:4]}-{raw[4:]}"


def code_in_any(texts: list[str]) -> str | None:
    """The first of ``texts`` that is a code (an email's subject, then its first line)."""
    for text in texts:
        found = code_in(text)
        if found is not None:
            return found
    return None


def code_in(text: str) -> str | None:
    """The normalised code when ``text`` is one (``abcd 2345`` → ``ABCD2345``), else None."""
    match = _CODE.match(text)
    if match is None:
        return None
    code = (match.group(1) + match.group(2)).upper()
    digits = sum(ch.isdigit() for ch in code)
    if not 2 <= digits <= 6 or any(ch not in ALPHABET for ch in code):
        return None
    return code


def code_hash(code: str) -> str:
    return hashlib.sha256(("link-code:" + code.replace("-", "").upper()).encode()).hexdigest()


def instructions(channel: str, code: str, settings: Settings,
                 telegram_username: str | None) -> tuple[str, str | None]:
    """What to tell the customer, and the deep link where the channel has one."""
    number = settings.twilio_from.removeprefix("whatsapp:")
    number = number if number.startswith("+") else "our number"
    if channel == "telegram":
        if telegram_username:
            url = f"https://t.me/{telegram_username}?start={code.replace('-', '')}"
            return (f"Open {url} and press Start, or send /start {code} to "
                    f"@{telegram_username} on Telegram.", url)
        return f"Send /start {code} to our Telegram bot.", None
    if channel == "sms":
        return f"Text {code} to {number}.", None
    if channel == "whatsapp":
        return f"Send {code} to {number} on WhatsApp.", None
    if channel == "messenger":
        if settings.messenger_page:  # the ref arrives with the first message (bots/meta.py)
            url = f"https://m.me/{settings.messenger_page}?ref={code.replace('-', '')}"
            return f"Open {url} and send us a message, or send {code} to our Page on " \
                   "Messenger.", url
        return f"Send {code} to our Page on Messenger.", None
    if channel == "instagram":
        return f"Send {code} to our Instagram account in a direct message.", None
    if channel == "email":
        address = settings.email_address or "our support address"
        return (f"Email {code} to {address} (as the subject or the message).",
                f"mailto:{address}?subject={code}" if settings.email_address else None)
    return f"Send {code} to our app in a direct message on Slack.", None


async def offer(store: Store, settings: Settings, contact_id: int, channel: str,
                telegram_username: str | None = None) -> LinkOffer:
    code = new_code()
    expires = time.time() + settings.link_code_ttl
    await store.create_link_code(code_hash(code), contact_id, channel, expires)
    text, url = instructions(channel, code, settings, telegram_username)
    return LinkOffer(code, datetime.fromtimestamp(expires, UTC), text, url)


async def offer_reply(
    store: Store, settings: Settings, conversation: Conversation, current_channel: str,
    target: str, available: Collection[str], telegram_username: str | None,
) -> NewMessage:
    """The bot's answer to "continue on <channel>": a one-time code and how to use it."""
    name = CHANNEL_NAMES.get(target, target)
    if target == current_channel:
        return NewMessage(Author.BOT, SAME_CHANNEL_TEXT.format(channel=name))
    if target not in available:
        return NewMessage(Author.BOT, UNAVAILABLE_TEXT.format(channel=name))
    made = await offer(store, settings, conversation.contact_id, target, telegram_username)
    minutes = max(1, settings.link_code_ttl // 60)
    return NewMessage(Author.BOT, OFFER_TEXT.format(
        code=made.code, minutes=minutes, instructions=made.instructions))


async def sender_of(store: Store, message: Message, conversation: Conversation) -> str | None:
    """The external id the message came from: the contact's latest identity on its channel."""
    contact = await store.get_contact(conversation.contact_id)
    if contact is None:
        return None
    ids = [i.external_id for i in contact.identities if i.channel == message.channel]
    return ids[-1] if ids else None


def identifier_valid(secret: str, identifier: str, given_hash: str) -> bool:
    """The site's HMAC-SHA256 (hex) of its user's identifier, checked in constant time."""
    if not secret or not identifier or not given_hash:
        return False
    expected = hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given_hash.strip().lower())


async def join_site_user(store: Store, channel: str, visitor_id: str,
                         identifier: str, kind: str = SITE_USER_CHANNEL) -> Conversation:
    """Make this web-chat visitor the contact of the site's (verified) user, so each of the
    user's devices shares one contact and one thread. ``kind`` ``email``: the site vouches
    for the user's email address, so their mail joins the same contact and thread."""
    known = await store.identity_status(kind, identifier)
    if known is not None:
        joined = await store.attach_identity(known.contact_id, channel, visitor_id)
        return joined.conversation
    conversation = await store.start_conversation(channel, visitor_id)
    joined = await store.attach_identity(conversation.contact_id, kind, identifier)
    return joined.conversation


Commit = Callable[..., Awaitable[Turn]]


async def redeem(store: Store, bus: EventBus, commit: Commit, conversation: Conversation,
                 message: Message, code: str) -> None:
    """A code arrived as ``message``: join its sender to the code's contact and thread and
    say so, or say why not (nothing linked). Called by the pipeline before matching."""
    sender = await sender_of(store, message, conversation)
    outcome = Redemption("unknown") if sender is None else await store.redeem_link_code(
        code_hash(code), message.channel, sender, time.time())
    if outcome.status != "linked" or outcome.joined is None:
        # told so while the bot has the conversation; with a person it is theirs to answer
        refusal = [NewMessage(Author.BOT, REFUSED_TEXT[outcome.status])] \
            if conversation.state is ConversationState.BOT else []
        await commit(conversation.id, refusal, handled=message.id)
        return
    thread = outcome.joined.conversation
    removed = outcome.joined.removed
    if removed is not None:  # its messages now live in the thread; live views drop it
        bus.publish(ConversationChanged(replace(removed, state=ConversationState.RESOLVED)))
        for moved in await store.list_messages(thread.id, after_id=message.id - 1):
            if moved.id == message.id:
                bus.publish(MessageCreated(moved))
    await commit(thread.id, [NewMessage(Author.BOT, LINKED_TEXT)], handled=message.id)
