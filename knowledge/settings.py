"""Knowledge-base settings admins edit live: synonyms and decision thresholds.

Both are stored as JSON in the store's ``kb_settings`` (keys ``synonyms`` and
``thresholds``). Thresholds given there override the defaults (``SUPPORTHUB_KB_*_THRESHOLD``
or the matcher's own), field by field. ``parse_*`` raise ``ValueError`` with a message
that names the field, for a 422.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from typing import Any

from knowledge.matcher import Thresholds

log = logging.getLogger(__name__)

SYNONYMS = "synonyms"
THRESHOLDS = "thresholds"
THRESHOLD_FIELDS = ("answer", "suggest", "margin")
MAX_SYNONYM_GROUPS = 2000


def parse_synonyms(raw: Any) -> dict[str, list[str]]:
    """``{"delivery": ["shipping", "shipment"], …}`` validated and tidied."""
    if not isinstance(raw, dict):
        raise ValueError("field 'synonyms' must be an object of word -> list of variants")
    if len(raw) > MAX_SYNONYM_GROUPS:
        raise ValueError(f"field 'synonyms' has more than {MAX_SYNONYM_GROUPS} entries")
    out: dict[str, list[str]] = {}
    for word, variants in raw.items():
        canonical = str(word).strip().lower()
        if not canonical:  # nothing to match: ignored
            continue
        if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
            raise ValueError(f"field 'synonyms.{canonical}' must be a list of strings")
        clean = [v.strip().lower() for v in variants if v.strip()]
        if clean:
            out[canonical] = list(dict.fromkeys(clean))
    return out


def parse_thresholds(raw: Any) -> dict[str, float]:
    """Some or all of ``answer``, ``suggest``, ``margin``, each 0..100."""
    if not isinstance(raw, dict):
        raise ValueError("field 'thresholds' must be an object")
    out: dict[str, float] = {}
    for name, value in raw.items():
        if name not in THRESHOLD_FIELDS:
            raise ValueError(f"field 'thresholds.{name}' is unknown (answer, suggest, margin)")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not 0 <= value <= 100:
            raise ValueError(f"field 'thresholds.{name}' must be a number from 0 to 100")
        out[name] = float(value)
    if out.get("suggest", 0) > out.get("answer", 100):
        raise ValueError("field 'thresholds.suggest' must not be above 'answer'")
    return out


def apply_thresholds(defaults: Thresholds, overrides: dict[str, float]) -> Thresholds:
    merged = replace(defaults, **overrides)
    if merged.suggest > merged.answer:  # a partial override must not invert them
        merged = replace(merged, suggest=merged.answer)
    return merged


def thresholds_json(thresholds: Thresholds) -> dict[str, float]:
    return asdict(thresholds)


def load(raw: str | None, parse: Any, what: str) -> Any:
    """A stored setting, parsed; a damaged one is logged and ignored (defaults apply)."""
    if raw is None:
        return {}
    try:
        return parse(json.loads(raw))
    except ValueError as exc:
        log.error("ignoring the stored knowledge-base %s: %s", what, exc)
        return {}
