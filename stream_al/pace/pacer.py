"""The pacer: the spending rate, turned down while labels stop paying and up when the stream
changes.

The rate is a multiple of the budget in ``[floor, 1]``. Every ``check_every`` stream items the
pacer reads its stopping signals (:mod:`stream_al.pace.signals`); when all of them say labels
no longer pay it multiplies the rate by ``step_down`` (state ``slowing``; at ``floor``,
``paused``):

- the models of successive checks agree on the stop set (mean Cohen's kappa over
  ``kappa_window`` checks at least ``kappa``),
- the learning curve of the random control labels expects less than ``min_improvement``
  accuracy from 100 more labels,
- the label gain is not rising, and at least ``min_labels`` labels came back.

Back to rate 1 at once (state ``active``; then at least ``resume_hold_items`` items at full
rate) on a drift alarm, a label of a class the model did not know, a rise of the share of
stream items flagged OOD by ``ood_rise``, a fall of the control labels' prequential accuracy by
``accuracy_drop`` (both against their level when the rate went down), or the models no longer
agreeing. Each pause and resume is a :class:`PaceChange` (the Kafka shell publishes them as
events).

Budget not spent because of a rate below 1 is :attr:`Pacer.saved`. It is not carried over:
only with ``borrow_cap > 0`` may a resume spend up to that much of it on top of the rate
(:meth:`Pacer.take_grant`), and never beyond the budget ledger. Pure: no Kafka, no Prometheus.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from stream_al.config import PacingSettings
from stream_al.learn.gain import label_gain
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.pace.signals import GainTrend, LearningCurve, Prequential, StopSet, cohen_kappa

PaceState = Literal["active", "slowing", "paused"]
STATES: tuple[PaceState, ...] = ("active", "slowing", "paused")
"""The pacer's states; the metric ``stream_al_pacer_state`` is the index in this tuple."""
CONTROL_REASON = "pace_control"
"""The reason of the random control labels the floor keeps buying."""


@dataclass(frozen=True)
class PaceChange:
    """The rate went down to the floor (``paused``) or back up (``resumed``)."""

    kind: Literal["paused", "resumed"]
    position: int
    rate: float
    reason: str
    signals: dict[str, float] = field(default_factory=dict)


@dataclass
class PaceSignals:
    """The last values of the stopping signals (NaN: not measured yet)."""

    kappa: float = math.nan
    gain: float = math.nan
    gain_trend: float = math.nan
    prequential: float = math.nan
    control_prequential: float = math.nan
    improvement_per_100: float = math.nan
    ood_share: float = math.nan

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in vars(self).items() if math.isfinite(v)}


