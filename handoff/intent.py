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
_NOT_A_REQUEST = re.compile(r"\b(?:not|no|don't|dont)\b.*\b(?:human|agent|person)\b")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def wants_human(text: str) -> bool:
    """True for "agent", "I want to talk to a human", "connect me to a representative"…"""
    words = _normalise(text)
    if not words or _NOT_A_REQUEST.search(words):
        return False
    if _ALONE.match(words):
        return True
    return len(words.split()) <= 14 and bool(_ASK.search(words))
