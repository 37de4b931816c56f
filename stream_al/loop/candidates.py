"""What a scorer forwards to the coordinator: every scored text, or only candidates.

Both drivers run this: the Kafka scorers (``stream_al/stream/scoring.py``) on each batch they
read, the simulator's scorers (``stream_al/simulate/replay.py``) on each simulated partition's
share of a chunk. With ``scale.preselect`` a :class:`Forwarding` keeps one
:class:`~stream_al.select.preselect.PreSelector` per texts partition and turns a scored batch
into a record of candidates: their rows, the stream texts each stands for, and one
:class:`~stream_al.loop.spans.Span` per partition for every text of the batch (what the
budget counts). Without it, the batch goes as it is. With ``scale.ood_at_scorers`` too, each
candidate carries its OOD distance and flag, checked against the labelled rows the scorer was
given (:meth:`Forwarding.labelled_many`; select/ood_check.py). With ``scale.drift_at_scorers``
each record carries the sums of its candidates' drift features, per block (drift/forwarded.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from stream_al.config import (
    BudgetSettings,
    DriftSettings,
    OODSettings,
    ScaleSettings,
    SelectionSettings,
)
from stream_al.drift.forwarded import ScorerDrift
from stream_al.loop.records import ScoredTexts
from stream_al.loop.spans import spans_of
from stream_al.select.ood_check import ScorerCheck
from stream_al.select.preselect import PreSelector

SCORER_SEED = 7919
"""Scorer k's OOD check is seeded ``seed + k * SCORER_SEED`` (scorer 0: ``seed``)."""


class Forwarding:
    """A scorer's first level of selection, one pre-selector per texts partition."""

    def __init__(self, scale: ScaleSettings, budget: BudgetSettings,
                 selection: SelectionSettings, seed: int | None = None,
                 ood: OODSettings | None = None, drift: DriftSettings | None = None,
                 scorer: int = 0) -> None:
        """``scorer``: which of several scorers this is (its OOD check draws its threshold's
        sample from its own seed; the pre-selectors' seeds are the partitions')."""
        self.enabled = scale.preselect
        self.fraction = budget.fraction
        self.multiple = scale.candidate_multiple
        self.floor = scale.candidate_floor
        self.kind = selection.uncertainty
        self.seed = selection.seed if seed is None else seed
        self.partitions: dict[int, PreSelector] = {}
        self.ood: ScorerCheck | None = None
        """``scale.ood_at_scorers``: the OOD check of the candidates (select/ood_check.py)."""
        if scale.preselect and scale.ood_at_scorers:
            self.ood = ScorerCheck(ood or OODSettings(), seed=self.seed + SCORER_SEED * scorer)
        self.drift: ScorerDrift | None = None
        """``scale.drift_at_scorers``: the drift feature sums of the candidates."""
        if scale.preselect and scale.drift_at_scorers:
            self.drift = ScorerDrift(drift or DriftSettings())

    def labelled_many(self, X: np.ndarray) -> None:
        """Labelled rows the coordinator published (``scale.ood_at_scorers``), in its order."""
        if self.ood is not None:
            self.ood.labelled_many(X)

    def _of(self, partition: int) -> PreSelector:
        pre = self.partitions.get(partition)
        if pre is None:
            pre = self.partitions[partition] = PreSelector(
                self.fraction, self.multiple, self.kind, floor=self.floor,
                seed=(self.seed, partition))
        return pre

    def candidates_of(self, record: ScoredTexts) -> ScoredTexts:
        """``record`` as the scorer forwards it (candidates only with ``scale.preselect``).
        Texts without a known partition and offset are forwarded as they are. With
        ``scale.ood_at_scorers`` every forwarded text carries its OOD distance and flag, with
        ``scale.drift_at_scorers`` the record its drift feature sums."""
        out = self._candidates_of(record)
        if self.drift is not None:
            out = replace(out, drift=self.drift.observe_many(out.X))
        if self.ood is None or not len(out.ids):
            return out
        return replace(out, scores=out.scores | self.ood.scores_many(out.X))

    def _candidates_of(self, record: ScoredTexts) -> ScoredTexts:
        if not self.enabled or not record.offsets:
            return record
        partitions = np.asarray(record.partitions)
        rows: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for p in np.unique(partitions).tolist():
            mine = np.flatnonzero(partitions == p)
            chosen = self._of(p).select_many({k: np.asarray(v)[mine]
                                              for k, v in record.scores.items()}, len(mine),
                                             record.model_version)
            rows.append(mine[chosen.rows])
            weights.append(chosen.weights)
        keep = np.concatenate(rows)
        order = np.argsort(keep, kind="stable")
        keep, w = keep[order], np.concatenate(weights)[order]
        return ScoredTexts(
            batch_id=record.batch_id,
            ids=[record.ids[i] for i in keep.tolist()],
            texts=[record.texts[i] for i in keep.tolist()],
            X=record.X[keep],
            scores={k: np.asarray(v)[keep] for k, v in record.scores.items()},
            model_version=record.model_version,
            partitions=[record.partitions[i] for i in keep.tolist()],
            offsets=[record.offsets[i] for i in keep.tolist()],
            weights=w,
            spans=spans_of(zip(record.partitions, record.offsets, strict=True)),
        )
