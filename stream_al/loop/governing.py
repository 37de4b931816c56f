"""Governance of live selection and scoring: the drift response, OOD picks and calibration.

The coordinator holds one :class:`Governance`. It drives the wrappers that
:func:`stream_al.select.stack.build_stage` put around the stage's selector:

- **OOD as a selection reason.** An :class:`~stream_al.select.ood_cap.OODSelector` sharing the
  :class:`~stream_al.drift.health.DataHealth`'s detector (threshold learned from the labelled
  embeddings), so items far from everything labelled are bought with reason ``"ood"``, capped
  at ``ood.max_share`` of the budget. ``ood.max_share: 0`` turns it off.
- **Drift response.** Outside it, a :class:`~stream_al.select.drift_aware.DriftAwareSelector`
  whose response every drift alarm of the coordinator's ``DataHealth`` (re)starts: for
  ``drift.response_items`` stream items a share of the spending goes to the most novel items
  of the drifting region (reason ``"drift_explore"``), and with ``drift.max_credit > 0`` the
  budget may also be spent ``drift.boost`` times as fast, borrowed and repaid afterwards.
  ``drift.response_items: 0`` turns it off.
- **Budget pacing.** With ``pacing.enabled``, the :class:`~stream_al.pace.pacer.Pacer` of the
  stage's :class:`~stream_al.select.paced.PacedSelector` hears every drift alarm and every
  label (new classes, gains, prequential accuracy of its control labels) from here.
- **Temperature scaling, measured.** A :class:`~stream_al.calibration.TemperatureCalibrator`
  keeps the logits the model gave arriving labels *before* learning them (labels bought for a
  reason in ``calibration.reasons``), fits a temperature on the older half every
  ``REFIT_EVERY`` such labels and adopts it only if it lowers the NLL on the newest half. The
  adopted temperature rides in every published snapshot, so the scorers' probabilities (and
  the uncertainty they rank by) are calibrated; predictions never change (argmax). An alarm
  forgets the kept labels (they describe a stream that is gone) but keeps the temperature.

Pure: no Kafka, no asyncio, no Prometheus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_al.calibration import CalibrationResult, TemperatureCalibrator
from stream_al.config import CalibrationSettings
from stream_al.drift.base import DriftAlarm
from stream_al.drift.health import DataHealth
from stream_al.drift.response import DriftResponse
from stream_al.learn.online import OnlineLearner
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.pace.pacer import Pacer
from stream_al.select.drift_aware import CreditBudget, DriftAwareSelector
from stream_al.select.ood_cap import OODSelector
from stream_al.select.paced import PacedSelector
from stream_al.select.stack import find
from stream_al.select.stage import SelectionStage

REFIT_EVERY = 20
"""Calibration labels between two temperature fits."""


class Governance:
    """The coordinator's drift response, OOD selection and temperature calibration.

    >>> import numpy as np
    >>> from stream_al.config import Settings
    >>> from stream_al.drift.health import DataHealth
    >>> from stream_al.select.stack import build_stage, has_ood_cap
    >>> settings = Settings.load(budget={"fraction": 0.1})
    >>> health = DataHealth(settings.drift, settings.ood, 8,
    ...                     checks_ood=not has_ood_cap(settings.ood))
    >>> stage = build_stage(settings, 8, ood=health.ood)
    >>> governance = Governance(settings.calibration, stage, health)
    >>> governance.response is not None, health.checks_ood
    (True, False)
    """

    def __init__(self, calibration: CalibrationSettings, stage: SelectionStage,
                 health: DataHealth) -> None:
        self.health = health
        aware = find(stage.selector, DriftAwareSelector)
        self.response: DriftResponse | None = None if aware is None else aware.response
        ood = find(stage.selector, OODSelector)
        capped = ood is not None and ood.detector is health.ood
        if capped == health.checks_ood:  # each stream item is checked once, by one of them
            raise ValueError(
                f"the stage's OOD cap {'checks' if capped else 'does not check'} the stream "
                f"items against the health's detector, and the health "
                f"{'does too' if capped else 'does not either'}: build the DataHealth with "
                f"checks_ood=not has_ood_cap(settings.ood) and the stage with its detector")
        self.stage = stage
        paced = find(stage.selector, PacedSelector)
        self.paced = paced
        self.pacer: Pacer | None = None if paced is None else paced.pacer
        """The budget pacer (stream_al/pace/), with ``pacing.enabled``; alarms and labels
        reach it from here."""
        self.calibrator = TemperatureCalibrator(calibration)
        self.last_calibration: CalibrationResult | None = None
        self._since_fit = 0

    # ---- drift ----------------------------------------------------------------------------
    def on_alarms(self, alarms: Sequence[DriftAlarm]) -> None:
        """Each alarm (re)starts the response, towards the drifting region if the embedding
        detector located one, and makes the calibrator forget its labels."""
        monitor = self.health.monitor
        for alarm in alarms:
            if self.pacer is not None:
                self.pacer.on_alarm(alarm.detector)
            self.calibrator.reset()
            self._since_fit = 0
            if self.response is not None:
                embedding = alarm.detector == monitor.embedding.name
                self.response.on_alarm(alarm, monitor.region if embedding else None)

    @property
    def responding(self) -> bool:
        return self.response is not None and self.response.active

    @property
    def debt(self) -> float:
        """Cost bought beyond the budget ledger by a drift response, not yet repaid."""
        aware = find(self.stage.selector, DriftAwareSelector)
        credit = None if aware is None else aware.credit
        return 0.0 if credit is None else float(credit.debt)

    def progress(self) -> tuple[int, float]:
        """What a rebuild needs of the response in progress: the stream items since it
        started (-1: none in progress) and its debt. Written with every ledger."""
        r = self.response
        return (r.elapsed if r is not None and r.active else -1), self.debt

    def resume(self, elapsed: int, debt: float) -> None:
        """After a rebuild: the response in progress goes on from ``elapsed`` items, owing
        ``debt`` (moved out of the stage's ledger, which a rebuild charged with everything
        bought). Its region (the alarm's windows) is not kept: it explores by novelty alone."""
        aware = find(self.stage.selector, DriftAwareSelector)
        if self.response is not None and elapsed >= 0 and self.response.period > 0:
            self.response.started_at = self.response.position - elapsed
        if aware is None or debt <= 0:
            return
        budget = self.stage.budget
        moved = min(debt, budget.spent)
        budget.spent -= moved
        budget.window_spent = max(0.0, budget.window_spent - moved)
        aware.credit = CreditBudget(budget, limit=max(moved, self.response.credit_limit()),
                                    debt=moved)

    # ---- pacing -----------------------------------------------------------------------------
    def pacing(self) -> dict[str, Any] | None:
        """What a rebuild needs to pace on (:meth:`PacedSelector.state_dict`: the pacer's rate
        and state, the money withheld); None without ``pacing.enabled``. Written with every
        ledger."""
        return None if self.paced is None else self.paced.state_dict()

    def resume_pacing(self, state: dict[str, Any] | None) -> None:
        """After a rebuild: the pacer and the withheld money go on from ``state`` (None: a
        ledger written without pacing; the pacer starts at full rate)."""
        if self.paced is None or state is None:
            return
        self.paced.resume(state, self.stage.budget)
        self.pacer = self.paced.pacer

    # ---- calibration ----------------------------------------------------------------------
    def on_labels(self, before: ModelSnapshot, X: np.ndarray, labels: Sequence[str],
                  reasons: Sequence[str]) -> None:
        """Labels for rows ``X`` arrived; ``before`` is the model that has not learned them
        and ``reasons`` why each item was bought (call before learning)."""
        self._since_fit += self.calibrator.update_from_snapshot(before, X, labels, reasons)
        if self.pacer is not None:
            self.pacer.on_labels(before, X, labels, reasons)

    def calibrate(self, learner: OnlineLearner) -> CalibrationResult | None:
        """Every ``REFIT_EVERY`` new calibration labels: fit, and adopt the temperature if it
        lowered the NLL on the newest labels. Returns the fit (None: not due or too few)."""
        if self._since_fit < REFIT_EVERY:
            return None
        self._since_fit = 0
        result = self.calibrator.fit()
        if result is None:
            return None
        self.last_calibration = result
        if result.applied and self.calibrator.temperature != learner.temperature:
            learner.set_temperature(self.calibrator.temperature)
        return result

    @property
    def temperature(self) -> float:
        return self.calibrator.temperature

    def resume_temperature(self, learner: OnlineLearner, temperature: float) -> None:
        """After a rebuild: keep the temperature of the last published model (the labels it
        was fitted on are gone; the next fit must beat it on new ones)."""
        if temperature > 0 and temperature != learner.temperature:
            learner.set_temperature(temperature)
        self.calibrator.temperature = learner.temperature

    def adopt(self, snapshot: ModelSnapshot) -> None:
        """A model from elsewhere (a rollback) is in use: calibrate from scratch at its
        temperature."""
        self.calibrator.reset()
        self.calibrator.temperature = float(snapshot.temperature)
        self._since_fit = 0
