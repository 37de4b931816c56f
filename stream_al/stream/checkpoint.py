"""The coordinator's checkpoint: a rebuild reads it and the topics' records after it.

A rebuild (stream/rebuild.py) folds every record of ``selected``, ``state``, the labels
topics and ``expert`` into a :class:`~stream_al.stream.rebuild.TopicState`. Parsing them one
by one is most of a rebuild's reading, and it grows with every label ever bought. So the
coordinator writes what it folded, periodically, to the compacted ``checkpoint`` topic (one
partition), and a rebuild starts from it:

- a *segment* is the fold of the topics between two sets of offsets, encoded at once
  (JSON, zlib) and cut into chunks of :data:`CHUNK_BYTES` (keys ``seg/<n>/<chunk>``);
- the *manifest* (key ``manifest``) lists the live segments (where their chunks are, their
  sha256) and the offsets of every topic where the last one stopped, with :data:`FORMAT` and
  the topics it covers.

Every checkpoint is written by the coordinator's transactional producer (stream/fencing.py):
a fenced owner's checkpoint is aborted, never read. Each one adds a segment of what came
since the last (a read of the topics' suffix, in a chore, between two transactions so the
coordinator's own records are all committed); past ``checkpoint.max_segments`` the next one
merges them into one, and tombstones the old chunks so compaction drops them. The first
checkpoint is written by the rebuild that read every topic in full.

A rebuild reads the newest manifest, its segments and the topics after its offsets: the same
records a full read gives, each partition's in offset order (a full read interleaves the
partitions as the broker answers; nothing a rebuild restores depends on that). A manifest that is missing, of another format or
set of topics, a chunk that is missing or whose checksum fails, offsets outside a topic (it
was made again): the rebuild reads every topic in full and says why in a warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import orjson
from kafka import TopicPartition

from stream_al.config import CheckpointSettings, KafkaSettings
from stream_al.errors import StreamAlError
from stream_al.labels import Label
from stream_al.loop.records import Purchase
from stream_al.stream import checkpoint_image
from stream_al.stream.checkpoint_image import CheckpointImage
from stream_al.stream.fencing import FENCED_ERRORS, CoordinatorProducer, Fenced
from stream_al.stream.messages import Ledger, RollbackState
from stream_al.stream.rebuild import (
    Offsets,
    OffsetsGone,
    TopicState,
    _consumer,
    end_offsets,
    read_state,
    read_topic,
    rebuilt_topics,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

FORMAT = 3
"""The checkpoint's layout; a manifest of another is not read (a full rebuild). 3: format 2
and an image of a restore of its records (stream/checkpoint_image.py, ``checkpoint.image``);
2: items and labels by column, as the core's records (1: one message dump per record)."""
READS = (2, FORMAT)
"""A manifest without an image is written as format 2 (what the version before reads)."""
MANIFEST = "manifest"
CHUNK_BYTES = 4 * 2**20
"""Records of the checkpoint topic (it takes up to 32 MiB: stream/topics.py)."""


Imager = Callable[[TopicState, Callable[[], TopicState]], "bytes | None"]
"""The image of a rebuild from a state (with the last image, or every record) and its records
(stream/resuming.py)."""


class CheckpointError(StreamAlError, ValueError):
    """A checkpoint that cannot be used; the rebuild reads every topic instead."""


# ---- a segment: the fold of a stretch of the topics ---------------------------------------
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


# ---- the manifest ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    key: str
    """``seg/<n>``: its chunks are ``seg/<n>/0``, ``seg/<n>/1``, ..."""
    first: int
    """Offset of its first chunk on the checkpoint topic (the others follow it)."""
    chunks: int
    sha256: str
    """Of the whole segment (its chunks joined)."""


