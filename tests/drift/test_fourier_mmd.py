"""The embedding drift test through random Fourier features (``drift.frequencies``).

Same real streams as test_embedding_drift.py: AG News holding World and Sports, then all four
topics; the control is the same texts shuffled.
"""

import numpy as np
import pytest
from scipy import stats

from stream_al.config import DriftSettings
from stream_al.drift import DriftMonitor, EmbeddingDrift
from stream_al.drift.embedding import gram
from stream_al.drift.fourier_mmd import FourierMMD, gamma_quantile, random_parts
from stream_al.simulate.drift_scenario import emerging_classes, stationary
from tests.drift.realdata import embedded

SHIFT_AT = 1500


@pytest.fixture(scope="module")
def ag_news():
    _, labels, X = embedded("ag_news", 7600)
    return labels, X


def exact_mmd(A, B, sigma2):
    return float(gram(A, A, "rbf", sigma2).mean() + gram(B, B, "rbf", sigma2).mean()
                 - 2 * gram(A, B, "rbf", sigma2).mean())


@pytest.mark.parametrize("frequencies, tolerance", [(64, 0.5), (1024, 0.15)])
def test_the_statistic_estimates_the_exact_kernel_mmd_closer_with_more_frequencies(
        ag_news, frequencies, tolerance):
    labels, X = ag_news
    projected = EmbeddingDrift(seed=0).projected(X)
    y = np.array(labels)
    old = projected[np.isin(y, ["World", "Sports"])][:600]
    new = projected[np.isin(y, ["Business", "Sci/Tech"])][:200]
    mmd = FourierMMD(frequencies, seed=0)
    mmd.calibrate(old, window=200, permutations=50, rng=np.random.default_rng(0), alpha=0.01)
    exact = exact_mmd(old[:400], new, mmd.sigma2)
    estimate = mmd.scores(mmd.features(new), np.array([199]))[0]
    assert abs(estimate - exact) < tolerance * exact


def test_a_records_tests_are_those_of_taking_its_rows_one_test_at_a_time(ag_news):
    _, X = ag_news
    batched = EmbeddingDrift(seed=0, frequencies=64)
    stepped = EmbeddingDrift(seed=0, frequencies=64)
    batched.update_many(X[:1000], start=0)
    scores = []
    for i in range(0, 1000, 50):
        stepped.update_many(X[i : i + 50], start=i)
        if stepped.ready and i >= 600:
            scores.append(stepped.score)
    # the same pool (projected in other blocks: the last bits may differ), the same parts
    assert batched.threshold == pytest.approx(stepped.threshold, rel=1e-6)
    assert batched.score == pytest.approx(scores[-1], rel=1e-5)


def test_every_random_part_holds_a_window_of_distinct_items():
    parts = random_parts(600, 200, 500, np.random.default_rng(0))
    assert parts.shape == (500, 600)
    assert set(np.unique(parts)) == {0.0, 1.0}
    assert (parts.sum(axis=1) == 200).all()
    assert len({row.tobytes() for row in parts}) == 500  # not the same part over again


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alarm_fires_within_a_bounded_delay_after_new_topics_emerge(ag_news, seed):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, length=3000, seed=seed)
    detector = EmbeddingDrift(seed=0, frequencies=64)
    positions = [a.position for a in detector.update_many(X[stream.order], start=0)]
    assert not [p for p in positions if p < SHIFT_AT], "false alarm before the shift"
    after = [p for p in positions if p >= SHIFT_AT]
    assert after, "no alarm after the shift"
    assert after[0] - SHIFT_AT < detector.window_items + detector.patience * detector.check_every
    assert detector.region is not None  # the response can aim at the drifting region


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_alarm_on_a_stationary_shuffled_stream_of_the_same_texts(ag_news, seed):
    labels, X = ag_news
    stream = stationary(labels, length=6000, test_per_class=0, seed=seed)
    detector = EmbeddingDrift(seed=0, frequencies=64)
    assert detector.update_many(X[stream.order], start=0) == []
    assert 0 < detector.score < detector.threshold


def test_the_setting_reaches_the_coordinators_test_and_the_linear_kernel_refuses_it():
    monitor = DriftMonitor(DriftSettings(frequencies=32))
    assert isinstance(monitor.embedding, EmbeddingDrift) and monitor.embedding.frequencies == 32
    with pytest.raises(ValueError, match="0 with the linear kernel"):
        EmbeddingDrift(kernel="linear", frequencies=64)


def test_the_threshold_is_the_gamma_quantile_scipy_gives_for_the_null_moments():
    null = np.random.default_rng(0).gamma(3.0, 0.002, size=500)
    mean, var = null.mean(), null.var()
    assert gamma_quantile(null, 0.9999) == stats.gamma.ppf(0.9999, mean**2 / var, scale=var / mean)
    assert gamma_quantile(np.zeros(10), 0.9999) == 0.0  # no spread: the largest permuted value
