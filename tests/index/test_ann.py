"""The bounded ANN index refuses vectors of another width (hnswlib would abort the process)."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.index.ann import BoundedIndex


def test_vectors_of_another_width_are_refused_with_a_message_naming_the_fix():
    index = BoundedIndex(dim=4, capacity=10)
    index.add_many(np.eye(4, dtype=np.float32))

    for call in (index.add_many, index.query_many, index.nearest_distance_many):
        with pytest.raises(ValueError, match="embedder that built the index"):
            call(np.ones((2, 3), dtype=np.float32))

    assert len(index) == 4
    assert index.nearest_distance_many(np.eye(4, dtype=np.float32)) == pytest.approx(0.0, abs=1e-6)
