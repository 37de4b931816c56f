"""Which embeddings a rebuild computes: what the restored state holds, not every item ever bought.

A coordinator keeps embeddings in bounded places only: the learner's replay memory
(``learner.memory`` rows, a uniform reservoir over every label learned), the noise flagger's
neighbours (the last ``learner.memory`` learned), the novelty index (the last
``selection.novelty_capacity`` bought), the OOD detector's labelled rows (the last
``ood.capacity`` learned) and the items still waiting for a label. A rebuild embeds those and
nothing else, so its embedding cost does not grow with the number of labels: at 1M labels
it re-embeds at most the sum of those bounds (tens of thousands), not a million texts.

The learner restored this way holds a uniform sample of ``memory`` of the learned rows, which
is what its reservoir would hold (:class:`~stream_al.learn.replay.ReplayMemory`), and counts
every label it learned (``n_labels``), so the reservoir goes on with the right odds. When the
last published model learned every label restored, the learner continues from its weights
(:func:`resumable`): a fit of ``learner.memory`` rows by the committee is the costliest part
of a rebuild, and it would only reproduce (roughly) the model the scorers already use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from stream_al.labels import Label
    from stream_al.learn.online import OnlineLearner
    from stream_al.learn.snapshot import ModelSnapshot

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


class LabelsByItem:
    """The labels a rebuild just stored, grouped by item in memory: what
    :meth:`~stream_al.loop.annotating.Annotating.restore` asks of the label store (a query
    per item and question otherwise, five per item).

    >>> from stream_al.labels import Label
    >>> stored = LabelsByItem([Label("a", "x", "ann-0", 1.0), Label("a", "y", "ann-1", 2.0)])
    >>> [x.label for x in stored.labels_of("a")], stored.has_item("b")
    (['x', 'y'], False)
    """

    def __init__(self, labels: Iterable[Label]) -> None:
        self._by: dict[str, list[Label]] = {}
        for x in labels:
            self._by.setdefault(x.item_id, []).append(x)

    def labels_of(self, item_id: str) -> list[Label]:
        return list(self._by.get(item_id, ()))

    def has_item(self, item_id: str) -> bool:
        return item_id in self._by


def reservoir_sample(items: Sequence[T], capacity: int, seed: int) -> list[T]:
    """A uniform sample of ``capacity`` of ``items`` in their order (all if they fit): what a
    reservoir of that capacity holds after seeing them.

    >>> reservoir_sample(list(range(10)), 3, seed=0) == sorted(reservoir_sample(range(10), 3, 0))
    True
    """
    if len(items) <= capacity:
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=capacity, replace=False))
    if isinstance(items, Learned):
        return items.take(keep.tolist())
    return [items[i] for i in keep.tolist()]


class Learned(Sequence):
    """What a rebuild learned: ``before`` (rows an image of an earlier rebuild learned,
    :class:`~stream_al.loop.learned.LearnedRows`, read only where asked) followed by
    ``labels`` (this rebuild's, loop/resume.py). Without ``before``, just ``labels``.

    >>> from stream_al.labels import Label
    >>> rows = Learned([], [Label("a", "x", "ann", 0.0), Label("b", "y", "ann", 0.0)])
    >>> len(rows), [x.item_id for x in rows.tail(1)], rows[0].label
    (2, ['b'], 'x')
    """

    def __init__(self, before, labels: list[Label]) -> None:
        self.before, self.labels = before, labels

    def __len__(self) -> int:
        return len(self.before) + len(self.labels)

    def __getitem__(self, n):  # type: ignore[override]
        if isinstance(n, slice):
            return self.take(range(len(self))[n])
        return self.take([n])[0]

    def __iter__(self):
        yield from self.before
        yield from self.labels

    def take(self, positions: Sequence[int]) -> list[Label]:
        """The rows at ``positions`` (ascending), reading ``before`` in one go."""
        split = len(self.before)
        old = [p for p in positions if p < split]
        out = self.before.take(old) if old else []
        return out + [self.labels[p - split] for p in positions[len(old):]]

    def tail(self, n: int) -> list[Label]:
        """The last ``n`` rows."""
        if n >= len(self.labels) and len(self.before):
            return self.before.last(n - len(self.labels)) + self.labels
        return self.labels[len(self.labels) - min(n, len(self.labels)):]


def resumable(model: ModelSnapshot | None, learner: OnlineLearner, kept: Sequence[Label],
              n_learned: int) -> bool:
    """Can ``learner`` continue from ``model`` (the last one published) without a fit? Only if
    the model learned every one of the ``n_learned`` labels, knows each class of ``kept`` (the
    rows its memory will hold), and has the learner's shape (dimension, committee)."""
    if model is None or not model.ready or model.n_labels != n_learned:
        return False
    if model.weights.shape[1] != learner.dim or len(model.committee) != len(learner.committee):
        return False
    return {x.label for x in kept} <= set(model.classes)
