"""Labels that came back from vendors: one record per (item, annotator), deduplicated."""

from stream_al.labels.base import Label
from stream_al.labels.store import LabelStore

__all__ = ["Label", "LabelStore"]
