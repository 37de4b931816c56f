"""The search for l2 apart (the worker's search process): asked for by a refit, run elsewhere,
applied when it answers; the model learns at the previous penalty meanwhile."""

import pickle

import numpy as np

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.learn.regularisation import L2Search, run_search
from tests.learn.test_regularisation import boundary_and_uniform, encoded


def apart_learner(X, labels, n: int) -> OnlineLearner:
    """A learner with its searches apart, after its first search (inline) on ``n`` labels."""
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    learner.searches_apart = True
    learner.learn_many(X[:n], list(labels[:n]))
    return learner


def test_a_search_sent_elsewhere_chooses_exactly_as_one_run_in_place(real_slice):
    X, labels = real_slice("ag_news", 600)
    y, k = encoded(labels)
    W0, b0 = np.full((k, X.shape[1]), 0.01), np.zeros(k)
    here = L2Search(seed=2)
    chosen = here.choose(X, y, k, W0, b0)
    apart = L2Search(seed=2)
    task = pickle.loads(pickle.dumps(apart.task(X, y, k, W0, b0)))  # as a process gets it
    result = pickle.loads(pickle.dumps(run_search(task)))
    assert apart.apply(result) == chosen
    assert (apart.scores, apart.losses, apart.searched_at) == (here.scores, here.losses, 600)
    assert len(task.X) == min(len(y), here.rows)  # only the rows the search uses travel


def test_the_first_search_runs_in_the_refit_even_apart(real_slice):
    X, labels = real_slice("ag_news", 600)
    learner = apart_learner(X, labels, 40)
    assert learner.main.search.searched_at == 40
    assert learner.take_search() is None


def test_a_due_search_is_handed_out_once_and_the_penalty_stays_until_it_answers(real_slice):
    X, labels = real_slice("ag_news", 600)
    learner = apart_learner(X, labels, 40)
    before = learner.l2
    version = learner.learn_many(X[40:400], list(labels[40:400]))  # due at 60 labels
    task = learner.take_search()
    assert task is not None and len(task.y) == 400
    assert learner.take_search() is None  # handed out once
    assert learner.l2 == before and not learner.main.search.due(10_000)  # one at a time
    assert learner.learn_many(X[400:410], list(labels[400:410])) == version + 1  # keeps learning
    assert learner.l2 == before


def test_an_answer_is_applied_by_the_next_fit_as_a_new_version(real_slice):
    X, labels = real_slice("ag_news", 600)
    learner = apart_learner(X, labels, 40)
    learner.learn_many(X[40:400], list(labels[40:400]))
    task = learner.take_search()
    result = run_search(task)
    version = learner.version
    assert learner.searched(task, result) and learner.needs_fit
    assert learner.fit() and learner.version == version + 1
    assert learner.main.search.l2 == result.l2 and learner.main.search.searched_at == 400
    assert {m.l2 for m in learner.committee} == {learner.main.l2}
    assert not learner.main.search.due(599) and learner.main.search.due(600)


def test_a_failed_search_keeps_the_penalty_and_waits_for_the_labels_to_grow(real_slice):
    X, labels = real_slice("ag_news", 600)
    learner = apart_learner(X, labels, 40)
    before = learner.l2
    learner.learn_many(X[40:100], list(labels[40:100]))
    task = learner.take_search()
    assert learner.search_failed(task) and not learner.needs_fit
    assert learner.l2 == before and learner.main.search.l2 == before
    assert not learner.main.search.due(149) and learner.main.search.due(150)


def test_an_answer_for_a_learner_reset_since_is_dropped(real_slice):
    X, labels = real_slice("ag_news", 600)
    learner = apart_learner(X, labels, 40)
    learner.learn_many(X[40:100], list(labels[40:100]))
    task = learner.take_search()
    snapshot = learner.snapshot()
    learner.reset_to(snapshot, X[:50], list(labels[:50]), learner.version + 1)  # a rollback
    before = learner.l2
    assert not learner.searched(task, run_search(task))
    assert learner.l2 == before and not learner.needs_fit


def test_a_search_sent_elsewhere_carries_the_uniform_rows_and_their_overruling(real_slice):
    X, labels = real_slice("sst2", 3000)
    y, k = encoded(labels)
    rows, uniform = boundary_and_uniform(X, y, near=600, drawn=60)
    here = L2Search(seed=0, rule="best", validation="log_loss")
    chosen = here.choose(X[rows], y[rows], k, uniform=uniform)
    assert here.cv_l2 != chosen  # the uniform rows overruled the folds' choice
    apart = L2Search(seed=0, rule="best", validation="log_loss")
    task = pickle.loads(pickle.dumps(apart.task(X[rows], y[rows], k, uniform=uniform)))
    assert apart.apply(pickle.loads(pickle.dumps(run_search(task)))) == chosen
    assert (apart.cv_l2, apart.scores) == (here.cv_l2, here.scores)

