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
from knowledge.normalize import normalize, stem, words

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
    return stems + [f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False)]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True, slots=True)
class _Postings:
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


class Matcher:
    """An immutable index over the published articles; ``match`` is cheap and thread-safe."""

    def __init__(
        self,
        *,
        thresholds: Thresholds,
        article_ids: tuple[int, ...],
        titles: tuple[str, ...],
        phrasings: tuple[str, ...],
        phrasing_article: IntArray,
        starts: IntArray,
        vocab: dict[str, int],
        surface: dict[str, int],
        idf: FloatArray,
        unknown_idf: float,
        phrasing_postings: list[_Postings],
        centroid_postings: list[_Postings],
        typo_table: dict[str, tuple[str, ...]],
        surface_df: dict[str, int],
    ) -> None:
        self.thresholds = thresholds
        self._article_ids = article_ids
        self._titles = titles
        self._phrasings = phrasings
        self._phrasing_article = phrasing_article
        self._starts = starts
        self._vocab = vocab
        self._surface = surface
        self._idf = idf
        self._unknown_idf = unknown_idf
        self._pp = phrasing_postings
        self._cp = centroid_postings
        self._typo_table = typo_table
        self._surface_df = surface_df
        self._typo_cache: dict[str, tuple[str, float] | None] = {}

    # ------------------------------------------------------------------ build

    @classmethod
    def build(cls, articles: Iterable[Article], thresholds: Thresholds | None = None) -> Matcher:
        """Index the published articles (drafts and question-less articles are skipped)."""
        kept = sorted(
            (a for a in articles if a.status == ArticleStatus.PUBLISHED),
            key=lambda a: (a.title.casefold(), a.id),
        )
        article_ids: list[int] = []
        titles: list[str] = []
        phrasings: list[str] = []
        phrasing_words: list[list[str]] = []
        phrasing_article: list[int] = []
        starts: list[int] = []
        for art in kept:
            texts = [q for q in dict.fromkeys(q.strip() for q in art.questions) if q]
            toks = [words(q) for q in texts]
            pairs = [(q, w) for q, w in zip(texts, toks, strict=True) if w]
            if not pairs:
                continue
            starts.append(len(phrasings))
            for q, w in pairs:
                phrasings.append(normalize(q))
                phrasing_words.append(w)
                phrasing_article.append(len(article_ids))
            article_ids.append(art.id)
            titles.append(art.title)

        vocab: dict[str, int] = {}
        surface: dict[str, int] = {}
        phrasing_terms: list[list[int]] = []
        for ws in phrasing_words:
            stems = [stem(w) for w in ws]
            for w, st in zip(ws, stems, strict=True):
                surface[w] = vocab.setdefault(st, len(vocab))
            phrasing_terms.append([vocab.setdefault(t, len(vocab)) for t in _with_bigrams(stems)])

        n_articles = len(article_ids)
        article_df = np.zeros(len(vocab), dtype=np.float64)
        for a in range(n_articles):
            end = starts[a + 1] if a + 1 < n_articles else len(phrasings)
            for t in set().union(*(phrasing_terms[p] for p in range(starts[a], end))):
                article_df[t] += 1
        idf = np.log((1.0 + n_articles) / (1.0 + article_df)) + 1.0
        idf[[i for t, i in vocab.items() if " " in t]] *= BIGRAM_WEIGHT
        unknown_idf = math.log(1.0 + n_articles) + 1.0

        p_vecs = [_tf_vector(ts, idf) for ts in phrasing_terms]
        centroids: list[dict[int, float]] = []
        for a in range(n_articles):
            end = starts[a + 1] if a + 1 < n_articles else len(phrasings)
            acc: dict[int, float] = defaultdict(float)
            for p in range(starts[a], end):
                for t, w in p_vecs[p].items():
                    acc[t] += w
            norm = math.sqrt(sum(v * v for v in acc.values())) or 1.0
            centroids.append({t: v / norm for t, v in acc.items()})

        surface_df: Counter[str] = Counter()
        for ws in phrasing_words:
            surface_df.update(set(ws))
        table: dict[str, set[str]] = defaultdict(set)
        for w in surface:
            if len(w) >= _TYPO_MIN_LEN and not w.isdigit():
                table[w].add(w)
                for d in _deletes(w):
                    table[d].add(w)

        return cls(
            thresholds=thresholds or Thresholds(),
            article_ids=tuple(article_ids),
            titles=tuple(titles),
            phrasings=tuple(phrasings),
            phrasing_article=np.asarray(phrasing_article, dtype=np.int64),
            starts=np.asarray(starts, dtype=np.int64),
            vocab=vocab,
            surface=surface,
            idf=idf,
            unknown_idf=unknown_idf,
            phrasing_postings=_postings(p_vecs, len(vocab)),
            centroid_postings=_postings(centroids, len(vocab)),
            typo_table={k: tuple(sorted(v)) for k, v in table.items()},
            surface_df=dict(surface_df),
        )

    def __len__(self) -> int:
        return len(self._phrasings)

    # ------------------------------------------------------------------ query

    def _correct(self, word: str) -> tuple[str, float] | None:
        """Map an unseen word to (index stem, confidence), or None if nothing is close."""
        if word in self._typo_cache:
            return self._typo_cache[word]
        found: tuple[int, float] | None = None
        if len(word) >= _TYPO_MIN_LEN and not word.isdigit():
            max_dist = 1 if len(word) <= 5 else 2
            cands: set[str] = set(self._typo_table.get(word, ()))
            for d in _deletes(word):
                cands.update(self._typo_table.get(d, ()))
            best: tuple[int, int, str] | None = None
            for c in cands:
                dist = OSA.distance(word, c, score_cutoff=max_dist)
                if dist <= max_dist:
                    key = (dist, -self._surface_df.get(c, 0), c)
                    if best is None or key < best:
                        best = key
            if best is not None:
                found = (stem(best[2]), 1.0 - 0.2 * best[0])
        if len(self._typo_cache) < _TYPO_CACHE_SIZE:
            self._typo_cache[word] = found
        return found

    def _query_vector(self, ws: list[str]) -> tuple[dict[int, float], float, float]:
        """Weighted query terms, the query norm (unknown words count in it) and the
        information carried by known words, in units of a never-seen word's weight."""
        stems: list[str] = []
        conf: dict[str, float] = {}
        for w in ws:
            st = stem(w)
            c = 1.0
            if w not in self._surface and st not in self._vocab:
                hit = self._correct(w)
                if hit is not None:
                    st, c = hit
            stems.append(st)
            conf[st] = min(conf.get(st, 1.0), c)
        known = {self._vocab.get(st) for st in stems} - {None}
        info = sum(float(self._idf[t]) for t in known if t is not None) / self._unknown_idf
        vec: dict[int, float] = {}
        sq = 0.0
        for term, n in Counter(_with_bigrams(stems)).items():
            t = self._vocab.get(term)
            tf = 1.0 + math.log(n)
            if t is None:
                sq += (tf * self._unknown_idf * (BIGRAM_WEIGHT if " " in term else 1.0)) ** 2
            else:
                v = tf * float(self._idf[t]) * conf.get(term, 1.0)
                vec[t] = v
                sq += v * v
        return vec, math.sqrt(sq), info

    def _rank(self, ws: list[str]) -> tuple[list[tuple[float, int]], float]:
        """The best candidates' scores in 0..1 as (score, article index), best first,
        and the query's information (see ``_query_vector``)."""
        vec, qnorm, info = self._query_vector(ws)
        if not vec:
            return [], info
        n_p, n_a = len(self._phrasings), len(self._article_ids)
        p_ids = np.concatenate([self._pp[t].ids for t in vec])
        p_w = np.concatenate([self._pp[t].weights * v for t, v in vec.items()])
        p_sim = np.bincount(p_ids, weights=p_w, minlength=n_p) / qnorm
        best_p = np.maximum.reduceat(p_sim, self._starts)
        c_ids = np.concatenate([self._cp[t].ids for t in vec])
        c_w = np.concatenate([self._cp[t].weights * v for t, v in vec.items()])
        c_sim = np.bincount(c_ids, weights=c_w, minlength=n_a) / qnorm
        base = W_PHRASING * best_p + W_CENTROID * c_sim
        k = min(_RERANK, n_a)
        top = np.argpartition(-base, k - 1)[:k] if k < n_a else np.arange(n_a)
        query = " ".join(ws)
        out: list[tuple[float, int]] = []
        ends = np.append(self._starts[1:], n_p)
        for a in top.tolist():
            if base[a] <= 0.0:
                continue
            s, e = int(self._starts[a]), int(ends[a])
            p = s + int(np.argmax(p_sim[s:e]))
            fz = fuzz.token_sort_ratio(query, self._phrasings[p]) / 100.0
            score = (
                W_PHRASING * float(best_p[a]) + W_CENTROID * float(c_sim[a]) + W_FUZZ * fz
            )
            out.append((score, a))
        # Ties (at the displayed precision) go by title, then id; never by KB order.
        out.sort(key=lambda sa: (-round(sa[0] * 100, 1), self._titles[sa[1]], self._article_ids[sa[1]]))
        return out, info

    def match(self, text: str) -> MatchResult:
        ws = words(text)
        ranked, info = self._rank(ws)
        matches = tuple(
            ScoredArticle(self._article_ids[a], self._titles[a], round(min(s, 1.0) * 100, 1))
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