@dataclass
class Manifest:
    segments: list[Segment] = field(default_factory=list)
    offsets: Offsets = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    at: float = 0.0
    next_segment: int = 0
    image: Segment | None = None
    """The image of a restore of every segment (``img/<n>``; format 3), if any."""

    def to_bytes(self) -> bytes:
        body = {"format": FORMAT if self.image else 2,
                "segments": [vars(s) for s in self.segments],
                "offsets": {t: {str(p): o for p, o in ends.items()}
                            for t, ends in self.offsets.items()},
                "topics": self.topics, "at": self.at, "next_segment": self.next_segment}
        if self.image is not None:
            body["image"] = vars(self.image)
        raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        return orjson.dumps({"body": body, "sha256": hashlib.sha256(raw).hexdigest()})

    @classmethod
    def of(cls, raw: bytes | None, topics: list[str]) -> Manifest:
        """Raises :class:`CheckpointError` naming what is wrong."""
        try:
            outer = orjson.loads(raw or b"")
            body = outer["body"]
            digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except (orjson.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"the manifest does not parse: {e}") from e
        if digest != outer.get("sha256"):
            raise CheckpointError("the manifest's checksum fails")
        if body.get("format") not in READS:
            raise CheckpointError(f"format {body.get('format')!r}, this version reads {FORMAT} "
                                  f"(and 2)")
        if body["topics"] != topics:
            raise CheckpointError(f"it covers the topics {body['topics']}, a rebuild now reads "
                                  f"{topics} (kafka.topics changed)")
        return cls([Segment(**s) for s in body["segments"]],
                   {t: {int(p): o for p, o in ends.items()} for t, ends in body["offsets"].items()},
                   body["topics"], body["at"], body["next_segment"],
                   Segment(**body["image"]) if body.get("image") else None)


# ---- reading ---------------------------------------------------------------------------------
def last_manifest(kafka: KafkaSettings) -> bytes | None:
    """The newest manifest's record, None when there is none (no checkpoint yet)."""
    found = None
    for last_only in (True, False):  # aborted records may hide it from the last few offsets
        for record in read_topic(kafka, kafka.topics.checkpoint, last_only=last_only):
            if record.key == MANIFEST.encode():
                found = record.value
        if found is not None:
            return found
    return None


def read_segment(kafka: KafkaSettings, segment: Segment) -> TopicState:
    """A segment's chunks from the checkpoint topic, checked and decoded."""
    blob = read_blob(kafka, segment)
    try:
        return decode(blob)
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{segment.key}: does not decode: {e}") from e


def read_blob(kafka: KafkaSettings, segment: Segment) -> bytes:
    """The chunks of a segment (or an image) from the checkpoint topic, joined and checked."""
    chunks = dict(_chunks(kafka, segment))
    missing = [n for n in range(segment.chunks) if n not in chunks]
    if missing:
        raise CheckpointError(f"{segment.key}: chunks {missing[:5]} are missing")
    blob = b"".join(chunks[n] for n in range(segment.chunks))
    if hashlib.sha256(blob).hexdigest() != segment.sha256:
        raise CheckpointError(f"{segment.key}: the checksum fails")
    return blob


def read_image(kafka: KafkaSettings, segment: Segment) -> tuple[CheckpointImage, bytes] | None:
    """The checkpoint's image, checked and decoded, and its bytes; None (a warning says why)
    if it is not usable: the rebuild restores from the segments' records instead."""
    try:
        raw = read_blob(kafka, segment)
        return checkpoint_image.decode(raw), raw
    except (CheckpointError, checkpoint_image.ImageError) as e:
        log.warning("the checkpoint's image is not usable (%s): restoring from its records "
                    "instead", e)
        return None


def _chunks(kafka: KafkaSettings, segment: Segment) -> Iterator[tuple[int, bytes]]:
    consumer = _consumer(kafka)
    tp = TopicPartition(kafka.topics.checkpoint, 0)
    try:
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        consumer.seek(tp, segment.first)
        prefix, seen, idle = f"{segment.key}/".encode(), 0, 0.0
        while consumer.position(tp) < end and seen < segment.chunks and idle < 30:
            batch = consumer.poll(timeout_ms=500).get(tp, [])
            idle = 0.0 if batch else idle + 0.5
            for record in batch:
                key = record.key or b""
                if key.startswith(prefix) and record.value is not None:
                    seen += 1
                    yield int(key[len(prefix):]), record.value
    finally:
        consumer.close()


@dataclass
class Found:
    """The newest checkpoint as a rebuild reads it."""

    state: TopicState
    """Its image (and the image's expiries, requests, ledger, rollback) when it has a usable
    one: its segments are then not read (:func:`with_records` reads them if needed); its
    segments' records otherwise."""
    manifest: Manifest
    image: bytes | None = None
    """The image's bytes (the next checkpoint's image is made from it)."""


def read_checkpoint(kafka: KafkaSettings) -> Found | None:
    """The newest checkpoint; None when there is none. Raises :class:`CheckpointError`."""
    raw = last_manifest(kafka)
    if raw is None:
        return None
    manifest = Manifest.of(raw, rebuilt_topics(kafka))
    image = read_image(kafka, manifest.image) if manifest.image is not None else None
    if image is not None:
        state = _after(image[0], TopicState())
    else:
        state = with_records(kafka, manifest, TopicState())
    state.offsets = {t: dict(ends) for t, ends in manifest.offsets.items()}
    return Found(state, manifest, image and image[1])


