"""Out-of-distribution: texts unlike anything labelled are flagged, and cannot eat the budget."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import OODSettings
from stream_al.index.products import PRODUCT_ROUNDING
from stream_al.learn import ModelSnapshot
from stream_al.ood import FlagRate, OODDetector, StreamReference
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select import Budget, RandomSelector
from stream_al.select.coverage import farthest_first
from stream_al.select.ood_cap import OOD_REASON, OODSelector
from tests.drift.realdata import embedded


@pytest.fixture(scope="module")
def texts():
    """Labelled: Banking77 customer queries; ``normal``: more of them, the stream before
    anything else arrives. Other datasets: AG News and SST-2 sentences."""
    _, _, bank = embedded("banking77", 2000)
    _, _, ag = embedded("ag_news", 400)
    _, _, sst = embedded("sst2", 400)
    return {"labelled": bank[:500], "held_out": bank[500:1000], "normal": bank[1000:],
            "ag_news": ag, "sst2": sst}


@pytest.fixture
def detector(texts):
    """Labels only: it has not seen the stream yet (each test gets a fresh one: checking
    stream items calibrates it)."""
    d = OODDetector(texts["labelled"].shape[1])
    d.add_labelled_many(texts["labelled"])
    return d


def seen(detector: OODDetector, X: np.ndarray, batch: int = 50) -> OODDetector:
    """The detector after checking ``X`` in stream order, ``batch`` rows at a time."""
    for start in range(0, len(X), batch):
        detector.check_many(X[start : start + batch])
    return detector


def test_texts_of_other_datasets_are_flagged_far_more_than_held_out_texts(texts, detector):
    held_out = detector.is_ood_many(texts["held_out"]).mean()
    assert held_out < 0.15  # about 1 - quantile of in-distribution items
    for other in ("ag_news", "sst2"):
        assert detector.is_ood_many(texts[other]).mean() > max(0.5, 4 * held_out)


def test_a_broad_labelled_set_still_flags_another_genre():
    """Labelled news (four broad topics) against movie-review sentences."""
    _, _, ag = embedded("ag_news", 1000)
    _, _, sst = embedded("sst2", 400)
    detector = OODDetector(ag.shape[1])
    detector.add_labelled_many(ag[:500])
    held_out = detector.is_ood_many(ag[500:]).mean()
    assert detector.is_ood_many(sst).mean() > 4 * held_out


def test_before_it_has_seen_the_stream_the_threshold_is_the_labelled_leave_one_out_quantile(
        texts, detector):
    assert not detector.calibrated_on_stream
    X = texts["labelled"]
    d = 1.0 - X @ X.T
    np.fill_diagonal(d, np.inf)
    exact = np.quantile(d.min(axis=1), detector.settings.quantile)
    assert detector.threshold == pytest.approx(exact, rel=0.02)


def test_labels_arriving_one_batch_at_a_time_give_the_same_threshold(texts, detector):
    incremental = OODDetector(texts["labelled"].shape[1])
    for start in range(0, 500, 7):
        incremental.add_labelled_many(texts["labelled"][start : start + 7])
    assert incremental.threshold == pytest.approx(detector.threshold, rel=0.02)


def test_the_threshold_tightens_as_labels_cover_the_space(texts):
    d = OODDetector(texts["labelled"].shape[1])
    d.add_labelled_many(texts["labelled"][:50])
    few = d.threshold
    d.add_labelled_many(texts["labelled"][50:])
    assert d.threshold < few


def test_nothing_is_ood_before_enough_labels(texts):
    d = OODDetector(texts["labelled"].shape[1], OODSettings(min_labels=20))
    d.add_labelled_many(texts["labelled"][:19])
    assert d.threshold == float("inf") and not d.is_ood_many(texts["ag_news"]).any()


def labels_picked(X: np.ndarray, how: str, n: int = 30) -> np.ndarray:
    """``n`` rows of ``X`` as a strategy would buy them: at random, spread out by coverage
    (farthest-first), or bunched around one item (as margin picks bunch at a boundary)."""
    if how == "random":
        return X[np.random.default_rng(0).choice(len(X), n, replace=False)]
    if how == "coverage":
        return X[farthest_first(X, np.ones(len(X)), np.zeros((0, X.shape[1]), np.float32), n)]
    return X[np.argsort(-(X @ X[0]))[:n]]


@pytest.mark.parametrize("how", ["random", "coverage", "bunched"])
def test_a_stream_item_is_flagged_at_one_minus_the_quantile_however_the_labels_were_picked(
        texts, how):
    detector = OODDetector(texts["normal"].shape[1])
    detector.add_labelled_many(labels_picked(texts["normal"], how))
    seen(detector, texts["normal"])
    assert detector.calibrated_on_stream
    assert 0.01 <= detector.is_ood_many(texts["held_out"]).mean() <= 0.12  # about 1 - 0.95


def test_labels_spread_out_by_coverage_picks_still_flag_another_dataset(texts):
    """Coverage picks are farther from each other than the stream is from them: their own
    leave-one-out distances put the threshold where held-out queries (0%) and news (21%) both
    passed under it."""
    detector = OODDetector(texts["normal"].shape[1])
    detector.add_labelled_many(labels_picked(texts["normal"], "coverage"))
    seen(detector, texts["normal"])
    held_out = detector.is_ood_many(texts["held_out"]).mean()
    for other in ("ag_news", "sst2"):
        assert detector.is_ood_many(texts[other]).mean() > max(0.5, 4 * held_out)


def test_a_new_domain_is_flagged_until_it_makes_up_the_tail_of_the_stream(texts, detector):
    seen(detector, texts["normal"])
    first = detector.check_many(texts["ag_news"][:25])[1].mean()
    seen(detector, texts["ag_news"][25:], batch=25)  # now 400 of the last 1,400 items
    assert first > 0.8
    assert detector.is_ood_many(texts["ag_news"]).mean() < first / 2


def test_the_sample_is_uniform_over_the_stream_until_the_horizon_then_favours_recent_items():
    """Old items lie 0.2 from the one labelled vector, new ones 0.8: the sample's distances
    say which it holds."""
    labelled = np.array([[1.0, 0.0]], dtype=np.float32)
    old = np.tile(np.array([[0.8, 0.6]], dtype=np.float32), (5000, 1))
    new = np.tile(np.array([[0.2, np.sqrt(0.96)]], dtype=np.float32), (5000, 1))

    def share_new(horizon: int, n_old: int, n_new: int) -> float:
        ref = StreamReference(dim=2, capacity=1000, horizon=horizon, seed=0)
        for X in (old[:n_old], new[:n_new]):
            for start in range(0, len(X), 100):
                ref.admit_many(X[start : start + 100])
        ref.labelled_many(labelled, first_id=0)
        return float((ref.distances > 0.5).mean())

    assert share_new(20_000, 5000, 5000) == pytest.approx(0.5, abs=0.05)
    assert share_new(1000, 5000, 1000) == pytest.approx(1 - np.exp(-1), abs=0.05)


def test_the_sample_distances_are_exact_against_the_labelled_rows_kept(texts):
    detector = OODDetector(texts["normal"].shape[1], OODSettings(capacity=100))
    seen(detector, texts["normal"][:300])
    for start in range(0, 500, 50):  # the first 400 are evicted again
        detector.add_labelled_many(texts["labelled"][start : start + 50])
    kept = texts["labelled"][400:]
    brute = (1.0 - texts["normal"][:300] @ kept.T).min(axis=1)
    np.testing.assert_allclose(detector.reference.distances, brute, atol=1e-5)


def test_a_sampled_item_that_is_then_labelled_counts_by_its_distance_to_the_others(texts):
    X = texts["normal"][:200]
    detector = seen(OODDetector(X.shape[1]), X)
    detector.add_labelled_many(X[:50])
    within = 1.0 - X[:50] @ X[:50].T
    np.fill_diagonal(within, np.inf)
    np.testing.assert_allclose(detector.reference.distances[:50], within.min(axis=1),
                               atol=1e-5)


def test_memory_is_capped(texts):
    d = OODDetector(texts["labelled"].shape[1], OODSettings(capacity=100))
    for start in range(0, 500, 50):
        d.add_labelled_many(texts["labelled"][start : start + 50])
    assert d.n_labelled == 100 and len(d._loo) == 100


def stream_with_garbage(texts, share):
    """Held-out Banking77 queries with AG News texts mixed in at ``share`` (shuffled, seed 0);
    it follows ``texts["normal"]``, which the detector has seen."""
    n_other = int(len(texts["held_out"]) * share / (1 - share))
    X = np.vstack([texts["held_out"], texts["ag_news"][:n_other]])
    return X[np.random.default_rng(0).permutation(len(X))]


@pytest.mark.parametrize("max_share", [0.1, 0.3])
def test_ood_items_get_their_own_reason_and_at_most_their_share_of_the_budget(texts, detector,
                                                                               max_share):
    clean_ratio = seen(detector, texts["normal"]).recent_ratio
    X = stream_with_garbage(texts, share=0.4)
    fraction = 0.1
    selector = OODSelector(RandomSelector(fraction, seed=0), detector, fraction, max_share)
    budget = Budget(fraction)
    chosen, over_threshold = [], []
    for start in range(0, len(X), 25):
        rows = np.arange(start, min(start + 25, len(X)))
        scores = score_many(ModelSnapshot.empty(X.shape[1]), X[rows])
        batch = ScoredBatch([str(r) for r in rows], X[rows], scores)
        budget.observe(len(batch))
        threshold = detector.threshold  # in force for this batch
        picked = selector.select_many(batch, budget)
        over_threshold += [s.scores["ood_distance"] > threshold
                           for s in picked if s.reason == OOD_REASON]
        chosen += picked
    ood = [s for s in chosen if s.reason == OOD_REASON]
    assert ood, "40% of the stream is another dataset: some of it should be bought as OOD"
    assert len(ood) >= 0.8 * max_share * fraction * len(X) - 1  # ... up to its cap
    assert len(ood) <= max_share * fraction * len(X) + 1e-9
    assert budget.spent <= fraction * len(X) + 1e-9
    assert all(over_threshold)
    assert clean_ratio < 0.1 and 3 * clean_ratio < detector.recent_ratio < 0.7  # sees garbage


def test_a_quiet_stretch_does_not_save_up_the_cap_for_a_burst(texts, detector):
    fraction, share = 0.1, 0.3
    selector = OODSelector(RandomSelector(fraction, seed=0), detector, fraction, share,
                           cap_window_items=100)
    budget = Budget(fraction, warmup=1000.0)  # the budget never binds: only the cap does

    def feed(X: np.ndarray) -> list:
        batch = ScoredBatch([str(i) for i in range(len(X))], X,
                            score_many(ModelSnapshot.empty(X.shape[1]), X))
        budget.observe(len(batch))
        return [s for s in selector.select_many(batch, budget) if s.reason == OOD_REASON]

    quiet = np.vstack([texts["held_out"]] * 10)  # 5,000 in-distribution items
    for start in range(0, len(quiet), 500):
        feed(quiet[start : start + 500])
    burst = feed(np.vstack([texts["ag_news"], texts["sst2"]])[:300])
    assert len(burst) <= share * fraction * (300 + 100) + 1e-9  # not 0.03 x 5,300
    assert len(burst) >= share * fraction * 100 - 1  # the cap it held was usable


def test_a_batch_as_long_as_the_cap_window_gets_its_allowance(texts, detector):
    selector = OODSelector(RandomSelector(0.1, seed=0), detector, 0.1, 0.3, cap_window_items=300)
    X = np.vstack([texts["ag_news"], texts["sst2"]])[:300]
    budget = Budget(0.1)
    budget.observe(len(X))
    batch = ScoredBatch([str(i) for i in range(len(X))], X,
                        score_many(ModelSnapshot.empty(X.shape[1]), X))
    ood = [s for s in selector.select_many(batch, budget) if s.reason == OOD_REASON]
    assert len(ood) == 9  # 0.3 x 0.1 x 300, in one batch


def ood_bought(selector: OODSelector, X: np.ndarray, first: int = 0, batch: int = 25,
               fraction: float = 0.1) -> list[int]:
    """Rows of ``X`` (numbered from ``first``) that ``selector`` buys for the reason OOD when
    they stream by ``batch`` at a time on a ``fraction`` budget."""
    budget = Budget(fraction)
    bought = []
    for start in range(0, len(X), batch):
        rows = np.arange(start, min(start + batch, len(X)))
        scored = ScoredBatch([str(first + r) for r in rows], X[rows],
                             score_many(ModelSnapshot.empty(X.shape[1]), X[rows]))
        budget.observe(len(scored))
        bought += [int(s.item_id) for s in selector.select_many(scored, budget)
                   if s.reason == OOD_REASON]
    return bought


def test_a_stationary_streams_own_outliers_are_not_bought_as_ood(texts, detector):
    """About 1 - quantile of any stream is flagged by construction: that is no new domain."""
    selector = OODSelector(RandomSelector(0.1, seed=0), detector, 0.1, max_share=0.3)
    stream = np.vstack([texts["normal"], texts["held_out"]])
    assert ood_bought(selector, stream) == []
    assert 0 < detector.recent_ratio < 0.12  # it did flag the stream's outliers


@pytest.mark.parametrize("share", [0.1, 0.4])
def test_a_new_domain_arriving_in_the_stream_is_bought_as_ood(texts, detector, share):
    """After a stationary stretch, AG News texts make up ``share`` of the stream: the share
    flagged rises above the base rate and the OOD cap buys them, and almost only them."""
    selector = OODSelector(RandomSelector(0.1, seed=0), detector, 0.1, max_share=0.3)
    assert ood_bought(selector, texts["normal"]) == []
    X = stream_with_garbage(texts, share)
    news = {i for i in range(len(X)) if not (X[i] @ texts["held_out"].T > 1 - 1e-6).any()}
    bought = ood_bought(selector, X)
    assert len(bought) >= 0.5 * 0.3 * 0.1 * len(X)  # at least half the cap's share is used
    assert len(set(bought) & news) >= 0.8 * len(bought)


def test_a_burst_of_a_new_domain_is_bought_from_its_first_batch(texts, detector):
    selector = OODSelector(RandomSelector(0.1, seed=0), detector, 0.1, max_share=0.3,
                           cap_window_items=100)
    assert ood_bought(selector, texts["normal"]) == []
    assert ood_bought(selector, texts["ag_news"][:25], first=1000)


def test_a_share_flagged_counts_as_a_burst_only_when_clearly_above_the_base_rate():
    """Over ``ood.burst_window`` items, at ``ood.burst_confidence``, against 1 - quantile."""
    s = OODSettings(burst_window=200)
    rate = FlagRate(1 - s.quantile, s.burst_window, s.burst_confidence)
    rate.add_many(np.arange(200) % 8 == 0)  # 12.5% of the window flagged: not chance at 5%
    assert rate.exceeded
    rate.add_many(np.arange(200) % 14 == 0)  # 7.5%: within chance of 5% over 200 items
    assert not rate.exceeded


def test_past_the_exact_size_the_flags_are_those_of_a_brute_force_search():
    _, _, X = embedded("sst2", 6000)
    labelled, stream = X[:4000], X[4000:]
    detector = OODDetector(X.shape[1], OODSettings(capacity=4000))
    detector.add_labelled_many(labelled)
    assert not detector.index.exact  # the graph answers the first pass
    brute = 1.0 - (stream @ labelled.T).max(axis=1)
    flagged = detector.is_ood_many(stream)
    assert flagged.any()
    np.testing.assert_array_equal(flagged, brute > detector.threshold)
    distance = detector.distance_many(stream)
    np.testing.assert_allclose(distance[flagged], brute[flagged], atol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_a_sample_item_is_measured_as_its_k_nearest_labelled_items_would_measure_it(seed):
    """The exact rows answer without selecting the k nearest first: the same distance and the
    same labelled id as the k-nearest answer, with the item itself labelled (up to k times)
    and with ties at the nearest distance (duplicate labelled vectors)."""
    from stream_al.index.ann import BoundedIndex
    from stream_al.ood import MEASURED_NEIGHBOURS, _nearest_other, _nearest_other_of

    rng = np.random.default_rng(seed)
    labelled = rng.normal(size=(60, 8)).astype(np.float32)
    labelled = np.concatenate([labelled, labelled[:6], labelled[:3], labelled[:2]])  # duplicates
    rows = BoundedIndex(8, capacity=1000, exact_below=1000)
    rows.add_many(labelled[rng.permutation(len(labelled))])
    items = np.concatenate([labelled[:12], rng.normal(size=(40, 8)).astype(np.float32)])
    for k in (1, 2, MEASURED_NEIGHBOURS):
        ids, dist = rows.query_many(items, k=k)
        want = _nearest_other_of(ids, dist)
        got = _nearest_other(rows.distances_many(items), rows.exact_ids, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert np.isinf(want[0][:2]).sum() >= 1  # an item labelled 4 times has no other neighbour


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=60),
       st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]))
def test_the_threshold_quantile_is_numpys_bit_for_bit(values, q):
    from stream_al.ood import quantile

    x = np.round(np.array(values), 2)  # ties too
    assert quantile(x, q) == float(np.quantile(x, q))


def test_the_threshold_quantile_is_numpys_on_a_full_reference_sample():
    from stream_al.ood import quantile

    rng = np.random.default_rng(0)
    for n in (1, 2, 99, 100, 999, 1000):
        x = rng.random(n) * 1.5
        for q in (0.0, 0.25, 0.5, 0.95, 0.975, 0.99, 1.0):
            assert quantile(x, q) == float(np.quantile(x, q))


def test_the_check_gives_the_distances_of_the_first_pass_bit_for_bit(texts, detector):
    """While the first pass is exact, the check reads its one product of the items against the
    labelled rows: the same distances as :meth:`OODDetector.distance_many`."""
    X = texts["normal"][:120]
    first_pass, threshold = detector.distance_many(X), detector.threshold
    dist, flags = detector.check_many(X)
    assert np.array_equal(dist, first_pass)
    assert np.array_equal(flags, dist > threshold)


def test_items_sampled_by_the_check_are_measured_from_its_product_as_alone(texts):
    """The reference's items measured from the check's product (the batch's rows) against a
    reference that measures each sampled item in a product of its own: the same nearest
    labelled items, distances equal but for the last bit."""
    X = texts["normal"][:600]

    def sampled(reuse: bool) -> StreamReference:
        d = OODDetector(X.shape[1], OODSettings(reference_items=200))
        d.add_labelled_many(texts["labelled"])
        for start in range(0, len(X), 40):
            if reuse:
                d.check_many(X[start : start + 40])
            else:  # the sampled items measured in a product of their own
                d.reference.admit_many(X[start : start + 40], d.rows)
        return d.reference

    reused, alone = sampled(True), sampled(False)
    assert reused.seen == alone.seen == 600
    assert np.array_equal(reused._nearest, alone._nearest)
    # equal up to float32 rounding: a row's product rounds differently alone and in a batch
    # under some BLAS kernels (the suite's pinned ones among them)
    np.testing.assert_allclose(reused.distances, alone.distances, rtol=1e-6, atol=PRODUCT_ROUNDING)


def test_once_the_stream_sets_the_threshold_labels_skip_the_leave_one_out_search(texts,
                                                                                 monkeypatch):
    """The labelled items' leave-one-out distances stand in only until ``REFERENCE_MIN``
    sampled stream items are measured; after that a labels batch does not search them."""
    d = OODDetector(texts["labelled"].shape[1])
    d.add_labelled_many(texts["labelled"][:400])
    seen(d, texts["normal"][:300])
    assert d.calibrated_on_stream
    threshold = d.threshold

    def no_search(*args, **kwargs):
        raise AssertionError("k-nearest search of the labelled rows after calibration")

    monkeypatch.setattr(d.rows, "query_many", no_search)
    d.add_labelled_many(texts["labelled"][400:])
    assert d.n_labelled == 500 and d.ready
    assert d.threshold <= threshold  # more labels: the stream's items are nearer, never farther


def sampled_detector(texts, sample: float) -> OODDetector:
    d = OODDetector(texts["labelled"].shape[1], OODSettings(sample=sample))
    d.add_labelled_many(texts["labelled"])
    return d


def test_checking_a_sample_of_the_candidates_still_buys_a_new_domain_and_only_it(texts):
    """``ood.sample`` 0.25: a quarter of each batch is checked. The stationary stretch buys
    nothing as OOD; when AG News makes up 40% of the stream, the cap still buys it."""
    selector = OODSelector(RandomSelector(0.1, seed=0), sampled_detector(texts, 0.25), 0.1,
                           max_share=0.3)
    assert ood_bought(selector, texts["normal"]) == []
    X = stream_with_garbage(texts, 0.4)
    news = {i for i in range(len(X)) if not (X[i] @ texts["held_out"].T > 1 - 1e-6).any()}
    bought = ood_bought(selector, X)
    assert len(bought) >= 0.5 * 0.3 * 0.1 * len(X)
    assert len(set(bought) & news) >= 0.8 * len(bought)


def test_an_item_the_sample_skipped_is_measured_when_another_reason_buys_it(texts):
    detector = sampled_detector(texts, 0.25)
    selector = OODSelector(RandomSelector(0.5, seed=0), detector, 0.5, max_share=0.3)
    X = texts["held_out"][:200]
    batch = ScoredBatch([str(i) for i in range(len(X))], X,
                        score_many(ModelSnapshot.empty(X.shape[1]), X))
    budget = Budget(0.5)
    budget.observe(len(batch))
    checked_before = np.isfinite(detector.reference.distances).sum()
    picked = selector.select_many(batch, budget)
    assert 0 < np.isnan(batch.scores["ood_distance"]).mean() < 1  # only a sample was checked
    assert np.isfinite(detector.reference.distances).sum() - checked_before <= 0.4 * len(X)
    rows = [int(s.item_id) for s in picked]
    expected = detector.distance_many(X[rows])
    assert [s.scores["ood_distance"] for s in picked] == pytest.approx(
        [round(float(d), 6) for d in expected], abs=PRODUCT_ROUNDING + 1e-6)  # and its rounding
