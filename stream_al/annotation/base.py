"""Annotation settings, the adjudicated verdict on an item, and the aggregator contract."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, Field, model_validator

from stream_al.labels.base import Label

Status = Literal["single", "unanimous", "resolved", "escalated", "gold", "expert"]


class AnnotationSettings(BaseModel):
    """Multiple annotators, adjudication, batches and noise checks (``Settings.annotation``)."""

    annotators_per_item: int = Field(1, ge=1, description="k: labels asked for a normal item")
    gold_fraction: float = Field(0.0, ge=0, lt=1, description="share of items asked of more "
                                 "annotators to measure agreement and annotator quality")
    gold_annotators: int = Field(3, ge=1, description="labels asked for a gold-fraction item")
    low_confidence: float = Field(0.0, ge=0, le=1, description="model confidence below which "
                                  "an item gets low_confidence_annotators (0: never)")
    low_confidence_annotators: int = Field(3, ge=1)
    max_annotators: int = Field(5, ge=1, description="cap on labels per item")
    adjudication: Literal["majority", "dawid_skene", "one_coin"] = "dawid_skene"
    min_confidence: float = Field(0.7, ge=0, le=1, description="verdicts of several labels "
                                  "less sure than this are escalated to an expert")
    expert_topic: str = "stream-al.expert"
    expert_annotators: list[str] = Field(default_factory=list,
                                         description="annotator ids whose label is final")
    batch_size: int = Field(20, ge=1, description="items per annotator batch")
    deadline_s: float = Field(3600.0, gt=0, description="seconds a batch may take")
    max_offers: int = Field(2, ge=1, description="offers of an item before its cost is released")
    noise_model_confidence: float = Field(0.7, gt=0, le=1, description="a label is suspicious "
                                          "only against a model at least this sure")
    noise_neighbours: int = Field(10, ge=1, description="labelled neighbours that vote")
    noise_neighbour_share: float = Field(0.3, gt=0, le=1, description="suspicious when fewer "
                                         "than this share of neighbours carry the label")
    cleanlab_min_labels: int = Field(0, ge=0, description="also run cleanlab once this many "
                                     "labels exist (0: never)")

    @model_validator(mode="after")
    def _caps(self) -> AnnotationSettings:
        wanted = max(self.annotators_per_item, self.gold_annotators,
                     self.low_confidence_annotators)
        if wanted > self.max_annotators:
            raise ValueError(f"annotation.max_annotators ({self.max_annotators}) is below the "
                             f"{wanted} annotators asked for; raise it or lower the others")
        return self


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
