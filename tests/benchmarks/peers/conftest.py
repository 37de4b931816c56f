"""A real slice of AG News, embedded by the static embedder (built once per machine, cached)."""

import pytest

from benchmarks.peers.harness import Stream
from stream_al.config import Settings
from stream_al.dataset import LabeledTexts
from stream_al.embed import make_embedder
from tests.data import rows


@pytest.fixture(scope="package")
def ag_news():
    data = rows("ag_news", 1200)
    texts, labels = [t for t, _ in data], [y for _, y in data]
    X = make_embedder(Settings.load(embedder={"name": "static"}).embedder).embed(texts)
    return LabeledTexts(texts, labels), X


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
