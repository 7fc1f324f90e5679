"""Reports over many conversations on PostgreSQL: ``python bench/report_bench.py``.

In a schema of its own (dropped at the end) it writes ``--conversations`` conversations of a
week (default 100,000), each with the events a real one leaves (opened; a bot answer, a
suggestion or fallbacks; a third handed off, claimed, answered, resolved and surveyed; some
reopened), then times what ``GET /api/v1/reports/summary`` and ``/articles`` do: the
store's SQL (``report_cycles``, ``report_articles``) and the figures (``hub.reports``), in
calendar time and with business hours. Median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub import reports
from hub.business_hours import parse
from hub.store.postgres import PostgresStore

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
WEEK_START = 1796004000.0  # Monday 30 November 2026 08:00 UTC
AGENTS = 20
_START = "CASE WHEN kind IN ('opened', 'reopened') THEN"
FILL_CYCLES = (
    "INSERT INTO cycles (conversation_id, cycle, channel, started, reopened, queued, replied,"
    " replied_by, resolved, resolved_by, bot, csat_sent, csat_score)"
    f" SELECT conversation_id, cycle, MIN({_START} channel END), MIN({_START} at END),"
    " MAX(CASE WHEN kind = 'reopened' THEN 1 ELSE 0 END),"
    " MIN(CASE WHEN kind = 'queued' THEN at END), MIN(CASE WHEN kind = 'agent_reply' THEN at END),"
    " MAX(CASE WHEN kind = 'agent_reply' THEN agent_id END),"
    " MIN(CASE WHEN kind = 'resolved' THEN at END),"
    " MAX(CASE WHEN kind = 'resolved' THEN agent_id END),"
    " MAX(CASE WHEN kind IN ('answer', 'suggest', 'fallback') THEN 1 ELSE 0 END),"
    " MAX(CASE WHEN kind = 'csat_asked' THEN 1 ELSE 0 END),"
    " MAX(CASE WHEN kind = 'csat_answered' THEN score END)"
    " FROM events GROUP BY conversation_id, cycle")


def events_of(conversation_id: int, rng: random.Random) -> list[tuple[object, ...]]:
    at = WEEK_START + rng.uniform(0, 7 * 86400)
    channel = rng.choice(("webchat", "webchat", "sms", "telegram", "whatsapp"))
    out: list[tuple[object, ...]] = []
    cycles = 2 if rng.random() < 0.1 else 1
    for cycle in range(1, cycles + 1):
        out.append((conversation_id, cycle, "opened" if cycle == 1 else "reopened", at,
                    channel, None, None, None))
        roll = rng.random()
        if roll < 0.6:
            out.append((conversation_id, cycle, "answer", at + 1, channel, None,
                        rng.randrange(1, 200), None))
        elif roll < 0.8:
            out.append((conversation_id, cycle, "suggest", at + 1, channel, None, None, None))
        else:
            out.append((conversation_id, cycle, "fallback", at + 1, channel, None, None, None))
        if rng.random() < 0.35:
            agent = rng.randrange(1, AGENTS + 1)
            queued = at + rng.uniform(5, 120)
            reply = queued + rng.expovariate(1 / 900)
            resolved = reply + rng.expovariate(1 / 3600)
            out += [(conversation_id, cycle, "queued", queued, channel, None, None, None),
                    (conversation_id, cycle, "claimed", reply - 30, channel, agent, None, None),
                    (conversation_id, cycle, "agent_reply", reply, channel, agent, None, None),
                    (conversation_id, cycle, "resolved", resolved, channel, agent, None, None),
                    (conversation_id, cycle, "csat_asked", resolved, channel, None, None, None)]
            if rng.random() < 0.4:
                out.append((conversation_id, cycle, "csat_answered", resolved + 60, channel,
                            agent, None, rng.randint(1, 5)))
            at = resolved + rng.uniform(3600, 86400)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    store = PostgresStore(f"{PG_URL}?schema={schema}")
    try:
        await store.open(migrate=True)
        conn = await asyncpg.connect(PG_URL, server_settings={"search_path": schema})
        n = args.conversations
        started = time.perf_counter()
        await conn.copy_records_to_table("contacts", records=[(i, "{}") for i in range(1, n + 1)],
                                         columns=["id", "attributes"])
        await conn.copy_records_to_table(
            "conversations", columns=["id", "contact_id", "state", "channel", "cycle"],
            records=[(i, i, "resolved", "webchat", 1) for i in range(1, n + 1)])
        rng = random.Random(15)
        rows = [e for i in range(1, n + 1) for e in events_of(i, rng)]
        await conn.copy_records_to_table(
            "events", records=rows, columns=["conversation_id", "cycle", "kind", "at", "channel",
                                             "agent_id", "article_id", "score"])
        # each cycle's row of figures, as the rules keep it while its events come in
        await conn.execute(FILL_CYCLES)
        await conn.execute("ANALYZE")
        await conn.close()
        print(f"{n:,} conversations, {len(rows):,} events written in"
              f" {time.perf_counter() - started:.1f} s")
        hours = parse("Mon-Fri 09:00-17:00", "Europe/Berlin")
        since, until = WEEK_START - 86400, WEEK_START + 8 * 86400
        timings: dict[str, list[float]] = {}

        def took(name: str, start: float) -> None:
            timings.setdefault(name, []).append((time.perf_counter() - start) * 1000)

        for _ in range(args.runs):
            t = time.perf_counter()
            cycles = await store.report_cycles(since, until)
            took("report_cycles (SQL)", t)
            t = time.perf_counter()
            summary = reports.summary(cycles, None)
            took("summary figures, calendar time", t)
            t = time.perf_counter()
            reports.summary(cycles, hours)
            took("summary figures, with business hours", t)
            t = time.perf_counter()
            await store.report_articles(since, until)
            took("report_articles (SQL)", t)
        print(f"cycles {summary['cycles']:,}, handoff rate {summary['handoff_rate']:.3f},"
              f" containment {summary['containment_rate']:.3f},"
              f" first response median {summary['first_response']['median_s']:.0f} s")
        for name, values in timings.items():
            print(f"{name:40s} median {statistics.median(values):8.1f} ms"
                  f"  (min {min(values):.1f}, max {max(values):.1f})")
        calendar = statistics.median(timings["report_cycles (SQL)"]) + statistics.median(
            timings["summary figures, calendar time"])
        business = statistics.median(timings["report_cycles (SQL)"]) + statistics.median(
            timings["summary figures, with business hours"])
        print(f"summary answered in {calendar:.0f} ms (calendar), {business:.0f} ms"
              " (with business hours)")
    finally:
        await store.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
