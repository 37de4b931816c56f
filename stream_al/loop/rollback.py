"""Rolling the live model back to a registered version, and keeping it rolled back.

An operator runs ``stream-al models rollback V``: the CLI reads version V from the registry
(its snapshot and the rows it learned: item, annotator, label) and writes a
:class:`~stream_al.loop.records.RollbackCommand` (on the wire a ``RollbackRecord``) to the single-partition ``control`` topic,
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

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np

from stream_al.errors import StreamAlError
from stream_al.labels import Label
from stream_al.learn.online import OnlineLearner
from stream_al.loop.records import RollbackCommand, RollbackInForce

Rows = Callable[[Sequence[Label]], np.ndarray]


class RollbackError(StreamAlError, ValueError):
    """A rollback this coordinator cannot apply; the message names the fix."""


def roll_back(command: RollbackCommand, learner: OnlineLearner, texts: Mapping[str, str],
              labelled: Collection[str], embed: Callable[[Sequence[str]], np.ndarray],
              version: int, now: float, embedder_name: str = "",
              uniform: Collection[str] = frozenset()) -> tuple[RollbackInForce, list[Label]]:
    """Reset ``learner`` to the command's model at ``version``; the rollback now in force and
    the rows it learned. ``labelled``: every item with a label by now; ``texts``: the items
    this deployment bought (their texts); ``embed``: vectors of bought items; ``uniform``:
    items drawn uniformly from the stream (flagged so in the learner's memory)."""
    snapshot = command.snapshot
    if snapshot.dim != learner.dim:
        raise RollbackError(f"model version {command.model_version} has {snapshot.dim}-dim "
                            f"weights, the coordinator {learner.dim} ({embedder_name}): roll back "
                            "only to a version made with this embedder")
    base = _rows(texts, command.learned)
    kept = {x.item_id for x in base}
    X = embed([x.item_id for x in base]) if base else np.zeros((0, learner.dim), np.float32)
    learner.reset_to(snapshot, X, [x.label for x in base], version,
                     [x.item_id in uniform for x in base])
    state = RollbackInForce(
        command_id=command.command_id,
        registry_version=command.registry_version,
        model_version=command.model_version,
        version=version,
        snapshot=snapshot,
        learned=[tuple(r) for r in command.learned],
        excluded=sorted(set(labelled) - kept),
        at=now,
    )
    return state, base


def resume(state: RollbackInForce, learned: Sequence[Label], learner: OnlineLearner,
           texts: Mapping[str, str], rows_of: Rows, model_version: int,
           uniform: Collection[str] = frozenset()) -> tuple[list[Label], list[Label]]:
    """During a rebuild: start ``learner`` from the rolled-back model and its rows (``uniform``
    items flagged as drawn uniformly from the stream); return those rows and the rows of
    ``learned`` still to learn (items labelled after the rollback)."""
    base = _rows(texts, state.learned)
    kept = {x.item_id for x in base}
    since = [x for x in learned if x.item_id not in kept and x.item_id not in state.excluded]
    version = max(model_version, state.version)
    learner.reset_to(state.snapshot, rows_of(base), [x.label for x in base], version,
                     [x.item_id in uniform for x in base])
    return base, since


def allowed(excluded: Collection[str], labels: Sequence[Label]) -> list[Label]:
    """``labels`` without the items the rollback in force excludes."""
    return [x for x in labels if x.item_id not in excluded]


def _rows(texts: Mapping[str, str], learned: Sequence[Sequence[str]]) -> list[Label]:
    """The rolled-back version's rows whose items this deployment knows (has the text of)."""
    return [Label(item, label, annotator, 0.0) for item, annotator, label in learned
            if item in texts]
