"""``stream-al models list | show VERSION | rollback VERSION --registry DIR``."""

import numpy as np
import orjson
import pytest

from stream_al.cli import build_parser
from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.registry import LabelledRow, ModelRegistry
from tests.drift.realdata import embedded


def run(*argv):
    args = build_parser().parse_args(argv)
    return args.func(args)


@pytest.fixture
def registry(tmp_path):
    texts, labels, X = embedded("ag_news", 1000)
    rows = [LabelledRow(f"ag-{i}", y, t) for i, (t, y) in enumerate(zip(texts, labels,
                                                                         strict=True))]
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    reg = ModelRegistry(tmp_path / "models")
    for n, acc in ((50, 0.7), (200, 0.82)):
        learner.learn_many(X[:n], labels[:n])
        reg.register(learner.snapshot(), rows[:n], {"accuracy": acc})
    return reg, X


def test_list_marks_the_current_version(registry, capsys):
    reg, _ = registry
    assert run("models", "list", "--registry", str(reg.dir)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("*") and "0.8200" in lines[2] and not lines[1].startswith("*")


def test_show_prints_the_version_as_json(registry, capsys):
    reg, _ = registry
    run("models", "show", "1", "--registry", str(reg.dir))
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["version"] == 1 and shown["labelled"]["rows"] == 50 and shown["current"] is False


def test_rollback_makes_the_old_version_current(registry, capsys):
    reg, X = registry
    v1 = reg.load(1)
    run("models", "rollback", "1", "--registry", str(reg.dir), "--registry-only")
    assert "current model is now version 1" in capsys.readouterr().out
    assert ModelRegistry(reg.dir).current == 1
    assert np.array_equal(ModelRegistry(reg.dir).current_snapshot().predict_proba_many(X),
                          v1.predict_proba_many(X))


def test_a_missing_registry_names_the_option(tmp_path):
    with pytest.raises(ValueError, match="no model registry at .*pass --registry DIR"):
        run("models", "list", "--registry", str(tmp_path / "nowhere"))
