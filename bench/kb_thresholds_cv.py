"""Do the default thresholds transfer? Cross-validation over disjoint halves of CLINC150's intents.

Each split puts half of the 150 intents in A and the other half in B (seeded). For each
direction (tune on A, test on B; then the reverse), and for K = 10 and K = 100 phrasings per
article:

* **tune**: a knowledge base of A's intents, asked A's ``val`` queries and ``oos_val``
  (as ``supporthub kb eval --split val`` asks a whole dataset). A grid of thresholds is
  scored there.
* **test**: a knowledge base of B's intents (never seen while tuning), asked B's ``test``
  queries and ``oos_test``: a "new dataset" run the same way.

With ``--near-misses`` the other half's queries are asked too, as out of scope: questions on
topics next to the knowledge base's (a far harder kind of out of scope than ``oos``).

Prints, for the current defaults and for the thresholds this chooses, the held-out
direct-answer precision and share of in-scope queries answered directly and right, per fold
and K. The choice: the thresholds with the most in-scope answered right summed over every
fold's tuning set at both K, subject to precision >= ``--floor`` on every one of them.

    python bench/kb_thresholds_cv.py [--splits 3] [--floor 0.96]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.evaluation import OOS, build_kb, load_splits
from knowledge.matcher import Matcher, ScoredArticle, Thresholds
from knowledge.normalize import words

DATASET = Path(__file__).resolve().parents[2] / "shared/datasets/clinc150/data_full.json"
ANSWER = [36.0, 38.0, 40.0, 42.0, 44.0, 46.0, 48.0, 50.0, 54.0, 58.0]
MARGIN = [15.0, 17.0, 19.0, 21.0, 23.0, 25.0, 27.0, 30.0, 34.0]


@dataclass(frozen=True, slots=True)
class Asked:
    matches: tuple[ScoredArticle, ...]
    info: float
    intent: str  # OOS for out of scope (also another half's intent)


def ask(matcher: Matcher, queries: list[tuple[str, str]], known: set[str]) -> list[Asked]:
    out = []
    for text, intent in queries:
        result = matcher.match(text)
        ws = words(text, matcher._ix.synonyms)
        info = matcher._scores(ws)[1] if ws and matcher._ix.article_ids else 0.0
        out.append(Asked(result.matches, info, intent if intent in known else OOS))
    return out


def figures(matcher: Matcher, asked: list[Asked], th: Thresholds) -> tuple[float, float, int]:
    """Direct-answer precision, in-scope answered right (share), answers given."""
    matcher.thresholds = th
    answered = right = in_scope = 0
    for a in asked:
        in_scope += a.intent != OOS
        if a.matches and matcher._decide(a.matches, a.info) == "answer":
            answered += 1
            right += a.intent != OOS and a.matches[0].title == a.intent
    return (right / answered if answered else 1.0), right / max(in_scope, 1), answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--floor", type=float, default=0.96,
                        help="precision every tuning set must keep (a margin over 95%%)")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--near-misses", action="store_true")
    parser.add_argument("--also", type=float, nargs=2, metavar=("ANSWER", "MARGIN"),
                        help="also report these thresholds")
    args = parser.parse_args()
    data = load_splits(DATASET)
    intents = sorted({i for _, i in data["train"] if i != OOS})
    folds = []  # (name, k, matcher, tune answers, test matcher, test answers)
    for split in range(args.splits):
        order = intents[:]
        random.Random(split).shuffle(order)
        halves = (set(order[: len(order) // 2]), set(order[len(order) // 2:]))
        for direction, (tune, test) in enumerate((halves, halves[::-1])):
            for k in args.k:
                kb = {}
                for name, half in (("tune", tune), ("test", test)):
                    train = [(t, i) for t, i in data["train"] if i in half]
                    kb[name] = Matcher.build(build_kb(train, k))
                tune_q = [(t, i) for t, i in data["val"] + data["oos_val"]
                          if args.near_misses or i in tune or i == OOS]
                test_q = [(t, i) for t, i in data["test"] + data["oos_test"]
                          if args.near_misses or i in test or i == OOS]
                folds.append((f"split {split} {'AB'[direction]}->{'BA'[direction]}", k,
                              kb["tune"], ask(kb["tune"], tune_q, tune),
                              kb["test"], ask(kb["test"], test_q, test)))
                print(f"built and asked split {split} direction {direction} K={k}",
                      file=sys.stderr, flush=True)

    default = Thresholds()
    best: tuple[float, Thresholds] | None = None
    for answer, margin in itertools.product(ANSWER, MARGIN):
        th = replace(default, answer=answer, margin=margin)
        tuned = [figures(f[2], f[3], th) for f in folds]
        if min(p for p, _, _ in tuned) < args.floor:
            continue
        coverage = sum(c for _, c, _ in tuned)
        if best is None or coverage > best[0]:
            best = (coverage, th)
    chosen = best[1] if best is not None else default

    reports = [("current defaults", default), ("chosen on the tuning halves", chosen)]
    if args.also:
        reports.append(("asked for", replace(default, answer=args.also[0],
                                             margin=args.also[1])))
    for label, th in reports:
        print(f"\n{label}: answer {th.answer:g}, margin {th.margin:g} (suggest {th.suggest:g})")
        print(f"{'fold':<16} {'K':>4} {'tune precision':>15} {'held-out precision':>19} "
              f"{'held-out answered right':>24}")
        by_k: dict[int, list[tuple[float, float]]] = {}
        for name, k, tune_m, tune_a, test_m, test_a in folds:
            tp, _, _ = figures(tune_m, tune_a, th)
            hp, hc, _ = figures(test_m, test_a, th)
            by_k.setdefault(k, []).append((hp, hc))
            print(f"{name:<16} {k:>4} {tp:14.1%} {hp:18.1%} {hc:23.1%}")
        for k, values in by_k.items():
            print(f"{'held out, K=' + str(k):<21} precision min {min(p for p, _ in values):.1%} "
                  f"mean {statistics.mean(p for p, _ in values):.1%}; answered right mean "
                  f"{statistics.mean(c for _, c in values):.1%}")


if __name__ == "__main__":
    main()
