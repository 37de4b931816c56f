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


def test_a_stronger_penalty_is_not_read_as_uncertainty_drift_but_a_weaker_one_keeps_the_test():
    # the learner's search for l2 chose a 100x stronger penalty: the same stream's margins
    # shift up at once (AG News, 50 labels: block means 0.3 -> 0.55); that is not drift
    settings = Settings.load(drift={"uncertainty_block": 25, "uncertainty_warmup_blocks": 10})
    X = np.zeros((25, 4), dtype=np.float32)
    low = np.random.default_rng(0).uniform(0.2, 0.4, (20, 25))
    high = np.random.default_rng(1).uniform(0.45, 0.65, (20, 25))

    def alarms(before: float, after: float) -> list[str]:
        health = DataHealth(settings.drift, settings.ood, 4)
        for u in low:
            health.on_batch(X, u)
        health.on_refit(before, after)
        return [a.detector for u in high for a in health.on_batch(X, u)]

    assert "mean_uncertainty" not in alarms(0.001, 0.1)
    assert "mean_uncertainty" in alarms(0.1, 0.001)  # sharper model, same rise: still drift
    assert "mean_uncertainty" in alarms(0.1, 0.1)


def test_with_the_ood_check_at_the_scorers_the_health_keeps_no_labelled_rows():
    settings = Settings.load(ood={"min_labels": 20}, scale={"preselect": True,
                                                           "ood_at_scorers": True})
    embedder = make_embedder(EmbedderSettings(name="static"))
    X = embedder.embed([t for t, _ in rows("ag_news", 100)])
    here = DataHealth(settings.drift, settings.ood, embedder.dim)
    there = DataHealth(settings.drift, settings.ood, embedder.dim, scale=settings.scale)
    for health in (here, there):
        health.on_labels(X, [True] * len(X))
    assert here.ood.n_labelled == len(X) and there.ood.n_labelled == 0
