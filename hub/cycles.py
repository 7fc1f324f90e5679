"""The rows reports are made of, as the store returns them: the events it records as things
happen, the cycles its SQL folds them into, and per-article counts. What they mean, and the
figures made of them, are in hub/reports.py."""

from __future__ import annotations

from dataclasses import dataclass

BOT_OUTCOMES = frozenset({"answer", "suggest", "fallback"})
EVENT_KINDS = frozenset({"opened", "reopened", "queued", "claimed", "agent_reply", "resolved",
                         "released", "unhelpful", "csat_asked", "csat_answered",
                         "csat_commented"} | BOT_OUTCOMES)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """What the caller of a turn says happened (a bot outcome, "didn't help", a survey sent);
    the store adds the state changes (queued, claimed, released, resolved, first reply)."""

    kind: str
    article_id: int | None = None
    score: int | None = None
    agent_id: int | None = None
    note: str | None = None  # a survey comment's words (``csat_commented``)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as the store records it (``at``: seconds since the epoch)."""

    conversation_id: int
    cycle: int
    kind: str
    at: float
    channel: str = ""
    agent_id: int | None = None
    article_id: int | None = None
    score: int | None = None
    id: int = 0  # the store's order: of two events at one instant, the later has the larger
    note: str | None = None  # a survey comment's words (``csat_commented``)


@dataclass(frozen=True, slots=True)
class Cycle:
    conversation_id: int
    cycle: int
    channel: str  # where the cycle started
    started: float
    reopened: bool
    queued: float | None = None  # first time it entered the queue
    first_reply: float | None = None  # first public agent reply after that
    first_reply_agent: int | None = None
    resolved: float | None = None
    resolved_by: int | None = None
    bot_handled: bool = False
    csat_sent: bool = False
    csat_score: int | None = None
    csat_comment: str | None = None  # the optional comment after the rating

    @property
    def contained(self) -> bool:
        return self.bot_handled and self.queued is None

    @property
    def first_response_s(self) -> float | None:
        if self.queued is None or self.first_reply is None:
            return None
        return self.first_reply - self.queued

    @property
    def resolution_s(self) -> float | None:
        return None if self.resolved is None else self.resolved - self.started


@dataclass(frozen=True, slots=True)
class ArticleFigures:
    article_id: int
    answers: int
    unhelpful: int  # answers followed by "didn't help" about the article in the cycle
    handoffs: int  # answers followed by a handoff in the cycle
    deflected: int  # answers followed by neither
    title: str = ""

    @property
    def deflection_rate(self) -> float | None:
        return self.deflected / self.answers if self.answers else None
