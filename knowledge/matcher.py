"""Fuzzy FAQ matcher: which published article answers a customer's message, and how sure are we.

How a message is scored (everything except the per-message sums is precomputed in ``build``):

1. Normalise (``knowledge.normalize``: case, accents, contractions, admin synonyms) and
   stem; a word the index has never seen is typo-corrected against the index vocabulary
   (rapidfuzz OSA distance, candidates found through a delete-neighbourhood table, so no
   scan of the vocabulary).
2. Three views of the message, each in 0..1, blended into the score:

   * **phrasings** — word TF-IDF (stems and word pairs, IDF over *articles*, so "how do
     i" says little) cosine against every phrasing through an inverted index (a numpy
     ``bincount`` over posting lists); an article gets the mean of its best three
     phrasings, so it is judged on several of its phrasings, not one lucky string;
   * **characters** — character 3–5-gram TF-IDF (sublinear tf) cosine against each
     article's centroid (Rocchio): robust to inflections, compounds and typos;
   * **learned** — a multinomial logistic regression over word stems, trained when the
     index is built (``knowledge.learn``): it learns which words tell similar articles
     apart, which IDF alone cannot.

3. Articles are ranked by score, then title, then id: never by knowledge-base order. A
   direct answer needs a high score *and* a clear lead over the runner-up (``Thresholds``).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA

from hub.model import Article, ArticleStatus
from knowledge import learn
from knowledge.normalize import Synonyms, char_ngrams, stem, words

Outcome = Literal["answer", "suggest", "fallback"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_MATCHES = 3
MARGIN_SLOPE = 0.5  # see Thresholds
MIN_LEAD = 2.0  # a (near) tie is ambiguity: suggest, never answer
VAGUE_INFO = 1.2  # below this many "rare words' worth" of known words, only suggest
TOP_PHRASINGS = 3  # an article's phrasing score is the mean of its best this many
BIGRAM_WEIGHT = 0.4
HARD_NEGATIVES = 15  # articles each training phrasing is contrasted with
_TYPO_MIN_LEN = 4  # shorter words are too ambiguous to correct
_TYPO_CACHE_SIZE = 4096

# Blend of the three views (each in 0..1) into the final score; chosen on CLINC150 val.
W_PHRASING = 0.22
W_CHARS = 0.35
W_LEARNED = 0.43
BLEND = np.array([W_PHRASING, W_CHARS, W_LEARNED])


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Decision thresholds on the 0..100 score.

    A direct answer needs ``score >= answer`` and a lead over the runner-up article of
    ``margin`` points at the answer threshold, shrinking by half a point per point of
    score above it (never below 2 points): a clear winner may have a close second, a
    borderline one may not. Below ``suggest`` the bot falls back to a person.

    ``answer`` and ``margin`` were chosen by cross-validation over disjoint halves of
    CLINC150's intents (``bench/kb_thresholds_cv.py``): tuned on one half's val/oos_val
    queries with a knowledge base of that half, at 10 and 100 phrasings per article, and
    checked on the other half's test/oos_test — intents never seen while tuning — so they
    hold on a knowledge base they were not fitted to (README, "Knowledge-base quality").
    """

    answer: float = 36.0
    suggest: float = 15.0
    margin: float = 25.0


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


def _with_bigrams(stems: list[str]) -> list[str]:
    return stems + [f"{a} {b}" for a, b in itertools.pairwise(stems)]


def _sum_of_best(cells: FloatArray, k: int) -> FloatArray:
    """Each row's sum of its ``k`` largest cells (``cells`` is overwritten). k argmax
    passes beat ``np.partition`` along the rows for the small k used here."""
    rows = np.arange(cells.shape[0])
    total = np.zeros(cells.shape[0])
    for _ in range(min(k, cells.shape[1])):
        best = cells.argmax(axis=1)
        total += cells[rows, best]
        cells[rows, best] = -np.inf
    return total


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True, slots=True)
class _Sparse:
    """Row-normalised TF-IDF vectors, stored both by row (CSR) and by term (postings)."""

    rows: IntArray  # per non-zero, sorted by row
    terms: IntArray
    vals: FloatArray
    n_rows: int


def _tfidf(docs: Sequence[Sequence[int]], idf: FloatArray) -> _Sparse:
    """Sublinear tf x idf, each row scaled to unit length."""
    n_terms = len(idf)
    doc = np.repeat(np.arange(len(docs), dtype=np.int64), [len(d) for d in docs])
    term = np.fromiter(itertools.chain.from_iterable(docs), dtype=np.int64, count=len(doc))
    return _normalised(doc * n_terms + term, np.ones(len(doc)), n_terms, len(docs), idf, True)


