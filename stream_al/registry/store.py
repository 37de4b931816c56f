"""A file-backed model registry: every version with the labels it learned from, and rollback.

Layout of a registry directory::

    index.json              versions, their evaluation figures and the "current" pointer
    snapshots/v000001.npz   one ModelSnapshot.to_bytes() per version
    labels.jsonl            the labelled rows, append-only, one canonical JSON object a line
    labelled/<sha>.json     (item, annotator) pairs a version did not learn (see below)

A version's labelled data is a prefix of ``labels.jsonl``, named by its row count and a
chained SHA-256 content hash (``h_i = sha256(h_{i-1} || row_i)``), so it is stored once
however many versions share it and can be verified row by row. Rows are told apart by
(item, annotator). When a version's rows are not a prefix of the log (a rebuilt worker learns
in another order; a rolled-back model did not learn some labels), the rows the log lacks are
appended and the version is the whole log *minus* the rows it did not learn, kept in
``labelled/<sha>.json`` (shared by every version with the same exclusions): each
registration costs the new rows, never a copy of the dataset.

Snapshots beyond the newest ``keep_snapshots`` are deleted (never the current one's); their
versions stay listed, with their figures and labelled data. Every file is written to a
temporary name, fsynced and renamed into place (the labels log is appended and fsynced
before the index names it), so a crash leaves the previous state readable; a torn last log
line is cut off when reopening.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from stream_al.errors import StreamAlError
from stream_al.learn.snapshot import ModelSnapshot

SCHEMA_VERSION = 1
LOG = "labels.jsonl"
_GENESIS = hashlib.sha256(b"stream-al labelled rows v1").hexdigest()


class RegistryError(StreamAlError, ValueError):
    """A version that does not exist, or a registry whose files do not match their index."""


@dataclass(frozen=True)
class LabelledRow:
    """One label the model learned from: which item, which class, and the text if kept."""

    item_id: str
    label: str
    text: str = ""
    annotator_id: str = ""

    def to_line(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS) + b"\n"

    @property
    def key(self) -> tuple[str, str]:
        return self.item_id, self.annotator_id


@dataclass(frozen=True)
class LabelledRef:
    """Where a version's labelled rows are: the first ``rows`` lines of ``file``."""

    file: str
    rows: int
    sha256: str
    excluded_file: str = ""
    """``labelled/<sha>.json``: (item, annotator) pairs of the prefix this version did not learn."""
    excluded: int = 0


@dataclass(frozen=True)
class ModelVersion:
    """One registered model: its snapshot file, evaluation figures and labelled data."""

    version: int
    model_version: int
    fingerprint: str
    created_at: float
    registered_at: float
    classes: list[str]
    n_labels: int
    metrics: dict[str, float]
    labelled: LabelledRef
    snapshot_file: str
    snapshot_sha256: str
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping) -> ModelVersion:
        d = dict(d)
        d["labelled"] = LabelledRef(**d["labelled"])
        return cls(**d)


def chain(rows_or_lines: Sequence[LabelledRow] | Sequence[bytes]) -> list[str]:
    """Chained hashes h_1..h_n of rows (or of their canonical lines); h_0 is a fixed genesis."""
    out, h = [], _GENESIS
    for row in rows_or_lines:
        line = row if isinstance(row, bytes) else row.to_line()
        h = hashlib.sha256(bytes.fromhex(h) + line).hexdigest()
        out.append(h)
    return out


