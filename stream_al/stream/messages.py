"""Message contracts: one pydantic class per topic payload, JSON (orjson), ``schema_version`` 1.

Public topics (vendors and producers read or write them; JSON Schemas in ``stream_al/schemas/``):

- ``texts``: :class:`TextIn`, key = item id.
- ``selected``: :class:`SelectedItem`, key = item id.
- ``labels``: :class:`LabelIn`, key = item id.
- ``models``: :class:`ModelUpdate`, key ``"current"`` (compacted).
- ``deadletter``: :class:`DeadLetter`, key = the offending record's key.
- ``expert``: :class:`ExpertRequest`, key = item id.
- ``events``: :class:`Event` (its ``kind`` is one of :data:`EVENT_KINDS`).

Internal topics (written and read only by workers): ``control`` carries
:class:`ScoredBatchRecord` and :class:`LabelsRecord` (told apart by ``kind``), ``state`` carries
the coordinator's :class:`Ledger`. A scored batch is JSON with base64 rows, or (``scale.envelope:
binary``) a binary envelope: its other fields as JSON, its rows raw (``stream/envelope.py``).

Everything read from a topic goes through :func:`parse`, which never raises: a record that is
not valid UTF-8 JSON of the right shape comes back as a :class:`DeadLetterReason`.

>>> text = parse(TextIn, b'{"schema_version": 1, "id": "a-1", "text": "Oil rises",'
...                     b' "source": "wire", "timestamp": 1.0}')
>>> text.id, text.metadata
('a-1', {})
>>> parse(TextIn, b'{"schema_version": 2}').reason
'wrong_schema_version'
"""

from __future__ import annotations

import base64
import io
import math
import re
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import numpy as np
import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from stream_al.drift.forwarded import DriftSummary
from stream_al.embed.precision import (
    PRECISIONS,
    Precision,
    bytes_per_row,
    dequantize,
    quantize_many,
)
from stream_al.errors import StreamAlError
from stream_al.loop.class_gate import MAX_CLASSES  # classes a model snapshot may have
from stream_al.stream.envelope import EnvelopeRefused, envelope_of, is_envelope, open_envelope

SCHEMA_VERSION = 1
Envelope = Literal["json", "binary", "deflated"]
"""How a scored batch is written on ``control``: JSON with base64 rows, or a binary envelope
(JSON metadata and raw rows: stream/envelope.py), or one whose metadata is deflated (envelope
version 2). Workers read all three; workers before version 2 read the first two."""
DEAD_LETTER_RAW_BYTES = 4096
"""How much of an offending record a dead letter keeps."""
DEAD_LETTER_KEY_CHARS = 256
"""How much of an offending record's key a dead letter keeps: a dead letter stays far below any
record limit, so dead-lettering never fails for size, whatever the record was."""

# Bounds on what a stranger controls (producers and vendors write these fields).
MAX_ID_CHARS = 256
"""Item ids (and so record keys of texts, labels and selected items)."""
MAX_SOURCE_CHARS = 256
MAX_LABEL_CHARS = 100
"""Class names: they become model classes and Prometheus label values."""
MAX_ANNOTATOR_CHARS = 170
"""Annotator ids, with the ``<vendor>/`` a vendor's topic puts in front (vendor names have at
most 40 characters)."""
MAX_METADATA_BYTES = 16_384
"""A text's metadata, as JSON."""
MAX_METADATA_DEPTH = 4
"""Nesting of a text's metadata (a mapping of scalars is depth 1)."""
MAX_COST = 1e6
"""The most one selected item may cost, in budget units (a larger one is not plausible)."""
MAX_COUNT = 2**53
"""Counts and offsets beyond this are not plausible (and not exact in a float)."""
MAX_SNAPSHOT_BYTES = 256 * 2**20
"""A model snapshot's size once decompressed: more is a decompression bomb, not a model."""

_VISIBLE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5"
                      r"\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f"
                      r"\ufeff\uffa0\ufff0-\ufff8]")
"""A character that shows: not white space, a control, a zero-width or a format character."""

Reason = Literal[
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "wrong_schema_version",
    "missing_field",
    "invalid_field",
    "empty_text",
    "unknown_item",
    "unknown_class",
    "class_cap",
    "implausible",
    "processing_error",
]
REASONS: tuple[str, ...] = get_args(Reason)
"""Every dead-letter reason (bounded: they are metric label values)."""

