"""The contrastive peer (CAL) ranks a window by how far an item's prediction is from its
labelled neighbours' predictions, and by margin while nothing is labelled."""

import numpy as np

from benchmarks.peers.contrastive import WindowedContrastive, contrastive_scores


def fixed(table):
    """A model whose probabilities are looked up by the row itself."""
    return lambda X: np.array([table[tuple(float(v) for v in x)] for x in X], dtype=float)


def test_an_item_predicted_unlike_its_labelled_neighbours_scores_highest():
    labelled = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labelled_proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])
    candidates = np.array([[1.0, 0.05], [0.05, 1.0], [0.95, 0.0]])
    proba = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8]])  # the third disagrees with its kin
    scores = contrastive_scores(candidates, proba, labelled, labelled_proba, k=2)
    assert scores.argmax() == 2
    assert scores[0] < 0.05 and scores[0] >= 0


def test_fewer_labelled_rows_than_neighbours_uses_them_all():
    scores = contrastive_scores(np.eye(2), np.array([[0.5, 0.5], [0.5, 0.5]]),
                                np.array([[1.0, 0.0]]), np.array([[0.9, 0.1]]), k=10)
    assert scores.shape == (2,) and np.allclose(scores[0], scores[1])


def test_the_window_is_held_then_proposed_most_contrastive_first():
    model = fixed({(1.0, 0.0): [0.9, 0.1], (0.0, 1.0): [0.1, 0.9],
                   (1.0, 0.1): [0.9, 0.1],   # like its labelled neighbour
                   (0.1, 1.0): [0.9, 0.1],   # unlike its labelled neighbour
                   (1.0, 1.0): [0.5, 0.5]})  # between the two
    peer = WindowedContrastive(window=3, k=1)
    peer.labelled_many(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    assert peer.propose_many(np.array([10, 11]), np.array([[1.0, 0.1], [0.1, 1.0]]), model) == []
    assert peer.propose_many(np.array([12]), np.array([[1.0, 1.0]]), model) == [11, 12, 10]
    assert peer.flush(model) == []


def test_before_any_label_the_window_is_ranked_by_margin():
    X = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    model = fixed({(0.0, 1.0): [0.9, 0.1], (1.0, 1.0): [0.55, 0.45], (2.0, 1.0): [0.7, 0.3]})
    assert WindowedContrastive(window=3).propose_many(np.array([5, 6, 7]), X, model) == [6, 7, 5]