class ModelRegistry:
    """Versions of a model in a directory; safe to reopen from another process.

    >>> import tempfile, numpy as np
    >>> from stream_al.learn import OnlineLearner
    >>> from stream_al.config import LearnerSettings
    >>> learner = OnlineLearner(dim=2, settings=LearnerSettings(committee_size=2))
    >>> _ = learner.learn_many(np.eye(2, dtype=np.float32), ["spam", "ham"])
    >>> registry = ModelRegistry(tempfile.mkdtemp())
    >>> rows = [LabelledRow("m-1", "spam"), LabelledRow("m-2", "ham")]
    >>> registry.register(learner.snapshot(), rows, {"accuracy": 1.0}).version
    1
    >>> registry.rollback(1).fingerprint() == learner.snapshot().fingerprint()
    True
    """

    def __init__(self, directory: str | Path, keep_snapshots: int | None = None) -> None:
        if keep_snapshots is not None and keep_snapshots < 1:
            raise ValueError(f"keep_snapshots must be >= 1 (or None: keep all), got {keep_snapshots}")
        self.dir = Path(directory)
        self.keep_snapshots = keep_snapshots
        self._log_cache: tuple[int, list[bytes], list[str], dict[tuple[str, str], int]] | None = None
        (self.dir / "snapshots").mkdir(parents=True, exist_ok=True)
        (self.dir / "labelled").mkdir(exist_ok=True)
        with self._locked():
            self._repair_log()

    # ---- reading --------------------------------------------------------------------------
    def list_versions(self) -> list[ModelVersion]:
        return [ModelVersion.from_json(v) for v in self._index()["versions"]]

    def get(self, version: int) -> ModelVersion:
        for v in self._index()["versions"]:
            if v["version"] == version:
                return ModelVersion.from_json(v)
        known = [v["version"] for v in self._index()["versions"]]
        raise RegistryError(f"no model version {version} in {self.dir}; versions: "
                            f"{_ranges(known) or 'none (register a model first)'}")

    @property
    def current(self) -> int | None:
        """The version the scorers should use (the latest registered, or a rollback target)."""
        return self._index()["current"]

    def load(self, version: int) -> ModelSnapshot:
        """The stored snapshot of ``version``, checked against its recorded hashes."""
        info = self.get(version)
        path = self.dir / info.snapshot_file
        if not path.exists():
            raise RegistryError(f"the snapshot of version {version} was deleted: only the newest "
                                f"{self.keep_snapshots or 'N'} are kept (registry.keep_snapshots)")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != info.snapshot_sha256:
            raise RegistryError(f"{info.snapshot_file} does not match its hash in the index")
        snapshot = ModelSnapshot.from_bytes(data)
        if snapshot.fingerprint() != info.fingerprint:
            raise RegistryError(f"{info.snapshot_file}: fingerprint {snapshot.fingerprint()} "
                                f"!= {info.fingerprint} recorded at registration")
        return snapshot

    def current_snapshot(self) -> ModelSnapshot | None:
        current = self.current
        return None if current is None else self.load(current)

    def labelled_rows(self, version: int) -> list[LabelledRow]:
        """The rows ``version`` learned from, verified against their content hash."""
        ref = self.get(version).labelled
        lines = _lines(self.dir / ref.file)[: ref.rows]
        hashes = chain(lines)
        if len(lines) != ref.rows or (hashes[-1] if hashes else _GENESIS) != ref.sha256:
            raise RegistryError(f"the labelled rows of version {version} in {ref.file} do not "
                                "match their recorded hash")
        rows = [LabelledRow(**orjson.loads(line)) for line in lines]
        if not ref.excluded_file:
            return rows
        data = (self.dir / ref.excluded_file).read_bytes()
        if f"labelled/{hashlib.sha256(data).hexdigest()}.json" != ref.excluded_file:
            raise RegistryError(f"{ref.excluded_file} does not match its hash")
        excluded = {tuple(k) for k in orjson.loads(data)}
        return [r for r in rows if r.key not in excluded]

    # ---- writing --------------------------------------------------------------------------
    def register(self, snapshot: ModelSnapshot, labelled: Sequence[LabelledRow],
                 metrics: Mapping[str, float] | None = None, note: str = "",
                 make_current: bool = True,
                 extra: Mapping[str, str] | None = None) -> ModelVersion:
        """Store ``snapshot`` with the rows it learned from and its evaluation figures.

        ``extra`` holds references kept verbatim, e.g. the labelled-data export this model
        matches (``{"labels_hash": ..., "export": "v0003"}`` from ``stream_al.labels.export``).
        """
        with self._locked():
            index = self._index()
            version = max((v["version"] for v in index["versions"]), default=0) + 1
            data = snapshot.to_bytes()
            name = f"snapshots/v{version:06d}.npz"
            _atomic_write(self.dir / name, data)
            info = ModelVersion(
                version=version,
                model_version=snapshot.version,
                fingerprint=snapshot.fingerprint(),
                created_at=snapshot.created_at,
                registered_at=time.time(),
                classes=list(snapshot.classes),
                n_labels=snapshot.n_labels,
                metrics={k: float(v) for k, v in (metrics or {}).items()},
                labelled=self._store_rows(labelled),
                snapshot_file=name,
                snapshot_sha256=hashlib.sha256(data).hexdigest(),
                note=note,
                extra={k: str(v) for k, v in (extra or {}).items()},
            )
            index["versions"].append(info.to_json())
            if make_current:
                index["current"] = version
            self._prune(index, version)
            self._write_index(index)
            return info

    def _prune(self, index: dict, newest: int) -> None:
        """Delete the snapshots older than the newest ``keep_snapshots`` (not the current)."""
        if self.keep_snapshots is None:
            return
        done = index.get("pruned_through", 0)
        through = newest - self.keep_snapshots
        for v in index["versions"]:
            if done < v["version"] <= through and v["version"] != index["current"]:
                (self.dir / v["snapshot_file"]).unlink(missing_ok=True)
        index["pruned_through"] = max(done, through)

    def rollback(self, version: int) -> ModelSnapshot:
        """Point "current" at ``version`` and return its snapshot, exactly as stored."""
        with self._locked():
            snapshot = self.load(version)
            index = self._index()
            index["current"] = version
            self._write_index(index)
        return snapshot

    # ---- internals ------------------------------------------------------------------------
    def _store_rows(self, rows: Sequence[LabelledRow]) -> LabelledRef:
        lines = [row.to_line() for row in rows]
        log, hashes, keys = self._log()
        common = min(len(lines), len(log))
        if lines[:common] == log[:common]:  # one is a prefix of the other
            self._append(lines[len(log):])
            log, hashes, _ = self._log()
            n = len(lines)
            return LabelledRef(LOG, n, hashes[n - 1] if n else _GENESIS)
        fresh, seen = [], set(keys)
        for row, line in zip(rows, lines, strict=True):
            if row.key not in seen:
                seen.add(row.key)
                fresh.append(line)
        self._append(fresh)
        log, hashes, keys = self._log()
        wanted = {row.key for row in rows}
        excluded = sorted(k for k in keys if k not in wanted)
        ref = LabelledRef(LOG, len(log), hashes[-1] if hashes else _GENESIS)
        if not excluded:
            return ref
        data = orjson.dumps(excluded)
        name = f"labelled/{hashlib.sha256(data).hexdigest()}.json"
        if not (self.dir / name).exists():
            _atomic_write(self.dir / name, data)
        return LabelledRef(ref.file, ref.rows, ref.sha256, name, len(excluded))

    def _log(self) -> tuple[list[bytes], list[str], dict[tuple[str, str], int]]:
        """The labels log's lines, chained hashes and row keys; only new lines are read."""
        path = self.dir / LOG
        size = path.stat().st_size if path.exists() else 0
        cached = self._log_cache
        if cached is None or size < cached[0]:
            cached = (0, [], [], {})
        if size > cached[0]:
            with path.open("rb") as f:
                f.seek(cached[0])
                tail = f.read(size - cached[0])
            new = [line + b"\n" for line in tail.split(b"\n") if line]
            lines, hashes, keys = cached[1] + new, list(cached[2]), dict(cached[3])
            h = hashes[-1] if hashes else _GENESIS
            for line in new:
                h = hashlib.sha256(bytes.fromhex(h) + line).hexdigest()
                hashes.append(h)
                d = orjson.loads(line)
                keys.setdefault((d["item_id"], d.get("annotator_id", "")), len(keys))
            cached = (size, lines, hashes, keys)
        self._log_cache = cached
        return cached[1], cached[2], cached[3]

    def _append(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        with (self.dir / LOG).open("ab") as f:
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())

    def _index(self) -> dict:
        path = self.dir / "index.json"
        if not path.exists():
            return {"schema_version": SCHEMA_VERSION, "current": None, "versions": []}
        index = orjson.loads(path.read_bytes())
        if index.get("schema_version") != SCHEMA_VERSION:
            raise RegistryError(f"{path}: schema_version {index.get('schema_version')} is not "
                                f"{SCHEMA_VERSION}; use a stream-al release that wrote it")
        return index

    def _write_index(self, index: dict) -> None:
        _atomic_write(self.dir / "index.json", orjson.dumps(index, option=orjson.OPT_INDENT_2))

    def _repair_log(self) -> None:
        """Cut a torn last line (a crash during an append) off the labels log."""
        path = self.dir / LOG
        if not path.exists():
            return
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
                os.fsync(f.fileno())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    return [line + b"\n" for line in path.read_bytes().split(b"\n") if line]


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ranges(versions: Sequence[int]) -> str:
    if not versions:
        return ""
    if len(versions) > 3:
        return f"{min(versions)}..{max(versions)}"
    return ", ".join(map(str, versions))


def rollback_snapshot(registry_dir: str | Path, version: int) -> ModelSnapshot:
    """Make ``version`` current in the registry at ``registry_dir`` and return its snapshot.

    The caller publishes it to the models topic; scorers then predict exactly as that
    version did (same fingerprint).
    """
    return ModelRegistry(registry_dir).rollback(version)
