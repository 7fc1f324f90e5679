"""Rules, once for both engines (see sql.py): the events reports are made of, and the
report queries over them.

Events are written by the rules that make the change, in its transaction
(rules_conversations: ``ingest`` opens and reopens cycles and records survey answers and
their optional comments,
``record_turn`` the state changes, the first public agent reply of a cycle and what its
caller says happened). ``at`` is the store's clock (``Store.clock``), in seconds since the
epoch; a conversation's ``cycle`` column numbers its cycles (0: no customer message yet).

Each cycle's figures are also kept as its events come in, in the same statements' transaction
(``cycles``: its start and channel, first queue, first agent reply, resolution and who
resolved it, whether the bot decided anything, the survey), so a report over a window reads
one row per cycle by an index on its start (``REPORT_CYCLES``) instead of grouping every
event again. The rows follow ``hub.reports.fold_cycles`` over the events, and
``REPORT_ARTICLES`` (over the events) follows ``fold_articles``: the tests hold them to each
other on both engines. "Later" in a cycle is a larger event id (commit order).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.cycles import ArticleFigures, Cycle, Event, NewEvent
from hub.store.sql import Rule, Sql, count, reads, rows

_COLUMNS = "conversation_id, cycle, kind, at, channel, agent_id, article_id, score, note"
# an event of the conversation's current cycle, on its current channel
EVENT = Sql(f"INSERT INTO events ({_COLUMNS}) SELECT id, cycle, $2, $3, channel, $4, $5, $6,"
            " $7 FROM conversations WHERE id = $1")
# a customer message starts a cycle: the first one, or one after a resolution (the
# conversation's cycle number moves on in the same statement that updates it)
CYCLE_START = Sql(
    f"INSERT INTO events ({_COLUMNS}) SELECT id, cycle + 1,"
    " CASE WHEN cycle = 0 THEN 'opened' ELSE 'reopened' END, $2, $3, NULL, NULL, NULL, NULL"
    " FROM conversations WHERE id = $1 AND (cycle = 0 OR state = 'resolved')")
# ... and its row of figures (the same condition: run before the conversation moves on)
CYCLE_ROW = Sql(
    "INSERT INTO cycles (conversation_id, cycle, channel, started, reopened, bot, csat_sent)"
    " SELECT id, cycle + 1, $3, $2, CASE WHEN cycle = 0 THEN 0 ELSE 1 END, 0, 0"
    " FROM conversations WHERE id = $1 AND (cycle = 0 OR state = 'resolved')")
# an event's mark on its cycle's figures (the first queue, resolution; a bot outcome; the
# survey sent, answered and commented on)
_CURRENT = "conversation_id = $1 AND cycle = (SELECT cycle FROM conversations WHERE id = $1)"
CYCLE_EVENT = Sql(
    "UPDATE cycles SET"
    " queued = CASE WHEN $2 = 'queued' AND queued IS NULL THEN $3 ELSE queued END,"
    " resolved_by = CASE WHEN $2 = 'resolved' AND resolved IS NULL THEN $4"
    "  ELSE resolved_by END,"
    " resolved = CASE WHEN $2 = 'resolved' AND resolved IS NULL THEN $3 ELSE resolved END,"
    " bot = CASE WHEN $2 IN ('answer', 'suggest', 'fallback') THEN 1 ELSE bot END,"
    " csat_sent = CASE WHEN $2 = 'csat_asked' THEN 1 ELSE csat_sent END,"
    " csat_score = CASE WHEN $2 = 'csat_answered' THEN $5 ELSE csat_score END,"
    " csat_comment = CASE WHEN $2 = 'csat_commented' THEN $6 ELSE csat_comment END"
    f" WHERE {_CURRENT}")
CYCLE_REPLY = Sql(f"UPDATE cycles SET replied = $2, replied_by = $3 WHERE {_CURRENT}"
                  " AND replied IS NULL")
# the first public agent reply of the cycle (later ones are not events)
FIRST_REPLY = Sql(
    f"INSERT INTO events ({_COLUMNS}) SELECT c.id, c.cycle, 'agent_reply', $2, c.channel, $3,"
    " NULL, NULL, NULL FROM conversations c WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM events e"
    " WHERE e.conversation_id = c.id AND e.cycle = c.cycle AND e.kind = 'agent_reply')")
# a survey of the current cycle, asked since $2 and not answered yet: the resolving agent
CSAT_PENDING = Sql(
    "SELECT c.cycle, (SELECT r.agent_id FROM events r WHERE r.conversation_id = c.id"
    "  AND r.cycle = c.cycle AND r.kind = 'resolved' ORDER BY r.id DESC LIMIT 1) AS agent_id"
    " FROM conversations c WHERE c.id = $1 AND c.state = 'resolved'"
    " AND EXISTS (SELECT 1 FROM events a WHERE a.conversation_id = c.id AND a.cycle = c.cycle"
    "  AND a.kind = 'csat_asked' AND a.at >= $2)"
    " AND NOT EXISTS (SELECT 1 FROM events d WHERE d.conversation_id = c.id"
    "  AND d.cycle = c.cycle AND d.kind = 'csat_answered')"
    # ... and still the last thing we said: after an agent's message, a notify or a
    # campaign's, a number answers that ("how many parcels arrived?" "2"), not the survey
    " AND (SELECT m.extras FROM messages m WHERE m.conversation_id = c.id"
    "  AND m.direction = 'out' AND m.private = {false} ORDER BY m.id DESC LIMIT 1) = $3")
# what the survey's question carries (hub/store/rules_conversations.py reply_extras writes it)
SURVEY_QUESTION_EXTRAS = json.dumps({"marks": ["csat"]})
# a survey of the current cycle answered since $2 and not commented on yet: the rating's
# optional comment may follow (the customer's next message) — unless we wrote to the
# customer since their last message with anything but the survey's thanks (the bot's only
# plain message after a rating): after an agent's message, a notify or a campaign's (marked)
# message, the customer's next words answer that, they are no comment
COMMENT_PENDING = Sql(
    "SELECT c.cycle FROM conversations c WHERE c.id = $1 AND c.state = 'resolved'"
    " AND EXISTS (SELECT 1 FROM events a WHERE a.conversation_id = c.id AND a.cycle = c.cycle"
    "  AND a.kind = 'csat_answered' AND a.at >= $2)"
    " AND NOT EXISTS (SELECT 1 FROM events d WHERE d.conversation_id = c.id"
    "  AND d.cycle = c.cycle AND d.kind = 'csat_commented')"
    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
    "  AND m.direction = 'out' AND m.private = {false}"
    "  AND (m.author <> 'bot' OR m.extras IS NOT NULL)"
    "  AND m.id > (SELECT MAX(i.id) FROM messages i WHERE i.conversation_id = c.id"
    "   AND i.direction = 'in'))")
# a conversation folded into another (the same customer, found on a second channel): its
# thread joins the other's, its cycles are not counted apart
DROP_EVENTS = Sql("DELETE FROM events WHERE conversation_id = $1")
DROP_CYCLES = Sql("DELETE FROM cycles WHERE conversation_id = $1")
CONVERSATION_EVENTS = Sql(f"SELECT id, {_COLUMNS} FROM events WHERE conversation_id = $1"
                          " ORDER BY id")
# one row per cycle that started in [$1, $2)
REPORT_CYCLES = Sql(
    "SELECT conversation_id, cycle, channel, started, reopened, queued, replied, replied_by,"
    " resolved, resolved_by, bot, csat_sent, csat_score, csat_comment FROM cycles"
    " WHERE started >= $1 AND started < $2")
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


ROLLUP_KINDS = frozenset({"queued", "resolved", "answer", "suggest", "fallback",
                          "csat_asked", "csat_answered", "csat_commented"})


def record(conversation_id: int, at: float, events: Sequence[NewEvent]) -> Rule[None]:
    """The events, and their marks on their cycle's row of figures."""
    for event in events:
        yield count(EVENT, conversation_id, event.kind, at, event.agent_id, event.article_id,
                    event.score, event.note)
        if event.kind in ROLLUP_KINDS:
            yield count(CYCLE_EVENT, conversation_id, event.kind, at, event.agent_id,
                        event.score, event.note)