class Pacer:
    """The spending rate and the signals it is set from (see the module's docstring).

    >>> from stream_al.config import PacingSettings
    >>> pacer = Pacer(PacingSettings(enabled=True, floor=0.25))
    >>> pacer.rate, pacer.state
    (1.0, 'active')
    >>> pacer.slow_down("test"); pacer.slow_down("test"); pacer.rate, pacer.state
    (0.25, 'paused')
    >>> pacer.resume("drift_alarm"); pacer.rate, [c.kind for c in pacer.take_changes()]
    (1.0, ['paused', 'resumed'])
    """

    def __init__(self, settings: PacingSettings) -> None:
        self.settings = settings
        self.rate = 1.0
        self.position = 0
        self.labels = 0
        self.saved = 0.0
        """Budget (ledger cost units) left unspent by a rate below 1, minus what was borrowed."""
        self.borrowed = 0.0
        self.spent_cost = 0.0
        self.spent_items = 0
        self.signals = PaceSignals()
        self.stop_set = StopSet(settings.stop_set_size, settings.stop_set_refresh_items,
                                settings.seed)
        self.kappas: deque[float] = deque(maxlen=settings.kappa_window)
        self.gains = GainTrend()
        self.prequential = Prequential()
        self.control = Prequential(window=50)
        self.curve = LearningCurve()
        self.trace: list[tuple[int, float]] = [(0, 1.0)]
        """(stream position, rate) at every change of the rate: the simulator plots it."""
        self._changes: list[PaceChange] = []
        self._grant = 0.0
        self._hold_until = 0
        self._next_check = settings.check_every
        self._model: ModelSnapshot | None = None
        self._ood: deque[tuple[int, int]] = deque()
        """(items, flagged OOD) per batch of the last ``2 * check_every`` stream items."""
        self._baseline_ood = math.nan
        self._baseline_control = math.nan

    # ---- what the selector reports ------------------------------------------------------------
    @property
    def state(self) -> PaceState:
        if self.rate >= 1.0:
            return "active"
        return "paused" if self.rate <= self.settings.floor + 1e-9 else "slowing"

    @property
    def labels_saved(self) -> float:
        """:attr:`saved` in labels, at the mean cost of the labels bought so far."""
        mean_cost = self.spent_cost / self.spent_items if self.spent_items else 1.0
        return self.saved / mean_cost if mean_cost > 0 else 0.0

    def observe_many(self, X: np.ndarray, fraction: float, model: ModelSnapshot,
                     ood_flags: np.ndarray | None = None, n_items: int | None = None) -> None:
        """A batch of stream items (rows ``X``; ``n_items`` counted in the budget, if not
        ``len(X)``) under budget ``fraction``: budget is saved at the current rate, the stop
        set samples them, the OOD share is tracked, and the signals are checked when due."""
        n = len(X) if n_items is None else n_items
        self.position += n
        self.saved += (1.0 - self.rate) * fraction * n
        self.stop_set.observe_many(X)
        if ood_flags is not None and n:
            self._ood.append((n, int(np.count_nonzero(ood_flags))))
            while sum(k for k, _ in self._ood) - self._ood[0][0] >= 2 * self.settings.check_every:
                self._ood.popleft()
            self.signals.ood_share = sum(f for _, f in self._ood) / sum(k for k, _ in self._ood)
            if self.rate < 1.0 and self._ood_rose():
                self.resume("ood_rise")
        if self.position >= self._next_check:
            self._next_check = self.position + self.settings.check_every
            self.check(model)

    def count_spent(self, cost: float, n: int) -> None:
        self.spent_cost += cost
        self.spent_items += n

    def on_labels(self, before: ModelSnapshot, X: np.ndarray, labels: Sequence[str],
                  reasons: Sequence[str]) -> None:
        """Labels for rows ``X`` came back; ``before``: the model that has not learned them;
        ``reasons``: why each item was bought (control labels feed the learning curve)."""
        if not len(labels):
            return
        gains = label_gain(before, X, labels)
        self.gains.add_many(gains.tolist())
        self.signals.gain, self.signals.gain_trend = self.gains.mean, self.gains.trend
        control = [r == CONTROL_REASON for r in reasons]
        for g, is_control in zip(gains.tolist(), control, strict=True):
            self.labels += 1
            if is_control:
                self.curve.add(self.labels, g)
        if not before.ready:
            return
        correct = [p == y for p, y in zip(before.predict_many(X), labels, strict=True)]
        self.prequential.add_many(correct)
        self.control.add_many([c for c, k in zip(correct, control, strict=True) if k])
        self.signals.prequential = self.prequential.accuracy
        self.signals.control_prequential = self.control.accuracy
        if any(y not in before.classes for y in labels):
            self.resume("new_class", reset_curve=True)
        elif self.rate < 1.0 and self._accuracy_fell():
            self.resume("accuracy_drop")

    def on_alarm(self, detector: str) -> None:
        """A drift alarm: spend at full rate at once."""
        self.resume(f"drift_alarm:{detector}", reset_curve=True)

    # ---- decisions ----------------------------------------------------------------------------
    def check(self, model: ModelSnapshot) -> None:
        """Read the signals; slow down if labels no longer pay, resume if the models diverge."""
        self._measure_kappa(model)
        self.signals.improvement_per_100 = self.curve.improvement_per(100)
        stable = len(self.kappas) == self.kappas.maxlen and \
            float(np.mean(self.kappas)) >= self.settings.kappa
        if self.rate < 1.0 and self.kappas and self.kappas[-1] < self.settings.kappa - 0.05:
            self.resume("models_diverge")
        elif stable and self._not_paying():
            self.slow_down("labels_stopped_paying")

    def _not_paying(self) -> bool:
        s, sig = self.settings, self.signals
        if self.labels < s.min_labels or self.position < self._hold_until:
            return False
        improvement = sig.improvement_per_100
        if not math.isfinite(improvement) or improvement >= s.min_improvement:
            return False
        return not (math.isfinite(sig.gain_trend) and sig.gain_trend > 0.05)

    def _measure_kappa(self, model: ModelSnapshot) -> None:
        stop = self.stop_set.X
        if not model.ready or len(stop) < 20:
            return
        last = self._model
        if last is not None and last.ready and last.version != model.version:
            self.kappas.append(cohen_kappa(last.predict_many(stop), model.predict_many(stop)))
            self.signals.kappa = float(np.mean(self.kappas))
        if last is None or last.version != model.version:
            self._model = model

    def slow_down(self, reason: str) -> None:
        """One step down (at most to the floor)."""
        if self.rate >= 1.0:
            self._baseline_ood = self.signals.ood_share
            self._baseline_control = self.control.accuracy
            self.control = Prequential(window=50)
        was_paused = self.state == "paused"
        self._set_rate(max(self.settings.floor, self.rate * self.settings.step_down))
        if self.state == "paused" and not was_paused:
            self._changes.append(PaceChange("paused", self.position, self.rate, reason,
                                            self.signals.as_dict()))

    def resume(self, reason: str, reset_curve: bool = False) -> None:
        """Full rate at once, held for ``resume_hold_items``; with ``borrow_cap``, a grant of
        saved budget. ``reset_curve``: the stream changed, the learning curve starts over."""
        self._hold_until = self.position + self.settings.resume_hold_items
        if reset_curve:
            self.curve.reset()
        if self.rate >= 1.0:
            return
        self.kappas.clear()
        grant = min(self.settings.borrow_cap, self.saved)
        self._grant += grant
        self.saved -= grant
        self.borrowed += grant
        self._set_rate(1.0)
        self._changes.append(PaceChange("resumed", self.position, 1.0, reason,
                                        self.signals.as_dict()))

    def peek_grant(self) -> float:
        """The grant :meth:`take_grant` would hand out now."""
        return self._grant

    def take_grant(self) -> float:
        """Saved budget a resume lets the selector spend on top of the rate (once)."""
        grant, self._grant = self._grant, 0.0
        return grant

    def take_changes(self) -> list[PaceChange]:
        """Pauses and resumes since the last call (the shell publishes them as events)."""
        changes, self._changes = self._changes, []
        return changes

    def _set_rate(self, rate: float) -> None:
        if rate != self.rate:
            self.rate = rate
            self.trace.append((self.position, rate))

    def _ood_rose(self) -> bool:
        base, now = self._baseline_ood, self.signals.ood_share
        return math.isfinite(base) and math.isfinite(now) and now > base + self.settings.ood_rise

    def _accuracy_fell(self) -> bool:
        base = self._baseline_control
        return (math.isfinite(base) and len(self.control) >= 20
                and self.control.accuracy < base - self.settings.accuracy_drop)
