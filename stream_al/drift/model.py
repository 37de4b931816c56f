"""Drift seen by the model: its prequential error (ADWIN) and its mean uncertainty (Page-Hinkley).

Both use river's detectors (``river.drift.ADWIN``, ``river.drift.PageHinkley``). A model that
learns gets *better* over time, so only increases are alarms: a falling error rate or a
falling uncertainty is the model learning, not the world changing.
"""

from __future__ import annotations

import math

import numpy as np
from river.drift import ADWIN, PageHinkley

from stream_al.drift.base import DriftAlarm

MIN_SIGMA = 1e-4
"""Block means flatter than this (a cold model's constant 1.0) cannot calibrate a test."""


class ErrorRateDrift:
    """ADWIN (Bifet & Gavalda 2007) on the prequential error of arriving labels.

    Feed 1 for a label the model mispredicted before learning it, 0 otherwise. ADWIN keeps the
    longest recent window whose error rate is homogeneous; when it cuts the window and the
    kept (recent) part has the higher error rate, that is an alarm. ``score`` is ADWIN's
    current error-rate estimate.

    >>> detector = ErrorRateDrift(delta=0.002)
    >>> errors = [0] * 9 + [1]  # 10% errors ...
    >>> alarms = detector.update_many(np.array(errors * 30), start=0)
    >>> alarms += detector.update_many(np.array([1, 1, 0, 1] * 30), start=300)  # ... then 75%
    >>> [a.detector for a in alarms], 300 <= alarms[0].position < 360
    (['prequential_error'], True)
    """

    name = "prequential_error"

    def __init__(self, delta: float = 0.002, clock: int = 8, grace_period: int = 30) -> None:
        if not 0 < delta < 1:
            raise ValueError(f"ADWIN delta must be in (0, 1), got {delta}")
        self.delta = delta
        self.clock = clock
        self.grace_period = grace_period
        self.reset()

    def reset(self) -> None:
        self._adwin = ADWIN(delta=self.delta, clock=self.clock, grace_period=self.grace_period)
        self._score = 0.0

    @property
    def score(self) -> float:
        return self._score

    def update_many(self, values: np.ndarray, start: int) -> list[DriftAlarm]:
        alarms = []
        for i, v in enumerate(np.asarray(values, dtype=np.float64).ravel()):
            before = self._adwin.estimation
            self._adwin.update(float(v))
            self._score = self._adwin.estimation
            if self._adwin.drift_detected and self._adwin.estimation > before:
                alarms.append(DriftAlarm(self.name, self._score, math.nan, start + i))
        return alarms


class UncertaintyDrift:
    """Page-Hinkley (``mode="up"``) on the mean uncertainty of consecutive blocks of items.

    Items are grouped into blocks of ``block``; the first ``warmup_blocks`` block means that
    vary at all (a cold model's uncertainty is constant) give the noise level sigma, and the
    test's slack and threshold are ``k`` and ``h`` sigmas (CUSUM design, Page 1954: k = 0.5
    aims at a one-sigma rise; uncertainty is heavy-tailed, so h = 8 rather than the textbook
    5 keeps a stationary stream quiet: no false alarm in 30 shuffled AG News streams of 3000
    items). ``score`` is the latest block mean in sigmas above the warm-up mean.

    >>> rng = np.random.default_rng(0)
    >>> detector = UncertaintyDrift(block=20, warmup_blocks=10, h=5.0)
    >>> detector.update_many(rng.uniform(0.0, 0.4, 1000), start=0)
    []
    >>> [a.position for a in detector.update_many(rng.uniform(0.3, 0.7, 400), start=1000)]
    [1019]
    """

    name = "mean_uncertainty"

    def __init__(self, block: int = 25, warmup_blocks: int = 20, k: float = 0.5,
                 h: float = 8.0) -> None:
        if block < 1 or warmup_blocks < 2:
            raise ValueError("uncertainty drift needs block >= 1 and warmup_blocks >= 2")
        self.block = block
        self.warmup_blocks = warmup_blocks
        self.k = k
        self.h = h
        self.reset()

    def reset(self) -> None:
        self._sum = 0.0
        self._count = 0
        self._warm: list[float] = []
        self._ph: PageHinkley | None = None
        self._mean0 = 0.0
        self._sigma = 1.0
        self._score = 0.0

    @property
    def score(self) -> float:
        return self._score

    def update_many(self, values: np.ndarray, start: int) -> list[DriftAlarm]:
        alarms = []
        v = np.asarray(values, dtype=np.float64).ravel()
        i = 0
        while i < len(v):
            take = min(len(v) - i, self.block - self._count)
            self._sum += float(v[i : i + take].sum())
            self._count += take
            i += take
            if self._count == self.block:
                mean = self._sum / self.block
                self._sum, self._count = 0.0, 0
                if self._observe_block(mean):
                    alarms.append(DriftAlarm(self.name, self._score, math.nan, start + i - 1))
                    self.reset()
        return alarms

    def _observe_block(self, mean: float) -> bool:
        if self._ph is None:
            self._warm = [*self._warm[1 - self.warmup_blocks :], mean]
            sigma = float(np.std(self._warm, ddof=1)) if len(self._warm) > 1 else 0.0
            if len(self._warm) == self.warmup_blocks and sigma > MIN_SIGMA:
                self._mean0 = float(np.mean(self._warm))
                self._sigma = sigma
                self._ph = PageHinkley(min_instances=1, delta=self.k * self._sigma,
                                       threshold=self.h * self._sigma, alpha=1.0, mode="up")
                for m in self._warm:
                    self._ph.update(m)
            return False
        self._score = (mean - self._mean0) / self._sigma
        self._ph.update(mean)
        return self._ph.drift_detected
