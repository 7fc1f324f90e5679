"""The satisfaction survey: what it asks, and what counts as an answer.

After every resolution the customer is asked once, on the channel they are on; the web chat
shows the message (``"csat": true``) with five buttons, other channels say "reply 1–5". A
bare rating (``4``, ``4/5``, ``4 stars``) within the window answers it; the store records it
once per cycle (hub/store/rules_reports.py) and credits the agent who resolved the cycle.
"""

from __future__ import annotations

import re

from hub.model import Author, NewMessage

MARK = "csat"
QUESTION_TEXT = "How did we do? Reply with a number from 1 (poor) to 5 (great)."
THANKS_TEXT = "Thank you for your rating!"
_RATING = re.compile(r"^\s*([1-5])\s*(?:/\s*5|stars?|★+)?\s*[.!]?\s*$", re.IGNORECASE)


def question() -> NewMessage:
    return NewMessage(Author.BOT, QUESTION_TEXT, marks=(MARK,))


def rating(text: str) -> int | None:
    """The 1–5 rating a message is, if it is nothing else."""
    match = _RATING.match(text)
    return int(match.group(1)) if match else None
