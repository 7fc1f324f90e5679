"""Fuzzy FAQ matcher: which published article answers a customer's message, and how sure are we.

How a message is scored (everything except the last step is precomputed in ``build``):

1. Normalise and stem (``knowledge.normalize``); a word the index has never seen is
   typo-corrected against the index vocabulary (rapidfuzz OSA distance, candidates found
   through a delete-neighbourhood table, so no scan of the vocabulary).
2. Weight words by an IDF computed over *articles*: a word that appears in many articles
   ("how", "do", "i") says little about which one is meant. Unknown words keep the highest
   weight, so a message about something the KB does not cover scores low.
3. Cosine similarity against every phrasing through an inverted index (a numpy
   ``bincount`` over the posting lists of the message's words), and against each
   article's centroid, so an article is judged on all its phrasings, not only one string.
4. The few best articles are re-scored with rapidfuzz on their best phrasing (word order,
   near-verbatim wording), and ranked by score, then title, then id: never by KB order.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from hub.model import Article, ArticleStatus
from knowledge.normalize import stem, words

Outcome = Literal["answer", "suggest", "fallback"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_MATCHES = 3
MARGIN_SLOPE = 0.5  # see Thresholds
MIN_LEAD = 2.0  # a (near) tie is ambiguity: suggest, never answer
VAGUE_INFO = 1.2  # below this many "rare words' worth" of known words, only suggest
_RERANK = 8  # articles re-scored with rapidfuzz after the index pass
_TYPO_MIN_LEN = 4  # shorter words are too ambiguous to correct
_TYPO_CACHE_SIZE = 4096

# Blend of the three similarities (each in 0..1) into the final score.
W_PHRASING = 0.45  # best single phrasing (cosine)
W_CENTROID = 0.35  # the article as a whole (cosine with its centroid)
W_FUZZ = 0.20  # rapidfuzz token ratio with the best phrasing (word order, spelling)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Decision thresholds on the 0..100 score, chosen on CLINC150 val/oos_val only.

    A direct answer needs ``score >= answer`` and a lead over the runner-up article of
    ``margin`` points at the answer threshold, shrinking by half a point per point of
    score above it (never below 2 points): a clear winner may have a close second, a
    borderline one may not.
    """

    answer: float = 44.0
    suggest: float = 32.0
    margin: float = 23.0


@dataclass(frozen=True, slots=True)
class ScoredArticle:
    article_id: int
    title: str
    score: float  # 0..100, rounded to 1 decimal


@dataclass(frozen=True, slots=True)
class MatchResult:
    outcome: Outcome
    matches: tuple[ScoredArticle, ...]  # best first, at most 3

    @property
    def best(self) -> ScoredArticle | None:
        return self.matches[0] if self.matches else None


BIGRAM_WEIGHT = 0.4


def _with_bigrams(stems: list[str]) -> list[str]:
    return stems + [f"{a} {b}" for a, b in itertools.pairwise(stems)]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True, slots=True)
class _Postings:
    """One term's posting list: document ids and the term's weight in each."""

    ids: IntArray
    weights: FloatArray


