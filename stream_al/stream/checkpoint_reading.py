"""Reading the newest checkpoint (stream/checkpoint.py) from the checkpoint topic: its
manifest, its segments' or its image's chunks (joined, checked, decoded), and the state a
rebuild starts from. What cannot be used raises
:class:`~stream_al.stream.checkpoint_manifest.CheckpointError` (an unusable image: a warning,
and the segments' records instead).
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from kafka import TopicPartition

from stream_al.config import KafkaSettings
from stream_al.stream import checkpoint_image
from stream_al.stream.checkpoint_image import CheckpointImage
from stream_al.stream.checkpoint_manifest import MANIFEST, CheckpointError, Manifest, Segment
from stream_al.stream.checkpoint_segment import decode, merge
from stream_al.stream.rebuild import TopicState, _consumer, read_topic, rebuilt_topics

log = logging.getLogger(__name__)


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
        state = from_image(image[0], TopicState())
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


def from_image(image: CheckpointImage, later: TopicState) -> TopicState:
    """What a rebuild reads from ``image`` and ``later`` (the records after it)."""
    state = merge(checkpoint_image.head_of(image.head), later).take_model(later)
    state.image = image
    return state
