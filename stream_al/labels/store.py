"""An in-memory label store, rebuilt from the labels topic when a coordinator starts.

>>> store = LabelStore()
>>> store.add_one(Label("a-1", "Sports", "ann-0", 1.0))
True
>>> store.add_one(Label("a-1", "World", "ann-0", 2.0))  # the same annotator again: ignored
False
>>> store.add_one(Label("a-1", "Sports", "ann-1", 3.0))
True
>>> len(store), [x.label for x in store.labels_of("a-1")]
(2, ['Sports', 'Sports'])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from stream_al.labels.base import Label


class LabelStore:
    """Every accepted label, at most one per (item, annotator), in arrival order."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Label] = {}
        self._by_item: dict[str, list[Label]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Label]:
        return iter(self._by_key.values())

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._by_key

    def add_one(self, label: Label) -> bool:
        """Store ``label``; False (and nothing stored) if its (item, annotator) is already in."""
        if label.key in self._by_key:
            return False
        self._by_key[label.key] = label
        self._by_item.setdefault(label.item_id, []).append(label)
        return True

    def add_many(self, labels: Iterable[Label]) -> list[bool]:
        return [self.add_one(label) for label in labels]

    def labels_of(self, item_id: str) -> list[Label]:
        return list(self._by_item.get(item_id, ()))

    def has_item(self, item_id: str) -> bool:
        return item_id in self._by_item

    @property
    def n_items(self) -> int:
        return len(self._by_item)
