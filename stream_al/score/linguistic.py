"""Task-aware extra scorers from the text itself: rare terms, script mixing, length extremes.

Each scorer maps a list of texts to scores in [0, 1] (higher: more unusual) and may learn
running statistics from the stream (:meth:`TextScorer.learn_many`), always in bounded memory.
They sit beside the model-based scores of a :class:`~stream_al.score.batch.ScoredBatch`
(``batch.scores[scorer.name]``), so a selector or a report can use them; more can be plugged
in by implementing the two-method protocol and adding a factory to :data:`TEXT_SCORERS`.

>>> scorers = make_text_scorers(["rare_terms", "script_mixing", "length_extremity"])
>>> _ = score_texts(scorers, ["Oil prices rise again", "Stocks fall as oil prices rise"])
>>> scores = score_texts(scorers, ["Oil prices rise", "Team wins the cup"])
>>> [round(float(s), 2) for s in scores["rare_terms"]]
[0.0, 1.0]
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

WORD = re.compile(r"[^\W\d_]+")
_FAMILIES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "CJK": "CJK", "IDEOGRAPHIC": "CJK"}


class TextScorer(Protocol):
    """Scores in [0, 1] per text; ``learn_many`` updates running statistics from the stream."""

    name: str

    def score_many(self, texts: Sequence[str]) -> np.ndarray: ...

    def learn_many(self, texts: Sequence[str]) -> None: ...


class CountMinSketch:
    """Approximate counts of strings in ``depth x width`` counters (Cormode & Muthukrishnan 2005).

    Estimates never undercount; with ``width`` w they overcount by at most ``e / w`` of the
    total with probability ``1 - exp(-depth)``.
    """

    def __init__(self, width: int = 2**18, depth: int = 4, seed: int = 0) -> None:
        self.width = width
        self.depth = depth
        self.table = np.zeros((depth, width), dtype=np.uint32)
        self.total = 0
        self._key = seed.to_bytes(8, "little")

    def _columns(self, keys: Sequence[str]) -> np.ndarray:
        digests = [int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8, key=self._key)
                                  .digest(), "little") for k in keys]
        h = np.array(digests, dtype=np.uint64)
        h1, h2 = h & np.uint64(0xFFFFFFFF), (h >> np.uint64(32)) | np.uint64(1)
        rows = np.arange(self.depth, dtype=np.uint64)[:, None]
        return ((h1[None, :] + rows * h2[None, :]) % np.uint64(self.width)).astype(np.int64)

    def estimate_many(self, keys: Sequence[str]) -> np.ndarray:
        if not keys:
            return np.zeros(0, dtype=np.int64)
        cols = self._columns(keys)
        return self.table[np.arange(self.depth)[:, None], cols].min(axis=0).astype(np.int64)

    def add_many(self, counts: Counter[str]) -> None:
        if not counts:
            return
        keys = list(counts)
        cols = self._columns(keys)
        add = np.array([counts[k] for k in keys], dtype=np.int64)
        rows = np.broadcast_to(np.arange(self.depth)[:, None], cols.shape)
        np.add.at(self.table, (rows, cols), np.broadcast_to(add.astype(np.uint32), cols.shape))
        self.total += int(add.sum())


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


class RareTermRate:
    """Share of a text's words seen fewer than ``min_count`` times in the stream so far.

    The vocabulary is a count-min sketch of every word the stream taught it (fixed memory).
    A text with no words at all scores 1: nothing in it is known.
    """

    name = "rare_terms"

    def __init__(self, min_count: int = 2, width: int = 2**18, depth: int = 4,
                 seed: int = 0) -> None:
        self.min_count = min_count
        self.vocabulary = CountMinSketch(width, depth, seed)

    def score_many(self, texts: Sequence[str]) -> np.ndarray:
        tokenised = [words(t) for t in texts]
        unique = sorted({w for ws in tokenised for w in ws})
        known = dict(zip(unique, (self.vocabulary.estimate_many(unique) >= self.min_count).tolist(),
                         strict=True))
        return np.array([1.0 - sum(known[w] for w in ws) / len(ws) if ws else 1.0
                         for ws in tokenised], dtype=np.float32)

    def learn_many(self, texts: Sequence[str]) -> None:
        self.vocabulary.add_many(Counter(w for t in texts for w in words(t)))


@lru_cache(maxsize=65536)
def script_of(ch: str) -> str:
    """The Unicode script family of a letter, from its name (``LATIN``, ``CYRILLIC``, ...)."""
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0] if name else "UNKNOWN"
    return _FAMILIES.get(first, first)


class ScriptMixing:
    """How much of a text's letters are outside its dominant Unicode script.

    Score = 2 x (share of letters in other scripts), capped at 1: 0 for a one-script text, 1
    when two scripts share it half and half. Stateless (``learn_many`` does nothing).
    """

    name = "script_mixing"

    def score_many(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            scripts = Counter(script_of(ch) for ch in text if ch.isalpha())
            letters = sum(scripts.values())
            if letters:
                out[i] = min(1.0, 2.0 * (1.0 - max(scripts.values()) / letters))
        return out

    def learn_many(self, texts: Sequence[str]) -> None:
        return None


class LengthExtremity:
    """How extreme a text's length is against the stream: |z| of log length, as 2 Phi(|z|) - 1.

    Mean and variance of log(1 + characters) are running (Welford 1962), so memory is
    constant; a text of typical length scores near 0, one five standard deviations out near 1.
    """

    name = "length_extremity"

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0

    def score_many(self, texts: Sequence[str]) -> np.ndarray:
        if self.n < 2 or self.std == 0:
            return np.zeros(len(texts), dtype=np.float32)
        z = (np.log1p([len(t) for t in texts]) - self.mean) / self.std
        return np.array([math.erf(abs(v) / math.sqrt(2.0)) for v in z], dtype=np.float32)

    def learn_many(self, texts: Sequence[str]) -> None:
        for t in texts:
            x = math.log1p(len(t))
            self.n += 1
            delta = x - self.mean
            self.mean += delta / self.n
            self._m2 += delta * (x - self.mean)


TEXT_SCORERS: dict[str, Callable[[], TextScorer]] = {
    RareTermRate.name: RareTermRate,
    ScriptMixing.name: ScriptMixing,
    LengthExtremity.name: LengthExtremity,
}


def make_text_scorers(names: Sequence[str]) -> list[TextScorer]:
    unknown = [n for n in names if n not in TEXT_SCORERS]
    if unknown:
        raise ValueError(f"unknown text scorer {unknown}; choose from {sorted(TEXT_SCORERS)}")
    return [TEXT_SCORERS[n]() for n in names]


def score_texts(scorers: Sequence[TextScorer], texts: Sequence[str],
                learn: bool = True) -> dict[str, np.ndarray]:
    """Every scorer's scores for ``texts`` (against what came before), then learn from them."""
    scores = {s.name: s.score_many(texts) for s in scorers}
    if learn:
        for s in scorers:
            s.learn_many(texts)
    return scores
