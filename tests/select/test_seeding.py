"""k-means++ seeding picks the seeds scikit-learn's k-means++ picks, from one distance product."""

import numpy as np
import pytest
from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus

from stream_al.select.seeding import kmeans_plusplus


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_the_seeds_are_scikit_learns(seed, k):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(5, 24))[rng.integers(0, 5, 120)] + rng.normal(size=(120, 24)))
    X = X.astype(np.float32)
    centres, chosen = kmeans_plusplus(X, k, seed)
    expected_centres, expected = sklearn_kmeans_plusplus(X, k, random_state=seed)
    assert chosen.tolist() == expected.tolist()
    np.testing.assert_array_equal(centres, expected_centres)


def test_more_seeds_than_rows_is_refused():
    with pytest.raises(ValueError, match="0 < k <= 3"):
        kmeans_plusplus(np.zeros((3, 2), dtype=np.float32), 4)