def forget(conversation_id: int) -> Rule[None]:
    yield count(DROP_CYCLES, conversation_id)
    yield count(DROP_EVENTS, conversation_id)


def start_cycle(conversation_id: int, at: float, channel: str) -> Rule[None]:
    """A customer message: a new cycle when it is the first, or follows a resolution."""
    if (yield count(CYCLE_START, conversation_id, at, channel)):
        yield count(CYCLE_ROW, conversation_id, at, channel)


def first_reply(conversation_id: int, at: float, agent_id: int | None) -> Rule[None]:
    if (yield count(FIRST_REPLY, conversation_id, at, agent_id)):
        yield count(CYCLE_REPLY, conversation_id, at, agent_id)


def _cycle(row: Any) -> Cycle:
    (conversation_id, number, channel, started, reopened, queued, replied, replied_by,
     resolved, resolved_by, bot, csat_sent, csat_score, csat_comment) = row
    counts = queued is not None and replied is not None and replied >= queued
    return Cycle(conversation_id, number, channel, started, bool(reopened), queued,
                 replied if counts else None, replied_by if counts else None, resolved,
                 resolved_by, bool(bot), bool(csat_sent), csat_score, csat_comment)


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
                      r["channel"], r["agent_id"], r["article_id"], r["score"], int(r["id"]),
                      r["note"])
                for r in (yield rows(CONVERSATION_EVENTS, conversation_id))]
