"""The label record: what an annotator said about an item, and when."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    """One annotator's answer for one item. ``received_at`` is when it reached a worker."""

    item_id: str
    label: str
    annotator_id: str
    timestamp: float
    confidence: float | None = None
    received_at: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        """Labels are idempotent on (item, annotator): a vendor's retry changes nothing."""
        return self.item_id, self.annotator_id
