"""The pacer: the spending rate, turned down while labels stop paying and up when the stream
changes.

The rate is a multiple of the budget in ``[floor, 1]``. Every ``check_every`` stream items the
pacer reads its stopping signals (:mod:`stream_al.pace.signals`) and applies one rule, the same
for all data: spend less only while that costs less accuracy than the user accepts.

- **Predicted loss.** A learning curve (``pacing.curve``: of the random control labels, an
  inverse power law fitted to their prequential accuracy, bagged; or of every label's
  prequential accuracy; or cross-validated on the labelled set itself,
  :mod:`stream_al.pace.crossval`) predicts the accuracy at the *horizon*: where
  the stream will be after ``horizon`` x the items seen so far (1: as long again). Spending the
  whole budget, the model would have the labels bought so far, those the rate left unbought, and
  the full rate's labels until then; at rate ``r``, the labels bought so far and ``r`` x the
  full rate's. The loss of rate ``r`` is the curve's accuracy difference between the two.
- **Stable predictions.** The models of successive checks agree on a stop set of stream items
  (stabilising predictions): their mean Cohen's kappa over ``kappa_window`` checks reaches
  ``kappa``, or stopped rising (no higher than the window before's by more than their noise:
  a learner whose predictions stay noisy near its boundary settles at its own level).

The rate goes down one step (x ``step_down``; state ``slowing``, at ``floor`` ``paused``) when
the predictions are stable, the loss of the next lower rate is at most ``tolerance``, the label
gain is not rising, at least ``min_labels`` labels came back and no resume is being held; it
goes up one step when the loss of the current rate exceeds ``tolerance`` (the curve turned out
steeper, or the stream has gone on longer: the loss of a rate grows with the labels it leaves).

Back to rate 1 at once (state ``active``; then at least ``resume_hold_items`` items at full
rate) on a drift alarm, a label of a class the model did not know, a rise of the share of
stream items flagged OOD by ``ood_rise``, a fall of the control labels' prequential accuracy by
``accuracy_drop`` (both against their level when the rate went down), or the models diverging
(a kappa far below their level when the rate went down). Each pause and resume is a
:class:`PaceChange` (the Kafka shell publishes them as events).

Budget not spent because of a rate below 1 is :attr:`Pacer.saved`. It is not carried over:
only with ``borrow_cap > 0`` may a resume spend up to that much of it on top of the rate
(:meth:`Pacer.take_grant`), and never beyond the budget ledger. Pure: no Kafka, no Prometheus.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from stream_al.config import PacingSettings
from stream_al.learn.gain import label_gain
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.pace.crossval import CrossValidatedCurve
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
    predicted_loss: float = math.nan
    """Accuracy the current rate is predicted to cost at the horizon (mean over the fits)."""
    predicted_loss_sd: float = math.nan
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

    def __init__(self, settings: PacingSettings, l2: float = 1e-3) -> None:
        """``l2``: the learner's penalty (the 'crossval' curve fits the learner's model)."""
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
        self.kappas: deque[float] = deque(maxlen=2 * settings.kappa_window)
        """Kappas of the last ``2 * kappa_window`` checks (the window, and the one before)."""
        self.gains = GainTrend()
        self.prequential = Prequential()
        self.control = Prequential(window=50)
        self.curve: LearningCurve | CrossValidatedCurve = (
            CrossValidatedCurve(l2, folds=settings.crossval_folds, seed=settings.seed)
            if settings.curve == "crossval" else LearningCurve(seed=settings.seed))
        """The learning curve the predicted loss is read from (``pacing.curve``)."""
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
        self._baseline_kappa = (math.nan, math.nan)
        self._fraction = 0.0
        """The budget fraction of the last batch: labels per item at full rate, at cost 1."""
        """Mean and standard deviation of the kappas when the rate went down."""

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
        self._fraction = fraction
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
        first = self.labels
        self.labels += len(labels)
        if isinstance(self.curve, CrossValidatedCurve):
            self.curve.add_many(X, labels)
        if not before.ready:
            return
        correct = [p == y for p, y in zip(before.predict_many(X), labels, strict=True)]
        if isinstance(self.curve, LearningCurve):
            every = self.settings.curve == "prequential"
            for i, (hit, is_control) in enumerate(zip(correct, control, strict=True)):
                if is_control or every:
                    self.curve.add(first + i + 1, float(hit))
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
        """Read the signals; one step down while pacing costs less than the tolerance, one step
        up when it costs more, full rate if the models diverge (the module's docstring)."""
        self._measure_kappa(model)
        if self.rate >= 1.0 and not self._may_slow_down():
            return  # the curve is read only when it may decide (a cross-validated one is dear)
        loss, spread = self.predicted_loss(self.rate)
        self.signals.improvement_per_100 = self._improvement_per(100)
        self.signals.predicted_loss, self.signals.predicted_loss_sd = loss, spread
        if self.rate < 1.0 and self._diverged():
            self.resume("models_diverge")
        elif self.rate < 1.0 and loss > self.settings.tolerance:
            self.speed_up("labels_pay_again")
        elif self._not_paying():
            self.slow_down("labels_stopped_paying")

    def predicted_loss(self, rate: float) -> tuple[float, float]:
        """Accuracy spending at ``rate`` from now on is predicted to cost at the horizon,
        against spending the whole budget throughout: mean and spread over the curve's fits
        (NaN: too few control labels; 0 at rate 1 with nothing saved)."""
        if not self.position:
            return math.nan, math.nan
        ahead = self.settings.horizon * self.position
        unbought = self.labels_saved
        mean_cost = self.spent_cost / self.spent_items if self.spent_items else 1.0
        full_rate = self._fraction / mean_cost if mean_cost > 0 else 0.0  # labels per item
        now = self._curve_labels()
        whole = now + unbought + full_rate * ahead
        paced = now + rate * full_rate * ahead
        return self.curve.gain(paced, whole)

    def _curve_labels(self) -> int:
        """Labels the model has, on the curve's axis: all bought (a control or prequential
        curve's points are placed by them), or those since the cross-validated curve's reset."""
        return self.curve.labels if isinstance(self.curve, CrossValidatedCurve) else self.labels

    def _improvement_per(self, k: int) -> float:
        now = self._curve_labels()
        return self.curve.gain(now, now + k)[0] if now else math.nan

    def stable(self) -> bool:
        """Successive models agree: mean kappa of the last ``kappa_window`` checks at least
        ``kappa``, or no higher than the window before's by more than their noise."""
        k = self.settings.kappa_window
        if len(self.kappas) < k:
            return False
        kappas = np.asarray(self.kappas)
        if kappas[-k:].mean() >= self.settings.kappa:
            return True
        if len(kappas) < 2 * k:
            return False
        rise = kappas[-k:].mean() - kappas[:k].mean()
        return bool(rise <= kappas.std(ddof=1) * math.sqrt(2 / k))

    def _may_slow_down(self) -> bool:
        """Every condition of a step down but the predicted loss holds."""
        s = self.settings
        if self.labels < s.min_labels or self.position < self._hold_until:
            return False
        return self.rate > s.floor + 1e-9 and self.stable()

    def _not_paying(self) -> bool:
        s, sig = self.settings, self.signals
        if not self._may_slow_down():
            return False
        loss, _ = self.predicted_loss(max(s.floor, self.rate * s.step_down))
        if not loss <= s.tolerance:  # NaN: the curve is not known yet
            return False
        return not (math.isfinite(sig.gain_trend) and sig.gain_trend > 0.05)

    def _diverged(self) -> bool:
        """The last kappa fell far below the models' agreement when the rate went down."""
        mean, sd = self._baseline_kappa
        if not self.kappas or not math.isfinite(mean):
            return False
        return self.kappas[-1] < mean - max(0.1, 3 * (sd if math.isfinite(sd) else 0.0))

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
            kappas = np.asarray(self.kappas)
            self._baseline_kappa = (float(kappas.mean()) if len(kappas) else math.nan,
                                    float(kappas.std(ddof=1)) if len(kappas) > 1 else math.nan)
        was_paused = self.state == "paused"
        self._set_rate(max(self.settings.floor, self.rate * self.settings.step_down))
        if self.state == "paused" and not was_paused:
            self._changes.append(PaceChange("paused", self.position, self.rate, reason,
                                            self.signals.as_dict()))

    def speed_up(self, reason: str) -> None:
        """One step up (at most to full rate; there, a ``resumed`` change)."""
        self._set_rate(min(1.0, self.rate / self.settings.step_down))
        if self.rate >= 1.0:
            self._changes.append(PaceChange("resumed", self.position, 1.0, reason,
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

    # ---- across a rebuild -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What a rebuilt coordinator needs to go on pacing where this one stopped (JSON-able;
        NaN as None): the rate and what it saved, the labels and the learning curve's points,
        the baselines a resume is measured against, and the kappas of the last checks. Not the
        stop set nor the last model: the next checks draw and measure them again."""
        return {
            "rate": self.rate, "position": self.position, "labels": self.labels,
            "saved": self.saved, "borrowed": self.borrowed, "spent_cost": self.spent_cost,
            "spent_items": self.spent_items, "fraction": self._fraction,
            "hold_until": self._hold_until, "next_check": self._next_check,
            "baseline_ood": _json(self._baseline_ood),
            "baseline_control": _json(self._baseline_control),
            "baseline_kappa": [_json(v) for v in self._baseline_kappa],
            "kappas": [float(k) for k in self.kappas],
            "curve": ([[n, c] for n, c in self.curve.points]
                      if isinstance(self.curve, LearningCurve) else []),
        }

    @classmethod
    def from_state(cls, settings: PacingSettings, state: dict[str, Any],
                   l2: float = 1e-3) -> Pacer:
        """A pacer that goes on from :meth:`state_dict` (the coordinator's rebuild). A
        cross-validated curve starts empty: the labelled rows are not in the state (the ledger
        would carry every row), so it is known again once ``min_labels`` more labels came."""
        pacer = cls(settings, l2)
        get = state.get
        pacer.rate = float(get("rate", 1.0))
        pacer.position = int(get("position", 0))
        pacer.labels = int(get("labels", 0))
        for name in ("saved", "borrowed", "spent_cost"):
            setattr(pacer, name, float(get(name, 0.0)))
        pacer.spent_items = int(get("spent_items", 0))
        pacer._fraction = float(get("fraction", 0.0))
        pacer._hold_until = int(get("hold_until", 0))
        pacer._next_check = int(get("next_check", settings.check_every))
        pacer._baseline_ood = _float(get("baseline_ood"))
        pacer._baseline_control = _float(get("baseline_control"))
        mean, sd = get("baseline_kappa", [None, None])
        pacer._baseline_kappa = (_float(mean), _float(sd))
        pacer.kappas.extend(float(k) for k in get("kappas", []))
        if isinstance(pacer.curve, LearningCurve):
            for n, c in get("curve", []):
                pacer.curve.add(int(n), float(c))
        pacer.trace = [(pacer.position, pacer.rate)]
        return pacer

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


def _json(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
