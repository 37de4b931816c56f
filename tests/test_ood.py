"""Out-of-distribution: texts unlike anything labelled are flagged, and cannot eat the budget."""

import numpy as np
import pytest

from stream_al.config import OODSettings
from stream_al.learn import ModelSnapshot
from stream_al.ood import OODDetector
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select import Budget, RandomSelector
from stream_al.select.ood_cap import OOD_REASON, OODSelector
from tests.drift.realdata import embedded


@pytest.fixture(scope="module")
def texts():
    """Labelled: Banking77 customer queries. Other datasets: AG News and SST-2 sentences."""
    _, _, bank = embedded("banking77", 1000)
    _, _, ag = embedded("ag_news", 400)
    _, _, sst = embedded("sst2", 400)
    return {"labelled": bank[:500], "held_out": bank[500:], "ag_news": ag, "sst2": sst}


@pytest.fixture(scope="module")
def detector(texts):
    d = OODDetector(texts["labelled"].shape[1])
    d.add_labelled_many(texts["labelled"])
    return d


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


def test_the_threshold_is_the_quantile_of_leave_one_out_distances(texts, detector):
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


def test_memory_is_capped(texts):
    d = OODDetector(texts["labelled"].shape[1], OODSettings(capacity=100))
    for start in range(0, 500, 50):
        d.add_labelled_many(texts["labelled"][start : start + 50])
    assert d.n_labelled == 100 and len(d._loo) == 100


def stream_with_garbage(texts, share):
    """Held-out Banking77 queries with AG News texts mixed in at ``share`` (shuffled, seed 0)."""
    n_other = int(len(texts["held_out"]) * share / (1 - share))
    X = np.vstack([texts["held_out"], texts["ag_news"][:n_other]])
    return X[np.random.default_rng(0).permutation(len(X))]


@pytest.mark.parametrize("max_share", [0.1, 0.3])
def test_ood_items_get_their_own_reason_and_at_most_their_share_of_the_budget(texts, detector,
                                                                               max_share):
    X = stream_with_garbage(texts, share=0.4)
    fraction = 0.1
    selector = OODSelector(RandomSelector(fraction, seed=0), detector, fraction, max_share)
    budget = Budget(fraction)
    chosen = []
    for start in range(0, len(X), 25):
        rows = np.arange(start, min(start + 25, len(X)))
        scores = score_many(ModelSnapshot.empty(X.shape[1]), X[rows])
        batch = ScoredBatch([str(r) for r in rows], X[rows], scores)
        budget.observe(len(batch))
        chosen += selector.select_many(batch, budget)
    ood = [s for s in chosen if s.reason == OOD_REASON]
    assert ood, "40% of the stream is another dataset: some of it should be bought as OOD"
    assert len(ood) >= 0.8 * max_share * fraction * len(X) - 1  # ... up to its cap
    assert len(ood) <= max_share * fraction * len(X) + 1e-9
    assert budget.spent <= fraction * len(X) + 1e-9
    assert all(s.scores["ood_distance"] > detector.threshold for s in ood)
    assert 0.2 < detector.recent_ratio < 0.7  # the gauge sees the garbage


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
