"""Every published model is registered off the hot path, with what it learned from; a slow
disk makes the registrar skip to the newest version instead of queueing without bound."""

from __future__ import annotations

import fcntl
import time

from stream_al.config import Settings
from stream_al.registry import ModelRegistry
from stream_al.stream.registering import Registrar, Registration, registry_dir
from tests.loop.test_coordinator import EACH_LABEL, embedder, fresh, rows  # noqa: F401


def test_the_registry_lives_in_the_deployments_state_dir_unless_configured(tmp_path):
    settings = Settings.load(kafka={"state_dir": str(tmp_path), "app_id": "shop"})
    assert registry_dir(settings.registry, settings.kafka) == tmp_path / "registry" / "shop"
    configured = Settings.load(registry={"dir": str(tmp_path / "r")})
    assert registry_dir(configured.registry, configured.kafka) == tmp_path / "r"


def registrations(embedder, rows, n: int) -> list[Registration]:  # noqa: F811
    feed = fresh(embedder, rows, EACH_LABEL)
    bought = [s for start in range(0, 300, 50) for s in feed.texts(start, start + 50)]
    out = []
    for k in range(n):
        feed.labels([s.item_id for s in bought[4 * k : 4 * k + 4]])
        c = feed.c
        out.append(Registration(c.learner.snapshot(), c.learned.copy(),
                                {"accuracy": 0.5 + k / 100}, c.labels_hash.hexdigest()))
    return out


def test_each_submitted_version_is_registered_with_its_rows_and_figures(embedder, rows, tmp_path):  # noqa: F811
    jobs = registrations(embedder, rows, 3)
    registry = ModelRegistry(tmp_path / "registry")
    registrar = Registrar(registry)
    for job in jobs:
        registrar.submit(job)
        assert registrar.flush(30)
    registrar.close()
    versions = registry.list_versions()
    assert [v.model_version for v in versions] == [j.snapshot.version for j in jobs]
    assert [v.fingerprint for v in versions] == [j.snapshot.fingerprint() for j in jobs]
    assert versions[-1].metrics == {"accuracy": 0.52}
    assert versions[-1].extra["labels_hash"] == jobs[-1].labels_hash
    rows_of_last = registry.labelled_rows(versions[-1].version)
    assert [(r.item_id, r.annotator_id, r.label) for r in rows_of_last] == [
        (x.item_id, x.annotator_id, x.label) for x in jobs[-1].learned]
    assert all(r.text for r in rows_of_last)
    assert registrar.counts == {"registered": 3, "skipped": 0, "failed": 0}


def test_a_slow_registry_skips_to_the_newest_version(embedder, rows, tmp_path):  # noqa: F811
    jobs = registrations(embedder, rows, 3)
    registry = ModelRegistry(tmp_path / "registry")
    outcomes: list[str] = []
    registrar = Registrar(registry, outcomes.append)
    with open(registry.dir / ".lock", "w") as lock:  # another process holds the registry
        fcntl.flock(lock, fcntl.LOCK_EX)
        registrar.submit(jobs[0])
        deadline = time.monotonic() + 10
        while not registrar._busy and time.monotonic() < deadline:
            time.sleep(0.01)
        registrar.submit(jobs[1])
        registrar.submit(jobs[2])  # replaces jobs[1], still waiting
    assert registrar.flush(30)
    registrar.close()
    assert [v.model_version for v in registry.list_versions()] == [
        jobs[0].snapshot.version, jobs[2].snapshot.version]
    assert sorted(outcomes) == ["registered", "registered", "skipped"]
