"""The OOD check where the candidates are scored (``scale.ood_at_scorers``, issue 17).

With ``scale.preselect`` a scorer forwards only candidates to the one coordinator, whose OOD
check (:class:`~stream_al.select.ood_cap.OODSelector` measuring each candidate against up to
``ood.capacity`` labelled rows) was its largest per-candidate cost after a long stream
(benchmarks/README.md, issue 17, eleventh pass). With ``scale.ood_at_scorers`` each scorer
runs that check on the candidates it forwards, which scale with the ``texts`` partitions:

- The coordinator keeps a :class:`ReferenceRows`: every labelled row it learns gets the next
  ring slot (``slot = count mod ood.capacity``), and the shell hands the new rows to the
  scorers (the simulator at each published model; the worker on a compacted topic keyed by the
  slot, which a scorer reads from its beginning on start: docs/scaling.md).
- A scorer holds a :class:`ScorerCheck`: an :class:`~stream_al.ood.OODDetector` fed those
  rows in slot order (so it keeps the same last ``ood.capacity`` rows, first in first out) that
  calibrates its threshold on a sample of its *own* candidates, as the coordinator's did on all
  of them. Each forwarded candidate carries two scores: :data:`OOD_DISTANCE` and
  :data:`OOD_FLAG` (1 flagged, 0 not, :data:`UNCHECKED` while the scorer's detector has fewer
  than ``ood.min_labels`` rows: nothing is called OOD yet, and the burst test does not count it).
- The coordinator's OOD cap, its burst test and the pacer read those (:func:`forwarded`)
  instead of checking; its own detector holds no rows.

A scorer's rows lag the coordinator's by their delivery; benchmarks/README.md (issue 17,
twelfth pass) measures what that costs.

>>> import numpy as np
>>> from stream_al.config import OODSettings
>>> rng = np.random.default_rng(0)
>>> def unit(x): return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
>>> ring = ReferenceRows(capacity=100)
>>> ring.add_many(unit(rng.normal(size=(30, 8)) + [4, 0, 0, 0, 0, 0, 0, 0]))
>>> slots, rows = ring.take_many()
>>> slots[:3].tolist(), len(ring.take_many()[0])  # taken once
([0, 1, 2], 0)
>>> check = ScorerCheck(OODSettings(min_labels=20))
>>> check.labelled_many(rows)
>>> scores = check.scores_many(unit(rng.normal(size=(4, 8)) + [0, 0, 0, 0, 0, 0, 0, 4]))
>>> scores[OOD_FLAG].tolist()
[1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stream_al.config import OODSettings
from stream_al.ood import OODDetector

OOD_DISTANCE = "ood_distance"
"""A candidate's cosine distance to the nearest labelled row its scorer holds."""
OOD_FLAG = "ood_flag"
"""1.0: beyond the scorer's threshold; 0.0: within; :data:`UNCHECKED`: not judged."""
UNCHECKED = -1.0


class ReferenceRows:
    """The coordinator's labelled rows on their way to the scorers, numbered by ring slot.

    Row ``count`` (the count of rows learned before it) takes slot ``count mod capacity``:
    a scorer that keeps, per slot, the last row written holds the last ``capacity`` rows, as
    the coordinator's own detector would.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0
        """Rows added so far (the next one's number)."""
        self._pending: list[np.ndarray] = []
        self._first = 0  # number of the first pending row

    def add_many(self, X: np.ndarray) -> None:
        """Rows learned, in order. Of rows not taken yet only the last ``capacity`` are kept
        (the ring would overwrite the others before a scorer could use them)."""
        if not len(X):
            return
        self._pending.append(np.asarray(X, dtype=np.float32))
        self.count += len(X)
        if self.count - self._first > self.capacity:
            rows = np.concatenate(self._pending)[-self.capacity :]
            self._pending, self._first = [rows], self.count - len(rows)

    def take_many(self) -> tuple[np.ndarray, np.ndarray]:
        """The slots and rows added since the last call, in the order they were added."""
        numbers, rows = self.take_numbered_many()
        return numbers % self.capacity, rows

    def take_numbered_many(self) -> tuple[np.ndarray, np.ndarray]:
        """The numbers (slot = number mod ``capacity``) and rows added since the last call."""
        if not self._pending:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        rows = np.concatenate(self._pending)
        numbers = np.arange(self._first, self._first + len(rows), dtype=np.int64)
        self._pending, self._first = [], self.count
        return numbers, rows

    def restored_many(self, count: int, X: np.ndarray) -> None:
        """After a rebuild: ``count`` rows were learned, the last of them ``X`` (at most
        ``capacity``), all pending again. Taken and written again, they overwrite the ring's
        slots with the rebuilt coordinator's rows, whatever an earlier owner wrote."""
        X = np.asarray(X, dtype=np.float32)[-self.capacity:] if len(X) else X
        self.count, self._first = count, count - len(X)
        self._pending = [X] if len(X) else []


class ScorerCheck:
    """A scorer's OOD check of the candidates it forwards (see the module's docstring).

    The detector is built on the first rows or candidates (their dimension); ``seed``: of its
    graph and its threshold's sample.
    """

    def __init__(self, settings: OODSettings, seed: int = 0, graph: bool = False) -> None:
        self.settings = settings
        self.seed = seed
        self.graph = graph
        """False (the default): no HNSW graph, every check one exact product against the rows
        (benchmarks/README.md, issue 17, twelfth pass: keeping the graph up cost each scorer
        more than the products it saves)."""
        self.detector: OODDetector | None = None

    def _of(self, dim: int) -> OODDetector:
        if self.detector is None:
            self.detector = OODDetector(dim, self.settings, seed=self.seed, graph=self.graph)
        return self.detector

    def labelled_many(self, X: np.ndarray) -> None:
        """Labelled rows from the coordinator, in slot order (the detector keeps the last
        ``ood.capacity``, first in first out, as the ring's slots do)."""
        if len(X):
            self._of(X.shape[1]).add_labelled_many(X)

    def scores_many(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """The two scores forwarded with candidates ``X`` (rows sampled into the threshold's
        reference as the coordinator's check samples them)."""
        detector = self._of(X.shape[1])
        dist, flags = detector.check_many(X)
        flag = flags.astype(np.float32) if detector.ready else np.full(len(X), UNCHECKED,
                                                                        dtype=np.float32)
        return {OOD_DISTANCE: dist.astype(np.float32), OOD_FLAG: flag}


def forwarded(scores: Mapping[str, np.ndarray],
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Distances, flags and which rows were checked, from the scores a scorer forwarded;
    None if it forwarded none (the coordinator then flags nothing in that batch)."""
    flag = scores.get(OOD_FLAG)
    if flag is None:
        return None
    flag = np.asarray(flag)
    dist = np.asarray(scores[OOD_DISTANCE], dtype=np.float32)
    return dist, flag == 1.0, np.flatnonzero(flag != UNCHECKED)
