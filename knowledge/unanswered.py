"""Unanswered questions grouped by similarity, for the admin page.

Entries (fallbacks and unhelpful answers) are compared on their normalised words in
sorted order (rapidfuzz ``token_sort_ratio``), greedily: each joins the first group whose
representative is close enough, else starts one. Groups are shown most asked first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapidfuzz import fuzz, process

from hub.store.base_kb import Unanswered
from knowledge.normalize import normalize

SIMILAR = 75.0  # token_sort_ratio at or above which two questions are "the same"
EXAMPLES = 5


@dataclass
class Group:
    key: str  # the normalised text of the first (newest) entry
    entries: list[Unanswered] = field(default_factory=list)

    @property
    def last_at(self) -> datetime:
        return max(e.created_at for e in self.entries)

    def json(self) -> dict[str, Any]:
        texts = Counter(e.text.strip() for e in self.entries)
        kinds = Counter(e.kind.value for e in self.entries)
        return {
            "text": texts.most_common(1)[0][0],
            "count": len(self.entries),
            "examples": [t for t, _ in texts.most_common(EXAMPLES)],
            "ids": [e.id for e in self.entries],
            "kinds": dict(kinds),
            "articles": sorted({e.article_id for e in self.entries if e.article_id}),
            "last_at": self.last_at.isoformat(),
        }


def group(entries: Sequence[Unanswered], similar: float = SIMILAR) -> list[Group]:
    groups: list[Group] = []
    keys: list[str] = []
    for entry in entries:
        key = normalize(entry.text) or entry.text.strip().lower()
        hit = process.extractOne(key, keys, scorer=fuzz.token_sort_ratio, score_cutoff=similar)
        if hit is None:
            groups.append(Group(key, [entry]))
            keys.append(key)
        else:
            groups[hit[2]].entries.append(entry)
    groups.sort(key=lambda g: (-len(g.entries), -g.last_at.timestamp(), g.key))
    return groups
