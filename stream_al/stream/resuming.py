"""A coordinator restored from what a rebuild read: from the checkpoint's image and the records
after it when it can (format 3: loop/resume.py), from every record otherwise.

The worker's shell (stream/coordinating.py) and the failover benchmark use these two, so both
take the same path: :func:`restored` at a rebuild, :func:`image_bytes` when a checkpoint is
prepared (the image of a restore of every record the checkpoint covers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from stream_al.labels import Label
from stream_al.loop.coordinator import Coordinator, Restored
from stream_al.loop.resume import NotResumable, image_of, resume
from stream_al.stream import checkpoint_image, conversion
from stream_al.stream.rebuild import TopicState

log = logging.getLogger(__name__)


def restored(make: Callable[[], Coordinator], state: TopicState, labels: Sequence[Label],
             now: float) -> tuple[Coordinator, Restored, bool]:
    """A coordinator (``make`` builds a fresh one) restored from ``state`` with ``labels``
    (its labels the worker's caps admitted, the same objects): ``state.image`` resumed with
    the records after it, or (no image, or a suffix it cannot take: a warning says why)
    every record; and whether the image was resumed."""
    args = _history(state, now)
    if state.image is not None:
        n_selected, n_labels = state.prefix
        after = {id(x) for x in state.labels[n_labels:]}
        c = make()
        try:
            return c, resume(c, state.image, state.selected[n_selected:], state.expired,
                             [x for x in labels if id(x) in after], *args), True
        except NotResumable as e:
            log.warning("the checkpoint's image cannot be resumed (%s): restoring every "
                        "record instead", e)
    c = make()
    return c, c.restore(state.selected, state.expired, labels, *args), False


def _history(state: TopicState, now: float) -> tuple:
    """What a restore (or a resume) takes after the records, as ``state`` has it: the ledger,
    the model version, ``now``, the rollback in force, the expert requests, the model."""
    return (conversion.budget_ledger(state.ledger), state.model_version, now,
            conversion.rollback_in_force(state.rollback), state.requested, state.model)


def image_bytes(make: Callable[[], Coordinator], state: TopicState,
                labels: Sequence[Label]) -> bytes | None:
    """The image (checkpoint_image.py) of a coordinator restored from every record of
    ``state`` (``labels``: those the caps admitted); None when none can be made (a rollback
    in force)."""
    started = time.process_time()
    c = make()
    c.restore(state.selected, state.expired, labels, *_history(state, time.time()))
    try:
        raw = checkpoint_image.encode(image_of(c, state.requested))
    except NotResumable as e:
        log.info("no image in this checkpoint: %s", e)
        return None
    log.info("coordinator image: %.0f MB in %.1fs CPU", len(raw) / 2**20,
             time.process_time() - started)
    return raw
