"""Twilio's messaging webhook, read into the hub's terms, and replies rendered for SMS and
WhatsApp (no I/O here).

Identity: the E.164 number without Twilio's ``whatsapp:`` prefix, under the channel name
``sms`` or ``whatsapp``. The channel says where replies go; the number is the person, so the
store can join a number's two identities into one contact.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any

from bots import render
from bots.sms_text import gsm_friendly, shorten, within_chars, within_segments
from hub import marks
from hub.model import OutboxItem

SMS = "sms"
WHATSAPP = "whatsapp"
WHATSAPP_PREFIX = "whatsapp:"
WHATSAPP_MAX_CHARS = 1600  # Twilio's limit for one WhatsApp message body


class Keyword(enum.Enum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"


# the keywords Twilio's Advanced Opt-Out and the US carriers honour
_KEYWORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                     "REVOKE", "OPTOUT", "OPT OUT"), Keyword.OPT_OUT),
    **dict.fromkeys(("START", "YES", "UNSTOP", "OPTIN", "OPT IN"), Keyword.OPT_IN),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}
KEYWORD_REPLIES = {
    Keyword.OPT_OUT: "You have been unsubscribed and will receive no more messages from us. "
                     "Reply START to resubscribe.",
    Keyword.OPT_IN: "You have been resubscribed. Reply STOP to unsubscribe.",
    Keyword.HELP: "Ask us anything in your own words, or reply AGENT to reach a person. "
                  "Reply STOP to unsubscribe.",
}
_CHOICE = re.compile(r"^\s*#?([1-9])\s*[.)]?\s*$")


def channel_and_number(address: str) -> tuple[str, str]:
    """``whatsapp:+15551234567`` → (``whatsapp``, ``+15551234567``)."""
    if address.startswith(WHATSAPP_PREFIX):
        return WHATSAPP, address[len(WHATSAPP_PREFIX):]
    return SMS, address


def address(channel: str, number: str) -> str:
    return f"{WHATSAPP_PREFIX}{number}" if channel == WHATSAPP else number


def keyword(body: str) -> Keyword | None:
    words = re.sub(r"[^A-Z ]+", "", body.upper()).strip()
    return _KEYWORDS.get(re.sub(r"\s+", " ", words)) if len(body) <= 20 else None


def choice_number(body: str) -> int | None:
    """A reply of "2" (or "#2", "2."): the second suggestion."""
    match = _CHOICE.match(body)
    return int(match.group(1)) if match else None


def keyword_mark(kind: Keyword | None) -> list[str]:
    """The mark of an SMS keyword (STOP, START, HELP…): stored, never answered by the bot."""
    if kind is None:
        return []
    return [marks.mark({Keyword.OPT_OUT: marks.OPT_OUT, Keyword.OPT_IN: marks.OPT_IN,
                        Keyword.HELP: marks.KEYWORD}[kind])]


def media(form: Mapping[str, Any]) -> list[dict[str, Any]]:
    """MMS / WhatsApp media: Twilio keeps the files at these URLs (fetched with the account
    credentials), so the agent can open them."""
    try:
        count = min(int(form.get("NumMedia") or 0), 10)
    except ValueError:
        count = 0
    found = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if not url:
            continue
        content_type = str(form.get(f"MediaContentType{index}") or "")
        kind = "photo" if content_type.startswith("image/") else \
            "audio" if content_type.startswith("audio/") else \
            "video" if content_type.startswith("video/") else "document"
        found.append({"kind": kind, "url": str(url), "content_type": content_type})
    return found


def render_reply(reply: OutboxItem, channel: str, max_segments: int) -> str:
    """Plain text (SMS, GSM-7 friendly and cut to ``max_segments``) or WhatsApp's own
    formatting; suggestions as a numbered list with "Reply 1, 2 or 3"."""
    whatsapp = channel == WHATSAPP
    text = render.whatsapp(reply.text) if whatsapp else render.plain(reply.text)
    if reply.agent_name:
        text = f"{reply.agent_name}: {text}"
    tail = ""
    if reply.suggestions:
        lines = [f"{n}. {s.title}" for n, s in enumerate(reply.suggestions, start=1)]
        numbers = [str(n) for n in range(1, len(lines) + 1)]
        spoken = numbers[0] if len(numbers) == 1 else \
            f"{', '.join(numbers[:-1])} or {numbers[-1]}"
        tail = "\n" + "\n".join(lines) + f"\nReply {spoken}."
    if whatsapp:
        return shorten(text, within_chars(WHATSAPP_MAX_CHARS), tail)
    return shorten(gsm_friendly(text), within_segments(max_segments), gsm_friendly(tail))
