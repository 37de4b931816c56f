"""A coordinator image (loop/resume.py) as bytes and back: resumed from the decoded image, a
rebuild leaves what it leaves from the image itself; bytes that are not a whole image are
refused with an :class:`ImageError` that says what is wrong."""

from __future__ import annotations

import pytest

from stream_al.stream.checkpoint_image import MAGIC, ImageError, decode, encode
from tests.loop.test_resume import (
    digest,
    full_rebuild,
    image,
    restored_state,
    resumed,
    split_history,
)


@pytest.mark.parametrize("adjudication", ["majority", "dawid_skene"])
def test_an_image_decoded_from_its_bytes_resumes_as_a_full_rebuild(adjudication):
    h, s, requested = split_history()
    img = decode(encode(image(adjudication, h)))
    assert digest(restored_state(resumed(adjudication, img, s, requested))) == digest(
        restored_state(full_rebuild(adjudication, h, s, requested)))


def test_bytes_again_are_the_same_bytes():
    h, _, _ = split_history()
    raw = encode(image("majority", h))
    assert encode(decode(raw)) == raw


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
        decode(damage(encode(image("majority", h))))
