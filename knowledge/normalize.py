"""Text normalisation shared by the matcher's index and its queries.

Both sides go through exactly the same steps, so the steps only need to be consistent,
not linguistically perfect: case folding, accent stripping, English contractions (with
or without the apostrophe), punctuation to spaces, then a light suffix stemmer so that
"cards", "carded" and "carding" meet on one index term.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# Irregular contractions first; the regular suffixes are handled in ``_expand``.
_IRREGULAR: dict[str, str] = {
    "can't": "can not",
    "won't": "will not",
    "shan't": "shall not",
    "ain't": "is not",
    "let's": "let us",
    "y'all": "you all",
}
# Apostrophe-less spellings people type on phones; only unambiguous ones ("ill", "id",
# "wont", "well", "were" are real words and stay as they are).
_BARE: dict[str, str] = {
    "cant": "can not",
    "cannot": "can not",
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "shouldnt": "should not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "whats": "what is",
    "thats": "that is",
    "theres": "there is",
    "wheres": "where is",
    "hows": "how is",
    "whos": "who is",
    "im": "i am",
    "ive": "i have",
    "youre": "you are",
    "theyre": "they are",
    "youve": "you have",
    "theyve": "they have",
}
# Words after which "'s" means "is" rather than a possessive.
_S_IS = frozenset("it he she that what where who how there here when why which this".split())
_SUFFIXES: dict[str, str] = {
    "n't": " not",
    "'re": " are",
    "'m": " am",
    "'ve": " have",
    "'ll": " will",
    "'d": " would",
}


def fold(text: str) -> str:
    """Lower-case and strip accents: "Café RÉSUMÉ" -> "cafe resume"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _expand(token: str) -> list[str]:
    if "'" not in token:
        bare = _BARE.get(token)
        return bare.split() if bare else [token]
    if token in _IRREGULAR:
        return _IRREGULAR[token].split()
    for suffix, replacement in _SUFFIXES.items():
        if token.endswith(suffix):
            return [token[: -len(suffix)], *replacement.split()]
    head, _, tail = token.partition("'")
    if tail == "s" and head in _S_IS:
        return [head, "is"]
    return [head]  # possessive or stray apostrophe: "mom's" -> "mom"


def words(text: str) -> list[str]:
    """Surface words after folding and contraction expansion (no stemming)."""
    out: list[str] = []
    for token in _TOKEN.findall(fold(text)):
        out.extend(_expand(token))
    return out


_VOWELS = frozenset("aeiouy")


def _has_vowel(s: str) -> bool:
    return any(ch in _VOWELS for ch in s)


def stem(word: str) -> str:
    """A deliberately light English suffix stemmer (plural, -ing, -ed, -ly).

    Over-conflation costs more than it gains on short support questions, so only
    the most regular inflections are removed.
    """
    w = word
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        base = w[: -len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and _has_vowel(base):
            w = base
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # "shipping" -> "shipp" -> "ship"
            break
    if w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]  # "change"/"changing"/"changed" -> "chang"
    return w


def terms(text: str) -> list[str]:
    """Index terms: normalised, contraction-expanded, stemmed words."""
    return [stem(w) for w in words(text)]


def normalize(text: str) -> str:
    """A canonical string form, used for exact and character-level fuzzy comparison."""
    return " ".join(words(text))
