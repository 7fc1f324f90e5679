"""Measure the matcher on an intent dataset in the CLINC150 layout.

The dataset is a JSON object whose splits are lists of ``[text, intent]`` pairs, with
out-of-scope queries in separate ``oos_*`` splits labelled ``"oos"``. One article is built
per intent from the first ``k`` training utterances (file order); every query of the
evaluation splits is asked. ``evaluate`` returns plain figures so a CLI can print them.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.model import Article
from knowledge.matcher import Matcher, MatchResult, Thresholds

OOS = "oos"


@dataclass(frozen=True, slots=True)
class Asked:
    """One query, its gold intent (``"oos"`` if out of scope) and what the matcher did."""

    text: str
    intent: str
    result: MatchResult
    seconds: float


def load_splits(dataset_path: Path | str) -> dict[str, list[tuple[str, str]]]:
    raw = json.loads(Path(dataset_path).read_text(encoding="utf-8"))
    return {name: [(str(t), str(i)) for t, i in rows] for name, rows in raw.items()}


def build_kb(train: Sequence[tuple[str, str]], k: int) -> list[Article]:
    """One article per intent: its first ``k`` training utterances, ids in first-seen order."""
    by_intent: dict[str, list[str]] = {}
    for text, intent in train:
        if intent == OOS:
            continue
        phr = by_intent.setdefault(intent, [])
        if len(phr) < k:
            phr.append(text)
    return [
        Article(id=i + 1, title=intent, questions=tuple(qs), answer=f"({intent})")
        for i, (intent, qs) in enumerate(by_intent.items())
    ]


def ask_all(matcher: Matcher, queries: Sequence[tuple[str, str]]) -> list[Asked]:
    asked = []
    for text, intent in queries:
        t0 = time.perf_counter()
        result = matcher.match(text)
        asked.append(Asked(text, intent, result, time.perf_counter() - t0))
    return asked


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(asked: Sequence[Asked]) -> dict[str, float]:
    """Quality figures in 0..1 and the match latency in milliseconds."""
    in_scope = [a for a in asked if a.intent != OOS]
    oos = [a for a in asked if a.intent == OOS]

    def top(a: Asked, n: int) -> bool:
        return any(m.title == a.intent for m in a.result.matches[:n])

    answered = [a for a in asked if a.result.outcome == "answer"]
    right = [a for a in answered if a.intent != OOS and top(a, 1)]
    n_in = max(len(in_scope), 1)
    return {
        "queries": float(len(asked)),
        "top1_accuracy": sum(top(a, 1) for a in in_scope) / n_in,
        "top3_recall": sum(top(a, 3) for a in in_scope) / n_in,
        "answer_precision": len(right) / len(answered) if answered else 1.0,
        "in_scope_answered_right": len(right) / n_in,
        "oos_answered": sum(a.result.outcome == "answer" for a in oos) / max(len(oos), 1),
        "oos_fallback": sum(a.result.outcome == "fallback" for a in oos) / max(len(oos), 1),
        "latency_p50_ms": 1000 * statistics.median([a.seconds for a in asked] or [0.0]),
        "latency_p99_ms": 1000 * _percentile([a.seconds for a in asked], 0.99),
    }


def _take(rows: list[tuple[str, str]], limit: int | None) -> list[tuple[str, str]]:
    """An evenly spread subset (not the first ``limit``: the file is grouped by intent)."""
    if limit is None or limit >= len(rows):
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def evaluate(
    dataset_path: Path | str,
    k: int,
    thresholds: Thresholds | None = None,
    limit: int | None = None,
    splits: tuple[str, str] = ("test", "oos_test"),
) -> dict[str, float]:
    """Build a KB of ``k`` phrasings per intent and ask the in-scope and oos splits.

    ``limit`` caps the number of queries (spread over both splits in proportion).
    Thresholds must be tuned on ``("val", "oos_val")``; report on the test splits.
    """
    data = load_splits(dataset_path)
    queries = data[splits[0]] + data[splits[1]]
    queries = _take(queries, limit)
    t0 = time.perf_counter()
    matcher = Matcher.build(build_kb(data["train"], k), thresholds)
    build_s = time.perf_counter() - t0
    out = figures(ask_all(matcher, queries))
    out.update({"k": float(k), "phrasings": float(len(matcher)), "build_s": build_s})
    return out