EVENT_KINDS: dict[str, str] = {
    "restored": "the coordinator was rebuilt from the topics (detail: what it read, seconds)",
    "expired": "selected items whose deadline passed without a label; their cost went back "
               "to the budget (item_ids)",
    "truncated": "texts cut to kafka.max_text_bytes (item_ids; detail: original_bytes per "
                 "item, max_text_bytes)",
    "drift_alarm": "a drift detector fired (detail: detector, score, threshold, position)",
    "suspicious_labels": "labels that disagree with a confident model and the item's "
                         "labelled neighbours (item_ids; detail per item)",
    "verdicts_changed": "a later label changed items' adjudicated verdicts; the model is "
                        "rebuilt from the verdicts (item_ids; detail per item)",
    "rollback": "a models rollback command was applied or refused (detail: registry_version, "
                "model_version, command_id, applied, ...)",
    "class_cap": "labels of new classes over kafka.new_classes_per_hour were dead-lettered "
                 "(item_ids; detail: refused, per_hour, classes)",
    "answer_changed": "an annotator sent a second, different answer for an item; the first "
                      "stands (item_ids; detail: policy, changes: item, annotator, kept, "
                      "dropped)",
    "annotation_skipped": "an annotator skipped (cancelled) an item's task in a labelling tool "
                          "(item_ids; detail: source, annotator, project)",
    "pacing": "the budget pacer paused (rate down to pacing.floor: labels stopped paying) or "
              "resumed (full rate: drift alarm, new class, OOD rise, accuracy drop) (detail: "
              "change, reason, rate, position, signals, labels_saved)",
}
"""Every kind of record on the ``events`` topic, and what it says."""
EventKind = Literal[
    "restored", "expired", "truncated", "drift_alarm", "suspicious_labels", "verdicts_changed",
    "rollback", "class_cap", "answer_changed", "annotation_skipped", "pacing",
]


class Message(BaseModel):
    """Base of every contract: versioned, immutable, unknown fields ignored (forward compatible)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


# ---- public contracts ---------------------------------------------------------------------------
class TextIn(Message):
    """A text to consider for labelling (topic ``texts``)."""

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS,
                    description="stable item id; also the record key")
    text: str = Field(description="the text; non-blank, truncated to kafka.max_text_bytes")
    source: str = Field(max_length=MAX_SOURCE_CHARS,
                        description="where the text came from (feed, file, ...)")
    timestamp: float = Field(allow_inf_nan=False, description="event time, epoch seconds")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=f"at most {MAX_METADATA_BYTES} bytes of JSON, nested {MAX_METADATA_DEPTH} deep",
    )

    @field_validator("id")
    @classmethod
    def _id_printable(cls, v: str) -> str:
        return printable(v, "id")

    @field_validator("metadata")
    @classmethod
    def _metadata_bounded(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:  # most texts carry none: no walk, no encoding (~1 us of every text's parse)
            return v
        if depth_of(v) > MAX_METADATA_DEPTH:
            raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
        size = len(orjson.dumps(v))
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is {size} bytes of JSON, at most {MAX_METADATA_BYTES}")
        return v


class SelectedItem(Message):
    """An item bought for labelling, for vendors (topic ``selected``)."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", json_schema_serialization_defaults_required=True
    )

    item_id: str = Field(min_length=1, description="answer with this id on the labels topic")
    text: str
    batch_id: str = Field(description="items selected together share it")
    strategy: str = Field(description="selection strategy that bought the item")
    reason: str = Field(description="why it was bought (e.g. uncertainty, diverse, random)")
    scores: dict[str, float] = Field(description="informativeness scores in [0, 1] at selection")
    model_version: int = Field(ge=0, description="model version that made the selection")
    deadline: float = Field(description="epoch seconds; later labels may no longer be paid for")
    cost: float = Field(ge=0, le=MAX_COST, allow_inf_nan=False,
                        description="budget units charged for all the labels asked for")
    group: int = Field(description="similar items in a batch share a group")
    priority: float = Field(0.0, description="higher = more useful to label first")
    annotators: int = Field(
        1, ge=1, description="labels wanted: answer with this many distinct annotator_ids"
    )
    window: int = Field(-1, ge=-1, description="budget window charged (budget.window_items); "
                        "-1: none or not known")


