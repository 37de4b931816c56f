"""The rows the current model learned, in learning order, 12 bytes a row.

What a registered model version learned from (item, annotator, class: the registry's rows),
what a rollback keeps, what a restart re-learns. Each row is the item's position among the
bought items (:class:`~stream_al.loop.bought.BoughtTexts`) and two small codes for its class
and annotator, so the list costs no Python object per label; reading it gives
:class:`~stream_al.labels.Label` rows again (with timestamp 0: only item, class and annotator
are kept).

>>> from stream_al.labels import Label
>>> bought = BoughtTexts()
>>> bought.add("a-1", "a fine film") and bought.add("a-2", "a dull one")
True
>>> rows = LearnedRows(bought, [Label("a-2", "neg", "adjudicated", 5.0)])
>>> rows.extend([Label("a-1", "pos", "vendor", 6.0)])
>>> [(x.item_id, x.label, x.annotator_id) for x in rows], len(rows.copy())
([('a-2', 'neg', 'adjudicated'), ('a-1', 'pos', 'vendor')], 2)
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence

from stream_al.labels import Label
from stream_al.labels.store import CHUNK
from stream_al.loop.bought import BoughtTexts


class Codes:
    """A small table of distinct strings (classes, annotators) and their numbers; it only
    grows, so older copies of a :class:`LearnedRows` still read."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._code: dict[str, int] = {}

    def code(self, name: str) -> int:
        code = self._code.get(name)
        if code is None:
            code = self._code[name] = len(self.names)
            self.names.append(name)
        return code

    def codes_of(self, names: list[str]) -> list[int]:
        """:meth:`code` of each of ``names``."""
        for name in dict.fromkeys(names):  # new names numbered in first-seen order
            self.code(name)
        return [self._code[name] for name in names]


class LearnedRows:
    """A sequence of learned rows (item, class, annotator) over ``bought``'s items."""

    def __init__(self, bought: BoughtTexts, labels: Iterable[Label] = (),
                 codes: tuple[Codes, Codes] | None = None) -> None:
        self.bought = bought
        self._classes, self._annotators = codes or (Codes(), Codes())
        self._items = array("i")
        self._class = array("I")
        self._annotator = array("I")
        self.extend(labels)

    def __len__(self) -> int:
        return len(self._items)

    def state(self) -> tuple[array, array, array, list[str], list[str]]:
        """Copies of the rows (item positions, class and annotator codes) and of the two code
        tables, for :meth:`load_state` (a checkpoint's image)."""
        return (self._items[:], self._class[:], self._annotator[:],
                list(self._classes.names), list(self._annotators.names))

    def load_state(self, state: tuple[array, array, array, list[str], list[str]]) -> None:
        """Replace the rows with ``state``'s (positions over the same bought items)."""
        items, classes, annotators, class_names, annotator_names = state
        for name in class_names:
            self._classes.code(name)
        for name in annotator_names:
            self._annotators.code(name)
        if (self._classes.names[:len(class_names)] != list(class_names)
                or self._annotators.names[:len(annotator_names)] != list(annotator_names)):
            raise ValueError("the rows' class or annotator codes differ from this table's")
        self._items, self._class, self._annotator = items[:], classes[:], annotators[:]

    def __iter__(self) -> Iterator[Label]:
        return (label for label, _ in self.with_texts())

    def with_texts(self) -> Iterator[tuple[Label, str]]:
        """Each row and its item's text (what a registered version keeps)."""
        classes, annotators = self._classes.names, self._annotators.names
        for start in range(0, len(self), CHUNK):
            end = min(start + CHUNK, len(self))
            items = self.bought.rows_at(self._items[start:end])
            for (item_id, text), c, a in zip(items, self._class[start:end],
                                             self._annotator[start:end], strict=True):
                yield Label(item_id, classes[c], annotators[a], 0.0), text

    def last(self, n: int) -> list[Label]:
        """The last ``n`` rows (without reading the ones before)."""
        classes, annotators = self._classes.names, self._annotators.names
        start = max(0, len(self) - n)
        items = self.bought.ids_at(self._items[start:])
        return [Label(i, classes[c], annotators[a], 0.0) for i, c, a in
                zip(items, self._class[start:], self._annotator[start:], strict=True)]

    def take(self, positions: Sequence[int]) -> list[Label]:
        """The rows at ``positions`` (ascending, each < ``len(self)``)."""
        classes, annotators = self._classes.names, self._annotators.names
        items = self.bought.ids_at([self._items[p] for p in positions])
        return [Label(i, classes[self._class[p]], annotators[self._annotator[p]], 0.0)
                for i, p in zip(items, positions, strict=True)]

    def extend(self, labels: Iterable[Label], positions: Mapping[str, int] | None = None) -> None:
        """Append ``labels`` (of bought items: an unknown item is a KeyError); ``positions``:
        the items' places among the bought ones, when the caller knows them (a rebuild)."""
        if positions is not None:  # a rebuild: in bulk (its many rows, no call a row)
            labels = list(labels)
            found = [positions.get(x.item_id) for x in labels]
            if None not in found:
                self._items.extend(found)
                self._class.extend(self._classes.codes_of([x.label for x in labels]))
                self._annotator.extend(
                    self._annotators.codes_of([x.annotator_id for x in labels]))
                return
        for x in labels:
            position = (self.bought.position(x.item_id) if positions is None
                        else positions.get(x.item_id))
            if position is None:
                raise KeyError(f"item {x.item_id!r} was never bought")
            self._items.append(position)
            self._class.append(self._classes.code(x.label))
            self._annotator.append(self._annotators.code(x.annotator_id))

    def copy(self) -> LearnedRows:
        """The rows as they are now (a copy of the arrays, not of the labels): what a
        registration reads on its own thread while this list grows."""
        out = LearnedRows(self.bought, codes=(self._classes, self._annotators))
        out._items, out._class, out._annotator = self._items[:], self._class[:], self._annotator[:]
        return out
