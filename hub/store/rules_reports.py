"""Rules, once for both engines (see sql.py): the events reports are made of, and the
report queries over them.

Events are written by the rules that make the change, in its transaction
(rules_conversations: ``ingest`` opens and reopens cycles and records survey answers,
``record_turn`` the state changes, the first public agent reply of a cycle and what its
caller says happened). ``at`` is the store's clock (``Store.clock``), in seconds since the
epoch; a conversation's ``cycle`` column numbers its cycles (0: no customer message yet).

The report reads fold the events into one row per cycle (``REPORT_CYCLES``) and one per
article (``REPORT_ARTICLES``) in SQL, following ``hub.reports.fold_cycles`` and
``fold_articles`` (the tests hold them to each other on both engines); "later" in a cycle is
a larger event id (commit order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.cycles import ArticleFigures, Cycle, Event, NewEvent
from hub.store.sql import Rule, Sql, count, reads, rows

_COLUMNS = "conversation_id, cycle, kind, at, channel, agent_id, article_id, score"
# an event of the conversation's current cycle, on its current channel
EVENT = Sql(f"INSERT INTO events ({_COLUMNS})"
            " SELECT id, cycle, $2, $3, channel, $4, $5, $6 FROM conversations WHERE id = $1")
# a customer message starts a cycle: the first one, or one after a resolution (the
# conversation's cycle number moves on in the same statement that updates it)
CYCLE_START = Sql(
    f"INSERT INTO events ({_COLUMNS}) SELECT id, cycle + 1,"
    " CASE WHEN cycle = 0 THEN 'opened' ELSE 'reopened' END, $2, $3, NULL, NULL, NULL"
    " FROM conversations WHERE id = $1 AND (cycle = 0 OR state = 'resolved')")
# the first public agent reply of the cycle (later ones are not events)
FIRST_REPLY = Sql(
    f"INSERT INTO events ({_COLUMNS}) SELECT c.id, c.cycle, 'agent_reply', $2, c.channel, $3,"
    " NULL, NULL FROM conversations c WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM events e"
    " WHERE e.conversation_id = c.id AND e.cycle = c.cycle AND e.kind = 'agent_reply')")
# a survey of the current cycle, asked since $2 and not answered yet: the resolving agent
CSAT_PENDING = Sql(
    "SELECT c.cycle, (SELECT r.agent_id FROM events r WHERE r.conversation_id = c.id"
    "  AND r.cycle = c.cycle AND r.kind = 'resolved' ORDER BY r.id DESC LIMIT 1) AS agent_id"
    " FROM conversations c WHERE c.id = $1 AND c.state = 'resolved'"
    " AND EXISTS (SELECT 1 FROM events a WHERE a.conversation_id = c.id AND a.cycle = c.cycle"
    "  AND a.kind = 'csat_asked' AND a.at >= $2)"
    " AND NOT EXISTS (SELECT 1 FROM events d WHERE d.conversation_id = c.id"
    "  AND d.cycle = c.cycle AND d.kind = 'csat_answered')")
CONVERSATION_EVENTS = Sql(f"SELECT id, {_COLUMNS} FROM events WHERE conversation_id = $1"
                          " ORDER BY id")
# one row per cycle that started in [$1, $2)
REPORT_CYCLES = Sql(
    "SELECT s.conversation_id, s.cycle, s.channel, s.at AS started, s.kind AS start_kind,"
    " MIN(CASE WHEN e.kind = 'queued' THEN e.at END) AS queued,"
    " MIN(CASE WHEN e.kind = 'agent_reply' THEN e.at END) AS replied,"
    " MAX(CASE WHEN e.kind = 'agent_reply' THEN e.agent_id END) AS replied_by,"
    " MIN(CASE WHEN e.kind = 'resolved' THEN e.at END) AS resolved,"
    " MAX(CASE WHEN e.kind = 'resolved' THEN e.agent_id END) AS resolved_by,"
    " MAX(CASE WHEN e.kind IN ('answer', 'suggest', 'fallback') THEN 1 ELSE 0 END) AS bot,"
    " MAX(CASE WHEN e.kind = 'csat_asked' THEN 1 ELSE 0 END) AS csat_sent,"
    " MAX(CASE WHEN e.kind = 'csat_answered' THEN e.score END) AS csat_score"
    " FROM events s JOIN events e ON e.conversation_id = s.conversation_id"
    "  AND e.cycle = s.cycle"
    " WHERE s.kind IN ('opened', 'reopened') AND s.at >= $1 AND s.at < $2"
    " GROUP BY s.id, s.conversation_id, s.cycle, s.channel, s.at, s.kind"
    " ORDER BY s.at, s.id")
_LATER = ("SELECT 1 FROM events u WHERE u.conversation_id = a.conversation_id"
          " AND u.cycle = a.cycle AND u.id > a.id AND ")
_UNHELPFUL = "u.kind = 'unhelpful' AND u.article_id = a.article_id"
# one row per article answered directly in [$1, $2)
REPORT_ARTICLES = Sql(
    "SELECT a.article_id, MAX(ar.title) AS title, COUNT(*) AS answers,"
    f" SUM(CASE WHEN EXISTS ({_LATER}{_UNHELPFUL}) THEN 1 ELSE 0 END) AS unhelpful,"
    f" SUM(CASE WHEN EXISTS ({_LATER}u.kind = 'queued') THEN 1 ELSE 0 END) AS handoffs,"
    f" SUM(CASE WHEN EXISTS ({_LATER}(u.kind = 'queued' OR ({_UNHELPFUL})))"
    "  THEN 0 ELSE 1 END) AS deflected"
    " FROM events a LEFT JOIN articles ar ON ar.id = a.article_id"
    " WHERE a.kind = 'answer' AND a.article_id IS NOT NULL AND a.at >= $1 AND a.at < $2"
    " GROUP BY a.article_id")


def record(conversation_id: int, at: float, events: Sequence[NewEvent]) -> Rule[None]:
    for event in events:
        yield count(EVENT, conversation_id, event.kind, at, event.agent_id, event.article_id,
                    event.score)


def _cycle(row: Any) -> Cycle:
    queued, replied = row["queued"], row["replied"]
    reply_counts = queued is not None and replied is not None and replied >= queued
    return Cycle(
        int(row["conversation_id"]), int(row["cycle"]), row["channel"], float(row["started"]),
        row["start_kind"] == "reopened",
        queued=None if queued is None else float(queued),
        first_reply=float(replied) if reply_counts else None,
        first_reply_agent=row["replied_by"] if reply_counts else None,
        resolved=None if row["resolved"] is None else float(row["resolved"]),
        resolved_by=row["resolved_by"], bot_handled=bool(row["bot"]),
        csat_sent=bool(row["csat_sent"]),
        csat_score=None if row["csat_score"] is None else int(row["csat_score"]))


class ReportRules:
    @reads
    def report_cycles(self, since: float, until: float) -> Rule[list[Cycle]]:
        """Every cycle that started in [since, until), as hub.reports defines it."""
        return [_cycle(row) for row in (yield rows(REPORT_CYCLES, since, until))]

    @reads
    def report_articles(self, since: float, until: float) -> Rule[list[ArticleFigures]]:
        """Per article answered directly in [since, until): what followed the answers."""
        return [ArticleFigures(int(r["article_id"]), int(r["answers"]), int(r["unhelpful"]),
                               int(r["handoffs"]), int(r["deflected"]), r["title"] or "")
                for r in (yield rows(REPORT_ARTICLES, since, until))]

    @reads
    def conversation_events(self, conversation_id: int) -> Rule[list[Event]]:
        """A conversation's events, in the order they were recorded."""
        return [Event(int(r["conversation_id"]), int(r["cycle"]), r["kind"], float(r["at"]),
                      r["channel"], r["agent_id"], r["article_id"], r["score"], int(r["id"]))
                for r in (yield rows(CONVERSATION_EVENTS, conversation_id))]
