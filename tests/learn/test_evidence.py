"""The Laplace evidence of the labels for an l2 penalty, and the search rule that picks by it."""

import numpy as np
import pytest
from scipy.special import log_softmax

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.learn.evidence import evidence_path, log_evidence
from stream_al.learn.objective import fit_softmax
from stream_al.learn.regularisation import (
    DEFAULT_GRID,
    EVIDENCE_ROWS_PER_CLASS,
    L2Search,
    run_search,
)

GRID = tuple(sorted(DEFAULT_GRID, reverse=True))


def gaussian_classes(k: int, n: int, d: int, spread: float, seed: int = 0):
    """``n`` rows per class around ``k`` random means ``spread`` apart, in ``d`` dimensions."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, spread, (k, d))
    y = np.repeat(np.arange(k), n)
    return means[y] + rng.normal(0, 1, (k * n, d)), y


def full_hessian_evidence(X, y, k, l2):
    """The Laplace evidence with the (dk)x(dk) Hessian written out: what the module computes
    through smaller matrices."""
    n, d = X.shape
    W, b = fit_softmax(X.astype(np.float32), y, k, np.ones(n), l2, np.zeros((k, d)),
                       np.zeros(k), 500, gtol=1e-9)
    logp = log_softmax(X @ W.T + b, axis=1)
    P = np.exp(logp)
    H = sum(np.kron(np.diag(p) - np.outer(p, p), np.outer(x, x)) for p, x in zip(P, X, strict=True))
    _, logdet = np.linalg.slogdet(np.eye(k * d) + H / l2)
    full = logp[np.arange(n), y].sum() - 0.5 * l2 * (W * W).sum() - 0.5 * logdet
    return full, log_evidence(X, y, W, logp, l2)


@pytest.mark.parametrize("k, n, d", [(2, 20, 5), (3, 15, 6), (5, 3, 20), (4, 10, 8)])
def test_the_evidence_is_the_laplace_formula_with_the_whole_hessian(k, n, d):
    X, y = gaussian_classes(k, n, d, spread=1.0)
    for l2 in (10.0, 0.3, 0.01):
        full, computed = full_hessian_evidence(X, y, k, l2)
        assert computed == pytest.approx(full, rel=1e-4)


@pytest.mark.parametrize("k", [2, 6])
def test_the_evidence_peaks_inside_the_grid_and_falls_for_far_too_weak_and_strong(k):
    X, y = gaussian_classes(k, 25, 20, spread=0.4)
    evidence = evidence_path(X, y, k, GRID).evidence
    best = int(np.argmax(evidence))
    assert 0 < best < len(GRID) - 1  # neither 100 nor 0.001
    assert evidence[0] < evidence[best] - 1 and evidence[-1] < evidence[best] - 1


def test_the_evidence_asks_for_less_penalty_when_the_classes_are_further_apart():
    chosen = []
    for spread in (0.3, 3.0):
        X, y = gaussian_classes(3, 30, 10, spread)
        chosen.append(GRID[int(np.argmax(evidence_path(X, y, 3, GRID).evidence))])
    assert chosen[1] < chosen[0]


def search_task(X, y, k, rule="evidence"):
    return L2Search(rule=rule, min_labels=10).task(X.astype(np.float32), y, k)


def test_the_evidence_rule_chooses_the_grid_value_of_the_highest_evidence():
    X, y = gaussian_classes(4, 20, 12, spread=0.5)
    result = run_search(search_task(X, y, 4))
    evidence = evidence_path(X, y, 4, GRID).evidence
    assert result.l2 == GRID[int(np.argmax(evidence))]
    assert min(result.losses, key=result.losses.get) == result.l2  # losses: -evidence per row


def test_the_evidence_rule_never_chooses_a_one_class_model_while_another_is_not():
    # 24 of 32 labels one class, the classes barely apart: the strongest penalty leaves the
    # intercepts to predict the majority everywhere, and such noise-like labels favour it
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], [24, 8])
    X = rng.normal(0, 1, (32, 30)) + 0.15 * y[:, None]
    path = evidence_path(X, y, 2, GRID)
    assert not path.several[0] and path.several.any()
    assert int(np.argmax(path.evidence)) == 0  # unguarded, the evidence would take it
    result = run_search(search_task(X, y, 2))
    assert path.several[GRID.index(result.l2)]


def test_the_evidence_rule_fits_only_the_classes_among_the_labels():
    X, y = gaussian_classes(3, 15, 8, spread=1.0)
    # the learner knows 5 classes, two without a label yet
    assert run_search(search_task(X, y, 5)).l2 == run_search(search_task(X, y, 3)).l2


def test_the_evidence_rule_is_a_learner_setting():
    X, y = gaussian_classes(3, 40, 16, spread=0.8)
    labels = [f"c{v}" for v in y]
    learner = OnlineLearner(X.shape[1], LearnerSettings(cv_rule="evidence", committee_size=2))
    learner.learn_many(X.astype(np.float32), labels)
    assert learner.main.l2 in GRID


def test_a_served_rule_needs_folds_the_evidence_rule_does_not_fit():
    with pytest.raises(ValueError, match="served_rule to null"):
        L2Search(rule="evidence", served_rule="nll")
    with pytest.raises(ValueError, match="served_rule to null"):
        L2Search(rule="best", served_rule="evidence")


def searches_alike(rule: str, like: str, X, y, k: int = 2) -> bool:
    """Whether ``rule``'s search on ``X``, ``y`` chooses and scores exactly as ``like``'s."""
    ours, theirs = (run_search(search_task(X, y, k, rule=r)) for r in (rule, like))
    return (ours.l2, ours.scores) == (theirs.l2, theirs.scores)


def test_evidence_dims_uses_the_folds_below_as_many_rows_as_dimensions_and_the_evidence_from_there():
    few_rows, few_y = gaussian_classes(2, 10, 30, spread=0.6)  # 20 rows, 30 dimensions
    many_rows, many_y = gaussian_classes(2, 20, 30, spread=0.6)  # 40 rows
    assert searches_alike("evidence_dims", "best", few_rows, few_y)
    assert searches_alike("evidence_dims", "evidence", many_rows, many_y)


def test_evidence_per_class_uses_the_folds_below_50_rows_a_class_and_the_evidence_from_there():
    assert EVIDENCE_ROWS_PER_CLASS == 50
    few_rows, few_y = gaussian_classes(2, 40, 8, spread=0.6)  # 40 rows a class
    many_rows, many_y = gaussian_classes(2, 50, 8, spread=0.6)  # 50 rows a class
    assert searches_alike("evidence_per_class", "best", few_rows, few_y)
    assert searches_alike("evidence_per_class", "evidence", many_rows, many_y)


def test_evidence_binary_is_the_evidence_on_two_classes_from_50_rows_a_class_and_the_folds_on_more():
    few_rows, few_y = gaussian_classes(2, 40, 8, spread=0.6)  # 40 rows a class
    two, two_y = gaussian_classes(2, 50, 8, spread=0.6)  # 50 rows a class
    three, three_y = gaussian_classes(3, 50, 8, spread=0.6)
    assert searches_alike("evidence_binary", "best", few_rows, few_y)
    assert searches_alike("evidence_binary", "evidence", two, two_y)
    assert searches_alike("evidence_binary", "best", three, three_y, k=3)
    # two classes among the rows of a learner that knows three: the folds
    rows = three_y < 2
    assert searches_alike("evidence_binary", "best", three[rows], three_y[rows], k=3)


def test_evidence_binary_leaves_it_to_the_folds_where_the_evidence_rises_to_the_strongest_penalty_it_may_take():
    # 64 and 56 rows of short vectors barely apart in 40 dimensions (as a static embedder's
    # can be): the evidence grows with the penalty up to the grid's strongest values, whose
    # fits predict one class; unguarded, it would take the strongest that still predicts two,
    # nearly the intercepts' model
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], [64, 56])
    X = (0.1 * (rng.normal(0, 1, (120, 40)) + 0.05 * y[:, None])).astype(np.float32)
    path = evidence_path(X, y, 2, GRID)
    allowed = path.several | (not path.several.any())
    strongest_allowed = int(np.argmax(allowed))
    assert strongest_allowed > 0 and int(np.argmax(path.evidence)) == 0
    assert int(np.argmax(np.where(allowed, path.evidence, -np.inf))) == strongest_allowed
    assert path.accuracy[strongest_allowed] < 0.6  # 64 / 120 = 0.53 by the majority alone
    assert run_search(search_task(X, y, 2, rule="evidence")).l2 == GRID[strongest_allowed]
    assert searches_alike("evidence_binary", "best", X, y)
    # with an optimum inside the grid, the evidence chooses
    two, two_y = gaussian_classes(2, 60, 8, spread=0.6)
    evidence = evidence_path(two, two_y, 2, GRID).evidence
    assert 0 < int(np.argmax(evidence)) < len(GRID) - 1
    assert searches_alike("evidence_binary", "evidence", two, two_y)


def test_the_learner_chooses_by_evidence_binary_unless_told_otherwise():
    assert LearnerSettings().cv_rule == "evidence_binary"
    assert L2Search().rule == "evidence_binary"
    with pytest.raises(ValueError, match="set cv_rule to a fold rule"):
        OnlineLearner(8, LearnerSettings(served_rule="nll"))
    OnlineLearner(8, LearnerSettings(served_rule="nll", cv_rule="best"))  # the fix it names


def test_the_rows_a_class_from_which_the_evidence_chooses_is_a_learner_setting():
    X, y = gaussian_classes(2, 60, 8, spread=0.6)  # 60 rows a class
    folds = run_search(search_task(X, y, 2, rule="best"))
    evidence = run_search(search_task(X, y, 2, rule="evidence"))
    for rows, like in ((100, folds), (60, evidence)):
        task = L2Search(rule="evidence_binary", min_labels=10, evidence_rows=rows).task(
            X.astype(np.float32), y, 2)
        assert run_search(task).scores == like.scores
    assert LearnerSettings().cv_evidence_rows == EVIDENCE_ROWS_PER_CLASS
    learner = OnlineLearner(8, LearnerSettings(cv_evidence_rows=70, committee_size=2))
    assert learner.main.search.evidence_rows == 70  # not the default: the setting reaches it
    with pytest.raises(ValueError, match="rows a class >= 1"):
        L2Search(evidence_rows=0)
