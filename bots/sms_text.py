"""SMS text: what fits in how many segments, and cutting a long answer at a sentence.

An SMS is GSM-7 encoded when every character is in the GSM 03.38 alphabet (160 characters in
one segment, 153 per segment when concatenated; the extension characters ``^{}\\[~]|€`` take
two), and UCS-2 otherwise (70, or 67 per segment, counted in UTF-16 units, so an emoji takes
two). One "→" in a message halves its capacity, so common typography is first replaced by its
GSM-7 look-alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

_TYPOGRAPHY = str.maketrans({
    "→": "->", "←": "<-", "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"',
    "–": "-", "—": "-", "…": "...", "\u00a0": " ", "•": "-", "·": "-", "×": "x",
})
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
ELLIPSIS = "..."  # "…" is not GSM-7: it would halve the capacity


def gsm_friendly(text: str) -> str:
    """Replace typography that would force UCS-2 with GSM-7 look-alikes."""
    return text.translate(_TYPOGRAPHY)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def units(text: str) -> tuple[int, bool]:
    """(length in encoding units, whether GSM-7)."""
    if is_gsm7(text):
        return sum(2 if ch in GSM_EXTENDED else 1 for ch in text), True
    return len(text.encode("utf-16-le")) // 2, False


def segments(text: str) -> int:
    """How many SMS segments ``text`` is sent as."""
    length, gsm = units(text)
    single, multi = (160, 153) if gsm else (70, 67)
    if length <= single:
        return 1
    return -(-length // multi)


def shorten(text: str, fits: Callable[[str], bool], tail: str = "") -> str:
    """``text`` + ``tail`` where ``fits`` says it fits: whole sentences while they fit, else
    whole words and an ellipsis. ``tail`` (the suggestions, say) is always kept."""
    if fits(text + tail):
        return text + tail
    cut = ""
    for match in _SENTENCE_END.finditer(text):
        candidate = text[:match.start()].rstrip()
        if not fits(candidate + tail):
            break
        cut = candidate
    if cut:
        return cut + tail
    kept: list[str] = []
    for word in text.split():
        if not fits(" ".join([*kept, word]) + ELLIPSIS + tail):
            break
        kept.append(word)
    short = " ".join(kept)
    if not short:  # one enormous "word" (a URL): cut it
        short = text
        while short and not fits(short + ELLIPSIS + tail):
            short = short[: len(short) * 9 // 10]
    return short + ELLIPSIS + tail


def within_segments(max_segments: int) -> Callable[[str], bool]:
    return lambda text: segments(text) <= max_segments


def within_chars(limit: int) -> Callable[[str], bool]:
    return lambda text: len(text) <= limit
