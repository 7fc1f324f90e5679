"""Text normalisation shared by the matcher's index and its queries.

Both sides go through exactly the same steps, so the steps only need to be consistent,
not linguistically perfect: case folding, accent stripping, English contractions (with
or without the apostrophe), punctuation to spaces, then a light suffix stemmer so that
"cards", "carded" and "carding" meet on one index term.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

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


class Synonyms:
    """Admin-edited synonyms: each variant (a word or a phrase) is rewritten to its
    canonical word, on the index and on every message alike.

    ``Synonyms({"delivery": ["shipping", "shipment"], "sign up": ["register"]})``: a
    variant may span several words ("log in" -> "login"); the longest match wins, and a
    variant also matches its inflections ("shipments" -> "delivery").
    """

    def __init__(self, mapping: Mapping[str, Sequence[str]] | None = None) -> None:
        self._rules: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._stemmed: dict[tuple[str, ...], tuple[str, ...]] = {}
        for canonical, variants in (mapping or {}).items():
            target = tuple(_plain_words(canonical))
            if not target:
                continue
            for variant in variants:
                key = tuple(_plain_words(variant))
                if key and key != target:
                    self._rules[key] = target
                    self._stemmed.setdefault(tuple(stem(w) for w in key), target)
        self._longest = max((len(k) for k in self._rules), default=0)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def apply(self, ws: list[str]) -> list[str]:
        if not self._rules:
            return ws
        out: list[str] = []
        i = 0
        while i < len(ws):
            for n in range(min(self._longest, len(ws) - i), 0, -1):
                span = tuple(ws[i : i + n])
                target = self._rules.get(span) or self._stemmed.get(tuple(map(stem, span)))
                if target is not None:
                    out.extend(target)
                    i += n
                    break
            else:
                out.append(ws[i])
                i += 1
        return out


def _plain_words(text: str) -> list[str]:
    out: list[str] = []
    for token in _TOKEN.findall(fold(text)):
        out.extend(_expand(token))
    return out


def words(text: str, synonyms: Synonyms | None = None) -> list[str]:
    """Surface words after folding, contraction expansion and synonyms (no stemming)."""
    out = _plain_words(text)
    return synonyms.apply(out) if synonyms else out


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


def terms(text: str, synonyms: Synonyms | None = None) -> list[str]:
    """Index terms: normalised, contraction-expanded, stemmed words."""
    return [stem(w) for w in words(text, synonyms)]


def normalize(text: str, synonyms: Synonyms | None = None) -> str:
    """A canonical string form, used for exact and character-level fuzzy comparison."""
    return " ".join(words(text, synonyms))


def char_ngrams(ws: Sequence[str], lo: int = 3, hi: int = 5) -> list[str]:
    """Character n-grams inside each space-padded word (" card " -> " ca", "car", ...):
    they match across inflections, compounds and typos without a dictionary."""
    out: list[str] = []
    for word in ws:
        padded = f" {word} "
        size = len(padded)
        for n in range(lo, hi + 1):
            if size <= n:
                out.append(padded)
                break
            out.extend(padded[i : i + n] for i in range(size - n + 1))
    return out