class LabelIn(Message):
    """A label for a selected item, from a vendor (topic ``labels``)."""

    item_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    label: str = Field(min_length=1, max_length=MAX_LABEL_CHARS,
                       description="class name, printable; numbers are read as strings")
    annotator_id: str = Field(min_length=1, max_length=MAX_ANNOTATOR_CHARS,
                              description="printable")
    timestamp: float = Field(
        allow_inf_nan=False, description="when the annotator labelled it, epoch seconds"
    )
    confidence: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)

    @field_validator("label", mode="before")
    @classmethod
    def _number_as_class_name(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("label")
    @classmethod
    def _label_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("label is blank")
        return printable(v, "label")

    @field_validator("item_id", "annotator_id")
    @classmethod
    def _ids_printable(cls, v: str, info: Any) -> str:
        return printable(v, info.field_name)


class ExpertRequest(Message):
    """An item for an expert (topic ``expert``, key = item id): the annotators disagree beyond
    ``annotation.min_confidence``, or a lone label disagrees with a confident model and with
    the item's labelled neighbours. The expert answers on ``labels`` with an annotator id
    listed in ``annotation.expert_annotators``; that label is final."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", json_schema_serialization_defaults_required=True
    )

    item_id: str = Field(min_length=1)
    text: str
    reason: Literal["disagreement", "suspicious_label"]
    detail: str = ""
    votes: dict[str, int] = Field(description="class -> labels received so far")
    annotators: dict[str, str] = Field(description="annotator_id -> the class they gave")
    best_label: str | None = Field(description="the adjudicated label so far, if any")
    confidence: float = Field(ge=0, le=1, description="of best_label")
    model_label: str | None = Field(None, description="what the model predicts")
    model_confidence: float | None = Field(None, ge=0, le=1)
    at: float


class ModelUpdate(Message):
    """A model version (topic ``models``, key ``current``); ``snapshot`` is base64 of
    :meth:`ModelSnapshot.to_bytes` (a compressed ``.npz``). A record grows with the classes
    (the weights of the model and its committee, and the class names): measured 33 KB with 4
    classes and 0.5 MB with 77 at dimension 256 (static embedder), 0.74 MB with 77 at 384
    (MiniLM); the topic takes records up to 32 MiB. With ``learner.served_rule`` the snapshot
    also holds the served head (:attr:`ModelSnapshot.served`), which adds about one committee
    member: +5.6 KB with 4 classes and +98 KB with 77 at dimension 256 (committee of 4); without
    one, nothing. The l2 search's state (:attr:`ModelSnapshot.search`: a rebuild continues the
    learner's penalty and search schedule) adds 17-41 bytes (up to 51 with a served rule);
    a learner with a fixed ``learner.l2`` has none."""

    version: int = Field(ge=0)
    classes: list[str]
    n_labels: int = Field(ge=0)
    created_at: float
    label_received_at: list[float] = Field(
        default_factory=list,
        description="arrival times of the labels first learned by this version (capped)",
    )
    snapshot: str
    labels_hash: str = Field(
        "",
        description="label_set_hash of the labelled dataset this version learned "
        "(stream_al.labels.export; empty: not known)",
    )

    @classmethod
    def of(cls, snapshot: Any, label_received_at: list[float] | None = None) -> ModelUpdate:
        return cls(
            schema_version=1,
            version=snapshot.version,
            classes=list(snapshot.classes),
            n_labels=snapshot.n_labels,
            created_at=snapshot.created_at,
            label_received_at=label_received_at or [],
            snapshot=base64.b64encode(snapshot.to_bytes()).decode("ascii"),
        )

    def to_snapshot(self, dim: int | None = None) -> Any:
        """The model, checked (:func:`load_snapshot`); raises :class:`SnapshotError`."""
        return load_snapshot(self.snapshot, dim)


class DeadLetter(Message):
    """A record that could not be used, and why (topic ``deadletter``)."""

    topic: str
    partition: int
    offset: int
    key: str | None = Field(description=f"the record's key, its first {DEAD_LETTER_KEY_CHARS} "
                            "characters")
    reason: Reason = Field(description="why the record could not be used")
    detail: str = ""
    raw: str = Field(description=f"the record's first {DEAD_LETTER_RAW_BYTES} bytes")
    raw_encoding: Literal["utf-8", "base64"]
    at: float

    @classmethod
    def of(
        cls,
        raw: bytes,
        reason: DeadLetterReason,
        *,
        topic: str,
        partition: int = -1,
        offset: int = -1,
        key: bytes | str | None = None,
        at: float | None = None,
    ) -> DeadLetter:
        head = raw[:DEAD_LETTER_RAW_BYTES]
        try:
            text, encoding = head.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(head).decode("ascii"), "base64"
        if isinstance(key, bytes):
            key = key[:DEAD_LETTER_KEY_CHARS * 4].decode("utf-8", errors="replace")
        if key is not None:
            key = key[:DEAD_LETTER_KEY_CHARS]
        return cls(
            schema_version=1,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            reason=reason.reason,
            detail=reason.detail[:1000],
            raw=text,
            raw_encoding=encoding,
            at=time.time() if at is None else at,
        )


# ---- internal records ---------------------------------------------------------------------------
class DriftSummaryIn(BaseModel):
    """A scorer's drift features of one record's candidates (``scale.drift_at_scorers``,
    stream_al/drift/forwarded.py): per block of consecutive candidates the sum of their
    ``features`` random Fourier features (float16 rows, base64), how many it sums and the
    record index one past its last candidate."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sums: str = ""
    features: int = Field(1, ge=1, le=65_536)
    counts: list[Annotated[int, Field(ge=1, le=MAX_COUNT)]] = Field(default_factory=list)
    ends: list[Annotated[int, Field(ge=1, le=MAX_COUNT)]] = Field(default_factory=list)
    _sums: bytes = PrivateAttr(b"")
    """``sums`` decoded (by the validator)."""

    @model_validator(mode="after")
    def _one_row_per_block(self) -> DriftSummaryIn:
        if len(self.counts) != len(self.ends):
            raise ValueError(f"drift summary: {len(self.counts)} counts but {len(self.ends)} "
                             "block ends")
        if _decoded_length(self.sums) != 2 * self.features * len(self.counts):
            raise ValueError(f"drift summary: the sums are not {len(self.counts)} float16 "
                             f"rows of {self.features}")
        self._sums = _raw(self.sums)  # decoded once: summary() reads the same bytes
        if self.sums and not np.isfinite(np.frombuffer(self._sums, np.float16)).all():
            raise ValueError("drift summary: the sums must be finite")
        if any(b <= a for a, b in zip(self.ends, self.ends[1:], strict=False)):
            raise ValueError("drift summary: block ends must ascend")
        return self

    @classmethod
    def of(cls, summary: DriftSummary) -> DriftSummaryIn:
        q = quantize_many(summary.sums, "float16")
        return cls(sums=base64.b64encode(q.data).decode("ascii") if len(summary) else "",
                   features=q.dim, counts=summary.counts.tolist(), ends=summary.ends.tolist())

    def summary(self) -> DriftSummary:
        sums = (dequantize("float16", self._sums, _NO_SCALES, self.features)
                if self.counts else np.zeros((0, self.features), np.float32))
        return DriftSummary(sums, np.asarray(self.counts, np.int64),
                            np.asarray(self.ends, np.int64))


_NO_SCALES = np.zeros(0, dtype=np.float32)
"""Float32 rows have no per-row scale (:func:`dequantize` reads scales for int8 only)."""


class ScoredBatchRecord(Message):
    """Texts embedded and scored by one scorer (topic ``control``): every text of its batch,
    or with ``scale.preselect`` only the candidates (``weights``: stream texts each stands for;
    ``spans``: every text the scorer saw, per texts partition: [partition, first offset, last
    offset, count])."""

    kind: Literal["scored"] = "scored"
    batch_id: str
    ids: list[str]
    texts: list[str]
    embeddings: str | bytes = Field(description="the rows in `precision`, row-major, shape "
                                    "(len(ids), dim), little-endian: base64 in a JSON record, "
                                    "raw bytes in a binary envelope (:func:`envelope_of`)")
    precision: Literal["float32", "float16", "int8"] = "float32"
    scales: str | bytes = Field("", description="int8: one float32 scale per row (base64 in "
                                "JSON, raw in a binary envelope)")
    dim: int = Field(ge=1)
    scores: dict[str, list[float]]
    model_version: int
    costs: list[float]
    scored_at: float
    partitions: list[int] = Field(
        default_factory=list, description="texts partition of each item (empty: not known)"
    )
    offsets: list[int] = Field(
        default_factory=list,
        description="texts offset of each item: a redelivered text comes back with the same one",
    )
    weights: list[float] = Field(default_factory=list, description="candidates: stream texts "
                                 "each stands for (empty: every text of the batch is here)")
    spans: list[tuple[int, int, int, int]] = Field(default_factory=list, description=(
        "candidates: [partition, first offset, last offset, count] of every text the scorer saw"))
    drift: DriftSummaryIn | None = Field(None, description="scale.drift_at_scorers: the "
                                         "scorer's drift test of these candidates (absent: "
                                         "none)")
    _deflate: bool = PrivateAttr(False)
    """:meth:`to_bytes` deflates the envelope's metadata (``envelope="deflated"``)."""

    @model_validator(mode="after")
    def _one_entry_per_item(self) -> ScoredBatchRecord:
        n, e = len(self.ids), self.embeddings
        lengths = {"texts": len(self.texts), "costs": len(self.costs)}
        lengths |= {f"scores.{k}": len(v) for k, v in self.scores.items()}
        if self.partitions or self.offsets:
            lengths |= {"partitions": len(self.partitions), "offsets": len(self.offsets)}
        if self.weights:
            lengths |= {"weights": len(self.weights)}
        wrong = {k: m for k, m in lengths.items() if m != n}
        if wrong:
            raise ValueError(f"{n} ids but lengths {wrong}")
        row = bytes_per_row(self.precision, self.dim) - (4 if self.precision == "int8" else 0)
        if _decoded_length(e) != n * row:
            raise ValueError(f"embeddings are not {n} rows of {self.dim} {self.precision}")
        if _decoded_length(self.scales) != (n * 4 if self.precision == "int8" else 0):
            raise ValueError(f"scales are not {n} float32" if self.precision == "int8"
                             else f"scales are for int8 rows, not {self.precision}")
        if isinstance(e, bytes) != isinstance(self.scales, bytes) and self.scales:
            raise ValueError("embeddings and scales must both be raw or both base64")
        if not _all_within(self.weights, 1, MAX_COUNT):
            raise ValueError(f"weights must be finite and in [1, {MAX_COUNT}]")
        if not all(0 <= f <= last <= MAX_COUNT and 1 <= c <= last - f + 1
                   for _, f, last, c in self.spans):
            raise ValueError("spans must be [partition, first <= last, count <= last-first+1]")
        if not _all_within(self.costs, 0, MAX_COST):
            raise ValueError(f"costs must be finite, >= 0 and <= {MAX_COST}")
        if self.offsets and not 0 <= min(self.offsets) <= max(self.offsets) <= MAX_COUNT:
            raise ValueError(f"texts offsets must be in [0, {MAX_COUNT}]")
        if self.drift is not None and self.drift.ends and self.drift.ends[-1] > n:
            raise ValueError(f"drift blocks must end within the {n} candidates")
        return self

    @classmethod
    def of(
        cls,
        batch_id: str,
        ids: list[str],
        texts: list[str],
        X: np.ndarray,
        scores: dict[str, np.ndarray],
        model_version: int,
        costs: np.ndarray,
        scored_at: float,
        sources: Sequence[tuple[int, int]] = (),
        *,
        precision: Precision = "float32",
        weights: Sequence[float] | None = None,
        spans: Sequence[tuple[int, int, int, int]] = (),
        envelope: Envelope = "json",
        drift: DriftSummary | None = None,
    ) -> ScoredBatchRecord:
        """``sources``: (partition, offset) of each item on the texts topic. Below float32
        ``precision``, scores are rounded to 5 decimals too (the compact record).
        ``envelope``: ``binary`` keeps the rows raw (:meth:`to_bytes` writes a binary
        envelope), ``deflated`` too, with the envelope's metadata deflated, ``json`` puts
        them in the JSON as base64 (what workers before issue 17 read)."""
        X = np.asarray(X, dtype=np.float32)  # no rows: candidates of a batch may be none
        q = quantize_many(X.reshape(len(ids), -1 if X.size else X.shape[-1]), precision)
        digits = None if precision == "float32" else 5
        raw = envelope != "json"
        scales = q.scales.tobytes()
        record = cls(
            schema_version=1,
            batch_id=batch_id,
            ids=ids,
            texts=texts,
            embeddings=q.data if raw else base64.b64encode(q.data).decode("ascii"),
            precision=precision,
            scales=scales if raw else base64.b64encode(scales).decode("ascii") if scales else "",
            dim=q.dim,
            scores={k: _rounded(v, digits) for k, v in scores.items()},
            model_version=model_version,
            costs=np.asarray(costs, dtype=np.float64).tolist(),
            scored_at=scored_at,
            partitions=[p for p, _ in sources],
            offsets=[o for _, o in sources],
            weights=[] if weights is None else np.round(np.asarray(weights), 3).tolist(),
            spans=[tuple(s) for s in spans],
            drift=None if drift is None else DriftSummaryIn.of(drift),
        )
        record._deflate = envelope == "deflated"
        return record

    def matrix(self) -> np.ndarray:
        """The embeddings as float32 rows (n, dim), whatever their precision on the wire."""
        scales = np.frombuffer(_raw(self.scales), dtype=np.float32)
        return dequantize(self.precision, _raw(self.embeddings), scales, self.dim)

    @property
    def binary(self) -> bool:
        """True if the rows are raw bytes: :meth:`to_bytes` writes a binary envelope."""
        return isinstance(self.embeddings, bytes)

    def to_bytes(self) -> bytes:
        absent = set() if self.drift is not None else {"drift"}  # records as before it
        if not self.binary:
            return orjson.dumps(self.model_dump(mode="json", exclude=absent))
        return envelope_of(self.model_dump(mode="json", exclude={"embeddings", "scales", *absent}),
                           _raw(self.embeddings) + _raw(self.scales), deflate=self._deflate)


def _all_within(values: list[float], low: float, high: float) -> bool:
    """Every one of ``values`` finite and in [``low``, ``high``] (NaN and infinities are
    outside any such range), in one pass over an array rather than a Python loop (~0.1 ms a
    candidate record: benchmarks/README.md, issue 17, "the coordinator's ceiling, ceil21")."""
    v = np.asarray(values, dtype=np.float64)
    return bool(np.all((v >= low) & (v <= high)))


def _raw(field: str | bytes) -> bytes:
    return field if isinstance(field, bytes) else base64.b64decode(field)


def _decoded_length(field: str | bytes) -> int:
    """Bytes ``field`` holds: raw, or base64 (without decoding it)."""
    if isinstance(field, bytes):
        return len(field)
    return len(field) * 3 // 4 - field[-2:].count("=")


def _rounded(values: Any, digits: int | None) -> list[float]:
    v = np.asarray(values, dtype=np.float64)
    return (v if digits is None else np.round(v, digits)).tolist()


class LabelsRecord(Message):
    """Valid labels forwarded by a labels agent (topic ``control``)."""

    kind: Literal["labels"] = "labels"
    labels: list[LabelIn]
    received_at: list[float] = Field(description="when each label reached a worker")
    sources: list[tuple[str, int, int]] = Field(
        default_factory=list, description="(topic, partition, offset) each label was read at "
        "(empty: not known); a dead letter of the label names them")

    @model_validator(mode="after")
    def _one_time_per_label(self) -> LabelsRecord:
        if len(self.received_at) != len(self.labels):
            raise ValueError(f"{len(self.labels)} labels but {len(self.received_at)} times")
        if self.sources and len(self.sources) != len(self.labels):
            raise ValueError(f"{len(self.labels)} labels but {len(self.sources)} sources")
        return self

    def where(self) -> dict[int, Source]:
        """Where each label (by ``id``) was read, for its dead letter."""
        return {id(x): Source(t, p, o, x.item_id)
                for x, (t, p, o) in zip(self.labels, self.sources, strict=False)}


@dataclass(frozen=True)
class Source:
    """Where a record was read (what :meth:`DeadLetter.of` keeps of it)."""

    topic: str
    partition: int
    offset: int
    key: str | None = None


class Ledger(Message):
    """The coordinator's budget after a control record (topic ``state``, key ``ledger``).

    ``spent`` is informational: a rebuild recomputes it from the selected topic minus expiries.
    """

    seen: int = Field(ge=0, le=MAX_COUNT)
    spent: float = Field(ge=0, le=MAX_COUNT, allow_inf_nan=False)
    window_seen: int = Field(0, ge=0, le=MAX_COUNT)
    window_spent: float = Field(0.0, ge=0, le=MAX_COUNT, allow_inf_nan=False)
    control_offset: int = Field(ge=-1, le=MAX_COUNT,
                                description="last control offset these numbers include")
    at: float
    texts_offsets: dict[int, Annotated[int, Field(ge=-1, le=MAX_COUNT)]] = Field(
        default_factory=dict,
        description="per texts partition, the last offset counted in seen (redeliveries are not)",
    )
    drift_elapsed: int = Field(-1, ge=-1, le=MAX_COUNT,
                               description="items into the drift response in progress (-1: none)")
    drift_debt: float = Field(0.0, ge=0, le=MAX_COUNT, allow_inf_nan=False,
                              description="of spent, borrowed by the drift response, not repaid")
    pacing: dict[str, Any] | None = Field(
        None, description="the budget pacer's state: rate, saved and withheld money (None: off)")


class Expiry(Message):
    """A selection whose label missed its deadline; its cost went back to the budget
    (topic ``state``, key ``expired/<item_id>``)."""

    item_id: str
    cost: float = Field(ge=0, le=MAX_COST, allow_inf_nan=False)
    at: float


class Event(Message):
    """Something operators may want to know about (topic ``events``); the kinds are
    :data:`EVENT_KINDS`."""

    kind: EventKind = Field(description="; ".join(f"{k}: {v}" for k, v in EVENT_KINDS.items()))
    at: float
    item_ids: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)


