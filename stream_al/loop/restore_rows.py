"""Which embeddings a rebuild computes: what the restored state holds, not every item ever bought.

A coordinator keeps embeddings in bounded places only: the learner's replay memory
(``learner.memory`` rows, a uniform reservoir over every label learned), the noise flagger's
neighbours (the last ``learner.memory`` learned), the novelty index (the last
``selection.novelty_capacity`` bought), the OOD detector's labelled rows (the last
``ood.capacity`` learned) and the items still waiting for a label. A rebuild embeds those and
nothing else, so its embedding cost does not grow with the number of labels: at 1M labels
it re-embeds at most the sum of those bounds (tens of thousands), not a million texts.

The learner restored this way fits on a uniform sample of ``memory`` of the learned rows, which
is what its reservoir would hold (:class:`~stream_al.learn.replay.ReplayMemory`), and counts
every label it learned (``n_labels``), so the reservoir goes on with the right odds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


class LazyRows:
    """Embeddings of items by id, computed on first use (in batches) and kept.

    >>> rows = LazyRows(lambda texts: np.ones((len(texts), 2), np.float32), {"a": "x", "b": "y"}, 2)
    >>> rows.of(["a", "a", "b"]).shape, rows.embedded
    ((3, 2), 2)
    """

    def __init__(self, embed: Callable[[list[str]], np.ndarray], texts, dim: int) -> None:
        self._embed, self._texts, self.dim = embed, texts, dim
        self._rows: dict[str, np.ndarray] = {}
        self.embedded = 0
        """Texts embedded so far (what a rebuild's embedding cost is proportional to)."""

    def of(self, ids: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(i for i in ids if i not in self._rows))
        if missing:
            X = self._embed([self._texts[i] for i in missing])
            self._rows.update(zip(missing, np.asarray(X, dtype=np.float32), strict=True))
            self.embedded += len(missing)
        if not ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._rows[i] for i in ids])


def reservoir_sample(items: Sequence[T], capacity: int, seed: int) -> list[T]:
    """A uniform sample of ``capacity`` of ``items`` in their order (all if they fit): what a
    reservoir of that capacity holds after seeing them.

    >>> reservoir_sample(list(range(10)), 3, seed=0) == sorted(reservoir_sample(range(10), 3, 0))
    True
    """
    if len(items) <= capacity:
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=capacity, replace=False))
    return [items[i] for i in keep.tolist()]
