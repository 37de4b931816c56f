"""A checkpoint's segment (stream/checkpoint.py): the fold of a stretch of the topics (a
:class:`~stream_al.stream.rebuild.TopicState` without its model) as one compressed blob, and
back; two stretches merged into one.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import TypeVar

import orjson

from stream_al.labels import Label
from stream_al.loop.records import Purchase
from stream_al.stream.messages import Ledger, RollbackState
from stream_al.stream.rebuild import TopicState

T = TypeVar("T")

PURCHASE = tuple(f.name for f in dataclasses.fields(Purchase))
LABEL = tuple(f.name for f in dataclasses.fields(Label))


def encode(state: TopicState) -> bytes:
    """``state`` (without its model) as one compressed blob: the items and labels by column
    (the core's records, :data:`PURCHASE` and :data:`LABEL`), the rest as it is."""
    body = {
        "selected": _columns(state.selected, PURCHASE),
        "labels": _columns(state.labels, LABEL),
        "label_times": state.label_times,
        "expired": state.expired,
        "requested": state.requested,
        "ledger": state.ledger and state.ledger.model_dump(mode="json"),
        "rollback": state.rollback and state.rollback.model_dump(mode="json"),
        "unreadable": state.unreadable,
    }
    return zlib.compress(orjson.dumps(body), 1)


def decode(blob: bytes) -> TopicState:
    """A segment back (its records were validated when they were first read): the core's
    records made from the columns at once, no message parsed again (a rebuild at 1M labels
    spent 16 s, then 6 s, making messages of them)."""
    body = orjson.loads(zlib.decompress(blob))
    return TopicState(
        selected=_rows(Purchase, body["selected"], PURCHASE),
        labels=_rows(Label, body["labels"], LABEL),
        label_times=body["label_times"],
        expired=body["expired"],
        requested=body["requested"],
        ledger=None if body["ledger"] is None else Ledger.model_validate(body["ledger"]),
        rollback=None if body["rollback"] is None else RollbackState.model_validate(
            body["rollback"]),
        unreadable=body["unreadable"],
    )


def _columns(rows: list, fields: tuple[str, ...]) -> dict[str, list]:
    return {f: [getattr(x, f) for x in rows] for f in fields}


def _rows(cls: type[T], columns: dict[str, list], fields: tuple[str, ...]) -> list[T]:
    """``cls`` objects from ``columns`` (one list per field, in the class's field order)."""
    if set(columns) != set(fields):
        raise ValueError(f"{cls.__name__} columns {sorted(columns)}, expected {sorted(fields)}")
    lists = [columns[f] for f in fields]
    if len({len(x) for x in lists}) > 1:
        raise ValueError(f"{cls.__name__} columns of different lengths")
    return [cls(*row) for row in zip(*lists, strict=True)]


def merge(into: TopicState, later: TopicState) -> TopicState:
    """``into`` followed by ``later`` (a later stretch of the same topics)."""
    into.selected += later.selected
    into.labels += later.labels
    into.label_times += later.label_times
    into.expired.update(later.expired)
    into.requested.update(later.requested)
    into.ledger = later.ledger or into.ledger
    into.rollback = later.rollback or into.rollback
    into.unreadable += later.unreadable
    for topic, ends in later.offsets.items():
        into.offsets.setdefault(topic, {}).update(ends)
    return into