def _tf_vector(term_ids: Sequence[int], idf: FloatArray) -> dict[int, float]:
    vec = {t: (1.0 + math.log(c)) * float(idf[t]) for t, c in Counter(term_ids).items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {t: v / norm for t, v in vec.items()}


def _postings(vectors: Sequence[dict[int, float]], n_terms: int) -> list[_Postings]:
    ids: list[list[int]] = [[] for _ in range(n_terms)]
    weights: list[list[float]] = [[] for _ in range(n_terms)]
    for doc, vec in enumerate(vectors):
        for t, w in vec.items():
            ids[t].append(doc)
            weights[t].append(w)
    return [
        _Postings(np.asarray(i, dtype=np.int64), np.asarray(w, dtype=np.float64))
        for i, w in zip(ids, weights, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class _Index:
    """Everything ``build`` precomputes; articles are stored sorted by (title, id)."""

    article_ids: tuple[int, ...]
    titles: tuple[str, ...]
    phrasings: tuple[str, ...]  # normalised text, grouped by article
    starts: IntArray  # index of each article's first phrasing
    vocab: dict[str, int]  # stem or "stem stem" bigram -> term id
    surface_df: dict[str, int]  # unstemmed word -> number of phrasings using it
    idf: FloatArray
    unknown_idf: float
    phrasing_postings: list[_Postings]
    centroid_postings: list[_Postings]
    typo_table: dict[str, tuple[str, ...]]  # word or word-minus-one-letter -> words


def _group(articles: Iterable[Article]) -> tuple[list[Article], list[list[list[str]]]]:
    """Published articles sorted by (title, id), each with its non-empty phrasings' words."""
    kept: list[Article] = []
    grouped: list[list[list[str]]] = []
    published = (a for a in articles if a.status == ArticleStatus.PUBLISHED)
    for art in sorted(published, key=lambda a: (a.title.casefold(), a.title, a.id)):
        phrasing_words = [ws for q in dict.fromkeys(art.questions) if (ws := words(q))]
        if phrasing_words:
            kept.append(art)
            grouped.append(phrasing_words)
    return kept, grouped


def _typo_table(surface: Iterable[str]) -> dict[str, tuple[str, ...]]:
    table: dict[str, set[str]] = defaultdict(set)
    for word in surface:
        if len(word) >= _TYPO_MIN_LEN and not word.isdigit():
            for key in {word} | _deletes(word):
                table[key].add(word)
    return {key: tuple(sorted(ws)) for key, ws in table.items()}


def _build_index(articles: Iterable[Article]) -> _Index:
    kept, grouped = _group(articles)
    vocab: dict[str, int] = {}
    surface_df: Counter[str] = Counter()
    article_terms: list[list[list[int]]] = []
    for phrasing_words in grouped:
        article_terms.append([])
        for ws in phrasing_words:
            surface_df.update(set(ws))
            terms = _with_bigrams([stem(w) for w in ws])
            article_terms[-1].append([vocab.setdefault(t, len(vocab)) for t in terms])

    n_articles = len(kept)
    article_df = np.zeros(len(vocab), dtype=np.float64)
    for phrasing_terms in article_terms:
        article_df[list(set(itertools.chain.from_iterable(phrasing_terms)))] += 1
    idf = np.log((1.0 + n_articles) / (1.0 + article_df)) + 1.0
    idf[[i for term, i in vocab.items() if " " in term]] *= BIGRAM_WEIGHT

    p_vecs: list[dict[int, float]] = []
    centroids: list[dict[int, float]] = []
    for phrasing_terms in article_terms:
        vecs = [_tf_vector(ts, idf) for ts in phrasing_terms]
        acc: dict[int, float] = defaultdict(float)
        for vec in vecs:
            for t, weight in vec.items():
                acc[t] += weight
        norm = math.sqrt(sum(v * v for v in acc.values())) or 1.0
        centroids.append({t: v / norm for t, v in acc.items()})
        p_vecs.extend(vecs)

    sizes = [len(p) for p in grouped]
    return _Index(
        article_ids=tuple(a.id for a in kept),
        titles=tuple(a.title for a in kept),
        phrasings=tuple(" ".join(ws) for p in grouped for ws in p),
        starts=np.cumsum([0, *sizes[:-1]], dtype=np.int64),
        vocab=vocab,
        surface_df=dict(surface_df),
        idf=idf,
        unknown_idf=math.log(1.0 + n_articles) + 1.0,
        phrasing_postings=_postings(p_vecs, len(vocab)),
        centroid_postings=_postings(centroids, len(vocab)),
        typo_table=_typo_table(surface_df),
    )


class Matcher:
    """An immutable index over the published articles; ``match`` is cheap and thread-safe.

    Build it once per knowledge-base version (``Matcher.build``) and swap the instance when
    articles change; never per message.
    """

    def __init__(self, index: _Index, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._ix = index
        self._ends = np.append(index.starts[1:], len(index.phrasings))
        # word -> correction; bounded, and a lost race only recomputes the same value.
        self._typo_cache: dict[str, tuple[str, float] | None] = {}

    @classmethod
    def build(cls, articles: Iterable[Article], thresholds: Thresholds | None = None) -> Matcher:
        """Index the published articles (drafts and question-less articles are skipped)."""
        return cls(_build_index(articles), thresholds or Thresholds())

    def __len__(self) -> int:
        return len(self._ix.phrasings)

    def _correct(self, word: str) -> tuple[str, float] | None:
        """Map an unseen word to (index stem, confidence), or None if nothing is close."""
        if word in self._typo_cache:
            return self._typo_cache[word]
        found: tuple[str, float] | None = None
        if len(word) >= _TYPO_MIN_LEN and not word.isdigit():
            max_dist = 1 if len(word) <= 5 else 2
            table = self._ix.typo_table
            cands = set(table.get(word, ())).union(*(table.get(d, ()) for d in _deletes(word)))
            best: tuple[int, int, str] | None = None
            for cand in cands:
                dist = OSA.distance(word, cand, score_cutoff=max_dist)
                key = (dist, -self._ix.surface_df.get(cand, 0), cand)
                if dist <= max_dist and (best is None or key < best):
                    best = key
            if best is not None:
                found = (stem(best[2]), 1.0 - 0.2 * best[0])
        if len(self._typo_cache) < _TYPO_CACHE_SIZE:
            self._typo_cache[word] = found
        return found

    def _query_vector(self, ws: list[str]) -> tuple[dict[int, float], float, float]:
        """Weighted query terms, the query norm (unknown words count in it) and the
        information carried by known words, in units of a never-seen word's weight."""
        ix = self._ix
        stems: list[str] = []
        conf: dict[str, float] = {}
        for w in ws:
            st, c = stem(w), 1.0
            if w not in ix.surface_df and st not in ix.vocab:
                hit = self._correct(w)
                if hit is not None:
                    st, c = hit
            stems.append(st)
            conf[st] = min(conf.get(st, 1.0), c)
        known = {t for st in stems if (t := ix.vocab.get(st)) is not None}
        info = sum(float(ix.idf[t]) for t in known) / ix.unknown_idf
        vec: dict[int, float] = {}
        sq = 0.0
        for term, n in Counter(_with_bigrams(stems)).items():
            tf = 1.0 + math.log(n)
            t = ix.vocab.get(term)
            if t is None:
                sq += (tf * ix.unknown_idf * (BIGRAM_WEIGHT if " " in term else 1.0)) ** 2
            else:
                vec[t] = tf * float(ix.idf[t]) * conf.get(term, 1.0)
                sq += vec[t] ** 2
        return vec, math.sqrt(sq), info

    def _rank(self, ws: list[str]) -> tuple[list[tuple[float, int]], float]:
        """The best candidates' scores in 0..1 as (score, article index), best first,
        and the query's information (see ``_query_vector``)."""
        ix = self._ix
        vec, qnorm, info = self._query_vector(ws)
        if not vec:
            return [], info
        n_a = len(ix.article_ids)
        pp, cp = ix.phrasing_postings, ix.centroid_postings
        p_ids = np.concatenate([pp[t].ids for t in vec])
        p_w = np.concatenate([pp[t].weights * v for t, v in vec.items()])
        p_sim = np.bincount(p_ids, weights=p_w, minlength=len(ix.phrasings)) / qnorm
        best_p = np.maximum.reduceat(p_sim, ix.starts)
        c_ids = np.concatenate([cp[t].ids for t in vec])
        c_w = np.concatenate([cp[t].weights * v for t, v in vec.items()])
        c_sim = np.bincount(c_ids, weights=c_w, minlength=n_a) / qnorm
        base = W_PHRASING * best_p + W_CENTROID * c_sim
        k = min(_RERANK, n_a)
        top = np.argpartition(-base, k - 1)[:k] if k < n_a else np.arange(n_a)
        query = " ".join(ws)
        out: list[tuple[float, int]] = []
        for a in top.tolist():
            if base[a] <= 0.0:
                continue
            start, end = int(ix.starts[a]), int(self._ends[a])
            best_phrasing = ix.phrasings[start + int(np.argmax(p_sim[start:end]))]
            fz = fuzz.token_sort_ratio(query, best_phrasing) / 100.0
            out.append((float(base[a]) + W_FUZZ * fz, a))
        # Ties (at the displayed precision) go by title, then id; never by KB order.
        out.sort(key=lambda sa: (-round(sa[0] * 100, 1), ix.titles[sa[1]], ix.article_ids[sa[1]]))
        return out, info

    def match(self, text: str) -> MatchResult:
        """The decision for one customer message and the (at most 3) best articles."""
        ws = words(text)
        ranked, info = self._rank(ws)
        matches = tuple(
            ScoredArticle(self._ix.article_ids[a], self._ix.titles[a], round(min(s, 1.0) * 100, 1))
            for s, a in ranked[:MAX_MATCHES]
        )
        return MatchResult(self._decide(matches, info), matches)

    def _decide(self, matches: tuple[ScoredArticle, ...], information: float) -> Outcome:
        th = self.thresholds
        if not matches or matches[0].score < th.suggest:
            return "fallback"
        top = matches[0].score
        lead = top - (matches[1].score if len(matches) > 1 else 0.0)
        needed = max(MIN_LEAD, th.margin - MARGIN_SLOPE * (top - th.answer))
        if top >= th.answer and lead >= needed and information >= VAGUE_INFO:
            return "answer"
        return "suggest"
