"""Measure the knowledge matcher on CLINC150: ``python bench/kb_eval.py [--limit N]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.eval_report import table
from knowledge.evaluation import evaluate

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared/datasets/clinc150/data_full.json"

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=None, help="ask at most N queries")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--split", choices=("test", "val"), default="test")
    args = parser.parse_args(argv)
    splits = (args.split, f"oos_{args.split}")
    results = {k: evaluate(args.dataset, k, limit=args.limit, splits=splits) for k in args.k}
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
