"""The first level of two-level selection: a scorer forwards only candidates.

Each scorer keeps one :class:`PreSelector` per texts partition. Of a scored batch it forwards
each text with probability ``p = min(1, share * w / mean_w)`` (Poisson sampling in proportion
to informativeness), where ``share = candidate_multiple * budget.fraction`` and ``mean_w`` is the
partition's running mean informativeness under the scorer's model version (its uncertainty
threshold, so a batch of three texts is judged as a batch of three hundred would be; a new
model version starts a new mean, the last one counting as ``PRIOR_ITEMS`` texts). About ``share`` of the stream reaches the
coordinator; every forwarded text carries ``1 / p``, the number of stream texts it stands for
(its Horvitz-Thompson weight), so the coordinator's per-cluster mass and stream counts stay
unbiased without seeing every text. Informativeness is floored at ``floor * mean_w``: a
confident text still has a chance (an OOD or drifting region is never invisible), and no weight
exceeds ``1 / (share * floor)``. The exact count of texts seen travels beside the candidates
(:class:`~stream_al.loop.spans.Span`), so the budget ledger stays exact and system-wide.

>>> import numpy as np
>>> pre = PreSelector(fraction=0.05, multiple=4.0, seed=1)
>>> chosen = pre.select_many({"margin": np.linspace(0, 1, 1000)})
>>> 120 < len(chosen.rows) < 280, bool((chosen.weights >= 1).all())
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DEFAULT_MULTIPLE = 4.0
MEMORY_ITEMS = 2000
"""Texts the running mean informativeness is averaged over (exponentially, once it has seen
that many under one model version; a plain mean before)."""
PRIOR_ITEMS = 50
"""What the last model version's mean counts for when a new version starts."""


@dataclass(frozen=True)
class Preselection:
    """Rows of a batch to forward, and the stream texts each stands for."""

    rows: np.ndarray
    weights: np.ndarray


class PreSelector:
    """One texts partition's candidate filter (see the module's docstring)."""

    def __init__(self, fraction: float, multiple: float = DEFAULT_MULTIPLE, kind: str = "margin",
                 floor: float = 0.1, seed: int | tuple[int, ...] = 0) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"budget fraction must be in (0, 1], got {fraction}")
        if multiple < 1:
            raise ValueError(f"candidate_multiple must be >= 1 (candidates per label the budget "
                             f"allows), got {multiple}")
        self.share = min(1.0, multiple * fraction)
        self.kind = kind
        self.floor = floor
        self.mean: float | None = None
        self._count = 0.0
        self._version: int | None = None
        self._rng = np.random.default_rng(seed)

    def select_many(self, scores: Mapping[str, np.ndarray], n: int | None = None,
                    version: int | None = None) -> Preselection:
        """Candidates of a batch whose scores are ``scores`` (``n`` rows if no score of
        :attr:`kind` is there: then a uniform ``share``), scored by model ``version``."""
        w = scores.get(self.kind)
        if w is None:
            if n is None:
                raise ValueError(f"no {self.kind!r} score and no row count given")
            w = np.ones(n)
        w = np.asarray(w, dtype=np.float64)
        if not len(w):
            return Preselection(np.zeros(0, dtype=np.int64), np.zeros(0))
        self._learn_mean(w, version)
        mean = max(self.mean or 0.0, 1e-12)
        p = np.minimum(1.0, self.share * np.maximum(w / mean, self.floor))
        rows = np.flatnonzero(self._rng.random(len(w)) < p)
        return Preselection(rows, 1.0 / p[rows])

    def _learn_mean(self, w: np.ndarray, version: int | None) -> None:
        if version != self._version:
            self._version = version
            self._count = min(self._count, PRIOR_ITEMS)
        self._count = min(self._count + len(w), MEMORY_ITEMS)
        batch = float(w.mean())
        self.mean = batch if self.mean is None else (
            self.mean + (batch - self.mean) * len(w) / self._count)
