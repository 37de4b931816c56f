"""Picks kept apart: picked_apart decides as the one-row test does, pick for pick and row for
row, on real texts (SST-2, int8 rows as the coordinator reads them), whether it skips none,
a few near-duplicates or most of them; ApartFromRows answers a few rows at a time as the
product of all of them does."""

import numpy as np
import pytest

from stream_al.embed.precision import round_trip_many
from stream_al.index.products import dot_rows
from stream_al.select.separation import ApartFromRows, picked_apart
from tests.drift.realdata import embedded


def one_row_at_a_time(X, order, k, taken, n_taken, min_separation):
    """The test as the reservoirs ran it before picked_apart: a product per candidate."""
    picked = []
    for i in order:
        if len(picked) == k:
            break
        m = n_taken + len(picked)
        if m and float((1.0 - taken[:m] @ X[i]).min()) < min_separation:
            continue
        taken[m] = X[i]
        picked.append(i)
    return picked


@pytest.fixture(scope="module")
def reviews():
    """600 SST-2 reviews, a tenth of them sent twice (a redelivered text), as int8 rows."""
    _, _, X = embedded("sst2", 600)
    X = np.concatenate([X, X[::10]])
    return round_trip_many(X, "int8")


def both(X, order, k, before, min_separation):
    capacity = len(before) + k
    mine, theirs = (np.empty((capacity, X.shape[1]), dtype=np.float32) for _ in range(2))
    mine[: len(before)] = theirs[: len(before)] = before
    picks = picked_apart(X, order, k, mine, len(before), min_separation)
    expected = one_row_at_a_time(X, order, k, theirs, len(before), min_separation)
    n = len(before) + len(expected)
    return picks, expected, np.array_equal(mine[:n], theirs[:n], equal_nan=True)


@pytest.mark.parametrize("min_separation", [0.0, 0.05, 0.2, 0.5, 0.8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_picks_what_the_one_row_test_picks(reviews, min_separation, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(reviews)).tolist()
    before = reviews[rng.choice(len(reviews), 40, replace=False)]
    for k in (1, 30, 200):
        picks, expected, same_rows = both(reviews, order, k, before, min_separation)
        assert picks == expected and same_rows


def test_a_text_sent_twice_is_picked_once(reviews):
    order = list(range(len(reviews)))  # the repeats come after their first copies
    picks, expected, _ = both(reviews, order, len(reviews), reviews[:0], 0.05)
    assert picks == expected
    assert not set(picks) & set(range(600, len(reviews)))  # every repeat skipped
    assert len(picks) < 600


def test_a_row_of_nans_is_left_to_the_one_row_test(reviews):
    X = reviews[:100].copy()
    X[7] = np.nan
    picks, expected, same_rows = both(X, list(range(100)), 50, X[:0], 0.05)
    assert picks == expected and same_rows and 7 in picks  # NaN is never "too close"


def whole_product(X, anchors, min_separation):
    """The test as the reservoir runs it on every candidate: one product of all rows."""
    return lambda: (1.0 - np.max([dot_rows(X, a, order_free=True).max(axis=1)
                                  for a in anchors], axis=0)) >= min_separation


@pytest.mark.parametrize("min_separation", [0.0, 0.05, 0.2, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_rows_asked_a_few_at_a_time_are_answered_as_the_whole_product_answers(
        reviews, min_separation, seed):
    rng = np.random.default_rng(seed)
    anchors = [reviews[:200], reviews[600:]]  # 200 purchases and the repeats (a ring's slices)
    X = reviews[rng.permutation(len(reviews))[:300]]  # some of them purchases again
    expected = whole_product(X, anchors, min_separation)()
    apart = ApartFromRows(X, anchors, min_separation, whole_product(X, anchors, min_separation))
    for rows in np.array_split(rng.permutation(len(X)), 7):
        assert apart.of(rows).tolist() == expected[rows].tolist()
    assert (~expected).any() and expected.any()


def test_the_whole_product_is_asked_only_for_a_row_too_close_to_call(reviews):
    X, anchors = reviews[:50], [reviews[100:400]]
    asked = []

    def counted(min_separation):
        def everywhere():
            asked.append(min_separation)
            return whole_product(X, anchors, min_separation)()
        return ApartFromRows(X, anchors, min_separation, everywhere)

    apart = counted(0.05)
    apart.of(np.arange(50))
    assert not asked and not apart.decided  # no review is within 1e-5 of the threshold
    edge = 1.0 - float(dot_rows(X[:1], anchors[0]).max()) + 1e-7  # row 0 on the threshold
    on_edge = counted(edge)
    assert on_edge.of(np.array([0])).tolist() == whole_product(X, anchors, edge)()[:1].tolist()
    assert asked == [edge] and on_edge.decided


def test_with_no_anchors_the_whole_product_answers(reviews):
    """No purchase yet: the reservoir's own test says what that means (distance 2: apart)."""
    from stream_al.select.balanced import RecentPurchases

    X, recent = reviews[:5], RecentPurchases()
    apart = ApartFromRows(X, recent.newest_rows(512), 0.05,
                          lambda: recent.nearest_distance_many(X, 512) >= 0.05)
    assert apart.of(np.arange(5)).all() and apart.decided
