"""The adjudicated verdict on an item and the aggregator contract.

``AnnotationSettings`` lives in :mod:`stream_al.config` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from stream_al.config import AnnotationSettings
from stream_al.labels.base import Label

__all__ = ["AnnotationSettings", "Aggregator", "Status", "Verdict"]

Status = Literal["single", "unanimous", "resolved", "escalated", "gold", "expert"]


@dataclass(frozen=True)
class Verdict:
    """What an item's label is taken to be, how sure we are, and how it was decided.

    ``label`` is None only for an item with no usable label. ``votes`` counts the raw labels.
    """

    item_id: str
    label: str | None
    confidence: float
    status: Status
    method: str
    votes: dict[str, int] = field(default_factory=dict)

    @property
    def n_labels(self) -> int:
        return sum(self.votes.values())

    @property
    def trusted(self) -> bool:
        """Fit to learn from: not waiting for an expert."""
        return self.label is not None and self.status != "escalated"


class Aggregator(Protocol):
    """Turns every label seen so far into one verdict per item."""

    def adjudicate_many(self, labels: Iterable[Label],
                        gold: Mapping[str, str] | None = None) -> dict[str, Verdict]: ...
