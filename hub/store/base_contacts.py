"""The contacts side of the store interface (issue 7): identities across channels, link
codes, merges and their undo, agents' status, canned responses. Mixed into :class:`Store`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.model import Contact, Conversation, Role, User

# a phone number is one person on both of these channels (PRODUCT.md, Omnichannel identity)
PHONE_CHANNELS = ("sms", "whatsapp")


@dataclass(frozen=True, slots=True)
class Joined:
    """An identity joined to a contact: the contact's thread as it is now, and the
    conversation folded into it and gone (when the identity brought one along)."""

    conversation: Conversation
    removed: Conversation | None = None


@dataclass(frozen=True, slots=True)
class Redemption:
    """What a link code did: ``status`` is ``linked``, ``unknown``, ``expired`` or ``used``."""

    status: str
    joined: Joined | None = None


@dataclass(frozen=True, slots=True)
class Merge:
    merge_id: int
    contact: Contact  # the survivor


@dataclass(frozen=True, slots=True)
class CannedResponse:
    id: int
    shortcut: str
    text: str


class ContactStore(ABC):
    """Abstract contact and agent-administration methods every engine implements."""

    # identities and link codes ---------------------------------------------------
    @abstractmethod
    async def attach_identity(self, contact_id: int, channel: str, external_id: str) -> Joined:
        """Make the identity part of the contact. An identity new to the hub is added; one
        that belongs to another contact brings that contact along: its latest conversation
        is folded into this contact's thread (messages keep their ids and channels), its
        other conversations and identities move, and it is marked merged into this one."""

    @abstractmethod
    async def create_link_code(
        self, code_hash: str, contact_id: int, channel: str, expires_at: float
    ) -> None:
        """Store a one-time code (by its hash) that joins an identity on ``channel`` to
        the contact."""

    @abstractmethod
    async def redeem_link_code(
        self, code_hash: str, channel: str, external_id: str, now: float
    ) -> Redemption:
        """Use a code for the identity it arrived from: joined as by
        :meth:`attach_identity` when the code is valid, unused and unexpired; otherwise
        nothing changes. Redeeming again from the identity that used it answers ``linked``
        (a redelivery after a crash), from any other ``used``."""

    # contacts ------------------------------------------------------------------
    @abstractmethod
    async def update_contact(
        self,
        contact_id: int,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Contact:
        """Change the given fields (None leaves one as it is); NotFound for no contact."""

    @abstractmethod
    async def merge_contacts(self, survivor_id: int, other_id: int) -> Merge:
        """Move the other contact's identities and conversations to the survivor; the
        survivor keeps its fields and gains the other's where it has none. Recorded, so
        :meth:`undo_merge` restores both. NotFound / Conflict (same or merged contact)."""

    @abstractmethod
    async def undo_merge(self, merge_id: int) -> tuple[Contact, Contact]:
        """Restore both contacts as they were before the merge: (survivor, other).
        Conflict when undone already."""

    @abstractmethod
    async def search_conversation_ids(self, text: str, limit: int = 200) -> list[int]:
        """Conversations, newest first, with a message containing ``text``, or whose
        contact's name, email, phone or an identity contains it (case-insensitive)."""

    # read marks ----------------------------------------------------------------
    @abstractmethod
    async def mark_read(self, user_id: int, conversation_id: int, message_id: int) -> None:
        """Record that the agent has read the conversation up to ``message_id``; a mark
        never moves backwards, nor past the conversation's newest message (a client's
        too-large id must not hide messages that arrive later). NotFound for no
        conversation."""

    @abstractmethod
    async def unread_counts(self, user_id: int, conversation_ids: list[int]) -> dict[int, int]:
        """Per conversation: the customer messages newer than the agent's read mark (all of
        them when the agent never opened it). Every id asked for is in the answer."""

    # agents --------------------------------------------------------------------
    @abstractmethod
    async def list_users(self) -> list[User]: ...

    @abstractmethod
    async def update_user(
        self,
        user_id: int,
        *,
        name: str | None = None,
        role: Role | None = None,
        active: bool | None = None,
        status: str | None = None,
    ) -> User:
        """Change a user; deactivating one ends their sessions in the same transaction."""

    @abstractmethod
    async def open_counts(self) -> dict[int, int]:
        """Assigned (not resolved) conversations per agent id."""

    # canned responses ------------------------------------------------------------
    @abstractmethod
    async def list_canned(self) -> list[CannedResponse]: ...

    @abstractmethod
    async def save_canned(
        self, shortcut: str, text: str, canned_id: int | None = None
    ) -> CannedResponse:
        """Create (no id) or replace one; Conflict when the shortcut is taken."""

    @abstractmethod
    async def delete_canned(self, canned_id: int) -> None: ...