def _normalised(
    keys: IntArray,
    weights: FloatArray,
    n_terms: int,
    n_rows: int,
    idf: FloatArray | None,
    log_tf: bool,
) -> _Sparse:
    uniq, inverse = np.unique(keys, return_inverse=True)
    vals: FloatArray = np.bincount(inverse, weights=weights).astype(np.float64)
    rows, terms = uniq // max(n_terms, 1), uniq % max(n_terms, 1)
    if log_tf:
        vals = 1.0 + np.log(vals)
    if idf is not None:
        vals = vals * idf[terms]
    norms = np.sqrt(np.bincount(rows, weights=vals * vals, minlength=n_rows))
    vals = vals / np.where(norms > 0, norms, 1.0)[rows]
    return _Sparse(rows, terms, vals, n_rows)


def _centroids(vecs: _Sparse, owner: IntArray, n: int, n_terms: int) -> _Sparse:
    """Each article's unit-length mean of its phrasing vectors (Rocchio)."""
    return _normalised(owner[vecs.rows] * n_terms + vecs.terms, vecs.vals, n_terms, n, None, False)


@dataclass(frozen=True, slots=True)
class _Postings:
    """For each term, the rows it occurs in and its weight there (CSC layout)."""

    starts: IntArray  # term t's entries are [starts[t], starts[t + 1])
    rows: IntArray
    vals: FloatArray
    size: int

    @classmethod
    def of(cls, vecs: _Sparse, n_terms: int) -> _Postings:
        order = np.argsort(vecs.terms, kind="stable")
        counts = np.bincount(vecs.terms, minlength=n_terms)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(starts, vecs.rows[order], vecs.vals[order], vecs.n_rows)

    def dot(self, query: _Query) -> FloatArray:
        """Every row's dot product with the sparse query vector."""
        lo, hi = self.starts[query.terms], self.starts[query.terms + 1]
        lens = hi - lo
        total = int(lens.sum())
        if total == 0:
            return np.zeros(self.size)
        offsets = np.repeat(lo - (np.cumsum(lens) - lens), lens) + np.arange(total)
        weights = self.vals[offsets] * np.repeat(query.weights, lens)
        out = np.bincount(self.rows[offsets], weights=weights, minlength=self.size)
        return out.astype(np.float64, copy=False)


@dataclass(frozen=True, slots=True)
class _Query:
    """A message in one term space: its known terms' weights, and the norm over all of
    its terms (unknown ones count with the highest weight, so an off-topic message
    scores low)."""

    terms: IntArray
    weights: FloatArray
    norm: float

    def __bool__(self) -> bool:
        return len(self.terms) > 0

    @property
    def known_share(self) -> float:
        """The share of the message's weight that the space knows (0..1)."""
        return math.sqrt(float(self.weights @ self.weights)) / self.norm


@dataclass(frozen=True, slots=True)
class _Space:
    """A TF-IDF term space: vocabulary, IDF and the weight of a never-seen term."""

    vocab: dict[str, int]
    idf: FloatArray
    unknown_idf: float

    @classmethod
    def fit(
        cls, docs: Sequence[Sequence[str]], groups: IntArray | None = None
    ) -> tuple[_Space, list[list[int]]]:
        """The space, with IDF over documents (or over groups of documents: articles),
        and the documents as term ids."""
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in docs]
        n_terms = max(len(vocab), 1)
        keys = groups if groups is not None else np.arange(len(docs), dtype=np.int64)
        owner = np.repeat(keys, [len(d) for d in ids])
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=len(owner))
        pairs = np.unique(owner * n_terms + flat)
        df = np.bincount(pairs % n_terms, minlength=len(vocab)).astype(np.float64)
        n = len(np.unique(keys))
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        return cls(vocab, idf, math.log(1.0 + n) + 1.0), ids

    def vector(self, terms: Sequence[str], scale: Mapping[str, float] | None = None) -> _Query:
        """The message's terms weighted as the index's (sublinear tf x idf), each scaled by
        ``scale`` (a typo correction's confidence)."""
        get = self.vocab.get
        ids: list[int] = []
        tfs: list[float] = []
        unknown_sq = 0.0
        for term, n in Counter(terms).items():
            tf = 1.0 + math.log(n) if n > 1 else 1.0
            if scale:
                tf *= scale.get(term, 1.0)
            t = get(term)
            if t is None:
                unknown_sq += (tf * self.unknown_idf) ** 2
            else:
                ids.append(t)
                tfs.append(tf)
        known = np.asarray(ids, dtype=np.int64)
        weights = np.asarray(tfs) * self.idf[known]
        return _Query(known, weights, math.sqrt(float(weights @ weights) + unknown_sq))


