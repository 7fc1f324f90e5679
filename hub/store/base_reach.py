"""The outreach side of the store interface (issue 17): messaging windows, consent and
suppression, WhatsApp templates, campaigns. Mixed into :class:`Store`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.model import Message, NewMessage


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """When the customer last wrote on a channel of a conversation, and when the platform
    last said the window was closed (Twilio 63016) — only later than that counts."""

    channel: str
    last_customer_at: datetime
    closed_at: datetime | None = None

    @property
    def last_open(self) -> datetime | None:
        """The customer's last message, unless the platform closed the window after it."""
        if self.closed_at is not None and self.closed_at >= self.last_customer_at:
            return None
        return self.last_customer_at


@dataclass(frozen=True, slots=True)
class Consent:
    """Whether we may write to an identity from one of our senders, and why not."""

    channel: str
    external_id: str
    sender: str
    allowed: bool
    reason: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    content_sid: str
    variables: tuple[str, ...]  # the variables' names ("1", "2" or names), in order
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AudienceMember:
    contact_id: int
    attributes: Mapping[str, Any]
    channels: tuple[str, ...]
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    text: str | None
    template: str | None
    variables: Mapping[str, str]
    audience: Mapping[str, Any]
    per_minute: int
    status: str  # running, done
    created_at: datetime
    finished_at: datetime | None
    counts: Mapping[str, int] = field(default_factory=dict)  # pending, sent, skipped


@dataclass(frozen=True, slots=True)
class CampaignRecipient:
    contact_id: int
    status: str  # pending, sent, skipped
    channel: str | None
    error: str | None
    message_id: int | None


@dataclass(frozen=True, slots=True)
class Delivered:
    """What ``campaign_deliver`` wrote: the message put in the contact's thread (None when
    the recipient was skipped or someone else already delivered to them)."""

    applied: bool
    message: Message | None = None


class ReachStore(ABC):
    # messaging windows ----------------------------------------------------------------
    @abstractmethod
    async def customer_windows(self, conversation_id: int) -> list[WindowFacts]:
        """Per channel of the conversation, when the customer last wrote there."""

    @abstractmethod
    async def close_window(self, conversation_id: int, channel: str) -> None:
        """The platform says the window is closed (WhatsApp 63016) until the customer
        writes again."""

    # consent --------------------------------------------------------------------------
    @abstractmethod
    async def consent(self, channel: str, external_id: str, sender: str) -> Consent | None:
        """The record for that identity and sender (None: nothing recorded, we may write)."""

    @abstractmethod
    async def set_consent(self, channel: str, external_id: str, sender: str, *,
                          allowed: bool, reason: str) -> None: ...

    @abstractmethod
    async def contact_consents(self, contact_id: int) -> list[Consent]:
        """Every record of the contact's identities."""

    # templates ------------------------------------------------------------------------
    @abstractmethod
    async def list_templates(self) -> list[Template]: ...

    @abstractmethod
    async def create_template(self, name: str, content_sid: str,
                              variables: Sequence[str]) -> Template:
        """Conflict when the name is taken."""

    @abstractmethod
    async def delete_template(self, template_id: int) -> None:
        """NotFound when there is no such template."""

    # reaching a contact first ---------------------------------------------------------
    @abstractmethod
    async def contact_thread(self, contact_id: int) -> int:
        """The contact's thread (its latest open conversation), opened when it has none."""

    @abstractmethod
    async def audience(self) -> list[AudienceMember]:
        """Every contact (not merged away) with its channels and when it last wrote."""

    @abstractmethod
    async def create_campaign(self, name: str, text: str | None, template: str | None,
                              variables: Mapping[str, str], audience: Mapping[str, Any],
                              per_minute: int, created_by: int | None,
                              contact_ids: Sequence[int]) -> Campaign: ...

    @abstractmethod
    async def get_campaign(self, campaign_id: int) -> Campaign | None: ...

    @abstractmethod
    async def list_campaigns(self) -> list[Campaign]: ...

    @abstractmethod
    async def campaign_slots(self, campaign_id: int, now: float, interval: float,
                             limit: int) -> int:
        """How many sends of a running campaign may start now, claimed for the caller: one
        every ``interval`` seconds over all hub processes (the next send time is kept in the
        store and moved on by a compare-and-set, so two processes never claim the same
        slot). After a pause there is no burst to catch up: at most two. 0: wait."""

    @abstractmethod
    async def campaign_recipients(self, campaign_id: int, *, pending_only: bool = False,
                                  limit: int = 1000) -> list[CampaignRecipient]: ...

    @abstractmethod
    async def campaign_deliver(self, campaign_id: int, contact_id: int,
                               reply: NewMessage | None, *, error: str | None = None,
                               delivered_by_store: Sequence[str] = ()) -> Delivered:
        """Settle one recipient, once: with ``reply`` the message joins the contact's thread
        and the outbox in the same transaction that marks them sent; without, they are
        skipped with ``error``. A recipient settled already is left as it is (applied
        False), so a campaign resumed after a crash never writes to anyone twice. The
        campaign is done when nobody is pending."""
