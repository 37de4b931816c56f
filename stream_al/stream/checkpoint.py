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
partitions as the broker answers; nothing a rebuild restores depends on that). A manifest that
is missing, of another format or set of topics, a chunk that is missing or whose checksum fails, offsets outside a topic (it
was made again): the rebuild reads every topic in full and says why in a warning.

This module is the coordinator's side (:class:`Checkpoints`: load, prepare, write); a segment's
encoding is stream/checkpoint_segment.py, the manifest stream/checkpoint_manifest.py, reading
them back stream/checkpoint_reading.py, and the image (format 3) stream/checkpoint_image.py.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from stream_al.config import CheckpointSettings, KafkaSettings
from stream_al.stream import checkpoint_image
from stream_al.stream.checkpoint_manifest import MANIFEST, CheckpointError, Manifest, Segment
from stream_al.stream.checkpoint_reading import from_image, read_checkpoint, with_records
from stream_al.stream.checkpoint_segment import encode
from stream_al.stream.fencing import FENCED_ERRORS, CoordinatorProducer, Fenced
from stream_al.stream.rebuild import (
    Offsets,
    OffsetsGone,
    TopicState,
    end_offsets,
    read_state,
    rebuilt_topics,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 2**20
"""Records of the checkpoint topic (it takes up to 32 MiB: stream/topics.py)."""


Imager = Callable[[TopicState, Callable[[], TopicState]], "bytes | None"]
"""The image of a rebuild from a state (with the last image, or every record) and its records
(stream/resuming.py)."""


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
                view = from_image(checkpoint_image.decode(image), suffix)
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
