"""The budget pacer seen from outside: its gauges, and an event per pause and resume.

The pacer (:class:`~stream_al.pace.pacer.Pacer`) is pure; the coordinating shell calls
:func:`report_pacing` after each control record, as it reports drift alarms.
"""

from __future__ import annotations

import time

from stream_al.metrics import Metrics
from stream_al.pace.pacer import STATES, Pacer
from stream_al.stream.messages import Event
from stream_al.stream.publish import Publisher


async def report_pacing(pacer: Pacer | None, metrics: Metrics, publisher: Publisher) -> None:
    """Set the pacer's gauges; publish a ``pacing`` event for each pause or resume since the
    last call. Nothing without a pacer (``pacing.enabled`` off)."""
    if pacer is None:
        return
    metrics.set_pacer(STATES.index(pacer.state), pacer.rate, pacer.labels_saved, pacer.saved,
                      pacer.signals.as_dict())
    for change in pacer.take_changes():
        await publisher.event(Event(
            schema_version=1, kind="pacing", at=time.time(),
            detail={"change": change.kind, "reason": change.reason, "rate": change.rate,
                    "position": change.position, "signals": change.signals,
                    "labels_saved": round(pacer.labels_saved, 2)},
        ))
