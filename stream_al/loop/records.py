"""What the coordinator takes and returns: plain domain records, no wire format.

Each driver converts its own input into these: the Kafka worker from the pydantic messages it
reads (``stream_al/stream/conversion.py``), the simulator from dataset rows. Labels arrive as
:class:`~stream_al.labels.base.Label` rows (``received_at``: when each reached a worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_al.drift.forwarded import DriftSummary
from stream_al.labels import Label
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.spans import Span


@dataclass(frozen=True)
class ScoredTexts:
    """Texts a scorer embedded and scored under one model version.

    ``partitions``/``offsets``: where each text sits on the texts topic (empty: not known); a
    text redelivered to a scorer comes back with the same offset and is not counted twice.
    """

    batch_id: str
    ids: list[str]
    texts: list[str]
    X: np.ndarray
    """(len(ids), dim) float32 embeddings."""
    scores: dict[str, np.ndarray]
    model_version: int
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    weights: np.ndarray | None = None
    """Pre-selected candidates (stream_al.select.preselect): stream texts each stands for."""
    spans: list[Span] = field(default_factory=list)
    """Pre-selected candidates: every text the scorer saw, per texts partition (the budget
    counts these); empty: the record holds every text it stands for."""
    drift: DriftSummary | None = None
    """``scale.drift_at_scorers``: the scorer's drift feature sums of these candidates, per
    block (stream_al/drift/forwarded.py)."""

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])


@dataclass(frozen=True)
class Purchase:
    """An item bought for labelling: what goes to the vendors."""

    item_id: str
    text: str
    batch_id: str
    strategy: str
    reason: str
    scores: dict[str, float]
    model_version: int
    deadline: float
    cost: float
    group: int
    priority: float = 0.0
    annotators: int = 1
    window: int = -1
    """The budget window it was charged to (``budget.window_items``; -1: not known)."""


@dataclass(frozen=True)
class Refusal:
    """Why a label cannot be used: ``reason`` is a dead-letter reason, ``detail`` for humans."""

    reason: str
    detail: str = ""


@dataclass
class LabelOutcome:
    """What became of one record of labels."""

    accepted: list[Label] = field(default_factory=list)
    duplicates: list[Label] = field(default_factory=list)
    rejected: list[tuple[Label, Refusal]] = field(default_factory=list)
    gains: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    """Per accepted label the model could already predict: was its prediction right?"""
    version: int = 0


@dataclass(frozen=True)
class ExpertRequest:
    """An item for an expert: its annotators disagree, or a lone label looks wrong."""

    item_id: str
    text: str
    reason: str
    detail: str
    votes: dict[str, int]
    annotators: dict[str, str]
    best_label: str | None
    confidence: float
    model_label: str | None
    model_confidence: float | None
    at: float


@dataclass(frozen=True)
class BudgetLedger:
    """The budget after a control record; ``spent`` is informational (a rebuild recomputes it
    from the purchases minus expiries)."""

    seen: int
    spent: float
    window_seen: int
    window_spent: float
    control_offset: int
    at: float
    texts_offsets: dict[int, int] = field(default_factory=dict)
    drift_elapsed: int = -1
    """Stream items since the drift response in progress started (-1: none in progress)."""
    drift_debt: float = 0.0
    """Of ``spent``, what the drift response borrowed and has not repaid yet."""
    pacing: dict[str, Any] | None = None
    """The budget pacer's state (``PacedSelector.state_dict``: its rate, what it saved, the
    money withheld); None: pacing off, or a ledger written before it was kept."""


@dataclass(frozen=True)
class ModelRelease:
    """A model to publish, with the arrival times of the labels it first learned and the
    hash of the labelled rows it learned (``stream_al.labels.export``)."""

    snapshot: ModelSnapshot
    label_received_at: list[float]
    labels_hash: str

    @property
    def version(self) -> int:
        return self.snapshot.version

    @property
    def n_labels(self) -> int:
        return self.snapshot.n_labels

    @property
    def classes(self) -> list[str]:
        return list(self.snapshot.classes)


@dataclass(frozen=True)
class RollbackCommand:
    """An operator's rollback to a registered model: continue from ``snapshot`` with the rows
    it learned (``learned``: item id, annotator id, label)."""

    command_id: str
    registry_version: int
    model_version: int
    snapshot: ModelSnapshot
    learned: list[tuple[str, str, str]]
    requested_at: float = 0.0


@dataclass(frozen=True)
class RollbackInForce:
    """The rollback in force: a rebuild starts from ``snapshot`` with its rows and never
    learns the ``excluded`` items. ``version``: what the rolled-back model was published as."""

    command_id: str
    registry_version: int
    model_version: int
    version: int
    snapshot: ModelSnapshot
    learned: list[tuple[str, str, str]]
    excluded: list[str]
    at: float
