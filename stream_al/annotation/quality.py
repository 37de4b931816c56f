"""Each annotator's accuracy on gold items (known answers), kept as labels arrive.

Accuracy is the posterior mean of a Beta(1, 1) prior updated with the annotator's hits and
misses on gold, so an annotator with two gold answers is not reported at 0% or 100%. With
``half_life`` (in that annotator's gold labels) old answers fade and the number follows
someone whose work gets better or worse.

>>> from stream_al.labels.base import Label
>>> quality = AnnotatorQuality({"g1": "World", "g2": "Sports"})
>>> quality.observe_many([Label("g1", "World", "ann-1", 0), Label("g2", "World", "ann-1", 1),
...                       Label("x", "World", "ann-1", 2)])
2
>>> quality.report()["ann-1"]
AnnotatorScore(correct=1.0, total=2.0, accuracy=0.5)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from stream_al.labels.base import Label


@dataclass(frozen=True)
class AnnotatorScore:
    correct: float
    total: float
    accuracy: float


class AccuracyGauge(Protocol):
    def set_annotator_accuracy(self, annotator: str, accuracy: float) -> None: ...


class AnnotatorQuality:
    def __init__(self, gold: Mapping[str, str] | None = None,
                 half_life: float | None = None) -> None:
        if half_life is not None and half_life <= 0:
            raise ValueError(f"half_life must be > 0 labels (or None: never forget), got {half_life}")
        self.gold: dict[str, str] = dict(gold or {})
        self._decay = 0.5 ** (1.0 / half_life) if half_life else 1.0
        self._correct: dict[str, float] = {}
        self._total: dict[str, float] = {}

    def add_gold(self, item_id: str, label: str) -> None:
        self.gold[item_id] = label

    def observe_many(self, labels: Iterable[Label]) -> int:
        """Score labels of gold items against their answers; returns how many were gold."""
        n = 0
        for x in labels:
            truth = self.gold.get(x.item_id)
            if truth is None:
                continue
            a = x.annotator_id
            self._correct[a] = self._correct.get(a, 0.0) * self._decay + (x.label == truth)
            self._total[a] = self._total.get(a, 0.0) * self._decay + 1.0
            n += 1
        return n

    def accuracy(self, annotator: str) -> float:
        """Posterior mean accuracy; 0.5 for an annotator never seen on gold."""
        return (self._correct.get(annotator, 0.0) + 1.0) / (self._total.get(annotator, 0.0) + 2.0)

    def report(self) -> dict[str, AnnotatorScore]:
        return {a: AnnotatorScore(self._correct[a], t, self.accuracy(a))
                for a, t in sorted(self._total.items())}

    def below(self, threshold: float, min_gold: int = 10) -> list[str]:
        """Annotators with at least ``min_gold`` gold answers whose accuracy is under
        ``threshold`` (e.g. 1/classes + margin catches spammers)."""
        return [a for a, s in self.report().items() if s.total >= min_gold and s.accuracy < threshold]

    def export(self, metrics: AccuracyGauge) -> None:
        """Set ``stream_al_annotator_accuracy_ratio`` for every annotator seen on gold."""
        for annotator, score in self.report().items():
            metrics.set_annotator_accuracy(annotator, score.accuracy)
