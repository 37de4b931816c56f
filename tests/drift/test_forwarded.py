"""The embedding drift test of the whole stream from the scorers' feature sums
(``scale.drift_at_scorers``, stream_al/drift/forwarded.py).

Each scorer sums the random Fourier features of the candidates it forwards, per block, and
forwards the sums with each record; the coordinator tests the whole stream from them and
explores the region it makes from its own candidates. On a real shift (AG News: World and
Sports, then Business and Sci/Tech emerge) through the loop with 4 partitions pre-selecting.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from stream_al.config import ConfigError, Settings
from stream_al.drift.forwarded import (
    DriftSummary,
    ForwardedDrift,
    ScorerDrift,
    among,
    joined,
)
from stream_al.drift.fourier import FourierFeatures
from stream_al.loop.merging import concatenated
from stream_al.loop.records import ScoredTexts
from stream_al.simulate.drift_scenario import DriftScenario, emerging_classes, stationary
from stream_al.stream import conversion
from stream_al.stream.envelope import is_envelope, open_envelope
from stream_al.stream.messages import CONTROL, ScoredBatchRecord, parse
from tests.drift.realdata import embedded

SHIFT_AT, LENGTH = 2000, 3500


@pytest.fixture(scope="module")
def ag_news():
    texts, labels, X = embedded("ag_news", 7600)
    return texts, labels, X


def settings(at_scorers: bool, seed: int = 0, scorers: int = 1) -> Settings:
    """10% budget, candidates x3: ~30% of the stream reaches the coordinator, so its windows
    (200 + 100 candidates) fill before the shift."""
    return Settings.load(budget={"fraction": 0.1}, selection={"seed": seed},
                         learner={"seed": seed, "committee_size": 2},
                         drift={"seed": seed, "max_credit": 20.0, "reference_items": 200,
                                "window_items": 100, "check_every": 25},
                         simulation={"label_delay": 100, "chunk_size": 50, "partitions": 4,
                                     "scorers": scorers},
                         scale={"preselect": True, "drift_at_scorers": at_scorers})


def run(ag_news, at_scorers: bool, shifted: bool = True, seed: int = 0, scorers: int = 1):
    """The default strategy with the drift response through the loop: the replay, and each
    alarm with the stream position after the chunk that raised it."""
    texts, labels, X = ag_news
    stream = (emerging_classes(labels, ["World", "Sports"], SHIFT_AT, LENGTH, seed=seed)
              if shifted else stationary(labels, LENGTH, seed=seed))
    replay = DriftScenario(labels, X, settings(at_scorers, seed, scorers), stream,
                           texts=texts)._replay("default", respond=True, ood=False)
    alarms = []
    for start in range(0, len(stream.order), 50):
        replay.feed_many(stream.order[start : start + 50])
        alarms += [(replay.position, a) for a in replay.c.take_alarms()]
    return replay, alarms


@pytest.fixture(scope="module")
def shifted(ag_news):
    """The coordinator's own test, and the test of the sums with one and with four scorers."""
    return run(ag_news, False), run(ag_news, True), run(ag_news, True, scorers=4)


def _embedding(alarms):
    return [(at, a.position, round(a.score, 9), round(a.threshold, 9))
            for at, a in alarms if a.detector == "embedding_mmd"]


def test_the_coordinator_alarms_from_the_scorers_sums_on_a_real_shift_and_none_before_it(
        shifted):
    _, (replay, alarms), _ = shifted
    assert not [a for at, a in alarms if at <= SHIFT_AT]
    embedding = _embedding(alarms)
    assert embedding, "the test of the scorers' sums saw no drift"
    assert embedding[0][0] <= SHIFT_AT + 600  # ~180 candidates after the shift at most
    assert isinstance(replay.c.health.monitor.embedding, ForwardedDrift)
    assert replay.out.reasons.get("drift_explore", 0) > 0  # the response explored the region


def test_it_alarms_as_early_as_the_coordinators_own_test(shifted):
    (_, central), (_, alarms), _ = shifted
    assert _embedding(alarms)[0][0] <= _embedding(central)[0][0] + 100  # two chunks at most


