"""A coordinator rebuilt from what a rebuild read: from the checkpoint's image and the records
after it when it can (format 3: loop/resume.py), from every record otherwise.

The worker's shell (stream/coordinating.py) and the failover benchmark use these two, so all
take the same path: :func:`rebuilt` at a rebuild, and when a checkpoint is prepared
:func:`image_bytes` of what :func:`rebuilt` gives from the last checkpoint's image and the
records since (each image is made from the one before it, as a successor would rebuild).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from stream_al.labels import Label
from stream_al.loop.admission import Admission
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.restore import History, Restored
from stream_al.loop.resume import NotResumable, image_of, resume
from stream_al.stream import checkpoint_image, conversion
from stream_al.stream.rebuild import TopicState

log = logging.getLogger(__name__)


@dataclass
class Rebuilt:
    coordinator: Coordinator
    restored: Restored
    admission: Admission
    """The caps, as they stand after every label replayed (the worker goes on with them)."""
    resumed: bool
    """From the image and the records after it (not every record)."""


def rebuilt(make: Callable[[], Coordinator], caps: Callable[[], Admission], state: TopicState,
            records: Callable[[], TopicState], now: float, image_only: bool = False) -> Rebuilt:
    """A coordinator (``make`` builds a fresh one, ``caps`` fresh caps on labels) rebuilt from
    ``state``: ``state.image`` resumed with the records after it, or (no image, or records it
    cannot take: a warning says why) every record, ``records()`` (``state`` itself when it
    has no image). ``image_only``: to be imaged, nothing else (``Coordinator.image_only``)."""
    def fresh() -> Coordinator:
        c = make()
        c.image_only = image_only
        return c

    if state.image is not None:
        try:
            return _resumed(fresh, caps, state, now)
        except NotResumable as e:
            log.warning("the checkpoint's image cannot be resumed (%s): restoring every "
                        "record instead", e)
        state = records()
    admission = caps()
    labels = admission.replay_many(state.labels, state.label_times)
    c = fresh()
    return Rebuilt(c, c.restore(_history(state, labels, now)), admission, False)


def _resumed(make: Callable[[], Coordinator], caps: Callable[[], Admission], state: TopicState,
             now: float) -> Rebuilt:
    image = state.image
    assert image is not None
    admission = caps()
    admission.load_state(image.admission)
    if state.label_times and min(state.label_times) < image.admission.until:
        raise NotResumable("a label arrived before the image's newest (the caps replay labels "
                           "in their order of arrival)")
    labels = admission.replay_many(state.labels, state.label_times)
    c = make()
    return Rebuilt(c, resume(c, image.coordinator, _history(state, labels, now)), admission,
                   True)


def _history(state: TopicState, labels: list[Label], now: float) -> History:
    """What a restore (or a resume) takes, as ``state`` has it (``labels``: its labels the caps
    admitted) at ``now``."""
    return History(state.selected, state.expired, labels, conversion.budget_ledger(state.ledger),
                   state.model_version, now, conversion.rollback_in_force(state.rollback),
                   state.requested, state.model)


def image_bytes(r: Rebuilt, state: TopicState) -> bytes | None:
    """The image (checkpoint_image.py) of ``r``, just rebuilt from ``state`` (nothing folded
    since); None when none can be made (a rollback in force)."""
    started = time.process_time()
    try:
        image = image_of(r.coordinator, state.requested)
    except NotResumable as e:
        log.info("no image in this checkpoint: %s", e)
        return None
    raw = checkpoint_image.encode(checkpoint_image.CheckpointImage(
        image, r.admission.state(), checkpoint_image.head_of(state)))
    log.info("coordinator image: %.0f MB in %.1fs CPU (%s)", len(raw) / 2**20,
             time.process_time() - started,
             "resumed from the last one" if r.resumed else "restored from every record")
    return raw
