"""The one place the selection stack is built from :class:`~stream_al.config.Settings`.

Every driver (the coordinator the Kafka worker and the simulator run, the benchmarks, the
tests) gets its selector from :func:`build_stage`, so what is measured is what is deployed.
From the inside out:

1. the strategy (``selection.strategy`` or ``strategy``; ``selection.seed`` seeds it), on the
   stage's budget ledger: ``budget.fraction`` labels per item, or with ``cost.unit`` minutes or
   money a :class:`~stream_al.select.cost.CostBudget`'s ledger (``stage.cost_budget``);
2. with ``cost.aware`` (minutes or money), :class:`~stream_al.select.cost_aware.CostAware`:
   informativeness per unit of cost;
3. with ``selection.validation_share > 0`` (and a strategy other than random, whose labels all
   are uniform draws), :class:`~stream_al.select.validation.ValidationTrickle`: that share of
   the budget drawn uniformly from the stream, for the learner's l2 search to validate on;
4. with ``pacing.enabled``, :class:`~stream_al.select.paced.PacedSelector`: the strategy at
   the pacer's rate, plus a random control trickle (``stream_al/pace/``);
5. with ``ood.max_share > 0``, :class:`~stream_al.select.ood_cap.OODSelector`: items far from
   everything labelled bought for reason ``"ood"``, capped at that share of the budget;
6. with ``drift.response_items > 0``, :class:`~stream_al.select.drift_aware.DriftAwareSelector`,
   whose :class:`~stream_al.drift.response.DriftResponse` drift alarms start.

>>> from stream_al.config import OODSettings, Settings
>>> stage = build_stage(Settings.load(budget={"fraction": 0.1}), dim=8, strategy="random")
>>> [type(p).__name__ for p in layers(stage.selector)]
['DriftAwareSelector', 'OODSelector', 'RandomSelector']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stream_al.config import OODSettings, Settings
from stream_al.drift.response import DriftResponse
from stream_al.learn.regularisation import enough_rows
from stream_al.ood import OODDetector
from stream_al.select.base import Selector
from stream_al.select.cost import CostBudget, make_cost_model
from stream_al.select.cost_aware import CostAware
from stream_al.select.drift_aware import DriftAwareSelector
from stream_al.select.factory import make_selector
from stream_al.select.ood_cap import OODSelector
from stream_al.select.paced import PacedSelector
from stream_al.select.stage import SelectionStage
from stream_al.select.validation import ValidationTrickle


def build_stage(settings: Settings, dim: int, strategy: str | None = None, *,
                ood: OODDetector | None = None,
                novelty_capacity: int | None = None) -> SelectionStage:
    """The selection stage with its whole stack (see the module's docstring).

    A composition root: it takes the whole :class:`Settings` because the stack spans parts
    (``selection``, ``budget``, ``cost``, ``pacing``, ``ood``, ``drift``), and hands each layer
    only its own.

    ``ood``: the detector the OOD cap checks stream items against (the coordinator passes its
    :class:`~stream_al.drift.health.DataHealth`'s, which learns from every label); by default
    a fresh one.
    """
    stage = SelectionStage(settings.selection, settings.budget, dim, strategy, novelty_capacity)
    cost = settings.cost
    if cost.unit != "labels":
        stage.cost_budget = CostBudget(cost, make_cost_model(cost), cost.task,
                                       warmup=float(settings.budget.warmup_labels))
        stage.budget = stage.cost_budget.ledger
        if cost.aware:
            sel, bud = settings.selection, settings.budget
            stage.selector = CostAware.of(
                lambda r: make_selector(stage.strategy, sel, bud, r), stage,
                kind=sel.uncertainty, min_cost=cost.min_cost)
    fraction = stage.budget.fraction  # of the ledger: with minutes or money, the cost budget's
    detector = None
    if has_ood_cap(settings.ood):
        detector = ood or OODDetector(dim, settings.ood, seed=settings.selection.seed)
    share = settings.selection.validation_share
    if share > 0 and stage.strategy != "random":
        learner = settings.learner

        def needed() -> int:  # uniform rows the l2 search needs for the classes seen so far
            return enough_rows(stage.n_classes, learner.cv_min_labels, learner.cv_folds)

        stage.selector = ValidationTrickle(stage.selector, share, fraction,
                                           seed=settings.selection.seed, needed=needed)
    if settings.pacing.enabled:
        stage.selector = PacedSelector(stage.selector, settings.pacing, fraction,
                                       lambda: stage.snapshot, detector,
                                       ledger=lambda: stage.budget,
                                       l2=settings.learner.l2 or settings.learner.l2_prior)
    if detector is not None:
        stage.selector = OODSelector(stage.selector, detector, fraction,
                                     seed=settings.selection.seed,
                                     at_scorers=settings.scale.ood_at_scorers)
    if settings.drift.response_items > 0:
        response = DriftResponse.from_settings(settings.drift, fraction)
        stage.selector = DriftAwareSelector(stage.selector, response)
    return stage


def has_ood_cap(ood: OODSettings) -> bool:
    """The stack holds an :class:`OODSelector` (``ood.max_share > 0``): it checks and counts
    every stream item against its detector (the coordinator's health's, which then does not)."""
    return ood.max_share > 0


def layers(selector: Selector) -> Iterator[Any]:
    """``selector`` and the selectors it wraps, outermost first."""
    part: Any = selector
    while part is not None:
        yield part
        part = getattr(part, "base", None) or getattr(part, "inner", None)


def find(selector: Selector, kind: type) -> Any | None:
    """The layer of ``selector`` that is a ``kind``, or None."""
    return next((p for p in layers(selector) if isinstance(p, kind)), None)