class RollbackRecord(Message):
    """An operator's rollback to a registered model (topic ``commands``, written by
    ``stream-al models rollback``; relayed to ``control`` by the coordinator): the coordinator
    continues from ``snapshot`` with the rows it learned (``learned``: (item id, annotator id,
    label); annotator ``adjudicated`` for a verdict) and publishes it."""

    kind: Literal["rollback"] = "rollback"
    command_id: str
    registry_version: int = Field(ge=1)
    model_version: int = Field(ge=0, description="the version rolled back to")
    snapshot: str = Field(description="base64 of ModelSnapshot.to_bytes()")
    learned: list[tuple[str, str, str]]
    requested_at: float

    def to_snapshot(self, dim: int | None = None) -> Any:
        """The model, checked (:func:`load_snapshot`); raises :class:`SnapshotError`."""
        return load_snapshot(self.snapshot, dim)


class RollbackState(Message):
    """The rollback in force (topic ``state``, key ``rollback``): a rebuild starts from
    ``snapshot`` with the rows it learned, and never learns the ``excluded`` items (labelled
    before the rollback but not learned by the version rolled back to)."""

    command_id: str
    registry_version: int
    model_version: int = Field(description="the version rolled back to")
    version: int = Field(description="the version the rolled-back model was published as")
    snapshot: str
    learned: list[tuple[str, str, str]]
    excluded: list[str]
    at: float

    def to_snapshot(self, dim: int | None = None) -> Any:
        """The model, checked (:func:`load_snapshot`); raises :class:`SnapshotError`."""
        return load_snapshot(self.snapshot, dim)


