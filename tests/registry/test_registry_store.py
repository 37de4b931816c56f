"""The model registry stores every version with its labels and figures, and rolls back exactly."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import orjson
import pytest

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.registry import LabelledRow, ModelRegistry, RegistryError, rollback_snapshot
from tests.drift.realdata import embedded

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ag_news():
    texts, labels, X = embedded("ag_news", 1000)
    rows = [LabelledRow(f"ag-{i}", y, t) for i, (t, y) in enumerate(zip(texts, labels,
                                                                         strict=True))]
    return rows, X


@pytest.fixture
def two_versions(tmp_path, ag_news):
    """v1 learned from 40 labels, v2 from 240: different models, both registered."""
    rows, X = ag_news
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    registry = ModelRegistry(tmp_path / "registry")
    learner.learn_many(X[:40], [r.label for r in rows[:40]])
    v1 = learner.snapshot()
    registry.register(v1, rows[:40], {"accuracy": 0.71})
    learner.learn_many(X[40:240], [r.label for r in rows[40:240]])
    v2 = learner.snapshot()
    registry.register(v2, rows[:240], {"accuracy": 0.84})
    return registry, v1, v2


def test_rollback_restores_the_old_predictions_exactly(two_versions, ag_news):
    registry, v1, v2 = two_versions
    _, X = ag_news
    test = X[500:]
    assert not np.array_equal(v1.predict_proba_many(test), v2.predict_proba_many(test))
    assert registry.current == 2
    restored = registry.rollback(1)
    assert registry.current == 1
    assert restored.fingerprint() == v1.fingerprint()
    assert np.array_equal(restored.predict_proba_many(test), v1.predict_proba_many(test))
    assert restored.predict_many(test) == v1.predict_many(test)
    assert [np.array_equal(a, b) for (a, _), (b, _) in zip(restored.committee, v1.committee,
                                                           strict=True)] == [True, True]


def test_every_version_keeps_its_labels_figures_and_creation_time(two_versions, ag_news):
    registry, v1, v2 = two_versions
    rows, _ = ag_news
    first, second = registry.list_versions()
    assert (first.version, second.version) == (1, 2)
    assert (first.model_version, second.model_version) == (v1.version, v2.version)
    assert first.metrics == {"accuracy": 0.71} and second.metrics == {"accuracy": 0.84}
    assert first.created_at == v1.created_at > 0 and first.registered_at >= first.created_at
    assert registry.labelled_rows(1) == rows[:40]
    assert registry.labelled_rows(2) == rows[:240]
    # one log holds them: version 1's rows are a prefix of version 2's, stored once
    assert first.labelled.file == second.labelled.file == "labels.jsonl"
    assert len((registry.dir / "labels.jsonl").read_bytes().splitlines()) == 240
    assert first.labelled.sha256 != second.labelled.sha256


def test_the_registry_survives_a_process_restart(tmp_path, ag_news):
    """Another Python process registers a model; this one reopens the directory and loads it."""
    directory = tmp_path / "registry"
    script = textwrap.dedent(f"""
        import numpy as np
        from stream_al.config import LearnerSettings
        from stream_al.learn import OnlineLearner
        from stream_al.registry import LabelledRow, ModelRegistry
        from tests.drift.realdata import embedded
        texts, labels, X = embedded("ag_news", 1000)
        learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
        learner.learn_many(X[:100], labels[:100])
        rows = [LabelledRow(f"ag-{{i}}", y, t)
                for i, (t, y) in enumerate(zip(texts[:100], labels[:100]))]
        ModelRegistry({str(directory)!r}).register(learner.snapshot(), rows, {{"accuracy": 0.8}})
        np.save({str(tmp_path / "proba.npy")!r}, learner.snapshot().predict_proba_many(X[500:]))
    """)
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=120)
    reopened = ModelRegistry(directory)
    assert [v.version for v in reopened.list_versions()] == [1]
    _, X = ag_news
    loaded = reopened.current_snapshot()
    assert np.array_equal(loaded.predict_proba_many(X[500:]), np.load(tmp_path / "proba.npy"))
    assert [r.item_id for r in reopened.labelled_rows(1)][:3] == ["ag-0", "ag-1", "ag-2"]


def test_rollback_snapshot_moves_the_current_pointer_for_the_next_reader(two_versions):
    registry, v1, _ = two_versions
    snapshot = rollback_snapshot(registry.dir, 1)
    assert snapshot.fingerprint() == v1.fingerprint()
    assert ModelRegistry(registry.dir).current == 1


def test_registering_after_a_rollback_adds_a_new_version(two_versions, ag_news):
    registry, v1, _ = two_versions
    rows, _ = ag_news
    registry.rollback(1)
    info = registry.register(v1, rows[:40], {"accuracy": 0.71}, note="re-published v1",
                             extra={"export": "v0001"})
    assert info.version == 3 and registry.current == 3
    assert info.fingerprint == v1.fingerprint()
    assert ModelRegistry(registry.dir).get(3).extra == {"export": "v0001"}


def test_labels_that_are_not_a_prefix_of_the_log_are_the_log_minus_exclusions(two_versions,
                                                                              ag_news):
    registry, v1, _ = two_versions
    rows, _ = ag_news
    other = rows[500:540]  # a model learned from different labels
    info = registry.register(v1, other)
    assert (info.labelled.file, info.labelled.rows) == ("labels.jsonl", 280)  # 40 rows appended
    assert info.labelled.excluded_file.startswith("labelled/") and info.labelled.excluded == 240
    assert registry.labelled_rows(info.version) == other
    again = registry.register(v1, other)  # same exclusions: the same file, nothing copied
    assert again.labelled == info.labelled
    assert len(list((registry.dir / "labelled").iterdir())) == 1


def test_a_rebuilt_learner_in_another_order_appends_nothing(two_versions, ag_news):
    registry, _, v2 = two_versions
    rows, _ = ag_news
    shuffled = rows[:240][::-1] + rows[240:250]
    info = registry.register(v2, shuffled)
    assert info.labelled.rows == 250 and info.labelled.excluded == 0
    assert sorted(registry.labelled_rows(info.version), key=lambda r: r.item_id) == sorted(
        shuffled, key=lambda r: r.item_id)


def test_only_the_newest_snapshots_are_kept_but_every_version_stays_listed(tmp_path, ag_news):
    rows, X = ag_news
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    registry = ModelRegistry(tmp_path / "registry", keep_snapshots=2)
    for n in (20, 40, 60, 80):
        learner.learn_many(X[n - 20 : n], [r.label for r in rows[n - 20 : n]])
        registry.register(learner.snapshot(), rows[:n])
    assert [v.version for v in registry.list_versions()] == [1, 2, 3, 4]
    assert len(list((registry.dir / "snapshots").iterdir())) == 2
    assert registry.load(3).fingerprint() == registry.get(3).fingerprint
    with pytest.raises(RegistryError, match="registry.keep_snapshots"):
        registry.load(1)
    assert len(registry.labelled_rows(1)) == 20


def test_tampered_labels_or_snapshots_are_detected(two_versions):
    registry, _, _ = two_versions
    log = registry.dir / "labels.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    row = orjson.loads(lines[3])
    row["label"] = "Sports" if row["label"] != "Sports" else "World"
    lines[3] = orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n"
    log.write_bytes(b"".join(lines))
    with pytest.raises(RegistryError, match="do not match their recorded hash"):
        registry.labelled_rows(1)
    snap = registry.dir / registry.get(2).snapshot_file
    snap.write_bytes(snap.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(RegistryError, match="does not match its hash"):
        registry.load(2)


def test_a_torn_last_log_line_is_cut_when_reopening(two_versions):
    registry, _, _ = two_versions
    log = registry.dir / "labels.jsonl"
    log.write_bytes(log.read_bytes() + b'{"item_id": "half-writ')  # a crash mid-append
    reopened = ModelRegistry(registry.dir)
    assert len(reopened.labelled_rows(2)) == 240
    assert log.read_bytes().endswith(b"\n")


def test_no_temporary_files_are_left_behind(two_versions):
    registry, _, _ = two_versions
    assert not [p for p in registry.dir.rglob("*") if p.name.endswith(".tmp")]


def test_an_unknown_version_names_the_known_ones(two_versions):
    registry, _, _ = two_versions
    with pytest.raises(RegistryError, match=r"no model version 7 .* versions: 1, 2"):
        registry.get(7)
    with pytest.raises(RegistryError, match="no model version 7"):
        registry.rollback(7)
    assert registry.current == 2  # a failed rollback changes nothing


def test_a_registered_model_keeps_its_served_head_and_a_rollback_brings_it_back(tmp_path,
                                                                               ag_news):
    """With ``learner.served_rule`` the snapshot holds the served head: the registry stores it
    with the model, and a rollback to that version serves it again."""
    rows, X = ag_news
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2, served_rule="nll",
                                                          cv_rule="best"))
    registry = ModelRegistry(tmp_path / "registry")
    learner.learn_many(X[:240], [r.label for r in rows[:240]])
    v1 = learner.snapshot()
    registry.register(v1, rows[:240], {"accuracy": 0.84})
    learner.learn_many(X[240:400], [r.label for r in rows[240:400]])
    registry.register(learner.snapshot(), rows[:400], {"accuracy": 0.85})
    restored = registry.rollback(1)
    assert restored.served.l2 == v1.served.l2
    assert restored.served_model().fingerprint() == v1.served_model().fingerprint()
    assert restored.served_model().predict_many(X[500:]) == v1.served_model().predict_many(X[500:])
