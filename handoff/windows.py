"""Messaging windows: when a business may write to a customer on a channel, counted from
when the customer last wrote there.

- Messenger and Instagram: any reply within 24 hours (``messaging_type: RESPONSE``); after
  that, for 7 days, only a person's reply tagged ``HUMAN_AGENT`` — and only when the Meta
  app was approved for it (``SUPPORTHUB_META_HUMAN_AGENT_TAG=true``). Never the bot's, and
  no other (retired) tag.
- WhatsApp: free-form text within 24 hours; after it, only a template.
- Every other channel: no window.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
META_CHANNELS = frozenset({"messenger", "instagram"})
TEMPLATE_CHANNELS = frozenset({"whatsapp"})
WINDOWED = META_CHANNELS | TEMPLATE_CHANNELS


class Mode(enum.StrEnum):
    """How a message may go out now."""

    FREE = "free"  # a standard reply (Meta: messaging_type RESPONSE)
    HUMAN_AGENT = "human_agent"  # Meta: MESSAGE_TAG with tag HUMAN_AGENT (a person only)
    TEMPLATE = "template"  # WhatsApp: only an approved template
    CLOSED = "closed"  # nothing may go out


@dataclass(frozen=True, slots=True)
class Window:
    """What may be sent on ``channel`` at ``now``, and until when."""

    channel: str
    last_customer_at: datetime | None
    free_until: datetime | None  # None: no window on this channel (always free)
    agent_until: datetime | None  # the HUMAN_AGENT tag's end, when allowed
    now: datetime

    @property
    def free(self) -> bool:
        if self.channel not in WINDOWED:
            return True
        return self.free_until is not None and self.now < self.free_until

    def mode(self, by_agent: bool) -> Mode:
        if self.free:
            return Mode.FREE
        if by_agent and self.agent_until is not None and self.now < self.agent_until:
            return Mode.HUMAN_AGENT
        if self.channel in TEMPLATE_CHANNELS:
            return Mode.TEMPLATE
        return Mode.CLOSED


def window(channel: str, last_customer_at: datetime | None, now: datetime,
           human_agent_tag: bool) -> Window:
    if channel not in WINDOWED:
        return Window(channel, last_customer_at, None, None, now)
    if last_customer_at is None:  # never wrote here: the window never opened
        return Window(channel, None, now, None, now)
    free_until = last_customer_at + STANDARD_WINDOW
    agent_until = last_customer_at + HUMAN_AGENT_WINDOW \
        if channel in META_CHANNELS and human_agent_tag else None
    return Window(channel, last_customer_at, free_until, agent_until, now)
