"""Slack events and button presses, read into the hub's terms (no I/O here).

Identity (the recipient of replies, so it must say *where* to answer): a direct message is
the user id (``U…``; ``chat.postMessage`` to a user id lands in their DM with the app); a
mention in a channel is answered in its thread, so that conversation is the thread,
``<channel id>/<thread ts>``.
Dedupe key: ``<channel id>:<message ts>``: the same for Slack's retries (``X-Slack-Retry-Num``,
same ``event_id``) and for the ``app_mention`` and ``message`` events one message fires.
"""

from __future__ import annotations

import re
from typing import Any

from hub import marks
from hub.model import InboundMessage

CHANNEL = "slack"
ACTION_PREFIX = "kb:"
ACTION_ID = re.compile(r"^kb:\d+$")
RATING_PREFIX = "csat:"  # a satisfaction-survey button: csat:1 … csat:5
RATING_ID = re.compile(r"^csat:[1-5]$")
THREAD_SEPARATOR = "/"
# message subtypes that are a person writing; everything else (joins, bots, topic
# changes, deletions) is not for the bot
_PERSON_WRITING = frozenset({None, "file_share", "thread_broadcast", "me_message"})


def thread_key(channel: str, thread_ts: str) -> str:
    return f"{channel}{THREAD_SEPARATOR}{thread_ts}"


def split_recipient(recipient: str) -> tuple[str, str | None]:
    """``U123`` → (``U123``, None); ``C123/1700.1`` → (``C123``, ``1700.1``)."""
    channel, _, thread_ts = recipient.partition(THREAD_SEPARATOR)
    return channel, thread_ts or None


def strip_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    return text.strip()


def is_from_a_bot(event: dict[str, Any]) -> bool:
    return bool(event.get("bot_id") or event.get("bot_profile")) \
        or event.get("subtype") == "bot_message"


def message_event(
    event: dict[str, Any], recipient: str, bot_user_id: str | None, event_id: str | None
) -> InboundMessage | None:
    """A person's message (DM, mention, or a reply in a thread the bot is in)."""
    subtype = event.get("subtype")
    edited = subtype == "message_changed"
    if edited:  # the new version is in "message"; an unchanged text is a link unfurl
        before = (event.get("previous_message") or {}).get("text")
        event = {**(event.get("message") or {}), "channel": event.get("channel")}
        if is_from_a_bot(event) or event.get("text") == before:
            return None
    elif subtype not in _PERSON_WRITING or is_from_a_bot(event):
        return None
    user = event.get("user")
    channel = event.get("channel")
    ts = event.get("ts")
    if not user or not channel or not ts:
        return None
    words = strip_mention(event.get("text") or "", bot_user_id)
    attachments = [_file(f) for f in event.get("files") or ()]
    tags = [marks.mark(a["kind"], a.get("name")) for a in attachments]
    platform_id = f"{channel}:{ts}"
    extras: dict[str, Any] = {"user_id": user, "channel_id": channel, "ts": ts}
    if event_id:
        extras["event_id"] = event_id
    if attachments:
        extras["attachments"] = attachments
    if edited:
        edit_ts = (event.get("edited") or {}).get("ts", "")
        tags.insert(0, marks.mark(marks.EDITED))
        platform_id += f":edit:{edit_ts}"
        extras["edit_of"] = f"{channel}:{ts}"
    if not words and not tags:
        return None
    return InboundMessage(CHANNEL, recipient, marks.marked_text(tags, words),
                          marks=marks.tag_names(tags), platform_message_id=platform_id,
                          extras=extras)


def recipient_of_message(event: dict[str, Any]) -> str | None:
    """Where the answer to a message event goes; None for a channel message that is not
    (yet) a conversation with the bot."""
    channel_type = event.get("channel_type")
    if channel_type == "im":
        user = event.get("user") or (event.get("message") or {}).get("user")
        return str(user) if user else None
    thread_ts = event.get("thread_ts") or (event.get("message") or {}).get("thread_ts")
    if thread_ts and event.get("channel"):
        return thread_key(event["channel"], thread_ts)
    return None


def _presser(body: dict[str, Any]) -> tuple[str, str, str] | None:
    """(recipient, user, channel) of a ``block_actions`` press, or None."""
    user = (body.get("user") or {}).get("id")
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    if not user or not channel:
        return None
    thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    if channel.startswith("D"):
        return user, user, channel
    if thread_ts:
        return thread_key(channel, thread_ts), user, channel
    return None


def choice(body: dict[str, Any], action: dict[str, Any]) -> InboundMessage | None:
    """A pressed suggestion button (``block_actions``)."""
    action_id = action.get("action_id", "")
    presser = _presser(body)
    if not ACTION_ID.match(action_id) or presser is None:
        return None
    recipient, user, channel = presser
    title = (action.get("text") or {}).get("text") or action_id
    return InboundMessage(
        CHANNEL, recipient, title,
        platform_message_id=f"action:{user}:{action.get('action_ts') or body.get('trigger_id')}",
        choice_article_id=int(action_id[len(ACTION_PREFIX):]),
        extras={"user_id": user, "channel_id": channel},
    )


def rating(body: dict[str, Any], action: dict[str, Any]) -> InboundMessage | None:
    """A pressed satisfaction-survey button (``csat:1`` … ``csat:5``)."""
    action_id = action.get("action_id", "")
    presser = _presser(body)
    if not RATING_ID.match(action_id) or presser is None:
        return None
    recipient, user, channel = presser
    score = int(action_id[len(RATING_PREFIX):])
    return InboundMessage(
        CHANNEL, recipient, str(score),
        platform_message_id=f"action:{user}:{action.get('action_ts') or body.get('trigger_id')}",
        csat_score=score, extras={"user_id": user, "channel_id": channel},
    )


def _file(item: dict[str, Any]) -> dict[str, Any]:
    mimetype = str(item.get("mimetype") or "")
    kind = "photo" if mimetype.startswith("image/") else \
        "audio" if mimetype.startswith("audio/") else \
        "video" if mimetype.startswith("video/") else "document"
    kept = {k: item[k] for k in ("id", "name", "mimetype", "url_private", "permalink")
            if item.get(k)}
    return {"kind": kind, **kept}
