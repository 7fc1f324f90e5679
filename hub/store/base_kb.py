"""The knowledge side of the store interface (issue 6): article history, unanswered
questions, feedback, synonyms and knowledge-base settings. Mixed into :class:`Store`."""

from __future__ import annotations

from abc import ABC


class KnowledgeStore(ABC):  # noqa: B024 (methods are added as the knowledge admin grows)
    """Abstract knowledge-administration methods every engine implements."""