def test_four_scorers_raise_exactly_the_alarms_one_would(shifted):
    # one test of the whole stream: each record's blocks are the same whichever scorer sums
    # them, and the coordinator reads them in the same order (windows in candidates of the
    # whole stream, not of one scorer)
    _, (one, alarms), (four, alarms4) = shifted
    assert len(four.scorers) == 4
    assert [(at, a.detector, a.position) for at, a in alarms4] == \
        [(at, a.detector, a.position) for at, a in alarms]
    assert [(p.item_id, p.reason) for p in four.out.purchases] == \
        [(p.item_id, p.reason) for p in one.out.purchases]


def test_with_candidates_an_alarm_is_at_the_stream_position_of_the_chunk_that_raised_it(shifted):
    # the monitor counts the ~30% of the stream it reads; the alarms it hands out say where in
    # the stream they were raised (what the worker's drift_alarm events carry)
    for _, alarms in shifted:
        assert alarms, "no alarm to place"
        for at, alarm in alarms:
            assert at - 50 <= alarm.position <= at, (alarm.detector, alarm.position, at)


def test_a_stationary_stream_raises_no_embedding_alarm_from_the_sums(ag_news):
    for seed in (0, 1):
        _, alarms = run(ag_news, True, shifted=False, seed=seed, scorers=2)
        assert not _embedding(alarms)


def test_the_threshold_holds_on_a_long_exchangeable_stream():
    # 20,000 news embeddings drawn at random, in records of 30 (3 blocks each): ~390 tests at
    # alpha 1e-4 with patience 2, so an alarm would be a calibration gone wrong
    s = Settings.load(drift={"seed": 3}).drift
    _, _, X = embedded("ag_news", 7600)
    X = X[np.random.default_rng(1).integers(0, len(X), 20_000)]
    scorer, coordinator = ScorerDrift(s), ForwardedDrift(s, X.shape[1])
    alarms = [a for i in range(0, len(X), 30)
              for a in coordinator.take(scorer.observe_many(X[i : i + 30]), i, X[i : i + 30])]
    assert coordinator.ready and not alarms
    assert 0 < coordinator.score < coordinator.threshold


def test_a_scorer_sums_even_blocks_of_at_most_block_items_candidates():
    s = Settings.load(drift={"block_items": 10, "features": 32}).drift
    _, _, X = embedded("ag_news", 400)
    summary = ScorerDrift(s).observe_many(X[:23])
    assert summary.counts.tolist() == [7, 8, 8] and summary.ends.tolist() == [7, 15, 23]
    F = FourierFeatures(32, "rbf", s.seed, s.project).many(X[:23])
    np.testing.assert_allclose(summary.sums[1], F[7:15].sum(axis=0), atol=2e-3)  # float16
    assert len(ScorerDrift(s).observe_many(X[:0])) == 0


def test_the_coordinator_tests_nothing_without_the_scorers_sums():
    s = settings(True)
    from stream_al.drift.health import DataHealth
    health = DataHealth(s.drift, s.ood, 16, scale=s.scale)
    X = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
    assert health.on_batch(X, None) == []
    assert isinstance(health.monitor.embedding, ForwardedDrift)
    assert not health.monitor.embedding.ready and health.scores()["embedding_mmd"] == 0.0


def test_sums_of_another_feature_count_are_refused_at_their_own_record():
    """A scorer with other drift settings: its record fails by itself (and is dead-lettered by
    the worker), not a later record when the pool it joined is calibrated."""
    _, _, X = embedded("ag_news", 400)
    coordinator = ForwardedDrift(Settings.load(drift={"features": 32}).drift, X.shape[1])
    other = ScorerDrift(Settings.load(drift={"features": 16}).drift).observe_many(X[:50])
    with pytest.raises(ValueError, match="16 features, but this coordinator's test reads 32"):
        coordinator.take(other, 0, X[:50])
    same = ScorerDrift(Settings.load(drift={"features": 32}).drift).observe_many(X[:50])
    assert coordinator.take(same, 0, X[:50]) == []


