"""What a run leaves behind, and the measures the suite reads from it: one definition for
stream-al's strategies and for every peer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stream_al.simulate.simulator import CurvePoint as Point
from stream_al.simulate.simulator import area_under_curve, checkpoints

__all__ = ["Point", "RunResult", "area_under_curve", "checkpoints", "labels_to_reach",
           "labels_until_first", "from_simulation"]
"""``area_under_curve`` and ``checkpoints`` are the simulator's own, so peers and stream-al's
strategies are measured alike."""


@dataclass
class RunResult:
    """A peer's run, in the shape of the simulator's ``StrategyResult`` (whose public fields
    the suite reads) plus the classes bought; kept apart so that the peers do not depend on
    what else the simulator's result carries."""

    name: str
    curve: list[Point] = field(default_factory=list)
    labels_used: int = 0
    final_accuracy: float = 0.0
    macro_f1: float = 0.0
    auc: float = 0.0
    bought: list[str] = field(default_factory=list)
    """Classes of the labels bought, in order (empty when the driver does not say)."""


def labels_to_reach(curve: Sequence[Point], target: float) -> int | None:
    """Labels used at the first checkpoint whose accuracy reaches ``target``; None if none does.

    >>> labels_to_reach([Point(10, 5, 0.4, 0), Point(20, 9, 0.8, 0), Point(30, 14, 0.7, 0)], 0.75)
    9
    """
    for p in curve:
        if p.accuracy >= target:
            return p.labels_used
    return None


def labels_until_first(bought: Sequence[str], label: str) -> int | None:
    """How many labels were bought up to and including the first of class ``label``.

    >>> labels_until_first(["a", "b", "a", "c"], "c")
    4
    """
    for i, y in enumerate(bought, 1):
        if y == label:
            return i
    return None


def from_simulation(result: object, stream_length: int) -> RunResult:
    """A stream-al ``StrategyResult`` (the simulator's public fields) as a :class:`RunResult`,
    its AUC recomputed by :func:`area_under_curve` so that every run is measured alike."""
    curve = [Point(int(p.position), int(p.labels_used), float(p.accuracy), float(p.macro_f1))
             for p in result.curve]
    return RunResult(result.name, curve, int(result.labels_used), float(result.final_accuracy),
                     float(result.macro_f1), area_under_curve(curve, stream_length))
