"""The contacts side of the store interface (issue 7): identities across channels, link
codes, merges and their undo, agents' status, canned responses. Mixed into :class:`Store`."""

from __future__ import annotations

from abc import ABC


class ContactStore(ABC):  # noqa: B024 (methods are added as contacts grow)
    """Abstract contact and agent-administration methods every engine implements."""