ControlRecord = Annotated[
    ScoredBatchRecord | LabelsRecord | RollbackRecord, Field(discriminator="kind")
]
CONTROL = TypeAdapter(ControlRecord)


# ---- bounds -------------------------------------------------------------------------------------
def printable(value: str, name: str) -> str:
    """``value`` if it holds no control, format or separator characters (but spaces)."""
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise ValueError(f"{name} holds the unprintable character {bad!r}")
    return value


def depth_of(value: Any, limit: int = MAX_METADATA_DEPTH + 1) -> int:
    """How deep ``value`` nests mappings and lists (a scalar is 0); stops counting at ``limit``."""
    if limit <= 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((depth_of(c, limit - 1) for c in children), default=0)


def visible(text: str) -> bool:
    """Whether ``text`` has a character that shows (NUL, zero-width and control characters
    alone make an empty text)."""
    return _VISIBLE.search(text) is not None


class SnapshotError(StreamAlError, ValueError):
    """A model snapshot on the wire cannot be a model this worker may use."""


def load_snapshot(b64: str, dim: int | None = None) -> Any:
    """The :class:`~stream_al.learn.snapshot.ModelSnapshot` in ``b64``, checked before it is
    trusted: at most :data:`MAX_SNAPSHOT_BYTES` once decompressed (the sizes in the archive are
    read first: a bomb is refused before it is inflated; the archive reader stops at them),
    weights of ``(classes, dim)`` (``dim``: the embedder's, if given), finite weights,
    temperature > 0, at most :data:`MAX_CLASSES` distinct printable classes, one per row; a
    served head (``learner.served_rule``), when there is one, of the main model's shape, finite,
    at a finite ``l2`` > 0; the l2 search's state (:class:`~stream_al.learn.snapshot.SearchState`),
    when there is one, at finite penalties > 0 and a last search at 0 to ``n_labels`` labels. A
    snapshot without either loads as before (``served``, ``search`` None). A well-formed state
    that the learner's search cannot have (another grid or prior) is not refused here: the
    learner ignores it and searches (``OnlineLearner.reset_to``)."""
    from stream_al.learn.snapshot import ModelSnapshot

    try:
        data = base64.b64decode(b64, validate=True)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
        if inflated > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(f"snapshot inflates to {inflated} bytes, at most "
                                f"{MAX_SNAPSHOT_BYTES}")
        snapshot = ModelSnapshot.from_bytes(data)
    except SnapshotError:
        raise
    except Exception as e:  # not base64, not an archive, arrays or header missing
        raise SnapshotError(f"snapshot does not load: {type(e).__name__}: {e}") from e
    _check_snapshot(snapshot, dim)
    return snapshot


