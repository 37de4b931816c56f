"""Rolling the live model back to a registered version, and keeping it rolled back.

An operator runs ``stream-al models rollback V``: the CLI reads version V from the registry
(its snapshot and the rows it learned: item, annotator, label) and writes a
:class:`~stream_al.stream.messages.RollbackRecord` to the single-partition ``control`` topic,
so it takes effect in order with the labels around it. The coordinator then:

1. keeps every label in its store (and on the ``labels`` topic, and in exports);
2. resets the learner to V exactly (weights, committee, temperature) with V's rows as its
   replay memory. Every item that had a label by then but that V did not learn is
   *excluded*: none of its labels or verdicts is learned again, not even after a restart
   or when a corrected verdict rebuilds the learner;
3. publishes V's weights as a new version, greater than any before, so every scorer (which
   ignores versions older than its own) swaps it in and predicts exactly as V did;
4. writes the rollback in force to the compacted ``state`` topic (key ``rollback``). A
   rebuild reads it back: it starts the learner from V's snapshot and rows and learns only
   what was labelled after the rollback.

Items labelled after the rollback are learned on top of V as usual. A later rollback
replaces the one in force (its exclusions are computed afresh, so rolling forward to a
version that learned excluded items re-admits them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from stream_al.labels import Label
from stream_al.stream.messages import RollbackRecord, RollbackState

if TYPE_CHECKING:
    from stream_al.stream.coordinator import Coordinator


class RollbackError(ValueError):
    """A rollback this coordinator cannot apply; the message names the fix."""


def roll_back(c: Coordinator, record: RollbackRecord, now: float) -> RollbackState | None:
    """Apply ``record`` to ``c``; the rollback now in force (None: it already was)."""
    if c.rollback is not None and c.rollback.command_id == record.command_id:
        return None  # replayed after a crash: the rebuild already applied it
    snapshot = record.to_snapshot()
    if snapshot.dim != c.dim:
        raise RollbackError(f"model version {record.model_version} has {snapshot.dim}-dim "
                            f"weights, the coordinator {c.dim} ({c.embedder.name}): roll back "
                            "only to a version made with this embedder")
    base = _rows(c, record.learned)
    kept = {x.item_id for x in base}
    labelled = {x.item_id for x in c.labels} | {x.item_id for x in c.learned}
    version = max(c.learner.version, c.published_version) + 1
    X = c.embeddings_of([x.item_id for x in base]) if base else np.zeros((0, c.dim), np.float32)
    c.learner.reset_to(snapshot, X, [x.label for x in base], version)
    state = RollbackState(
        schema_version=1,
        command_id=record.command_id,
        registry_version=record.registry_version,
        model_version=record.model_version,
        version=version,
        snapshot=record.snapshot,
        learned=[tuple(r) for r in record.learned],
        excluded=sorted(labelled - kept),
        at=now,
    )
    _adopt(c, state, base)
    return state


def resume(c: Coordinator, state: RollbackState, learned: Sequence[Label],
           rows_of: Callable[[Sequence[Label]], np.ndarray], model_version: int) -> list[Label]:
    """During a rebuild: start the learner from the rolled-back model and its rows; return
    the rows of ``learned`` still to learn (items labelled after the rollback)."""
    base = _rows(c, state.learned)
    kept = {x.item_id for x in base}
    since = [x for x in learned if x.item_id not in kept and x.item_id not in state.excluded]
    version = max(model_version, state.version)
    c.learner.reset_to(state.to_snapshot(), rows_of(base), [x.label for x in base], version)
    _adopt(c, state, base)
    return since


def allowed(c: Coordinator, labels: Sequence[Label]) -> list[Label]:
    """``labels`` without the items the rollback in force excludes."""
    if c.rollback is None:
        return list(labels)
    excluded = c.excluded
    return [x for x in labels if x.item_id not in excluded]


def _adopt(c: Coordinator, state: RollbackState, base: list[Label]) -> None:
    c.rollback = state
    c.excluded = frozenset(state.excluded)
    c.learned = list(base)
    c.governance.adopt(c.learner.snapshot())
    c.stage.set_model(c.learner.snapshot())


def _rows(c: Coordinator, learned: Sequence[Sequence[str]]) -> list[Label]:
    """The rolled-back version's rows whose items this deployment knows (has the text of)."""
    return [Label(item, label, annotator, 0.0) for item, annotator, label in learned
            if item in c.texts]
