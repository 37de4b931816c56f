"""Settled items' verdicts, kept on local disk.

Once an item is settled (adjudicated and learned, :mod:`stream_al.loop.annotating`), all
that is needed of it is its place in buying order, the number of labels it asked for and
the class learned: a later label may still change that verdict, and a relearn reads every
verdict. Those rows grow with the budget, so they live in a scratch sqlite table
(:func:`stream_al.labels.store.scratch_database`), rebuilt from the topics on start, not in
a dict of Python objects.

>>> settled = SettledItems()
>>> settled.put("a-2", 7, 1, "World"); settled.put("a-1", 3, 3, "Sports")
>>> settled.get("a-2"), settled.learned(), "a-3" in settled
((7, 1, 'World'), [('a-1', 'Sports'), ('a-2', 'World')], False)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager

from stream_al.labels.store import (
    CHUNK,
    ImagedDatabase,
    database_of,
    one_transaction,
    scratch_database,
)


class SettledItems(ImagedDatabase):
    """Item id -> (buying order, labels asked for, class learned or None)."""

    def __init__(self) -> None:
        self._db = scratch_database()
        self._db.execute("CREATE TABLE settled (item_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
                         "wanted INTEGER NOT NULL, learned TEXT)")
        self._lock = threading.Lock()
        self.written = False
        """Was any row ever put? (No: every lookup would find nothing, a rebuild skips them.)"""

    @classmethod
    def of_image(cls, image: bytes) -> SettledItems:
        """The verdicts :meth:`image` was taken of (final: a verdict decided live is kept)."""
        settled = cls.__new__(cls)
        settled._db, settled._lock = database_of(image), threading.Lock()
        settled.written = settled._db.execute(
            "SELECT 1 FROM settled LIMIT 1").fetchone() is not None
        return settled

    def __contains__(self, item_id: str) -> bool:
        return self.get(item_id) is not None

    def get(self, item_id: str) -> tuple[int, int, str | None] | None:
        with self._lock:
            return self._db.execute("SELECT seq, wanted, learned FROM settled WHERE item_id = ?",
                                    (item_id,)).fetchone()

    def get_many(self, ids: Sequence[str]) -> dict[str, tuple[int, int, str | None]]:
        """:meth:`get` of each of ``ids`` that is settled (one query per ``CHUNK`` ids)."""
        found: dict[str, tuple[int, int, str | None]] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            with self._lock:
                found.update((i, (seq, wanted, learned)) for i, seq, wanted, learned in
                             self._db.execute("SELECT item_id, seq, wanted, learned FROM settled"
                                              f" WHERE item_id IN ({','.join('?' * len(chunk))})",
                                              chunk))
        return found

    def put(self, item_id: str, seq: int, wanted: int, learned: str | None) -> None:
        self.put_many([(item_id, seq, wanted, learned)])

    def put_many(self, rows: list[tuple[str, int, int, str | None]]) -> None:
        """:meth:`put` of each (item, seq, wanted, learned), in one statement."""
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO settled VALUES (?, ?, ?, ?)", rows)
            self.written = self.written or bool(rows)

    def bulk(self) -> AbstractContextManager[None]:
        """Writes in the block share one sqlite transaction (a rebuild's many rows)."""
        return one_transaction(self._db, self._lock)

    def discard(self, item_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM settled WHERE item_id = ?", (item_id,))

    def learned(self) -> list[tuple[str, str]]:
        """(item, class) of every item with a learned class, in buying order."""
        with self._lock:
            return self._db.execute("SELECT item_id, learned FROM settled WHERE learned IS NOT "
                                    "NULL ORDER BY seq").fetchall()
