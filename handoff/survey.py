"""The satisfaction survey: what it asks, what counts as an answer, and its comment.

After every resolution the customer is asked once, on the channel they are on; the web chat
shows the message (``"csat": true``) with five buttons, Telegram, Slack, Messenger and
Instagram show five buttons too, other channels say "reply 1–5". A bare rating (``4``,
``4/5``, ``4 stars``) within the window answers it; the store records it once per cycle
(hub/store/rules_reports.py) and credits the agent who resolved the cycle.

The thanks invite an optional comment: the lines after the rating in the same message (a
mail "5\\n\\nQuick and friendly"), a comment sent with the button (the web chat's
``{"csat": 4, "comment": …}``), or else the customer's next message within the comment
window (``SUPPORTHUB_CSAT_COMMENT_WINDOW``) is the cycle's comment, recorded once — unless
it asks for a person or asks a question (ends with a question mark): that is a new request.
"""

from __future__ import annotations

import re

from handoff.intent import wants_human
from hub import marks
from hub.model import Author, NewMessage

MARK = "csat"
QUESTION_TEXT = "How did we do? Reply with a number from 1 (poor) to 5 (great)."
THANKS_TEXT = ("Thank you for your rating! If you like, tell us more in a comment: just"
               " reply with it.")
THANKS_BOTH_TEXT = "Thank you for your rating and your comment!"
THANKS_COMMENT_TEXT = ("Thank you for your comment! If you need anything else, just write"
                       " again.")
MAX_COMMENT_CHARS = 2000  # what a comment keeps (a long mail is cut here)
# matched on the stripped text, each run of spaces bound to what follows it: the earlier
# "\s*(...)?\s*[.!]?\s*$" backtracked cubically (a "1", 4,000 spaces and an "x" held the
# event loop for 45 s)
_RATING = re.compile(r"^([1-5])(?:\s*(?:/\s*5|stars?|★+))?(?:\s*[.!])?$", re.IGNORECASE)
_MAX_RATING_CHARS = 40  # "4 / 5", "5 stars!", "3 ★★★": anything longer is words
# marks a comment may carry: a mail's subject; anything else (a photo, an edit, an
# opt-out, "didn't help") is no comment
_COMMENT_MARKS = frozenset({marks.SUBJECT})
# a question mark (ASCII, full-width, Arabic, Greek) followed by nothing but spaces,
# closing punctuation or symbols (emoji); searched in the message's last 200 characters
_QUESTION_END = re.compile(r"[?？؟\u037e]+[\s\"')\]}»”’.!\U0001F000-\U0001FAFF\u2600-\u27BF]*$")


def question() -> NewMessage:
    return NewMessage(Author.BOT, QUESTION_TEXT, marks=(MARK,))


def thanks(score: int | None, comment: str | None) -> NewMessage:
    """The reply to a rating (inviting a comment unless one came with it) or a comment."""
    if score is None:
        return NewMessage(Author.BOT, THANKS_COMMENT_TEXT)
    return NewMessage(Author.BOT, THANKS_BOTH_TEXT if comment else THANKS_TEXT)


def rating(text: str) -> int | None:
    """The 1–5 rating a message is, if it is nothing else."""
    words = text.strip()
    match = _RATING.match(words) if len(words) <= _MAX_RATING_CHARS else None
    return int(match.group(1)) if match else None


def comment_text(text: str) -> str | None:
    """A comment as kept: its words, trimmed to ``MAX_COMMENT_CHARS``; None when empty."""
    words = text.strip()
    return words[:MAX_COMMENT_CHARS] if words else None


def read(text: str, message_marks: tuple[str, ...]) -> tuple[int | None, str | None]:
    """What a customer's message may say to the survey: a rating on its first line (the
    rest of the message is its comment), or else the whole message as a comment. The store
    decides whether a survey waits for either (hub/store/rules_conversations.py)."""
    marked = marks.parse(text, message_marks)
    if marked.silent or any(tag not in _COMMENT_MARKS for tag in marked.tags):
        return None, None
    first, _, rest = marked.text.strip().partition("\n")
    score = rating(first)
    if score is not None:
        return score, comment_text(rest)
    if wants_human(marked.text):  # "I want to talk to a person" after a rating: a handoff
        return None, None
    if is_question(marked.text):  # "How do I reset my password?": a new question
        return None, None
    return None, comment_text(marked.text)


def is_question(text: str) -> bool:
    """Whether a message asks something (ends with a question mark, closing quotes,
    brackets and emoji aside): after a rating that is a new question for the bot, not
    the rating's comment."""
    return _QUESTION_END.search(text[-200:]) is not None
