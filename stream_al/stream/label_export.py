"""The Kafka side of ``stream-al labels export``: the labelled dataset rebuilt from the topics.

Reads the ``selected`` and ``labels`` topics to their ends and keeps what the coordinator would
keep (:func:`stream_al.labels.export.admitted_rows`); ``stream_al/cli/labels.py`` writes it as
a versioned snapshot (:func:`stream_al.labels.export.write_snapshot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream_al.config import KafkaSettings
from stream_al.labels.export import LabeledSnapshot, admitted_rows
from stream_al.stream.messages import LabelIn, SelectedItem, parse
from stream_al.stream.rebuild import read_topic


def rebuild_from_topic(
    bootstrap: str,
    labels_topic: str,
    selected_topic: str,
    *,
    label_policy: str = "accept_new_class",
    label_classes: Sequence[str] = (),
    timeout_s: float = 60.0,
) -> LabeledSnapshot:
    """The labelled dataset from the topics alone: every record of ``selected_topic`` (texts)
    and ``labels_topic`` up to their ends now, through :func:`admitted_rows`. Unreadable
    records are skipped, as the coordinator skips them."""
    kafka = KafkaSettings(bootstrap=bootstrap, app_id="stream-al-labels-export")

    def records(topic: str, model: type) -> list[Any]:
        parsed = (parse(model, r.value) for r in read_topic(kafka, topic, timeout_s=timeout_s))
        return [p for p in parsed if isinstance(p, model)]

    selected = records(selected_topic, SelectedItem)
    labels = records(labels_topic, LabelIn)
    return admitted_rows(selected, labels, label_policy, label_classes)