def _check_snapshot(snapshot: Any, dim: int | None) -> None:
    W, b, classes = snapshot.weights, snapshot.bias, snapshot.classes
    if W.ndim != 2 or b.shape != (W.shape[0],) or len(classes) != W.shape[0]:
        raise SnapshotError(f"weights {W.shape}, bias {b.shape} and {len(classes)} classes "
                            "do not match")
    if dim is not None and W.shape[0] and W.shape[1] != dim:
        raise SnapshotError(f"weights of dimension {W.shape[1]}, the embedder's is {dim}")
    if len(classes) > MAX_CLASSES or len(set(classes)) != len(classes):
        raise SnapshotError(f"{len(classes)} classes ({len(set(classes))} distinct), at most "
                            f"{MAX_CLASSES} distinct")
    for name in classes:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_LABEL_CHARS:
            raise SnapshotError(f"class name {str(name)[:40]!r}... is not 1-{MAX_LABEL_CHARS} "
                                "characters")
        if not name.isprintable():
            raise SnapshotError(f"class name {name[:40]!r} holds unprintable characters")
    arrays = [W, b, *(a for pair in snapshot.committee for a in pair)]
    if any(a.dtype.kind != "f" or not np.isfinite(a).all() for a in arrays):
        raise SnapshotError("weights are not all finite floats")
    if any(Wc.shape != W.shape or bc.shape != b.shape for Wc, bc in snapshot.committee):
        raise SnapshotError("a committee member's weights differ in shape from the model's")
    if not (math.isfinite(snapshot.temperature) and snapshot.temperature > 0):
        raise SnapshotError(f"temperature must be finite and > 0, got {snapshot.temperature}")
    from stream_al.learn.snapshot import search_problem, served_problem

    for problem in (served_problem(snapshot), search_problem(snapshot)):
        if problem is not None:
            raise SnapshotError(problem)


