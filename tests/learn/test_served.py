"""The served head (``learner.served_rule``): a second penalty from the same search folds for
the model that predicts, while the main model and the committee go on selecting."""

import dataclasses
import io

import numpy as np
import orjson
import pytest

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.learn.regularisation import L2Search
from stream_al.learn.snapshot import ModelSnapshot


def taught(X, labels, parts: int = 4, **settings) -> OnlineLearner:
    if "served_rule" in settings:  # a served rule picks from the folds (cv_rule a fold rule)
        settings.setdefault("cv_rule", "best")
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2, **settings))
    for part in np.array_split(np.arange(len(labels)), parts):
        learner.learn_many(X[part], list(labels[part]))
    return learner


def near_the_boundary(X, labels, n: int) -> np.ndarray:
    """The ``n`` rows (of the first 1,500) a model of all of them is least sure of: labels as
    an uncertainty selector buys them."""
    judge = OnlineLearner(X.shape[1], LearnerSettings(l2=1.0, committee_size=2))
    judge.learn_many(X[:1500], list(labels[:1500]))
    p = judge.snapshot().predict_proba_many(X[:1500])
    return np.argsort(np.abs(p[:, 0] - p[:, 1]))[:n]


def test_without_a_served_rule_the_served_model_is_the_selecting_one(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels)
    assert learner.served is None
    assert learner.served_snapshot() is learner.snapshot()


def test_a_served_rule_leaves_the_selecting_model_as_it_was(real_slice):
    X, labels = real_slice("sst2", 400)
    off, on = taught(X, labels, cv_rule="best"), taught(X, labels, served_rule="nll")
    assert on.snapshot().fingerprint() == off.snapshot().fingerprint()
    assert (on.main.l2, on.version) == (off.main.l2, off.version)


@pytest.mark.parametrize("name", ["sst2", "ag_news"])
def test_the_served_head_takes_the_served_rules_choice_from_the_same_folds(real_slice, name):
    X, labels = real_slice(name, 400)
    learner = taught(X, labels, served_rule="nll")
    search = learner.main.search
    assert learner.served.l2 == search.served_l2
    assert search.losses[search.served_l2] == min(search.losses.values())
    assert search.scores[search.l2] == max(search.scores.values())


def test_the_served_snapshot_predicts_with_the_served_head(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels, served_rule="nll")
    served = learner.served_snapshot()
    assert np.allclose(served.predict_proba_many(X[:50]), learner.served.predict_proba_many(X[:50]),
                       atol=1e-5)
    assert (served.version, served.classes) == (learner.version, learner.snapshot().classes)


@pytest.mark.parametrize("name", ["sst2", "subj"])
def test_on_labels_near_the_boundary_the_served_penalty_is_no_weaker(real_slice, name):
    X, labels = real_slice(name, 2000)
    rows = near_the_boundary(X, labels, 300)
    learner = taught(X[rows], labels[rows], served_rule="nll")
    assert learner.served.l2 >= learner.main.l2


def test_a_bad_served_rule_names_the_fix():
    with pytest.raises(ValueError, match="served rule must be one of best"):
        L2Search(served_rule="logloss")


def test_a_served_rule_with_a_fixed_l2_names_the_fix():
    with pytest.raises(ValueError, match="unset one of them"):
        OnlineLearner(2, LearnerSettings(l2=1.0, served_rule="nll"))


def test_the_served_snapshot_follows_the_temperature_and_waits_for_the_next_fit(real_slice):
    X, labels = real_slice("ag_news", 400)
    two = np.isin(labels, np.unique(labels)[:2])
    learner = taught(X[two], labels[two], served_rule="nll")
    before = learner.served_snapshot()
    learner.set_temperature(2.0)
    assert learner.served_snapshot().temperature == learner.snapshot().temperature == 2.0
    learner.learn_many(X[~two][:5], list(labels[~two][:5]), fit=False)  # a class learned, no fit
    after = learner.served_snapshot()
    assert after.classes == before.classes == learner.snapshot().classes
    assert np.array_equal(after.weights, before.weights)
    assert np.array_equal(after.bias, before.bias)
    learner.fit()
    served = learner.served_snapshot()
    assert served.classes == learner.snapshot().classes == tuple(learner.classes)
    assert served.weights.shape == (len(learner.classes), X.shape[1])
    assert len(served.classes) > len(before.classes)


# ---- the served head in a snapshot: published, registered, continued (a rebuild, a rollback) ----
def test_a_snapshot_holds_the_served_head_as_the_served_snapshot_predicts_with_it(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels, served_rule="nll")
    head = learner.snapshot().served
    assert head.l2 == learner.served.l2
    assert np.array_equal(head.weights, learner.served.W.astype(np.float32))
    assert learner.served_snapshot().fingerprint() == learner.snapshot().served_model().fingerprint()
    assert learner.served_snapshot().served is None  # the served model is itself, not a head