def test_the_region_is_the_tests_witness_scaled_on_the_coordinators_own_candidates():
    s = Settings.load(drift={"reference_items": 200, "window_items": 100, "check_every": 25})
    _, labels, X = embedded("ag_news", 2000)
    y = np.asarray(labels)
    before, after = X[np.isin(y, ["World", "Sports"])], X[np.isin(y, ["Business", "Sci/Tech"])]
    scorer, coordinator = ScorerDrift(s.drift), ForwardedDrift(s.drift, X.shape[1])
    stream = np.vstack([before[:600], after[:300]])
    alarms = [a for i in range(0, len(stream), 25) for a in coordinator.take(
        scorer.observe_many(stream[i : i + 25]), i, stream[i : i + 25])]
    assert alarms and 600 <= alarms[0].position < 700
    region = coordinator.region
    assert region.features is coordinator.features and region.shift.shape == (128,)
    w = region.weight_many(np.vstack([before[-200:], after[-200:]]))
    assert w.min() >= 0 and w.max() <= 1
    assert w[200:].mean() > w[:200].mean() + 0.1  # the new topics' side weighs more


def test_summaries_of_records_taken_together_keep_each_block_at_its_candidates():
    def blocks(*ends):
        return DriftSummary(np.ones((len(ends), 2), np.float32), np.ones(len(ends), np.int64),
                            np.asarray(ends, np.int64))
    one = joined([blocks(2, 4), None, blocks(3)], [4, 5, 6])
    assert one.ends.tolist() == [2, 4, 12] and one.counts.tolist() == [1, 1, 1]
    assert joined([None, None], [1, 2]) is None
    # of the candidates the coordinator reads (those not bought before): the block ends after
    # the last of them it holds
    assert among(one, np.array([0, 3, 7, 9, 11])).ends.tolist() == [1, 2, 5]


def _record(at_scorers: bool) -> ScoredTexts:
    s = settings(at_scorers)
    from stream_al.loop.candidates import Forwarding
    _, _, X = embedded("ag_news", 400)
    forwarding = Forwarding(s.scale, s.budget, s.selection, drift=s.drift)
    n = len(X)
    return forwarding.candidates_of(ScoredTexts(
        "b0", [str(i) for i in range(n)], ["a text"] * n, X,
        {"margin": np.linspace(0, 1, n)}, 1, [0] * n, list(range(n))))


def _wire(scored: ScoredTexts) -> bytes:
    return ScoredBatchRecord.of(
        scored.batch_id, scored.ids, scored.texts, scored.X, scored.scores,
        scored.model_version, np.ones(len(scored.ids)), 0.0,
        list(zip(scored.partitions, scored.offsets, strict=True)), precision="int8",
        weights=scored.weights, spans=[tuple(x) for x in map(
            lambda s: (s.partition, s.first, s.last, s.count), scored.spans)],
        envelope="deflated", drift=scored.drift).to_bytes()


def test_with_the_setting_off_records_carry_no_summary_and_read_as_before():
    scored = _record(False)
    assert scored.drift is None
    raw = _wire(scored)
    meta = open_envelope(raw)[0] if is_envelope(raw) else json.loads(raw)
    assert "drift" not in meta  # the record's bytes are those before the setting
    assert conversion.scored_texts(parse(CONTROL, raw)).drift is None




def test_a_summary_crosses_the_wire_as_float16_sums_of_a_few_bytes_per_candidate():
    scored = _record(True)
    summary = scored.drift
    assert summary is not None and summary.counts.sum() == len(scored.ids)
    back = conversion.scored_texts(parse(CONTROL, _wire(scored))).drift
    np.testing.assert_array_equal(back.sums, summary.sums)  # the scorer sent float16 already
    assert back.counts.tolist() == summary.counts.tolist()
    assert back.ends.tolist() == summary.ends.tolist()
    without = len(_wire(_record(False)))
    assert (len(_wire(scored)) - without) / len(scored.ids) < 40  # 128 float16 per 10, deflated


def test_merged_records_carry_their_summaries_joined():
    one = _record(True)
    two = ScoredTexts(**{**one.__dict__, "batch_id": "b1"})
    merged = concatenated([one, two])
    assert merged.drift.ends.tolist() == one.drift.ends.tolist() + (
        one.drift.ends + len(one.ids)).tolist()


def test_the_setting_needs_preselect_and_names_the_fix():
    with pytest.raises(ConfigError, match="set scale.preselect true"):
        Settings.load(scale={"drift_at_scorers": True})



def test_more_scorers_than_partitions_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="at most simulation.partitions"):
        Settings.load(simulation={"partitions": 2, "scorers": 4})
