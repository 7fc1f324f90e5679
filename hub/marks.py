"""Marks: how a channel adapter tells the pipeline (and the agent) what a message is besides
its words, in the text itself.

A message's text is what the agent reads, so a photo is stored as ``[photo] caption``, an
edited Telegram message as ``[edited] new text``, an SMS ``STOP`` as ``[opt-out] STOP``. The
pipeline reads the same marks back from the stored text, so a message routed again after a
crash is treated exactly as it was the first time (``Message`` carries no extras).

- ``start``: the customer opened the bot without a question: greeted;
- *silent* marks (``edited``, ``opt-out``, ``opt-in``, ``keyword``): stored, never answered;
- *attachment* marks (``photo``, ``voice``, …): a message that is only attachments gets a
  polite "I can only read text" reply; a caption is answered as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EDITED = "edited"
OPT_OUT = "opt-out"
OPT_IN = "opt-in"
KEYWORD = "keyword"
START = "start"  # a customer opened the bot (Telegram's /start): greeted, not matched
# email: an automatic mail (auto-reply, bulk, bounce…), stored for the agents, never answered
AUTOMATED = "automated"
SUBJECT = "subject"  # email: the mail's subject, as the detail of the mark
# a reply mark (not in the text): a message the hub writes first (notify, a campaign) —
# email sends it with List-Unsubscribe, and the contact's email unsubscribe stops it
PROACTIVE = "proactive"
SILENT = frozenset({EDITED, OPT_OUT, OPT_IN, KEYWORD, AUTOMATED})
ATTACHMENTS = frozenset({
    "photo", "video", "voice", "audio", "sticker", "document", "animation", "video note",
    "location", "contact", "media",
})

_MARK = re.compile(r"\[([a-z][a-z -]*?)(?:: ([^\]\n]*))?\]\s*")


@dataclass(frozen=True, slots=True)
class Marked:
    tags: tuple[str, ...]  # the known marks at the start of the text, in order
    text: str  # what is left: the words the customer wrote

    @property
    def silent(self) -> bool:
        return any(tag in SILENT for tag in self.tags)

    @property
    def greeting(self) -> bool:
        return START in self.tags

    @property
    def attachments_only(self) -> bool:
        return not self.text and any(tag in ATTACHMENTS for tag in self.tags)


def mark(tag: str, detail: str | None = None) -> str:
    """``[tag]`` or ``[tag: detail]`` (``]`` and newlines in the detail are dropped)."""
    if detail:
        clean = re.sub(r"[\]\n]+", " ", detail).strip()
        return f"[{tag}: {clean}]"
    return f"[{tag}]"


def marked_text(tags: list[str], text: str | None) -> str:
    """Marks, then the customer's words: ``[photo] [document: a.pdf] look at this``."""
    return " ".join([*tags, text or ""]).strip()


def tag_names(tags: list[str]) -> tuple[str, ...]:
    """The names of marks made with :func:`mark`: what an adapter puts in
    ``InboundMessage.marks`` so the pipeline can trust them."""
    return tuple(match.group(1) for tag in tags if (match := _MARK.match(tag)))


def detail(text: str, tag: str, allowed: tuple[str, ...]) -> str | None:
    """The detail of mark ``tag`` (``[subject: Where is my order]`` → the subject) among the
    marks the adapter set at the start of ``text``; None when it has none."""
    position = 0
    for _ in allowed:
        match = _MARK.match(text, position)
        if match is None or match.group(1) not in allowed:
            return None
        if match.group(1) == tag:
            return match.group(2)
        position = match.end()
    return None


def parse(text: str, allowed: tuple[str, ...]) -> Marked:
    """Split the marks the adapter set (``allowed``, from ``Message.marks``) off the start of
    ``text``. Brackets a customer typed are words: with no marks set, nothing is split off,
    so typing "[edited]" or "[opt-out]" into a chat changes nothing."""
    tags: list[str] = []
    position = 0
    while len(tags) < len(allowed) and (match := _MARK.match(text, position)):
        tag = match.group(1)
        if tag not in allowed or tag in tags:
            break
        tags.append(tag)
        position = match.end()
    return Marked(tuple(tags), text[position:].strip())
