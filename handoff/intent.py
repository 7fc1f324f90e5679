"""Recognising a request for a person, in the usual wordings."""

from __future__ import annotations

import re
import unicodedata

_PEOPLE = (
    r"human|humans|agent|agents|person|people|representative|rep|operator|someone|somebody"
    r"|staff|employee|support team|customer service|customer support|live chat|real person"
    r"|live agent|live person|advisor|adviser|manager"
)
_VERBS = r"talk|speak|chat|connect|transfer|need|want|get|give|contact|reach|call|see"
_ALONE = re.compile(rf"^(?:an? |the )?(?:{_PEOPLE})(?: please| pls| now)?$")
_ASK = re.compile(rf"\b(?:{_VERBS})\b.*\b(?:{_PEOPLE})\b")
# "not … human": a negation, then (anywhere after the first one) a word for a person. Two
# searches, not one ``negation.*person`` pattern, whose backtracking is quadratic in a long
# message of negations ("no no no …": 30 ms for 4,000 characters, on the event loop)
_NEGATION = re.compile(r"\b(?:not|no|don't|dont)\b")
_NOT_WHOM = re.compile(r"\b(?:human|agent|person)\b")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def wants_human(text: str) -> bool:
    """True for "agent", "I want to talk to a human", "connect me to a representative"…"""
    words = _normalise(text)
    if not words:
        return False
    negation = _NEGATION.search(words)
    if negation is not None and _NOT_WHOM.search(words, negation.end()):
        return False
    if _ALONE.match(words):
        return True
    return len(words.split()) <= 14 and bool(_ASK.search(words))
