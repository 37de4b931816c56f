"""Several scored records selected as one (issue 17: the coordinator's cost per record).

Much of what the coordinator does for a scored record is paid once per record, whatever its
size: the selection stack's calls, the held candidates' distance to the recent purchases, the
OOD threshold's quantile, the drift tests. With many texts partitions each record is one
partition's batch, so the coordinator's ceiling falls as records get smaller. A driver that
has several records in hand (the ceiling benchmark; a shell that reads control in batches)
selects each run of *compatible* consecutive records as one: the same embedding width and
model version, the same score names, candidates (with spans) or whole batches alike, and
texts offsets known for all or none. The budget counts exactly what it would count record by
record (every text offset and span in order, each once); only the selection's batch is larger.

>>> import numpy as np
>>> from stream_al.loop.spans import Span
>>> def rec(i, version=1):
...     return ScoredTexts(f"b{i}", [f"t{i}"], ["a text"], np.ones((1, 2), np.float32),
...                        {"margin": np.array([0.5])}, version, [0], [i],
...                        np.array([2.0]), [Span(0, i, i, 1)])
>>> [len(run) for run in runs([rec(0), rec(1), rec(2, version=2), rec(3, version=2)])]
[2, 2]
>>> one = concatenated([rec(0), rec(1)])
>>> one.ids, one.offsets, one.weights.tolist(), one.spans
(['t0', 't1'], [0, 1], [2.0, 2.0], [Span(partition=0, first=0, last=0, count=1), \
Span(partition=0, first=1, last=1, count=1)])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_al.drift.forwarded import joined
from stream_al.loop.records import ScoredTexts


def _kind(r: ScoredTexts) -> tuple:
    return (r.dim, r.model_version, tuple(sorted(r.scores)), bool(r.spans),
            r.weights is None, bool(r.offsets))


def runs(records: Sequence[ScoredTexts]) -> list[list[ScoredTexts]]:
    """``records`` in order, cut into runs of consecutive records that can be selected as one."""
    out: list[list[ScoredTexts]] = []
    for r in records:
        if out and _kind(out[-1][-1]) == _kind(r):
            out[-1].append(r)
        else:
            out.append([r])
    return out


def concatenated(records: Sequence[ScoredTexts]) -> ScoredTexts:
    """One record of a run (:func:`runs`): items, offsets and spans in record order."""
    if len(records) == 1:
        return records[0]
    first = records[0]
    return ScoredTexts(
        batch_id="+".join(r.batch_id for r in records),
        ids=[i for r in records for i in r.ids],
        texts=[t for r in records for t in r.texts],
        X=np.concatenate([r.X for r in records]),
        scores={k: np.concatenate([np.asarray(r.scores[k]) for r in records])
                for k in first.scores},
        model_version=first.model_version,
        partitions=[p for r in records for p in r.partitions],
        offsets=[o for r in records for o in r.offsets],
        weights=None if first.weights is None else np.concatenate(
            [np.asarray(r.weights) for r in records]),
        spans=[s for r in records for s in r.spans],
        drift=joined([r.drift for r in records], [len(r.ids) for r in records]),
    )
