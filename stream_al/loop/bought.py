"""The text of every item the coordinator ever bought, kept on local disk.

The texts are what a label is checked against (an item never bought is refused), what a
relearn re-embeds and what an export or a registered model's rows carry, so none is dropped;
but the coordinator only needs one of them now and then. They live in a scratch sqlite
database (:func:`stream_al.labels.store.scratch_database`: a temporary file, a 1 MB page
cache) rebuilt from the ``selected`` topic on start. The hot path (every scored item: bought
before?) asks :meth:`BoughtTexts.contains_many`, answered in memory from a sorted array of
the ids' 64-bit hashes (8 bytes an item); only a hash that matches goes to the database, to
rule out a collision.

>>> bought = BoughtTexts()
>>> bought.add("a-1", "a fine film")
True
>>> bought.add("a-1", "said again")  # bought once
False
>>> bought.contains_many(["a-1", "a-2"]), bought["a-1"], bought.position("a-1")
([True, False], 'a fine film', 0)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from stream_al.labels.store import CHUNK, ImagedDatabase, database_of, scratch_database

MERGE_EVERY = 1024
"""Hashes of new items kept in a set until this many, then merged into the sorted array."""


class BoughtTexts(ImagedDatabase, Mapping[str, str]):
    """Item id -> text of every item bought, in buying order (positions 0, 1, ...)."""

    def __init__(self) -> None:
        self._db = scratch_database()
        self._db.execute("CREATE TABLE bought (pos INTEGER PRIMARY KEY, "
                         "item_id TEXT NOT NULL UNIQUE, text TEXT NOT NULL)")
        self._lock = threading.Lock()
        self._n = 0
        self._sorted = np.zeros(0, dtype=np.int64)
        self._fresh: set[int] = set()

    def __len__(self) -> int:
        return self._n

    @classmethod
    def of_image(cls, image: bytes) -> BoughtTexts:
        """The texts :meth:`image` was taken of; the ids' hashes are computed again (Python's
        string hash is salted per process, so they cannot be imaged)."""
        bought = cls.__new__(cls)
        bought._db, bought._lock, bought._fresh = database_of(image), threading.Lock(), set()
        ids = [i for (i,) in bought._db.execute("SELECT item_id FROM bought")]
        bought._n = len(ids)
        bought._sorted = np.unique(np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids)))
        return bought

    def __iter__(self) -> Iterator[str]:
        for start in range(0, self._n, CHUNK):
            yield from self.ids_at(range(start, min(start + CHUNK, self._n)))

    def __getitem__(self, item_id: str) -> str:
        row = self._one("SELECT text FROM bought WHERE item_id = ?", item_id)
        if row is None:
            raise KeyError(item_id)
        return row[0]

    def __contains__(self, item_id: object) -> bool:
        """One id (a label's, a purchase's): the hash looked up without building arrays."""
        if not isinstance(item_id, str):
            return False
        h = hash(item_id)
        if h not in self._fresh:
            known = self._sorted
            at = int(known.searchsorted(h))
            if at == len(known) or int(known[at]) != h:
                return False
        return self.position(item_id) is not None

    def contains_many(self, ids: Sequence[str]) -> list[bool]:
        """Per id: bought before? From the hashes; a matching hash is checked exactly."""
        hashes = np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))
        known = self._sorted
        if len(known):
            at = np.minimum(np.searchsorted(known, hashes), len(known) - 1)
            maybe = known[at] == hashes
        else:
            maybe = np.zeros(len(ids), dtype=bool)
        if self._fresh:
            maybe |= np.fromiter(map(self._fresh.__contains__, hashes.tolist()), dtype=bool,
                                 count=len(ids))
        out = [False] * len(ids)
        for n in np.flatnonzero(maybe).tolist():
            out[n] = self.position(ids[n]) is not None
        return out

    def add(self, item_id: str, text: str) -> bool:
        """Keep ``text`` as ``item_id``'s; False (nothing changed) if it was bought before."""
        with self._lock:
            added = self._db.execute(
                "INSERT OR IGNORE INTO bought (pos, item_id, text) VALUES (?, ?, ?)",
                (self._n, item_id, text)).rowcount == 1
            if added:
                self._n += 1
                self._fresh.add(hash(item_id))
        if len(self._fresh) >= MERGE_EVERY:
            self._merge()
        return added

    def add_new_many(self, items: Sequence[tuple[str, str]]) -> None:
        """Keep each (id, text), in order, in one statement: ids none of which was bought
        before (each checked with ``in``) and none twice (a purchase's emission). All or
        nothing: if a row cannot be written (an id bought before after all), none is kept
        and the error is raised."""
        if not items:
            return
        with self._lock:
            self._db.execute("BEGIN")  # one transaction (autocommit would make one a row)
            try:
                self._db.executemany("INSERT INTO bought (pos, item_id, text) VALUES (?, ?, ?)",
                                     [(self._n + n, i, t) for n, (i, t) in enumerate(items)])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._n += len(items)
            self._fresh.update(hash(i) for i, _ in items)
        if len(self._fresh) >= MERGE_EVERY:
            self._merge()

    def add_many(self, items: Iterable[tuple[str, str]]) -> None:
        """Keep each text (the first of an id bought twice) in one sqlite transaction, and
        merge the hashes once (a rebuild adds every item ever bought at once; merging every
        :data:`MERGE_EVERY` was quadratic: 41 s of a rebuild at 300k items)."""
        if not self._n:  # empty (a rebuild): one statement, positions in order
            self._add_first_many(items)
            return
        fresh = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for item_id, text in items:  # positions stay dense: a duplicate takes none
                    if self._db.execute("INSERT OR IGNORE INTO bought (pos, item_id, text) "
                                        "VALUES (?, ?, ?)", (self._n, item_id, text)
                                        ).rowcount == 1:
                        self._n += 1
                        fresh.append(hash(item_id))
            finally:
                self._db.execute("COMMIT")
            self._fresh.update(fresh)
        self._merge()

    def _add_first_many(self, items: Iterable[tuple[str, str]]) -> None:
        """:meth:`add_many` into an empty store: duplicates dropped in memory (the first text
        of an id wins), then every row in one ``executemany``."""
        first: dict[str, str] = {}
        for item_id, text in items:
            if item_id not in first:
                first[item_id] = text
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO bought (pos, item_id, text) VALUES (?, ?, ?)",
                                     zip(range(len(first)), first, first.values(), strict=True))
            finally:
                self._db.execute("COMMIT")
            self._n = len(first)
            self._sorted = np.unique(np.fromiter(map(hash, first), dtype=np.int64,
                                                 count=len(first)))

    def position(self, item_id: str) -> int | None:
        """Where ``item_id`` is in buying order (None: never bought)."""
        row = self._one("SELECT pos FROM bought WHERE item_id = ?", item_id)
        return None if row is None else row[0]

    def ids_at(self, positions: Sequence[int]) -> list[str]:
        """The item ids at ``positions`` (each < ``len(self)``), in that order."""
        return [item_id for item_id, _ in self.rows_at(positions)]

    def rows_at(self, positions: Sequence[int]) -> list[tuple[str, str]]:
        """(item id, text) at ``positions`` (each < ``len(self)``), in that order: one query
        per ``CHUNK`` positions, a range scan where they are close together."""
        out: list[tuple[str, str]] = []
        for start in range(0, len(positions), CHUNK):
            chunk = positions[start:start + CHUNK]
            low, high = min(chunk), max(chunk)
            if high - low < 4 * len(chunk):
                sql, args = "pos BETWEEN ? AND ?", [low, high]
            else:
                sql, args = f"pos IN ({','.join('?' * len(chunk))})", list(chunk)
            with self._lock:
                found = {p: (i, t) for p, i, t in self._db.execute(
                    f"SELECT pos, item_id, text FROM bought WHERE {sql}", args)}
            out += [found[p] for p in chunk]
        return out

    def _one(self, sql: str, item_id: str) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, (item_id,)).fetchone()

    def _merge(self) -> None:
        """The fresh hashes into the sorted array: ``np.union1d`` of the two, by inserting the
        new ones where they go (a copy of the array) rather than sorting it all again (at
        20,000 items bought that sort was 5 us of every purchase)."""
        with self._lock:
            fresh = np.sort(np.fromiter(self._fresh, dtype=np.int64, count=len(self._fresh)))
            known = self._sorted
            at = np.searchsorted(known, fresh)
            if len(known):
                new = known[np.minimum(at, len(known) - 1)] != fresh  # a hash there already
                fresh, at = fresh[new], at[new]
            self._sorted = np.insert(known, at, fresh)
            self._fresh = set()
