"""Measure the knowledge matcher on CLINC150: ``python bench/kb_eval.py [--limit N]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.evaluation import evaluate

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared/datasets/clinc150/data_full.json"

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=None, help="ask at most N queries")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--split", choices=("test", "val"), default="test")
    args = parser.parse_args(argv)
    splits = (args.split, f"oos_{args.split}")
    results = {k: evaluate(args.dataset, k, limit=args.limit, splits=splits) for k in args.k}
    print(f"{'':40}" + "".join(f"{f'K={k}':>14}" for k in args.k))
    for label, key, fmt in ROWS:
        print(f"{label:40}" + "".join(f"{fmt.format(r[key]):>14}" for r in results.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