# ---- parsing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeadLetterReason:
    """Why a record was refused: ``reason`` is one of :data:`REASONS`, ``detail`` for humans."""

    reason: str
    detail: str = ""


M = TypeVar("M", bound=BaseModel)


def parse(
    model: type[M] | TypeAdapter, raw: bytes | None, max_text_bytes: int | None = None
) -> Any:
    """``raw`` validated as ``model`` (a class or a ``TypeAdapter``), or a DeadLetterReason.

    Never raises. For :class:`TextIn`, texts longer than ``max_text_bytes`` are cut on a UTF-8
    boundary and flagged in ``metadata`` (``truncated: true``, ``original_bytes: n``).
    """
    if raw is None:
        return DeadLetterReason("invalid_json", "empty record (null value)")
    if is_envelope(raw):
        data = _scored_envelope(model, raw)
        if isinstance(data, DeadLetterReason):
            return data
    else:
        data = _json_object(raw)
        if isinstance(data, DeadLetterReason):
            return data
    if data.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        return DeadLetterReason(
            "wrong_schema_version", f"schema_version {data['schema_version']!r}, expected 1"
        )
    try:
        validate = model.validate_python if isinstance(model, TypeAdapter) else model.model_validate
        message = validate(data)
    except ValidationError as e:
        return _reason_of(e)
    if isinstance(message, TextIn):
        return _checked_text(message, max_text_bytes)
    return message


