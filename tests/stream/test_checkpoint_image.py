"""A checkpoint's image (a coordinator's: loop/resume.py, the caps', the fold's small parts) as
bytes and back: resumed from the decoded image, a rebuild leaves what it leaves from the image
itself; bytes that are not a whole image are refused with an :class:`ImageError` that says
what is wrong."""

from __future__ import annotations

import dataclasses
import math

import pytest

from stream_al.config import KafkaSettings
from stream_al.labels import Label
from stream_al.loop.admission import Admission, AdmissionState
from stream_al.loop.resume import CoordinatorImage
from stream_al.stream.checkpoint_image import (
    MAGIC,
    CheckpointImage,
    ImageError,
    decode,
    encode,
)
from stream_al.stream.messages import Ledger
from stream_al.stream.rebuild import TopicState
from tests.loop.test_resume import (
    digest,
    full_rebuild,
    image,
    restored_state,
    resumed,
    split_history,
)


def checkpoint(c: CoordinatorImage, caps: AdmissionState | None = None,
               head: TopicState | None = None) -> CheckpointImage:
    return CheckpointImage(c, caps or AdmissionState({}, [], [], 0, -math.inf),
                           head or TopicState())


@pytest.mark.parametrize("adjudication", ["majority", "dawid_skene"])
def test_an_image_decoded_from_its_bytes_resumes_as_a_full_rebuild(adjudication):
    h, s, requested = split_history()
    img = decode(encode(checkpoint(image(adjudication, h)))).coordinator
    assert digest(restored_state(resumed(adjudication, img, s, requested))) == digest(
        restored_state(full_rebuild(adjudication, h, s, requested)))


def test_bytes_again_are_the_same_bytes():
    h, _, _ = split_history()
    raw = encode(checkpoint(image("majority", h)))
    assert encode(decode(raw)) == raw


def test_the_items_drawn_for_validation_come_back_as_they_were():
    h, _, _ = split_history()
    img = dataclasses.replace(image("majority", h), uniform=frozenset({"i-7", "i-14"}))
    assert decode(encode(checkpoint(img))).coordinator.uniform == {"i-7", "i-14"}


def test_the_caps_and_the_folds_small_parts_come_back_as_they_were():
    h, _, _ = split_history()
    caps = Admission(KafkaSettings(label_policy="accept_new_class", new_classes_per_hour=1),
                     max_annotators=1)
    caps.replay_many([Label("x", "A", "ann-1", 0.0), Label("x", "B", "ann-2", 0.0),
                      Label("y", "C", "ann-1", 0.0), Label("z", "D", "ann-1", 0.0)],
                     [10.0, 11.0, 12.0, 13.0])
    ledger = Ledger(schema_version=1, seen=10, spent=2.0, window_seen=0, window_spent=0.0,
                    control_offset=3, at=1.0, texts_offsets={})
    head = TopicState(expired={"x": 1.0}, requested={"y": "disagreement"}, ledger=ledger)
    back = decode(encode(checkpoint(image("majority", h), caps.state(), head)))
    assert back.admission == caps.state() and back.admission.until == 13.0
    assert (back.head.expired, back.head.requested, back.head.ledger, back.head.rollback) == (
        {"x": 1.0}, {"y": "disagreement"}, ledger, None)
    again = Admission(KafkaSettings(label_policy="accept_new_class", new_classes_per_hour=1),
                      max_annotators=1)
    again.load_state(back.admission)
    assert again.replay_many([Label("w", "E", "a", 0.0)], [14.0]) == []  # the hour's one class
    assert again.replay_many([Label("w", "A", "a", 0.0)], [15.0]) != []  # A was admitted


def first_blob(raw: bytes) -> int:
    return len(MAGIC) + 8 + int.from_bytes(raw[len(MAGIC):len(MAGIC) + 8], "big")


def flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:]


@pytest.mark.parametrize(("damage", "why"), [
    (lambda raw: raw[:-100], "truncated"),
    (lambda raw: raw + b"x", "truncated or extended"),
    (lambda raw: flip(raw, first_blob(raw) + 20), "does not decode"),  # the label store's
    (lambda raw: b"stream-al image 0\n" + raw[len(MAGIC):], "no magic"),
])
def test_a_damaged_image_is_refused_saying_why(damage, why):
    h, _, _ = split_history()
    with pytest.raises(ImageError, match=why):
        decode(damage(encode(checkpoint(image("majority", h)))))
