"""DataHealth: one object feeding the drift detectors and the OOD signal from a live stream."""

import numpy as np

from stream_al.config import EmbedderSettings, Settings
from stream_al.drift.health import DataHealth
from stream_al.embed import make_embedder
from tests.data import rows


def test_a_real_shift_raises_an_alarm_and_a_stationary_stream_does_not():
    settings = Settings.load(drift={"reference_items": 200, "window_items": 100,
                                    "check_every": 50, "permutations": 200})
    embedder = make_embedder(EmbedderSettings(name="static"))
    sports = [t for t, y in rows("ag_news", 3000) if y == "Sports"][:500]
    world = [t for t, y in rows("ag_news", 3000) if y == "World"][:300]
    health = DataHealth(settings.drift, settings.ood, embedder.dim)
    X = embedder.embed(sports)
    quiet = sum(len(health.on_batch(X[i : i + 50], None)) for i in range(0, 500, 50))
    assert quiet == 0
    Y = embedder.embed(world)
    alarms = [a for i in range(0, 300, 50) for a in health.on_batch(Y[i : i + 50], None)]
    assert alarms and alarms[0].detector == "embedding_mmd"
    assert health.alarm_count == len(alarms)
    assert set(health.scores()) == {"embedding_mmd", "mean_uncertainty", "prequential_error"}


def test_ood_ratio_is_unknown_until_enough_labels_then_a_share():
    settings = Settings.load(ood={"min_labels": 20})
    embedder = make_embedder(EmbedderSettings(name="static"))
    texts = [t for t, _ in rows("ag_news", 200)]
    health = DataHealth(settings.drift, settings.ood, embedder.dim)
    assert np.isnan(health.ood_ratio)
    X = embedder.embed(texts)
    health.on_labels(X[:100], [True] * 100)
    health.on_batch(X[100:], None)
    assert 0.0 <= health.ood_ratio <= 1.0
