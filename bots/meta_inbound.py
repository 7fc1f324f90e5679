"""Messenger and Instagram webhooks, read into the hub's terms (no I/O here).

One Meta app delivers both: ``object: page`` is Messenger, ``object: instagram`` is
Instagram. A POST carries ``entry`` items (one per Page or Instagram account), each with
``messaging`` events; each event is a message, an echo of one the Page sent, a postback
(a button), a referral (an ``m.me`` link with ``?ref=``), or a receipt.

Identity: the page-scoped id (PSID) or Instagram-scoped id (IGSID) of the sender, under the
channel ``messenger`` or ``instagram``. Dedupe key: the message's ``mid`` (the same in every
redelivery); a postback without one is ``postback:<sender>:<timestamp>``, a referral
``ref:<sender>:<timestamp>``, and the ref that came with a message ``<mid>:ref``.

A referral whose ``ref`` is a "continue on Messenger" link code (``handoff/linking.py``) is
handed on as a message of its own whose text is the code, so it is redeemed like a typed one;
other refs (ads, campaigns) are not something the customer said and are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from handoff.linking import code_in
from hub import marks
from hub.model import InboundMessage, id_in_text

MESSENGER = "messenger"
INSTAGRAM = "instagram"
CHANNELS = {"page": MESSENGER, "instagram": INSTAGRAM}
PAYLOAD_PREFIX = "kb:"  # a suggestion's quick reply or postback payload: kb:<article id>
RATING_PREFIX = "csat:"  # a survey's quick reply or postback payload: csat:1 … csat:5
SIGNATURE_HEADER = "X-Hub-Signature-256"
_ATTACHMENT_KINDS = {"image": "photo", "video": "video", "audio": "voice", "file": "document",
                     "location": "location", "sticker": "sticker", "story_mention": "media",
                     "ig_reel": "media", "reel": "media", "share": "media"}


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``, compared in constant
    time. A missing header, the retired ``sha1=`` form, or no configured secret: invalid."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


def read_payload(payload: Any) -> list[InboundMessage]:
    """Every customer message, choice and referral in a webhook body, in order; receipts,
    echoes and unknown objects are dropped. Raises ValueError on a body that is not
    Meta's shape at all."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry", []), list):
        raise ValueError("not a Meta webhook body")
    channel = CHANNELS.get(str(payload.get("object")))
    if channel is None:
        return []
    found: list[InboundMessage] = []
    for entry in payload.get("entry", []):
        if not isinstance(entry, dict):
            raise ValueError("an entry is not an object")
        owner = str(entry.get("id", ""))
        for event in entry.get("messaging", []) or []:
            if isinstance(event, dict):
                found.extend(read_event(channel, owner, event))
    return found


def read_event(channel: str, owner: str, event: Mapping[str, Any]) -> list[InboundMessage]:
    sender = str((event.get("sender") or {}).get("id") or "")
    if not sender or sender == owner:
        return []  # our own (an echo), or a user_ref of a checkbox plugin: no thread
    timestamp = str(event.get("timestamp") or "")
    message = event.get("message")
    if isinstance(message, dict):
        return _message(channel, sender, message)
    postback = event.get("postback")
    if isinstance(postback, dict):
        return _postback(channel, sender, timestamp, postback)
    referral = event.get("referral")
    if isinstance(referral, dict):
        return _referral(channel, sender, f"ref:{sender}:{timestamp}", referral)
    return []  # read, delivery, reaction, optin…


def article_of(payload: object) -> int | None:
    text = str(payload or "")
    rest = text[len(PAYLOAD_PREFIX):]
    return id_in_text(rest) if text.startswith(PAYLOAD_PREFIX) else None


def rating_of(payload: object) -> int | None:
    """The survey rating a button's payload carries (``csat:4``), if it is one."""
    text = str(payload or "")
    rest = text[len(RATING_PREFIX):]
    return int(rest) if text.startswith(RATING_PREFIX) and rest in {"1", "2", "3", "4", "5"} \
        else None


def _message(channel: str, sender: str, message: Mapping[str, Any]) -> list[InboundMessage]:
    if message.get("is_echo") or message.get("is_deleted"):
        return []
    mid = str(message.get("mid") or "")
    if not mid:
        return []
    found: list[InboundMessage] = []
    referral = message.get("referral")
    if isinstance(referral, dict):
        found.extend(_referral(channel, sender, f"{mid}:ref", referral))
    text = str(message.get("text") or "")
    quick = message.get("quick_reply")
    choice = article_of(quick.get("payload")) if isinstance(quick, dict) else None
    score = rating_of(quick.get("payload")) if isinstance(quick, dict) else None
    if score is not None:  # a survey button
        found.append(InboundMessage(channel, sender, text or str(score),
                                    platform_message_id=mid, csat_score=score,
                                    extras={"quick_reply": quick}))
        return found
    if choice is not None:
        found.append(InboundMessage(channel, sender, text or f"#{choice}",
                                    platform_message_id=mid, choice_article_id=choice,
                                    extras={"quick_reply": quick}))
        return found
    attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
    kept = [{"kind": _ATTACHMENT_KINDS.get(str(a.get("type")), "media"), "type": a.get("type"),
             **({"url": a["payload"]["url"]} if isinstance(a.get("payload"), dict)
                and a["payload"].get("url") else {})} for a in attachments]
    tags = [marks.mark(a["kind"]) for a in kept]
    if message.get("is_unsupported") and not tags and not text:
        tags = [marks.mark("media")]
    if not text and not tags:
        return found
    extras: dict[str, Any] = {"mid": mid}
    if kept:
        extras["attachments"] = kept
    if isinstance(message.get("reply_to"), dict):
        extras["reply_to"] = message["reply_to"]
    found.append(InboundMessage(channel, sender, marks.marked_text(tags, text),
                                marks=marks.tag_names(tags), platform_message_id=mid,
                                extras=extras))
    return found


def _postback(channel: str, sender: str, timestamp: str,
              postback: Mapping[str, Any]) -> list[InboundMessage]:
    key = str(postback.get("mid") or f"postback:{sender}:{timestamp}")
    found: list[InboundMessage] = []
    referral = postback.get("referral")
    if isinstance(referral, dict):  # "Get Started" from an m.me link: a new thread's ref
        found.extend(_referral(channel, sender, f"{key}:ref", referral))
    title = str(postback.get("title") or "")
    choice = article_of(postback.get("payload"))
    score = rating_of(postback.get("payload"))
    if score is not None:
        found.append(InboundMessage(channel, sender, title or str(score),
                                    platform_message_id=key, csat_score=score,
                                    extras={"postback": dict(postback)}))
    elif choice is not None:
        found.append(InboundMessage(channel, sender, title or f"#{choice}",
                                    platform_message_id=key, choice_article_id=choice,
                                    extras={"postback": dict(postback)}))
    elif not found and title:  # "Get Started" or a menu item: the customer opened the chat
        tags = [marks.mark(marks.START)]
        found.append(InboundMessage(channel, sender, marks.marked_text(tags, ""),
                                    marks=marks.tag_names(tags), platform_message_id=key,
                                    extras={"postback": dict(postback)}))
    return found


def _referral(channel: str, sender: str, key: str,
              referral: Mapping[str, Any]) -> list[InboundMessage]:
    ref = str(referral.get("ref") or "").strip()
    if code_in(ref) is None:
        return []  # an ad's or a campaign's ref: nothing the customer said
    return [InboundMessage(channel, sender, ref, platform_message_id=key,
                           extras={"referral": {k: referral[k] for k in ("ref", "source", "type")
                                                if k in referral}})]