def with_records(kafka: KafkaSettings, manifest: Manifest, later: TopicState) -> TopicState:
    """Every record: the checkpoint's segments followed by ``later``, what was read after them
    (with or without the image's expiries, requests, ledger and rollback: they are the
    segments' too); the model is ``later``'s."""
    state = TopicState()
    for segment in manifest.segments:
        merge(state, read_segment(kafka, segment))
    merge(state, later).take_model(later)
    state.checkpoint = later.checkpoint
    return state


# ---- the coordinator's side ------------------------------------------------------------------
@dataclass
class Prepared:
    """A checkpoint ready to be written: its new segment and what it replaces."""

    blob: bytes
    manifest: Manifest
    replaces: list[Segment]
    base: Manifest | None = None
    """The checkpoint it follows (the newest when it was prepared); it is written only if
    that is still the newest (:class:`StaleCheckpoint` otherwise)."""
    image: bytes | None = None
    """The image of a restore of every record it covers (format 3), if any."""


class StaleCheckpoint(CheckpointError):
    """A prepared checkpoint that no longer follows the newest one (a rebuild came between)."""


class Checkpoints:
    """The checkpoints of one coordinator: :meth:`load` at a rebuild, :meth:`due`,
    :meth:`prepare` (blocking: reads the topics since the last one) and :meth:`write`."""

    def __init__(self, settings: CheckpointSettings, kafka: KafkaSettings,
                 imager: Imager | None = None) -> None:
        """``imager``: the image of a rebuild (stream/resuming.py) from a state and its
        records; with ``checkpoint.image``, each checkpoint holds one."""
        self.settings, self.kafka = settings, kafka
        self.imager = imager if settings.image else None
        self.manifest: Manifest | None = None
        self.labels = 0
        """Labels the coordinator accepted since the last checkpoint."""
        self._last = time.time()
        self._image: bytes | None = None
        """The image of :attr:`manifest` (its bytes: a third of the decoded size), from which
        the next one's is made; set and cleared with it."""

    def load(self) -> TopicState:
        """What a rebuild restores from: the newest checkpoint (its image, or its records) and
        the records after it, or (none, or unusable: a warning says why) every topic in
        full. :meth:`records` gives every record of a state with an image."""
        self.manifest, self._image, self.labels, self._last = None, None, 0, time.time()
        if self.settings.enabled:
            started = time.perf_counter()
            try:
                found = read_checkpoint(self.kafka)
                if found is not None:
                    manifest = found.manifest
                    read = time.perf_counter() - started
                    state = read_state(self.kafka, since=manifest.offsets, into=found.state)
                    self.manifest = manifest
                    self._image = found.image
                    what = (f"an image and {len(manifest.segments)} segment(s) unread"
                            if state.image is not None else
                            f"{len(manifest.segments)} segment(s)")
                    state.checkpoint = (f"{what} of "
                                        f"{time.strftime('%H:%M:%S', time.gmtime(manifest.at))} "
                                        f"UTC read in {read:.1f}s")
                    return state
                log.info("no checkpoint on %s yet: reading every topic", self.kafka.topics.checkpoint)
            except (CheckpointError, OffsetsGone) as e:
                log.warning("the checkpoint on %s is not usable (%s): reading every topic in "
                            "full instead", self.kafka.topics.checkpoint, e)
        return read_state(self.kafka)

    def records(self, state: TopicState) -> TopicState:
        """Every record of ``state`` (from :meth:`load`): its own if it has no image, else the
        newest checkpoint's segments followed by it (a rebuild whose image cannot be resumed)."""
        if state.image is None or self.manifest is None:
            return state
        try:
            return with_records(self.kafka, self.manifest, state)
        except CheckpointError as e:
            log.warning("the checkpoint's segments are not usable (%s): reading every topic in "
                        "full instead", e)
            return read_state(self.kafka)

    def due(self, now: float) -> bool:
        if not self.settings.enabled:
            return False
        return (now - self._last >= self.settings.every_s
                or self.labels >= self.settings.every_labels)

    def postpone(self) -> None:
        """Try again in ``checkpoint.every_s`` (the last one failed)."""
        self.labels, self._last = 0, time.time()

    def ends(self) -> Offsets:
        """Where the next checkpoint stops: the topics' ends now. Take them between the
        coordinator's transactions (every record of its own before them is committed); then
        :meth:`prepare` may read up to them while the coordinator goes on."""
        return end_offsets(self.kafka)

    def prepare(self, state: TopicState | None = None, until: Offsets | None = None) -> Prepared:
        """The next checkpoint: ``state`` (a full read just done) as its one segment, or what
        the topics hold since the last one (up to ``until``, from :meth:`ends`; None: their
        ends now, so call it between the coordinator's transactions) as a new segment (all of
        them merged into one past ``checkpoint.max_segments``). With an imager, its image is
        made from the last one's and the records since (or from every record, when there is
        none or it cannot be resumed). Blocking (seconds at 1M labels for a merge or an image):
        the coordinator need not wait for it, only for :meth:`write`."""
        last, image = self.manifest, self._image
        topics = rebuilt_topics(self.kafka)
        replaces: list[Segment] = []
        merged: list[TopicState] = []  # every record, once read (a merge or a full image)
        if state is not None:  # a full read: its one segment replaces every other
            replaces = list(last.segments) if last is not None else []
            merged.append(state)
        elif last is None:
            state = read_state(self.kafka, until=until)
            merged.append(state)
        else:
            state = read_state(self.kafka, since=last.offsets, until=until)
            state.offsets = {t: {**last.offsets.get(t, {}), **e} for t, e in state.offsets.items()}
        suffix = state

        def records() -> TopicState:
            if not merged:
                assert last is not None
                merged.append(with_records(self.kafka, last, suffix))
            return merged[0]

        raw = None
        if self.imager is not None:
            view = None
            if image is not None and not merged:
                view = _after(checkpoint_image.decode(image), suffix)
            raw = self.imager(view or records(), records)
        if last is not None and not replaces and (
                merged or len(last.segments) >= self.settings.max_segments):
            state, replaces = records(), list(last.segments)
        n = last.next_segment if last is not None else 0
        kept = [s for s in (last.segments if last is not None else []) if s not in replaces]
        manifest = Manifest(kept, {t: dict(e) for t, e in state.offsets.items()}, topics,
                            time.time(), n + 1)
        return Prepared(encode(state), manifest, replaces, last, raw)

    async def write(self, producer: CoordinatorProducer, prepared: Prepared) -> Manifest:
        """Write ``prepared`` in the coordinator's open transaction: chunks, tombstones of the
        segments it replaces, then the manifest. :class:`Fenced` if the role moved,
        :class:`StaleCheckpoint` if another checkpoint was written or read since it was
        prepared."""
        if prepared.base is not self.manifest:
            raise StaleCheckpoint("prepared after a checkpoint that is no longer the newest")
        blob, manifest = prepared.blob, prepared.manifest
        key = f"seg/{manifest.next_segment - 1}"
        async with producer.transaction():
            kafka_producer = producer._claimed()
            topic = self.kafka.topics.checkpoint
            try:
                segment = await _send_chunks(kafka_producer, topic, blob, key)
                manifest.image = None if prepared.image is None else await _send_chunks(
                    kafka_producer, topic, prepared.image, f"img/{manifest.next_segment - 1}")
                old_image = prepared.base.image if prepared.base is not None else None
                for old in [*prepared.replaces, *([old_image] if old_image else [])]:
                    for n in range(old.chunks):
                        await kafka_producer.send(topic, value=None,
                                                  key=f"{old.key}/{n}".encode())
                manifest.segments.append(segment)
                await (await kafka_producer.send(topic, value=manifest.to_bytes(),
                                                 key=MANIFEST.encode()))
            except FENCED_ERRORS as e:
                raise Fenced(f"writing a checkpoint: {e}") from e
        self.manifest = manifest
        self._image = prepared.image
        self.labels = 0
        self._last = time.time()
        log.info("checkpoint %s: %d chunk(s), %.1f MB, %d segment(s) live%s", key, segment.chunks,
                 len(blob) / 2**20, len(manifest.segments),
                 f", an image of {len(prepared.image) / 2**20:.1f} MB" if prepared.image else "")
        return manifest


def _after(image: CheckpointImage, later: TopicState) -> TopicState:
    """What a rebuild reads from ``image`` and ``later`` (the records after it)."""
    state = merge(checkpoint_image.head_of(image.head), later).take_model(later)
    state.image = image
    return state


async def _send_chunks(producer, topic: str, blob: bytes, key: str) -> Segment:
    """``blob`` in chunks of at most :data:`CHUNK_BYTES` under ``key`` (a segment's records or
    an image); where they are."""
    pieces = [blob[i:i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
    sent = [await producer.send(topic, value=piece, key=f"{key}/{n}".encode())
            for n, piece in enumerate(pieces)]
    first = (await sent[0]).offset
    for future in sent[1:]:
        await future
    return Segment(key, first, len(pieces), hashlib.sha256(blob).hexdigest())