@dataclass(frozen=True, slots=True)
class _Index:
    """Everything ``build`` precomputes; articles are stored sorted by (title, id)."""

    article_ids: tuple[int, ...]
    titles: tuple[str, ...]
    n_phrasings: int
    top_slots: IntArray  # (articles, slots): phrasing ids, padded with n_phrasings
    top_div: FloatArray  # min(TOP_PHRASINGS, phrasings of the article)
    words: _Space  # stems and bigrams, IDF over articles
    phrasing_postings: _Postings  # against each phrasing
    chars: _Space  # character n-grams, IDF over phrasings
    char_postings: _Postings  # against article centroids
    stems: _Space  # unigram stems, IDF over phrasings (the learned model's features)
    weights: npt.NDArray[np.float32]  # (stems, articles)
    surface_df: dict[str, int]  # unstemmed word -> number of phrasings using it
    typo_table: dict[str, tuple[str, ...]]  # word or word-minus-one-letter -> words
    synonyms: Synonyms


def _group(
    articles: Iterable[Article], synonyms: Synonyms
) -> tuple[list[Article], list[list[list[str]]]]:
    """Published articles sorted by (title, id), each with its non-empty phrasings' words."""
    kept: list[Article] = []
    grouped: list[list[list[str]]] = []
    published = (a for a in articles if a.status == ArticleStatus.PUBLISHED)
    for art in sorted(published, key=lambda a: (a.title.casefold(), a.title, a.id)):
        phrasing_words = [ws for q in dict.fromkeys(art.questions) if (ws := words(q, synonyms))]
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


def _top_slots(sizes: list[int]) -> tuple[IntArray, FloatArray]:
    n_phr = sum(sizes)
    width = max([TOP_PHRASINGS, *sizes])
    slots = np.full((len(sizes), width), n_phr, dtype=np.int64)
    start = 0
    for a, size in enumerate(sizes):
        slots[a, :size] = np.arange(start, start + size)
        start += size
    return slots, np.minimum(np.asarray(sizes, dtype=np.float64), TOP_PHRASINGS)


