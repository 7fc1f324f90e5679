"""The table ``supporthub kb eval`` prints (figures from ``knowledge.evaluation``)."""

from __future__ import annotations

from collections.abc import Mapping

ROWS = (
    ("top-1 accuracy (in scope)", "top1_accuracy", "{:.1%}"),
    ("top-3 recall (in scope)", "top3_recall", "{:.1%}"),
    ("direct-answer precision", "answer_precision", "{:.1%}"),
    ("in scope answered directly and right", "in_scope_answered_right", "{:.1%}"),
    ("out of scope answered directly", "oos_answered", "{:.1%}"),
    ("out of scope fallback", "oos_fallback", "{:.1%}"),
    ("match latency p50", "latency_p50_ms", "{:.3f} ms"),
    ("match latency p99", "latency_p99_ms", "{:.3f} ms"),
    ("build time", "build_s", "{:.2f} s"),
    ("indexed phrasings", "phrasings", "{:,.0f}"),
    ("queries", "queries", "{:,.0f}"),
)


def table(results: Mapping[int, Mapping[str, float]]) -> str:
    lines = [f"{'':40}" + "".join(f"{f'K={k}':>14}" for k in results)]
    for label, key, fmt in ROWS:
        lines.append(f"{label:40}" + "".join(f"{fmt.format(r[key]):>14}"
                                              for r in results.values()))
    return "\n".join(lines)
