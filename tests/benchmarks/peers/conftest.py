"""A real slice of AG News, embedded by the static embedder (built once per machine, cached)."""

import pytest

from benchmarks.peers.harness import Stream
from stream_al.config import Settings
from tests.data import static_slice


@pytest.fixture(scope="package")
def ag_news():
    return static_slice("ag_news", 1200)


@pytest.fixture(scope="package")
def stream(ag_news):
    data, X = ag_news
    return Stream.of(X, data.labels, test_size=300, seed=3)


@pytest.fixture(scope="package")
def settings():
    return Settings.load(budget={"fraction": 0.05},
                         simulation={"test_size": 300, "label_delay": 20, "checkpoints": 5,
                                     "seed": 3},
                         learner={"committee_size": 2, "max_iter": 30})
