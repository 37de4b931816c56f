"""Picks kept apart: picked_apart decides as the one-row test does, pick for pick and row for
row, on real texts (SST-2, int8 rows as the coordinator reads them), whether it skips none,
a few near-duplicates or most of them."""

import numpy as np
import pytest

from stream_al.embed.precision import round_trip_many
from stream_al.select.separation import picked_apart
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
