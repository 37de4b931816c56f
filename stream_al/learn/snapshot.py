"""An immutable, cheap copy of a learned model: what scorers use between updates.

With ``learner.served_rule`` it also holds the *served* head (:class:`ServedHead`): the weights
of the model that predicts, fitted on the same labels at a penalty of their own
(stream_al/learn/online.py). The snapshot is what goes on ``models``, into the registry and
into a rollback's record, so the served head travels wherever the main model's weights do, and
a rebuild (loop/restore.py) or a rollback continues from it. Without one (the default, and every
snapshot written before it existed) nothing is written for it: the bytes are those of before.

It also holds the l2 search's state (:class:`SearchState`: the penalty the main model and the
committee were fitted at, the labels at the last search, the served rule's last choice), so a
rebuilt learner continues the penalty and the search schedule it had instead of searching
again in its first refit (stream_al/learn/regularisation.py, ``L2Search.resume``). A learner
with a fixed ``learner.l2`` has none and writes none.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass, field, replace

import numpy as np
import orjson
from scipy.special import softmax


@dataclass(frozen=True)
class ServedHead:
    """The served head at a snapshot's version: its weights, of the snapshot's shape and class
    order, and ``l2``, the penalty they were fitted at (the served rule's choice, or the
    one-class guard's weaker one: stream_al/learn/softmax.py)."""

    weights: np.ndarray
    bias: np.ndarray
    l2: float


@dataclass(frozen=True)
class SearchState:
    """The learner's l2 search at a snapshot's version (:meth:`L2Search.state
    <stream_al.learn.regularisation.L2Search.state>`): what decides its next refits. ``l2``:
    the penalty the main model and the committee were fitted at (the search's choice, or the
    one-class guard's weaker one), kept until the next search; ``searched_at``: the labels in
    the learner's memory at the last search (0: none yet), the next one due when they have
    grown ``learner.cv_growth`` times; ``served_l2``: the served rule's last choice, where each
    refit of the served head starts (None: no served rule). The last search's scores are not
    kept: they decide nothing."""

    l2: float
    searched_at: int
    served_l2: float | None = None


@dataclass(frozen=True)
class ModelSnapshot:
    """Weights of the main model and of the committee at one version.

    ``weights`` has shape (k, d), ``bias`` (k,), ``committee`` is a tuple of (W, b) pairs with
    the same class order. ``temperature`` divides logits (1.0 = uncalibrated). ``served``:
    the served head (``learner.served_rule``; None: the main model predicts). ``search``: the
    l2 search's state (None: ``learner.l2`` fixed, or written before it was kept).
    """

    version: int
    classes: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    committee: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    temperature: float = 1.0
    n_labels: int = 0
    created_at: float = 0.0
    meta: dict[str, float | str] = field(default_factory=dict)
    served: ServedHead | None = None
    search: SearchState | None = None

    @classmethod
    def empty(cls, dim: int) -> ModelSnapshot:
        return cls(
            version=0,
            classes=(),
            weights=np.zeros((0, dim), dtype=np.float32),
            bias=np.zeros(0, dtype=np.float32),
        )

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    @property
    def ready(self) -> bool:
        """A model that has seen at least two classes can rank uncertainty."""
        return len(self.classes) >= 2

    def logits_many(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.weights.T + self.bias

    def predict_proba_many(self, X: np.ndarray) -> np.ndarray:
        if not self.classes:
            return np.zeros((len(X), 0), dtype=np.float32)
        return softmax(self.logits_many(X) / self.temperature, axis=1).astype(np.float32)

    def predict_many(self, X: np.ndarray) -> list[str]:
        if not self.classes:
            return [""] * len(X)
        idx = self.logits_many(X).argmax(axis=1)
        return [self.classes[i] for i in idx]

    def committee_proba_many(self, X: np.ndarray) -> list[np.ndarray]:
        """Each member's class probabilities, all members in one matrix product."""
        if not self.committee:
            return []
        X = np.asarray(X, dtype=np.float32)
        m, k = len(self.committee), len(self.committee[0][1])
        W = np.concatenate([W for W, _ in self.committee]).astype(np.float32, copy=False)
        b = np.concatenate([b for _, b in self.committee]).astype(np.float32, copy=False)
        logits = ((X @ W.T + b) / np.float32(self.temperature)).reshape(len(X), m, k)
        proba = softmax(logits, axis=2).astype(np.float32, copy=False)
        return list(proba.transpose(1, 0, 2))

    def served_model(self) -> ModelSnapshot:
        """The model that predicts: the served head's weights with this snapshot's committee,
        version and temperature (what a consumer of ``models`` serves); without a served head,
        this snapshot."""
        if self.served is None:
            return self
        return replace(self, weights=self.served.weights, bias=self.served.bias, served=None)

    def with_temperature(self, temperature: float) -> ModelSnapshot:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        return replace(self, temperature=float(temperature))

    # ---- wire format (models topic, registry) ---------------------------------------------
    def to_bytes(self) -> bytes:
        """A compressed ``.npz``: the arrays and a JSON ``header``. A served head adds the
        arrays ``sw``, ``sb`` and the header's ``served_l2`` (about the size of one committee
        member); none adds nothing, so a default snapshot's bytes are those written before the
        served head existed. Readers ignore what they do not know: a reader of before loads a
        snapshot with a served head as the main model's (no format version is needed).

        The search's state is the header's ``search``, ``{"l2": ..., "searched_at": ...}`` (and
        ``"served_l2"`` with a served rule): 37-58 bytes of JSON (53-92 with ``served_l2``), so
        a default record grows by 17-41 bytes once compressed (at most 51 with a served rule;
        measured +25 on Banking77's 553 KB, +35 on SST-2's 16.5 KB: benchmarks/README.md, issue
        16/17, "the learner's penalty through a rebuild"). A learner with a fixed
        ``learner.l2`` writes none, and its bytes are those of before. A reader of before
        ignores the key (it reads only the header keys it knows) and searches in place."""
        arrays: dict[str, np.ndarray] = {"weights": self.weights, "bias": self.bias}
        for i, (W, b) in enumerate(self.committee):
            arrays[f"cw{i}"], arrays[f"cb{i}"] = W, b
        header = {
            "version": self.version,
            "classes": list(self.classes),
            "temperature": self.temperature,
            "n_labels": self.n_labels,
            "created_at": self.created_at,
            "committee": len(self.committee),
            "meta": self.meta,
        }
        if self.served is not None:
            arrays["sw"], arrays["sb"] = self.served.weights, self.served.bias
            header["served_l2"] = self.served.l2
        if self.search is not None:
            header["search"] = {"l2": self.search.l2, "searched_at": self.search.searched_at}
            if self.search.served_l2 is not None:
                header["search"]["served_l2"] = self.search.served_l2
        buf = io.BytesIO()
        np.savez_compressed(buf, header=np.frombuffer(orjson.dumps(header), dtype=np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelSnapshot:
        """The snapshot :meth:`to_bytes` wrote (one without a served head: ``served`` None;
        without the search's state: ``search`` None). Shapes and values are not checked here
        (stream/messages.py ``load_snapshot`` checks what comes from a topic); a header naming
        a served head without its arrays, an ``l2`` that is not a number, or a search's state
        that is not numbers, is a :class:`ValueError`."""
        with np.load(io.BytesIO(data)) as z:
            header = orjson.loads(z["header"].tobytes())
            committee = tuple((z[f"cw{i}"], z[f"cb{i}"]) for i in range(header["committee"]))
            served = None
            if "served_l2" in header:
                if "sw" not in z.files or "sb" not in z.files:
                    raise ValueError("the snapshot's header has a served head (served_l2) but "
                                     "not its weights (arrays sw, sb): written incompletely")
                served = ServedHead(z["sw"], z["sb"],
                                    _number(header["served_l2"], "served head has l2"))
            return cls(
                version=int(header["version"]),
                classes=tuple(header["classes"]),
                weights=z["weights"],
                bias=z["bias"],
                committee=committee,
                temperature=float(header["temperature"]),
                n_labels=int(header["n_labels"]),
                created_at=float(header["created_at"]),
                meta=dict(header.get("meta", {})),
                served=served,
                search=_search_state(header["search"]) if "search" in header else None,
            )

    def fingerprint(self) -> str:
        """Content hash of the weights: equal fingerprints predict identically. Of the model
        this snapshot's ``predict_*`` use (the selecting one); a served head has its own,
        ``served_model().fingerprint()``."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.classes).encode())
        h.update(np.ascontiguousarray(self.weights, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(self.bias, dtype=np.float32).tobytes())
        h.update(np.float64(self.temperature).tobytes())
        return h.hexdigest()[:16]


def _number(value: object, name: str) -> float:
    """``value`` of the header as a float, or a :class:`ValueError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"the snapshot's {name} {value!r}, not a number (JSON writes a NaN "
                         "or infinite number as null)")
    return float(value)


def _search_state(value: object) -> SearchState:
    """The header's ``search`` as a :class:`SearchState` (types only: values are checked by
    stream/messages.py ``load_snapshot`` and by the learner that resumes it)."""
    if not isinstance(value, dict) or "l2" not in value or "searched_at" not in value:
        raise ValueError(f"the snapshot's search state is {str(value)[:80]!r}, not "
                         '{"l2": ..., "searched_at": ...}')
    at = value["searched_at"]
    if isinstance(at, bool) or not isinstance(at, int):
        raise ValueError(f"the snapshot's search state has searched_at {at!r}, not a whole "
                         "number of labels")
    served = (_number(value["served_l2"], "search state has served_l2")
              if "served_l2" in value else None)
    return SearchState(_number(value["l2"], "search state has l2"), at, served)


def served_problem(snapshot: ModelSnapshot) -> str | None:
    """What makes ``snapshot``'s served head no model for it (None: sound, or no head): the
    main model's shapes, finite floats, a penalty finite and > 0. The learner refuses such a
    snapshot (``OnlineLearner.reset_to``), and so does the edge of ``models``
    (stream/messages.py ``load_snapshot``)."""
    head = snapshot.served
    if head is None:
        return None
    W, b = np.asarray(head.weights), np.asarray(head.bias)
    if W.shape != snapshot.weights.shape or b.shape != snapshot.bias.shape:
        return (f"the served head's weights {W.shape} and bias {b.shape} differ in shape from "
                f"the model's {snapshot.weights.shape} and {snapshot.bias.shape}")
    if any(a.dtype.kind != "f" or not np.isfinite(a).all() for a in (W, b)):
        return "the served head's weights are not all finite floats"
    if not (math.isfinite(head.l2) and head.l2 > 0):
        return f"the served head's l2 must be finite and > 0, got {head.l2}"
    return None


def search_problem(snapshot: ModelSnapshot) -> str | None:
    """What makes ``snapshot``'s search state no state a learner can continue from (None:
    sound, or no state): penalties finite and > 0, a last search at 0 (none yet) to the
    labels the model learned. Refused where :func:`served_problem` is."""
    state, n = snapshot.search, snapshot.n_labels
    if state is None:
        return None
    for name, value in (("l2", state.l2), ("served_l2", state.served_l2)):
        if value is not None and not (math.isfinite(value) and value > 0):
            return f"the search state's {name} must be finite and > 0, got {value}"
    if not 0 <= state.searched_at <= n:
        return (f"the search state's last search is at {state.searched_at} labels, the model "
                f"learned {n}: it must be 0 (none yet) to {n}")
    return None