def _json_object(raw: bytes) -> dict[str, Any] | DeadLetterReason:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return DeadLetterReason("invalid_utf8", f"{e.reason} at byte {e.start}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return DeadLetterReason("invalid_json", str(e))
    if not isinstance(data, dict):
        return DeadLetterReason("not_an_object", f"JSON {type(data).__name__}, expected object")
    return data


def _scored_envelope(model: Any, raw: bytes) -> dict[str, Any] | DeadLetterReason:
    """A scored batch's fields from its binary envelope (stream/envelope.py): the JSON
    metadata, with the payload split into its rows and scales as its precision, dim and ids
    say (the record's validator then checks every length)."""
    if model is not CONTROL and model is not ScoredBatchRecord:
        return DeadLetterReason("invalid_utf8", "a binary envelope where a JSON record belongs")
    opened = open_envelope(raw)
    if isinstance(opened, EnvelopeRefused):
        return DeadLetterReason(opened.reason, opened.detail)
    data, payload = opened
    precision, dim, ids = data.get("precision", "float32"), data.get("dim"), data.get("ids")
    if (data.get("kind", "scored") != "scored" or precision not in PRECISIONS
            or type(dim) is not int or dim < 1 or not isinstance(ids, list)):
        return DeadLetterReason("invalid_field", "binary envelope: only a scored batch, whose "
                                "kind, precision, dim and ids say how its payload splits")
    rows = len(ids) * (bytes_per_row(precision, dim) - (4 if precision == "int8" else 0))
    data["embeddings"], data["scales"] = payload[:rows], payload[rows:]
    return data


def _reason_of(error: ValidationError) -> DeadLetterReason:
    first = error.errors()[0]
    where = ".".join(map(str, first["loc"])) or "record"
    kind = "missing_field" if first["type"] == "missing" else "invalid_field"
    if first["loc"] and first["loc"][-1] == "schema_version":
        kind = "missing_field" if first["type"] == "missing" else "wrong_schema_version"
    return DeadLetterReason(kind, f"{where}: {first['msg']}")


def _checked_text(message: TextIn, max_text_bytes: int | None) -> TextIn | DeadLetterReason:
    if not visible(message.text):
        return DeadLetterReason("empty_text", "text is empty, white space, control or "
                                "zero-width characters")
    if max_text_bytes is None:
        return message
    encoded = message.text.encode("utf-8")
    if len(encoded) <= max_text_bytes:
        return message
    cut = encoded[:max_text_bytes].decode("utf-8", errors="ignore")  # drops a split character
    metadata = {**message.metadata, "truncated": True, "original_bytes": len(encoded)}
    return message.model_copy(update={"text": cut, "metadata": metadata})


# ---- JSON Schemas for the public contracts ------------------------------------------------------
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
PUBLIC_SCHEMAS: dict[str, type[Message]] = {
    "text.schema.json": TextIn,
    "selected_item.schema.json": SelectedItem,
    "label.schema.json": LabelIn,
    "expert_request.schema.json": ExpertRequest,
    "model_update.schema.json": ModelUpdate,
    "dead_letter.schema.json": DeadLetter,
    "event.schema.json": Event,
}


def json_schema(model: type[Message]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) a producer or vendor validates ``model`` records with."""
    schema = model.model_json_schema(
        mode="validation" if model in (TextIn, LabelIn) else "serialization"
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def write_json_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write ``stream_al/schemas/*.schema.json`` from the models; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in PUBLIC_SCHEMAS.items():
        path = directory / name
        path.write_bytes(orjson.dumps(json_schema(model), option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m stream_al.stream.messages: regenerate the schema files
    for path in write_json_schemas():
        print(f"wrote {path}")
