"""A checkpoint's image as bytes, and back (checkpoint format 3): a
:class:`~stream_al.loop.resume.CoordinatorImage`, the caps' state
(:class:`~stream_al.loop.admission.AdmissionState`) and the small part of the topics' fold a
rebuild takes besides the records (expiries, expert requests, ledger, rollback): with them, a
rebuild reads the records after the image only, never the checkpoint's segments.

Layout: :data:`MAGIC`, the header's length (8 bytes, big-endian), the header (JSON: the small
parts, and the name and length of each blob), then the blobs one after the other: the three
sqlite images and the caps' answers (zlib level 1) and the arrays (raw, machine order: a
checkpoint is read by the same code that wrote it; another ``array`` item size is refused).
Anything that does not decode is a :class:`ImageError` (the rebuild then reads the records
instead).

>>> decode(b"not an image")
Traceback (most recent call last):
...
stream_al.stream.checkpoint_image.ImageError: not a coordinator image (no magic)
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from array import array
from collections import deque
from typing import Any

import numpy as np
import orjson

from stream_al.annotation.quality import AnnotatorQuality
from stream_al.errors import StreamAlError
from stream_al.labels import Label
from stream_al.loop.admission import AdmissionState
from stream_al.loop.annotating import Item
from stream_al.loop.records import ExpertRequest, Purchase
from stream_al.loop.resume import CoordinatorImage
from stream_al.stream.messages import Ledger, RollbackState
from stream_al.stream.rebuild import TopicState

MAGIC = b"stream-al image 2\n"
"""1: the coordinator's image alone (its rebuild read the segments too)."""
PURCHASE = tuple(f.name for f in dataclasses.fields(Purchase))
ITEM = tuple(f.name for f in dataclasses.fields(Item))
LABEL = tuple(f.name for f in dataclasses.fields(Label))
SQLITE = ("labels", "texts", "settled")
ARRAYS = (("items", "i"), ("classes", "I"), ("annotators", "I"), ("costs", "d"))


class ImageError(StreamAlError, ValueError):
    """Bytes that are not a coordinator image this version reads."""


@dataclasses.dataclass
class CheckpointImage:
    """What a checkpoint's image holds: a rebuild of its records, as data."""

    coordinator: CoordinatorImage
    admission: AdmissionState
    head: TopicState
    """The fold's expiries, expert requests, ledger and rollback (no records)."""


def head_of(state: TopicState) -> TopicState:
    """The part of ``state`` an image holds besides the coordinator's (no records)."""
    return TopicState(expired=dict(state.expired), requested=dict(state.requested),
                      ledger=state.ledger, rollback=state.rollback)


def encode(image: CheckpointImage) -> bytes:
    c, caps = image.coordinator, image.admission
    items, classes, annotators, *_ = c.learned
    blobs = {"labels": zlib.compress(c.labels, 1), "texts": zlib.compress(c.texts, 1),
             "settled": zlib.compress(c.settled, 1), "items": items.tobytes(),
             "classes": classes.tobytes(), "annotators": annotators.tobytes(),
             "costs": c.costs.tobytes(),
             "answers": _answers(caps.answers)}
    head = image.head
    body = _coordinator(c) | {
        "caps": {"admitted": caps.admitted, "times": caps.times, "refused": caps.refused,
                 "until": _value(caps.until)},
        "head": {"expired": head.expired, "requested": head.requested,
                 "ledger": head.ledger and head.ledger.model_dump(mode="json"),
                 "rollback": head.rollback and head.rollback.model_dump(mode="json")}}
    header = orjson.dumps({"blobs": [[k, len(v)] for k, v in blobs.items()], "body": body})
    return b"".join([MAGIC, len(header).to_bytes(8, "big"), header, *blobs.values()])


def _answers(answers: dict[str, dict[str, str]]) -> bytes:
    """The caps' answers as three columns (item, annotator, class), JSON, zlib level 1."""
    columns: tuple[list[str], list[str], list[str]] = ([], [], [])
    for i, by in answers.items():
        for a, x in by.items():
            columns[0].append(i)
            columns[1].append(a)
            columns[2].append(x)
    return zlib.compress(orjson.dumps(columns), 1)


def _coordinator(image: CoordinatorImage) -> dict[str, Any]:
    """The coordinator image's small parts, as JSON."""
    _, _, _, class_names, annotator_names = image.learned
    observed, times, model = image.pricing
    labels, order = image.agreement
    return {
        "class_names": class_names, "annotator_names": annotator_names,
        "expired": image.expired,
        "waiting": _rows(image.waiting, PURCHASE), "ahead": _rows(image.ahead, PURCHASE),
        "recent": image.recent,
        "open": {"ids": list(image.open), **_rows(list(image.open.values()), ITEM)},
        "open_labelled": _value(image.open_labelled),
        "outbox": [dataclasses.asdict(r) for r in image.outbox],
        "requested": sorted(image.requested),
        "quality": _value(vars(image.quality)),
        "bought": image.bought, "labels_hash": f"{image.labels_hash:x}",
        "known": image.known, "rejected": image.rejected, "newest": _value(image.newest),
        "pricing": {"observed": observed, "times": {a: [list(t) for t in ts]
                                                    for a, ts in times.items()},
                    "model": _value(model)},
        "agreement": {"order": list(order), **_rows(
            [x for i in order for x in labels[i].values()], LABEL)},
        "one_each": image.one_each,
        "uniform": sorted(image.uniform),
    }


