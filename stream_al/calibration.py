"""Calibration: does a predicted 0.9 mean right nine times in ten? Measure it, and fix it.

- :func:`expected_calibration_error` (ECE, equal-width confidence bins, Naeini et al. 2015)
  and :func:`reliability_diagram` (per-bin confidence against accuracy), with
  :func:`plot_reliability` for the simulator report.
- Temperature scaling (Guo et al. 2017): one scalar ``T`` divides the logits; it keeps every
  prediction's ranking and only changes how sure the model claims to be.
  :class:`TemperatureCalibrator` keeps the logits the model gave to recently labelled items
  *before* learning them (prequential: a model is over-confident on what it trained on),
  fits ``T`` on the older part by minimising the negative log-likelihood over a bounded
  one-dimensional search, and applies it only when it lowers the NLL on the newest part,
  which it did not see (the ECE is measured there too, but with a few dozen labels in 15 bins
  it is too noisy to decide on; the NLL is a proper scoring rule and is not). A drift alarm
  should :meth:`~TemperatureCalibrator.reset` it.

Labels bought by active learning are a biased sample: uncertain, novel or out-of-distribution
items are over-represented, and a temperature fitted on them flattens the model for the
stream as a whole (measured in ``benchmarks/drift_recovery.py``: on AG News the temperatures
fitted on uncertainty- or diversity-selected labels did not lower, and sometimes raised, the
held-out ECE; fitted on randomly selected labels they halved it). So by default only labels
bought for the ``random`` reason (``calibration.reasons``) calibrate: keep a random share in
the budget (the bandit's random arm) to calibrate a model that active learning trains.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from stream_al.config import CalibrationSettings
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.plotting import pyplot

TEMPERATURE_BOUNDS = (0.05, 20.0)


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per equal-width confidence bin: mean confidence, accuracy and item count."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray

    @property
    def ece(self) -> float:
        total = self.counts.sum()
        if not total:
            return 0.0
        gap = np.abs(np.nan_to_num(self.accuracy) - np.nan_to_num(self.confidence))
        return float((self.counts / total * gap).sum())


def reliability_diagram(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> ReliabilityDiagram:
    """``proba`` (n, k) class probabilities, ``y`` (n,) true class indices."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if proba.ndim != 2 or len(proba) != len(y):
        raise ValueError(f"need probabilities (n, k) and n labels; got {proba.shape} and {len(y)}")
    confidence = proba.max(axis=1) if len(y) else np.zeros(0)
    correct = (proba.argmax(axis=1) == y) if len(y) else np.zeros(0, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(which, weights=confidence, minlength=bins) / counts
        acc = np.bincount(which, weights=correct.astype(float), minlength=bins) / counts
    return ReliabilityDiagram(edges, conf, acc, counts)


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Sum over equal-width bins of (bin share) x |accuracy - mean confidence|.

    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]))
    0.4
    """
    return round(reliability_diagram(proba, y, bins).ece, 12)


def negative_log_likelihood(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean -log p(true class) with logits divided by ``temperature``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(y)), np.asarray(y, dtype=np.int64)].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray,
                    bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature minimising the NLL of ``y`` (bounded search over log T)."""
    if not len(y):
        raise ValueError("fitting a temperature needs at least one labelled item")
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    result = minimize_scalar(lambda t: negative_log_likelihood(logits, y, float(np.exp(t))),
                             bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class CalibrationResult:
    """A fitted temperature and what it did on the held-out newest labels."""

    temperature: float
    applied: bool
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    n_fit: int
    n_held_out: int


class TemperatureCalibrator:
    """Recent prequential logits in, a measured temperature out.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> logits = np.where(np.eye(2)[y] > 0, 2.0, -2.0) * 3 + rng.normal(0, 6, (400, 2))
    >>> calibrator = TemperatureCalibrator(CalibrationSettings(min_labels=100))
    >>> calibrator.update_many(logits, y)
    400
    >>> result = calibrator.fit()
    >>> result.applied, result.temperature > 1, result.ece_after < result.ece_before
    (True, True, True)
    """

    def __init__(self, settings: CalibrationSettings | None = None) -> None:
        self.settings = settings or CalibrationSettings()
        self._rows: deque[tuple[np.ndarray, int]] = deque(maxlen=self.settings.window_labels)
        self.temperature = 1.0

    def __len__(self) -> int:
        return len(self._rows)

    def update_many(self, logits: np.ndarray, y: Sequence[int] | np.ndarray) -> int:
        """Logits the model gave labelled items before learning them, and their true classes;
        returns how many were kept.

        A label whose class the model did not know yet (index < 0 or beyond the logits) is
        skipped: no temperature can make that prediction right.
        """
        kept = 0
        for row, label in zip(np.asarray(logits, dtype=np.float32), y, strict=True):
            if 0 <= int(label) < len(row):
                self._rows.append((row, int(label)))
                kept += 1
        return kept

    def update_from_snapshot(self, snapshot: ModelSnapshot, X: np.ndarray,
                             labels: Sequence[str], reasons: Sequence[str] | None = None) -> int:
        """Labels arrived for rows ``X``: keep ``snapshot``'s logits (call before learning);
        returns how many were kept.

        With ``reasons`` (why each item was selected), only labels whose reason is in
        ``settings.reasons`` are kept, unless that list is empty.
        """
        if not snapshot.ready:
            return 0
        keep = np.ones(len(labels), dtype=bool)
        if reasons is not None and self.settings.reasons:
            keep = np.isin(np.asarray(reasons, dtype=object), self.settings.reasons)
        if not keep.any():
            return 0
        col = {c: i for i, c in enumerate(snapshot.classes)}
        idx = np.flatnonzero(keep)
        return self.update_many(snapshot.logits_many(np.asarray(X)[idx]),
                         [col.get(labels[i], -1) for i in idx])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept logits (padded with -inf to the widest class set) and true classes."""
        if not self._rows:
            return np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
        k = max(len(r) for r, _ in self._rows)
        Z = np.full((len(self._rows), k), -np.inf)
        for i, (r, _) in enumerate(self._rows):
            Z[i, : len(r)] = r
        return Z, np.array([y for _, y in self._rows], dtype=np.int64)

    def ece(self, bins: int | None = None) -> float:
        """ECE of the kept labels at the current temperature (``Metrics.set_calibration_error``)."""
        Z, y = self.arrays()
        if not len(y):
            return 0.0
        proba = softmax(Z / self.temperature, axis=1)
        return expected_calibration_error(proba, y, bins or self.settings.bins)

    def reset(self) -> None:
        """Forget the kept labels (after a drift alarm they describe a stream that is gone)."""
        self._rows.clear()

    def fit(self) -> CalibrationResult | None:
        """Fit on the older labels, measure on the newest; adopt T if the NLL there is lower.

        None until ``min_labels`` labels are kept. A temperature at the edge of the search
        is never adopted: no scaling reconciles those labels with the model (as right after
        a shift, when it mispredicts a new region), and flattening it would not calibrate it.
        """
        Z, y = self.arrays()
        if len(y) < self.settings.min_labels:
            return None
        n_held = max(1, int(round(len(y) * self.settings.held_out_share)))
        fit_Z, fit_y, held_Z, held_y = Z[:-n_held], y[:-n_held], Z[-n_held:], y[-n_held:]
        t = fit_temperature(fit_Z, fit_y)
        bins = self.settings.bins
        before, after = ((expected_calibration_error(softmax(held_Z / temp, axis=1), held_y, bins),
                          negative_log_likelihood(held_Z, held_y, temp))
                         for temp in (self.temperature, t))
        at_bound = min(abs(np.log(t / b)) for b in TEMPERATURE_BOUNDS) < 1e-3
        applied = after[1] < before[1] and not at_bound
        if applied:
            self.temperature = t
        return CalibrationResult(t, applied, before[0], after[0], before[1], after[1],
                                 len(fit_y), len(held_y))


def plot_reliability(path: str | Path, diagrams: Mapping[str, ReliabilityDiagram],
                     title: str = "Reliability diagram") -> None:
    """Accuracy against confidence per bin, one line per diagram, with the diagonal.

    Raises :class:`~stream_al.plotting.PlotsUnavailableError` without matplotlib (the
    ``plots`` extra).
    """
    plt = pyplot(path)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, d in diagrams.items():
        keep = d.counts > 0
        ax.plot(d.confidence[keep], d.accuracy[keep], marker="o", markersize=4,
                label=f"{name} (ECE {d.ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
