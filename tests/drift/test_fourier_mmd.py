"""The embedding drift test through random Fourier features (``drift.frequencies``).

Same real streams as test_embedding_drift.py: AG News holding World and Sports, then all four
topics; the control is the same texts shuffled.
"""

from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from stream_al.config import DriftSettings
from stream_al.drift import DriftMonitor, EmbeddingDrift
from stream_al.drift.embedding import gram
from stream_al.drift.fourier_mmd import (
    FourierMMD,
    gamma_quantile,
    gamma_quantile_of,
    permutation_moments,
)
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
    mmd.calibrate(old, window=200, alpha=0.01)
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


@pytest.mark.parametrize("n, window", [(8, 3), (9, 4), (10, 1), (7, 6)])
def test_the_nulls_moments_are_those_of_every_deal_of_the_pool(ag_news, n, window):
    _, X = ag_news
    pool, mmd = EmbeddingDrift(seed=0).projected(X[:600]), FourierMMD(64, seed=0)
    mmd.calibrate(pool, window=200, alpha=0.01)  # draws the frequencies
    F = mmd.features(pool[:n])
    every = []
    for part in combinations(range(n), window):
        inside = np.isin(np.arange(n), part)
        gap = F[inside].mean(axis=0, dtype=np.float64) - F[~inside].mean(axis=0, dtype=np.float64)
        every.append(gap @ gap)
    mean, var = permutation_moments(F, window)
    assert mean == pytest.approx(np.mean(every), rel=1e-9)
    assert var == pytest.approx(np.var(every), rel=1e-6)


def test_the_threshold_needs_no_draw_and_holds_its_level_on_real_pools(ag_news):
    """The gamma of the exact moments against 20,000 random deals of a real pool (reference
    400 + window 200 of AG News): the share of deals above the 1 - alpha quantile stays near
    alpha (here 1e-2, to be measurable), and calibrating twice gives one threshold."""
    _, X = ag_news
    pool = EmbeddingDrift(seed=0).projected(X[:600])
    mmd = FourierMMD(64, seed=0)
    threshold = mmd.calibrate(pool, window=200, alpha=0.01)
    assert mmd.calibrate(pool, window=200, alpha=0.01) == threshold
    F, rng = mmd.features(pool).astype(np.float64), np.random.default_rng(0)
    inside = np.argsort(rng.random((20_000, 600)), axis=1)[:, :200]
    window = F[inside].mean(axis=1)
    reference = (F.sum(axis=0) - window * 200) / 400
    null = np.einsum("ij,ij->i", window - reference, window - reference)
    assert 0.005 < (null > threshold).mean() < 0.02


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
    assert gamma_quantile_of(mean, var, 0.9999) == gamma_quantile(null, 0.9999)
    assert gamma_quantile_of(0.0, 0.0, 0.9999) == 0.0  # a pool of one row: any change alarms