def test_the_served_head_goes_through_a_snapshots_bytes_and_back(real_slice):
    X, labels = real_slice("ag_news", 400)
    snapshot = taught(X, labels, served_rule="nll").snapshot()
    back = ModelSnapshot.from_bytes(snapshot.to_bytes())
    assert back.served.l2 == snapshot.served.l2
    assert np.array_equal(back.served.weights, snapshot.served.weights)
    assert np.array_equal(back.served.bias, snapshot.served.bias)
    assert back.fingerprint() == snapshot.fingerprint()
    assert back.served_model().fingerprint() == snapshot.served_model().fingerprint()
    assert np.array_equal(back.served_model().predict_proba_many(X[:50]),
                          snapshot.served_model().predict_proba_many(X[:50]))


def test_without_a_served_rule_a_snapshot_writes_the_arrays_and_header_it_wrote_before(
        real_slice):
    """... and the l2 search's state (tests/learn/test_search_state.py), which a learner with
    a fixed l2 does not have."""
    X, labels = real_slice("sst2", 400)
    snapshot = taught(X, labels).snapshot()  # committee_size 2
    assert snapshot.served is None
    with np.load(io.BytesIO(snapshot.to_bytes())) as z:
        assert sorted(z.files) == ["bias", "cb0", "cb1", "cw0", "cw1", "header", "weights"]
        header = orjson.loads(z["header"].tobytes())
    assert sorted(header) == ["classes", "committee", "created_at", "meta", "n_labels",
                              "search", "temperature", "version"]
    assert ModelSnapshot.from_bytes(snapshot.to_bytes()).served is None
    fixed = taught(X, labels, l2=1.0).snapshot()
    with np.load(io.BytesIO(fixed.to_bytes())) as z:
        assert sorted(orjson.loads(z["header"].tobytes())) == [
            "classes", "committee", "created_at", "meta", "n_labels", "temperature", "version"]


def test_a_learner_reset_to_a_snapshot_continues_its_served_head(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels, served_rule="nll")
    snapshot = ModelSnapshot.from_bytes(learner.snapshot().to_bytes())
    other = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2, served_rule="nll", cv_rule="best"))
    other.reset_to(snapshot, X, list(labels), version=snapshot.version + 1)
    assert (other.served.l2, other.main.l2) == (learner.served.l2, learner.main.l2)
    assert np.array_equal(other.served_snapshot().weights, learner.served_snapshot().weights)
    assert other.served_snapshot().fingerprint() == learner.served_snapshot().fingerprint()
    assert other.snapshot().served.l2 == learner.served.l2  # published again as it came


def test_a_snapshot_written_before_the_served_head_resets_it_to_the_main_models(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels, served_rule="nll")
    old = dataclasses.replace(learner.snapshot(), served=None)
    other = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2, served_rule="nll", cv_rule="best"))
    prior = other.served.l2
    other.reset_to(ModelSnapshot.from_bytes(old.to_bytes()), X, list(labels), version=9)
    assert other.served_snapshot().fingerprint() == old.fingerprint()  # the main's, as before
    assert np.array_equal(other.served.W, old.weights.astype(np.float64))
    assert other.served.l2 == prior
    other.learn_many(X[:1], list(labels[:1]))  # its next fit: at the served rule's choice
    assert other.served.l2 == other.main.search.served_l2
    assert not np.array_equal(other.served_snapshot().weights, old.weights)


def test_a_learner_without_a_served_rule_drops_a_snapshots_served_head(real_slice):
    X, labels = real_slice("sst2", 400)
    snapshot = taught(X, labels, served_rule="nll").snapshot()
    other = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    other.reset_to(snapshot, X, list(labels), version=9)
    assert other.snapshot().served is None
    assert other.served_snapshot() is other.snapshot()
    assert other.snapshot().fingerprint() == snapshot.fingerprint()


@pytest.mark.parametrize("head, why", [
    (lambda h: dataclasses.replace(h, weights=h.weights[:1]), "served head's weights .* differ in shape"),
    (lambda h: dataclasses.replace(h, bias=h.bias[:1]), "served head's weights .* differ in shape"),
    (lambda h: dataclasses.replace(h, weights=np.full_like(h.weights, np.nan)), "not all finite"),
    (lambda h: dataclasses.replace(h, bias=np.full_like(h.bias, np.inf)), "not all finite"),
    (lambda h: dataclasses.replace(h, l2=0.0), "finite and > 0"),
    (lambda h: dataclasses.replace(h, l2=float("nan")), "finite and > 0"),
])
def test_a_learner_refuses_a_malformed_served_head_and_stays_as_it_was(real_slice, head, why):
    X, labels = real_slice("sst2", 400)
    snapshot = taught(X, labels, served_rule="nll").snapshot()
    bad = dataclasses.replace(snapshot, served=head(snapshot.served))
    other = taught(X[:100], labels[:100], served_rule="nll")
    before = (other.version, other.snapshot().fingerprint(), other.n_labels)
    with pytest.raises(ValueError, match=why):
        other.reset_to(bad, X, list(labels), version=9)
    assert (other.version, other.snapshot().fingerprint(), other.n_labels) == before


def test_a_header_naming_a_served_head_without_its_weights_does_not_load(real_slice):
    X, labels = real_slice("sst2", 400)
    snapshot = taught(X, labels, served_rule="nll").snapshot()
    with np.load(io.BytesIO(snapshot.to_bytes())) as z:
        arrays = {name: z[name] for name in z.files if name not in ("sw", "sb")}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with pytest.raises(ValueError, match="served head .* not its weights"):
        ModelSnapshot.from_bytes(buf.getvalue())
