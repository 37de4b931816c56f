"""A checkpoint's manifest (stream/checkpoint.py; key :data:`MANIFEST` of the checkpoint
topic): the live segments (where their chunks are, their sha256), the image if any, and the
offsets of every topic where the last one stopped, with :data:`FORMAT` and the topics it
covers. Signed by its own sha256; one of another format or set of topics is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from stream_al.errors import StreamAlError
from stream_al.stream.rebuild import Offsets

FORMAT = 3
"""The checkpoint's layout; a manifest of another is not read (a full rebuild). 3: format 2
and an image of a restore of its records (stream/checkpoint_image.py, ``checkpoint.image``);
2: items and labels by column, as the core's records (1: one message dump per record)."""
READS = (2, FORMAT)
"""A manifest without an image is written as format 2 (what the version before reads)."""
MANIFEST = "manifest"


class CheckpointError(StreamAlError, ValueError):
    """A checkpoint that cannot be used; the rebuild reads every topic instead."""



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