def _train(vecs: _Sparse, owner: IntArray, n_feats: int, n_art: int) -> npt.NDArray[np.float32]:
    """The learned view's weights; each phrasing's hard negatives are the articles whose
    centroid is closest to it."""
    if n_art < 2 or n_feats == 0:
        return np.zeros((n_feats, n_art), dtype=np.float32)
    cen = _centroids(vecs, owner, n_art, n_feats)
    dense = np.zeros((n_feats, n_art))
    dense[cen.terms, cen.rows] = cen.vals
    n_rows = vecs.n_rows
    m = min(HARD_NEGATIVES + 1, n_art)
    cands = np.empty((n_rows, m), dtype=np.int64)
    cands[:, 0] = owner
    row_starts = np.searchsorted(vecs.rows, np.arange(n_rows + 1))
    chunk = max(1, 1_000_000 // n_art)
    for lo in range(0, n_rows, chunk):
        hi = min(lo + chunk, n_rows)
        a, b = row_starts[lo], row_starts[hi]
        sims = np.add.reduceat(
            dense[vecs.terms[a:b]] * vecs.vals[a:b, None], row_starts[lo:hi] - a, axis=0
        )
        sims[np.arange(hi - lo), owner[lo:hi]] = -np.inf  # the own article is column 0
        if m - 1 < n_art - 1:
            cands[lo:hi, 1:] = np.argpartition(-sims, m - 2, axis=1)[:, : m - 1]
        else:
            cands[lo:hi, 1:] = np.argsort(-sims, axis=1)[:, : m - 1]
    w = learn.train(vecs.rows, vecs.terms, vecs.vals, owner, n_feats, n_art, cands)
    return w.astype(np.float32)


def _build_index(articles: Iterable[Article], synonyms: Synonyms) -> _Index:
    kept, grouped = _group(articles, synonyms)
    owner = np.asarray([a for a, phr in enumerate(grouped) for _ in phr], dtype=np.int64)
    flat = [ws for phr in grouped for ws in phr]
    n_art = len(kept)
    surface_df: Counter[str] = Counter()
    for ws in flat:
        surface_df.update(set(ws))

    stemmed = [[stem(w) for w in ws] for ws in flat]
    word_space, word_ids = _Space.fit([_with_bigrams(s) for s in stemmed], owner)
    word_space.idf[[i for term, i in word_space.vocab.items() if " " in term]] *= BIGRAM_WEIGHT
    n_words = len(word_space.vocab)

    char_space, char_ids = _Space.fit([char_ngrams(ws) for ws in flat])
    n_chars = len(char_space.vocab)
    char_vecs = _tfidf(char_ids, char_space.idf)

    stem_space, stem_ids = _Space.fit(stemmed)
    n_stems = len(stem_space.vocab)

    slots, div = _top_slots([len(p) for p in grouped])
    return _Index(
        article_ids=tuple(a.id for a in kept),
        titles=tuple(a.title for a in kept),
        n_phrasings=len(flat),
        top_slots=slots,
        top_div=div,
        words=word_space,
        phrasing_postings=_Postings.of(_tfidf(word_ids, word_space.idf), n_words),
        chars=char_space,
        char_postings=_Postings.of(_centroids(char_vecs, owner, n_art, n_chars), n_chars),
        stems=stem_space,
        weights=_train(_tfidf(stem_ids, stem_space.idf), owner, n_stems, n_art),
        surface_df=dict(surface_df),
        typo_table=_typo_table(surface_df),
        synonyms=synonyms,
    )


class Matcher:
    """An immutable index over the published articles; ``match`` is cheap and thread-safe.

    Build it once per knowledge-base version (``Matcher.build``) and swap the instance when
    articles change; never per message.
    """

    def __init__(self, index: _Index, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._ix = index
        # word -> correction; bounded, and a lost race only recomputes the same value.
        self._typo_cache: dict[str, tuple[str, float] | None] = {}

    @classmethod
    def build(
        cls,
        articles: Iterable[Article],
        thresholds: Thresholds | None = None,
        synonyms: Mapping[str, Sequence[str]] | None = None,
    ) -> Matcher:
        """Index the published articles (drafts and question-less articles are skipped).

        ``synonyms`` maps a canonical word to its variants, e.g. ``{"delivery":
        ["shipping", "shipment"]}``; they are rewritten alike in articles and messages.
        """
        return cls(_build_index(articles, Synonyms(synonyms)), thresholds or Thresholds())

    def __len__(self) -> int:
        return self._ix.n_phrasings

    def _correct(self, word: str) -> tuple[str, float] | None:
        """Map an unseen word to (index word, confidence), or None if nothing is close."""
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
                found = (best[2], 1.0 - 0.2 * best[0])
        if len(self._typo_cache) < _TYPO_CACHE_SIZE:
            self._typo_cache[word] = found
        return found

    def _scores(self, ws: list[str]) -> tuple[FloatArray, float]:
        """Every article's score in 0..1 and the information carried by the message's
        known words, in units of a never-seen word's weight."""
        views, info = self._views(ws)
        return BLEND @ views, info

    def _views(self, ws: list[str]) -> tuple[FloatArray, float]:
        """The three views' scores (rows: phrasings, characters, learned), each in 0..1,
        and the message's information (see ``_scores``)."""
        ix = self._ix
        n_art = len(ix.article_ids)
        stems: list[str] = []
        conf: dict[str, float] = {}
        for w in ws:
            st, c = stem(w), 1.0
            if w not in ix.surface_df and st not in ix.words.vocab:
                hit = self._correct(w)
                if hit is not None:
                    w, c = hit[0], hit[1]
                    st = stem(w)
            stems.append(st)
            conf[st] = min(conf.get(st, 1.0), c)
        known = {t for st in stems if (t := ix.words.vocab.get(st)) is not None}
        info = sum(float(ix.words.idf[t]) for t in known) / ix.words.unknown_idf
        views = np.zeros((3, n_art))

        query = ix.words.vector(_with_bigrams(stems), conf)
        if query:
            p_sim = np.append(ix.phrasing_postings.dot(query) / query.norm, 0.0)
            views[0] = _sum_of_best(p_sim[ix.top_slots], TOP_PHRASINGS) / ix.top_div

        query = ix.chars.vector(char_ngrams(ws))
        if query:
            views[1] = ix.char_postings.dot(query) / query.norm

        query = ix.stems.vector(stems, conf)
        if query and n_art > 1:
            logits = query.weights @ ix.weights[query.terms].astype(np.float64) / query.norm
            probs = np.exp(logits - logits.max())
            # the model only knows some of the words: trust it in proportion
            views[2] = query.known_share * probs / probs.sum()
        elif query:
            views[2] = query.known_share
        return views, info

    def match(self, text: str) -> MatchResult:
        """The decision for one customer message and the (at most 3) best articles."""
        ix = self._ix
        ws = words(text, ix.synonyms)
        if not ws or not ix.article_ids:
            return MatchResult("fallback", ())
        score, info = self._scores(ws)
        shown = np.round(np.minimum(score, 1.0) * 100, 1)
        k = min(MAX_MATCHES + 2, len(shown))
        top = np.argpartition(-shown, k - 1)[:k] if k < len(shown) else np.arange(len(shown))
        ranked = sorted(
            (a for a in top.tolist() if shown[a] > 0),
            key=lambda a: (-shown[a], ix.titles[a], ix.article_ids[a]),
        )
        matches = tuple(
            ScoredArticle(ix.article_ids[a], ix.titles[a], float(shown[a]))
            for a in ranked[:MAX_MATCHES]
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
