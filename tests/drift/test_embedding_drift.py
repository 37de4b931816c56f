"""The embedding detector: an MMD test of recent embeddings against a reference window.

Real shift: AG News holding only World and Sports, then all four topics (Business and
Sci/Tech emerge). Control: the same texts shuffled, so nothing changes.
"""

import numpy as np
import pytest

from stream_al.drift import EmbeddingDrift
from stream_al.drift.embedding import _rbf, gram
from stream_al.index.products import dot_rows
from stream_al.simulate.drift_scenario import emerging_classes, stationary
from tests.drift.realdata import embedded

SHIFT_AT = 1500


@pytest.fixture(scope="module")
def ag_news():
    _, labels, X = embedded("ag_news", 7600)
    return labels, X


def alarms_on(X, order, **kw):
    detector = EmbeddingDrift(seed=0, **kw)
    return [a.position for a in detector.update_many(X[order], start=0)], detector


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alarm_fires_within_a_bounded_delay_after_new_topics_emerge(ag_news, seed):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, length=3000, seed=seed)
    positions, detector = alarms_on(X, stream.order)
    after = [p for p in positions if p >= SHIFT_AT]
    assert after, "no alarm after the shift"
    # one recent window plus the tests it takes to be confirmed (patience)
    assert after[0] - SHIFT_AT < detector.window_items + detector.patience * detector.check_every
    assert not [p for p in positions if p < SHIFT_AT], "false alarm before the shift"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_alarm_on_a_stationary_shuffled_stream_of_the_same_texts(ag_news, seed):
    labels, X = ag_news
    stream = stationary(labels, length=6000, test_per_class=0, seed=seed)
    positions, detector = alarms_on(X, stream.order)
    assert positions == []
    assert 0 < detector.score < detector.threshold


def test_the_linear_kernel_sees_the_shift_too(ag_news):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, length=3000, seed=0)
    positions, _ = alarms_on(X, stream.order, kernel="linear")
    assert positions and SHIFT_AT <= positions[0] < SHIFT_AT + 300


def test_the_threshold_is_calibrated_on_the_reference_not_fixed(ag_news):
    labels, X = ag_news
    order = stationary(labels, length=600, test_per_class=0, seed=0).order
    strict = EmbeddingDrift(alpha=1e-5, seed=0)
    loose = EmbeddingDrift(alpha=1e-2, seed=0)
    small = EmbeddingDrift(alpha=1e-5, window_items=50, seed=0)
    for detector in (strict, loose, small):
        detector.update_many(X[order], start=0)
        assert detector.ready
    assert strict.threshold > loose.threshold  # a smaller false-alarm rate needs a higher bar
    assert small.threshold > 1.5 * strict.threshold  # a smaller window is noisier


def test_the_drifting_region_weighs_the_new_topics_above_the_old(ag_news):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, length=3000, seed=0)
    detector = EmbeddingDrift(seed=0)
    detector.update_many(X[stream.order], start=0)
    assert detector.region is not None
    y = np.array(labels)
    held_out = stream.test_after
    weight = detector.region.weight_many(X[held_out])
    new = np.isin(y[held_out], ["Business", "Sci/Tech"])
    assert weight[new].mean() > weight[~new].mean() + 0.1
    assert ((weight >= 0) & (weight <= 1)).all()


def test_batches_of_any_size_give_the_same_alarms(ag_news):
    labels, X = ag_news
    order = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, length=2500, seed=1).order
    whole, _ = alarms_on(X, order)
    chunked = EmbeddingDrift(seed=0)
    positions = []
    for start in range(0, len(order), 37):
        positions += [a.position for a in chunked.update_many(X[order[start : start + 37]], start)]
    assert positions == whole


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kernel": "cosine"}, "kernel must be one of"),
    ({"alpha": 1.5}, r"alpha must be in \(0, 1\)"),
    ({"window_items": 0}, "must be >= 1"),
])
def test_bad_settings_name_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EmbeddingDrift(**kwargs)


def test_the_windows_kernel_is_the_rbf_gram_matrix_bit_for_bit() -> None:
    """The detector's in-place kernel of rows with known norms is :func:`gram`'s arithmetic on
    the same product (:func:`dot_rows`; ``A @ B.T`` rounds differently under some kernels)."""
    rng = np.random.default_rng(0)
    for m, n in [(1, 400), (7, 200), (50, 400), (50, 3), (300, 20)]:
        A = rng.normal(size=(m, 32)).astype(np.float32)
        B = rng.normal(size=(n, 32)).astype(np.float32)
        sigma2 = float(rng.uniform(0.5, 40.0))
        expected = np.exp(-np.maximum((A * A).sum(axis=1)[:, None] + (B * B).sum(axis=1)[None, :]
                                      - 2.0 * dot_rows(A, B), 0.0) / (2.0 * sigma2))
        got = _rbf(A, (A * A).sum(axis=1), B, (B * B).sum(axis=1), sigma2)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert np.array_equal(got, expected), (m, n)
        np.testing.assert_allclose(got, gram(A, B, "rbf", sigma2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("project", [0, 32])
def test_with_the_full_embeddings_or_fewer_dimensions_the_alarm_comes_as_soon(ag_news, project):
    """The default reads embeddings through a 64-dimensional random projection (the tests
    above); without it, or through 32 dimensions, the same windows give the same bound on the
    delay, and a stationary stream raises nothing."""
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, length=3000, seed=0)
    positions, detector = alarms_on(X, stream.order, project=project)
    after = [p for p in positions if p >= SHIFT_AT]
    assert after and not [p for p in positions if p < SHIFT_AT]
    assert after[0] - SHIFT_AT < detector.window_items + detector.patience * detector.check_every
    calm = stationary(labels, length=6000, test_per_class=0, seed=0)
    assert alarms_on(X, calm.order, project=project)[0] == []


def test_the_projected_region_weighs_full_embeddings_through_the_same_projection(ag_news):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, length=3000, seed=0)
    detector = EmbeddingDrift(seed=0)
    detector.update_many(X[stream.order], start=0)
    assert detector.region is not None and detector.region.reference.shape[1] == 64
    held_out = stream.test_after
    weight = detector.region.weight_many(X[held_out])  # 256 dimensions in, projected inside
    new = np.isin(np.array(labels)[held_out], ["Business", "Sci/Tech"])
    assert weight[new].mean() > weight[~new].mean() + 0.1


def test_the_projection_is_fixed_by_the_seed_and_skipped_when_it_would_not_shrink():
    X = np.random.default_rng(0).normal(size=(5, 32)).astype(np.float32)
    a, b = EmbeddingDrift(seed=3, project=8), EmbeddingDrift(seed=3, project=8)
    assert np.array_equal(a.projected(X), b.projected(X)) and a.projected(X).shape == (5, 8)
    assert not np.array_equal(a.projected(X), EmbeddingDrift(seed=4, project=8).projected(X))
    assert EmbeddingDrift(project=32).projected(X) is X
    with pytest.raises(ValueError, match="project must be >= 0"):
        EmbeddingDrift(project=-1)
