"""Registering every published model version, off the hot path.

The coordinator shell hands each model it publishes to a :class:`Registrar`, which writes it
to the :class:`~stream_al.registry.ModelRegistry` (snapshot, the labelled rows it learned,
prequential accuracy, ECE, temperature, the labels hash, creation time) on a thread of its
own. At most one registration waits: if the disk falls behind the publishing rate, a newer
version replaces the waiting one (counted as ``skipped``), so neither memory nor latency of
the pipeline grows with a slow disk. The registry's own costs are bounded per registration
(the new labelled rows, the index, one snapshot; old snapshots are deleted beyond
``registry.keep_snapshots``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stream_al.config import KafkaSettings, RegistrySettings
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.learned import LearnedRows
from stream_al.registry import LabelledRow, ModelRegistry, ModelVersion

log = logging.getLogger(__name__)


def registry_dir(registry: RegistrySettings, kafka: KafkaSettings) -> Path:
    """``registry.dir``, or one directory per deployment under ``kafka.state_dir``."""
    if registry.dir is not None:
        return registry.dir
    return kafka.state_dir / "registry" / kafka.app_id


@dataclass(frozen=True)
class Registration:
    """One published model and what it learned from.

    ``learned`` is a copy of the coordinator's learned rows (``Coordinator.learned.copy()``);
    they read their texts from the bought texts, which only grow and are safe to read from
    the registrar's thread.
    """

    snapshot: ModelSnapshot
    learned: LearnedRows
    figures: Mapping[str, float]
    labels_hash: str = ""
    note: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def rows(self) -> list[LabelledRow]:
        return [LabelledRow(x.item_id, x.label, text, x.annotator_id)
                for x, text in self.learned.with_texts()]


class Registrar:
    """A background thread that registers the newest submitted model version."""

    def __init__(self, registry: ModelRegistry,
                 on_outcome: Callable[[str], None] | None = None) -> None:
        self.registry = registry
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.counts = {"registered": 0, "skipped": 0, "failed": 0}
        self.last: ModelVersion | None = None
        self._pending: Registration | None = None
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="registrar", daemon=True)
        self._thread.start()

    def submit(self, registration: Registration) -> None:
        """Register ``registration`` soon; a registration still waiting is dropped for it."""
        with self._cond:
            if self._pending is not None:
                self._count("skipped")
            self._pending = registration
            self._cond.notify_all()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until nothing is waiting or being written; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy,
                                       timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                job, self._pending, self._busy = self._pending, None, True
            try:
                self.last = self._register(job)
                outcome = "registered"
            except Exception:
                log.exception("registering model version %d failed", job.snapshot.version)
                outcome = "failed"
            with self._cond:
                self._busy = False
                self._count(outcome)
                self._cond.notify_all()

    def _register(self, job: Registration) -> ModelVersion:
        extra = {**job.extra, "labels_hash": job.labels_hash} if job.labels_hash else job.extra
        return self.registry.register(job.snapshot, job.rows(), job.figures, note=job.note,
                                      extra=extra)

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self.on_outcome(outcome)