def decode(raw: bytes) -> CheckpointImage:
    """Raises :class:`ImageError` naming what is wrong."""
    if not raw.startswith(MAGIC):
        raise ImageError("not a coordinator image (no magic)")
    try:
        return _decode(memoryview(raw)[len(MAGIC):])
    except ImageError:
        raise
    except (orjson.JSONDecodeError, zlib.error, KeyError, TypeError, ValueError) as e:
        raise ImageError(f"the coordinator image does not decode: {type(e).__name__}: {e}") \
            from e


def _decode(raw: memoryview) -> CheckpointImage:
    n = int.from_bytes(raw[:8], "big")
    header = orjson.loads(raw[8:8 + n])
    at, blobs = 8 + n, {}
    for name, length in header["blobs"]:
        blobs[name] = raw[at:at + length]
        at += length
    if at != len(raw):
        raise ImageError(f"the coordinator image is {len(raw)} bytes, its parts {at}: "
                         "truncated or extended")
    arrays = {}
    for name, code in ARRAYS:
        arrays[name] = array(code)
        if len(blobs[name]) % arrays[name].itemsize:
            raise ImageError(f"array {name} of another item size")
        arrays[name].frombytes(blobs[name])
    b = header["body"]
    items, annotators, answers = orjson.loads(zlib.decompress(blobs["answers"]))
    caps: dict[str, dict[str, str]] = {}
    for i, a, x in zip(items, annotators, answers, strict=True):
        caps.setdefault(i, {})[a] = x
    gate, head = b["caps"], b["head"]
    return CheckpointImage(
        _coordinator_of(b, blobs, arrays),
        AdmissionState(caps, gate["admitted"], gate["times"], gate["refused"],
                       _of_value(gate["until"])),
        TopicState(expired=head["expired"], requested=head["requested"],
                   ledger=None if head["ledger"] is None else Ledger.model_validate(
                       head["ledger"]),
                   rollback=None if head["rollback"] is None else RollbackState.model_validate(
                       head["rollback"])))


def _coordinator_of(b: dict[str, Any], blobs: dict[str, memoryview],
                    arrays: dict[str, array]) -> CoordinatorImage:
    quality = AnnotatorQuality.__new__(AnnotatorQuality)
    vars(quality).update(_of_value(b["quality"]))
    p, ag = b["pricing"], b["agreement"]
    agreement: dict[str, dict[str, Label]] = {i: {} for i in ag["order"]}
    for x in _objects(Label, ag, LABEL):
        agreement[x.item_id][x.annotator_id] = x
    return CoordinatorImage(
        labels=zlib.decompress(blobs["labels"]), texts=zlib.decompress(blobs["texts"]),
        settled=zlib.decompress(blobs["settled"]),
        learned=(arrays["items"], arrays["classes"], arrays["annotators"], b["class_names"],
                 b["annotator_names"]),
        costs=arrays["costs"], expired=b["expired"],
        waiting=_objects(Purchase, b["waiting"], PURCHASE),
        ahead=_objects(Purchase, b["ahead"], PURCHASE), recent=b["recent"],
        open=dict(zip(b["open"]["ids"], _objects(Item, b["open"], ITEM), strict=True)),
        open_labelled=_of_value(b["open_labelled"]),
        outbox=[ExpertRequest(**r) for r in b["outbox"]], requested=set(b["requested"]),
        quality=quality, bought=b["bought"], labels_hash=int(b["labels_hash"], 16),
        known=b["known"], rejected=b["rejected"], newest=_of_value(b["newest"]),
        pricing=(p["observed"], {a: [tuple(t) for t in ts] for a, ts in p["times"].items()},
                 _of_value(p["model"])),
        agreement=(agreement, deque(ag["order"])), one_each=b["one_each"],
        uniform=frozenset(b.get("uniform", ())),  # an image written before the flags: none
    )


def _rows(rows: list, fields: tuple[str, ...]) -> dict[str, list]:
    return {f: [_value(getattr(x, f)) for x in rows] for f in fields}


def _objects(cls: type, columns: dict[str, list], fields: tuple[str, ...]) -> list:
    return [cls(*(_of_value(v) for v in row))
            for row in zip(*(columns[f] for f in fields), strict=True)]


def _value(v: Any) -> Any:
    """``v`` as JSON: arrays, dicts with other keys than strings, floats outside JSON."""
    if isinstance(v, np.ndarray):
        return {"__nd__": v.tolist(), "dtype": str(v.dtype)}
    if isinstance(v, dict):
        return {"__dict__": [[k, _value(x)] for k, x in v.items()]}
    if isinstance(v, float) and not math.isfinite(v):
        return {"__float__": repr(v)}
    return v


def _of_value(v: Any) -> Any:
    if isinstance(v, dict):
        if "__nd__" in v:
            return np.asarray(v["__nd__"], dtype=v["dtype"])
        if "__dict__" in v:
            return {k: _of_value(x) for k, x in v["__dict__"]}
        if "__float__" in v:
            return float(v["__float__"])
        return {k: _of_value(x) for k, x in v.items()}
    return v
