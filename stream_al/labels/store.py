"""The label store, rebuilt from the labels topic when a coordinator starts.

Its rows live in a scratch sqlite database (:func:`scratch_database`: a private temporary
file, deleted when the store is dropped or the process ends; a 1 MB page cache), so a
coordinator's memory does not grow with the labels it has. The topic stays the source of
truth: nothing here needs to survive a restart.

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

import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

from stream_al.labels.base import Label

CACHE_KB = 1024
"""Page cache of a scratch database; the rest of its pages stay in the file (on disk)."""
CHUNK = 1024
"""Rows read per query when iterating (no cursor stays open across a yield)."""


def scratch_database() -> sqlite3.Connection:
    """A private sqlite database in a temporary file that sqlite deletes at once (it lives
    while the connection does). Usable from any thread; callers serialise with a lock."""
    db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
    db.execute(f"PRAGMA cache_size=-{CACHE_KB}")
    return db


def database_of(image: bytes) -> sqlite3.Connection:
    """A private database holding ``image`` (:meth:`sqlite3.Connection.serialize` of one):
    what a derived-state checkpoint loads instead of writing every row again. It lives in
    memory (sqlite's deserialized databases do), not in a scratch file."""
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.deserialize(image)
    return db


@contextmanager
def one_transaction(db: sqlite3.Connection, lock: threading.Lock) -> Iterator[None]:
    """Writes to ``db`` in the block share one transaction (each is its own otherwise: the
    scratch databases run in autocommit)."""
    with lock:
        db.execute("BEGIN")
    try:
        yield
    finally:
        with lock:
            db.execute("COMMIT")


class ImagedDatabase:
    """A store held in one private sqlite database (``_db``, guarded by ``_lock``) that can be
    taken as one image; each store's ``of_image`` loads it back."""

    _db: sqlite3.Connection
    _lock: threading.Lock

    def image(self) -> bytes:
        """Every row, as one sqlite image (:meth:`sqlite3.Connection.serialize`)."""
        with self._lock:
            return self._db.serialize()


class LabelStore(ImagedDatabase):
    """Every accepted label, at most one per (item, annotator), in arrival order."""

    def __init__(self) -> None:
        self._db = scratch_database()
        self._db.execute(
            "CREATE TABLE labels (seq INTEGER PRIMARY KEY, item_id TEXT NOT NULL, "
            "annotator_id TEXT NOT NULL, label TEXT NOT NULL, timestamp REAL NOT NULL, "
            "confidence REAL, received_at REAL NOT NULL, UNIQUE (item_id, annotator_id))"
        )
        self._lock = threading.Lock()
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @classmethod
    def of_image(cls, image: bytes) -> LabelStore:
        """The store :meth:`image` was taken of, without a step per row."""
        store = cls.__new__(cls)
        store._db, store._lock = database_of(image), threading.Lock()
        store._n = store._db.execute("SELECT count(*) FROM labels").fetchone()[0]
        return store

    def __iter__(self) -> Iterator[Label]:
        seq = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT seq, {_COLUMNS} FROM labels WHERE seq > ? ORDER BY seq LIMIT ?",
                    (seq, CHUNK)).fetchall()
            if not rows:
                return
            seq = rows[-1][0]
            yield from (Label(*row[1:]) for row in rows)

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return self._db.execute(
                "SELECT 1 FROM labels WHERE item_id = ? AND annotator_id = ?", key
            ).fetchone() is not None

    def add_one(self, label: Label) -> bool:
        """Store ``label``; False (and nothing stored) if its (item, annotator) is already in."""
        with self._lock:
            added = self._db.execute(
                f"INSERT OR IGNORE INTO labels ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (label.item_id, label.label, label.annotator_id, label.timestamp,
                 label.confidence, label.received_at)).rowcount == 1
        self._n += added
        return added

    def add_many(self, labels: Iterable[Label]) -> list[bool]:
        return [self.add_one(label) for label in labels]

    def add_new_many(self, labels: Iterable[Label]) -> None:
        """Store ``labels``, each of an (item, annotator) not in the store yet (the caller
        checked: a rebuild into an empty store), in one transaction. ValueError if one was
        there (the others are stored, as :meth:`add_many` would)."""
        rows = [(x.item_id, x.label, x.annotator_id, x.timestamp, x.confidence, x.received_at)
                for x in labels]
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"INSERT OR IGNORE INTO labels ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)
            finally:
                self._db.execute("COMMIT")
            added = self._db.total_changes - before
        self._n += added
        if added != len(rows):
            raise ValueError(f"{len(rows) - added} of {len(rows)} labels were in the store "
                             "already: add_many stores only the new ones")

    def bulk(self) -> AbstractContextManager[None]:
        """Writes in the block share one sqlite transaction (a rebuild's many rows)."""
        return one_transaction(self._db, self._lock)

    def labels_of(self, item_id: str) -> list[Label]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM labels WHERE item_id = ? ORDER BY seq", (item_id,)
            ).fetchall()
        return [Label(*row) for row in rows]

    def has_item(self, item_id: str) -> bool:
        with self._lock:
            return self._db.execute(
                "SELECT 1 FROM labels WHERE item_id = ? LIMIT 1", (item_id,)
            ).fetchone() is not None

    @property
    def n_items(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(DISTINCT item_id) FROM labels").fetchone()[0]

    def newest(self) -> float:
        """The newest label's timestamp (-inf: no label)."""
        with self._lock:
            newest = self._db.execute("SELECT max(timestamp) FROM labels").fetchone()[0]
        return -math.inf if newest is None else newest

    def classes(self) -> list[str]:
        """Every class, in the order of its first label."""
        with self._lock:
            return [x for x, in self._db.execute(
                "SELECT label FROM labels GROUP BY label ORDER BY min(seq)")]


_COLUMNS = "item_id, label, annotator_id, timestamp, confidence, received_at"
"""In :class:`Label`'s field order."""
