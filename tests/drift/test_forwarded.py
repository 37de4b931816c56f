"""The embedding drift test where the candidates are scored (``scale.drift_at_scorers``,
stream_al/drift/forwarded.py).

Each scorer tests the candidates it forwards for embedding drift and forwards a summary with
each record; the coordinator raises the alarms of those summaries and explores the region they
carry. On a real shift (AG News: World and Sports, then Business and Sci/Tech emerge) through
the loop with 4 partitions pre-selecting.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stream_al.config import ConfigError, Settings
from stream_al.drift.forwarded import (
    DriftSummary,
    ForwardedAlarm,
    ForwardedDrift,
    ScorerDrift,
    among,
    joined,
)
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


def settings(at_scorers: bool, seed: int = 0) -> Settings:
    """10% budget, candidates x3: ~30% of the stream reaches the coordinator, so its windows
    (200 + 100 candidates) fill before the shift."""
    return Settings.load(budget={"fraction": 0.1}, selection={"seed": seed},
                         learner={"seed": seed, "committee_size": 2},
                         drift={"seed": seed, "max_credit": 20.0, "reference_items": 200,
                                "window_items": 100, "check_every": 25},
                         simulation={"label_delay": 100, "chunk_size": 50, "partitions": 4},
                         scale={"preselect": True, "drift_at_scorers": at_scorers})


def run(ag_news, at_scorers: bool, shifted: bool = True, seed: int = 0):
    """The default strategy with the drift response through the loop: the replay, and each
    alarm with the stream position after the chunk that raised it."""
    texts, labels, X = ag_news
    stream = (emerging_classes(labels, ["World", "Sports"], SHIFT_AT, LENGTH, seed=seed)
              if shifted else stationary(labels, LENGTH, seed=seed))
    replay = DriftScenario(labels, X, settings(at_scorers, seed), stream, texts=texts)._replay(
        "default", respond=True, ood=False)
    alarms = []
    for start in range(0, len(stream.order), 50):
        replay.feed_many(stream.order[start : start + 50])
        alarms += [(replay.position, a) for a in replay.c.take_alarms()]
    return replay, alarms


@pytest.fixture(scope="module")
def shifted(ag_news):
    return run(ag_news, False), run(ag_news, True)


def _embedding(alarms):
    return [(at, a.position, round(a.score, 9), round(a.threshold, 9))
            for at, a in alarms if a.detector == "embedding_mmd"]


def test_the_coordinator_raises_the_scorers_alarm_on_a_real_shift_and_none_before_it(shifted):
    _, (replay, alarms) = shifted
    assert not [a for at, a in alarms if at <= SHIFT_AT]
    embedding = _embedding(alarms)
    assert embedding, "the scorers' test saw no drift"
    assert embedding[0][0] <= SHIFT_AT + 600  # ~180 candidates after the shift at most
    assert isinstance(replay.c.health.monitor.embedding, ForwardedDrift)
    assert replay.out.reasons.get("drift_explore", 0) > 0  # the response explored the region


def test_with_candidates_an_alarm_is_at_the_stream_position_of_the_chunk_that_raised_it(shifted):
    # the monitor counts the ~30% of the stream it reads; the alarms it hands out say where in
    # the stream they were raised (what the worker's drift_alarm events carry)
    for _, alarms in shifted:
        assert alarms, "no alarm to place"
        for at, alarm in alarms:
            assert at - 50 <= alarm.position <= at, (alarm.detector, alarm.position, at)


def test_one_scorer_raises_exactly_the_alarms_the_coordinator_would_have(shifted):
    # the simulator's one scorer for the 4 partitions, float32 candidates: its test reads the
    # candidates the coordinator's read, in the same order
    (central, central_alarms), (replay, alarms) = shifted
    assert _embedding(alarms) == _embedding(central_alarms)
    assert [(at, a.detector, a.position) for at, a in alarms] == \
        [(at, a.detector, a.position) for at, a in central_alarms]
    assert [(p.item_id, p.reason) for p in replay.out.purchases] == \
        [(p.item_id, p.reason) for p in central.out.purchases]


def test_a_stationary_stream_raises_no_embedding_alarm_at_the_scorers(ag_news):
    for seed in (0, 1):
        _, alarms = run(ag_news, True, shifted=False, seed=seed)
        assert not _embedding(alarms)


def test_the_coordinator_keeps_no_embedding_windows_with_the_test_at_the_scorers():
    s = settings(True)
    from stream_al.drift.health import DataHealth
    health = DataHealth(s.drift, s.ood, 16, scale=s.scale)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 16)).astype(np.float32)
    assert health.on_batch(X, None) == []  # no summary: nothing tested here
    assert isinstance(health.monitor.embedding, ForwardedDrift)
    alarm = DriftSummary(0.5, (ForwardedAlarm(7, 0.5, 0.1),), X[:20, :8], X[20:30, :8], 2.0)
    raised = health.on_batch(X[:10], None, alarm)
    assert [(a.detector, a.position) for a in raised] == [("embedding_mmd", 500 + 7)]
    assert health.scores()["embedding_mmd"] == 0.5
    assert health.monitor.region is not None and health.monitor.region.projection is None


def test_a_region_is_read_through_the_scorers_projection():
    s = Settings.load(drift={"reference_items": 200, "window_items": 100, "check_every": 25})
    _, labels, X = embedded("ag_news", 2000)
    y = np.asarray(labels)
    before, after = X[np.isin(y, ["World", "Sports"])], X[np.isin(y, ["Business", "Sci/Tech"])]
    scorer, coordinator = ScorerDrift(s.drift), ForwardedDrift(s.drift, X.shape[1])
    summaries = [scorer.observe_many(before[:600]), scorer.observe_many(after[:300])]
    assert not summaries[0].alarms and summaries[1].alarms
    assert summaries[1].reference.shape[1] == s.drift.project < X.shape[1]  # projected rows
    coordinator.take(summaries[1], 0, 300)
    region = coordinator.region
    np.testing.assert_array_equal(region.projection, scorer.test._projection)
    w = region.weight_many(np.vstack([before[-200:], after[-200:]]))
    assert w[200:].mean() > w[:200].mean() + 0.1  # the new topics' side weighs more


def test_summaries_of_records_taken_together_keep_each_alarm_at_its_candidate():
    a = DriftSummary(0.1)
    b = DriftSummary(0.3, (ForwardedAlarm(2, 0.3, 0.2),), np.ones((3, 2), np.float32),
                     np.zeros((2, 2), np.float32), 1.5)
    c = DriftSummary(math.nan)
    one = joined([a, b, c, None], [4, 5, 6, 1])
    assert one.alarms == (ForwardedAlarm(6, 0.3, 0.2),) and one.score == 0.3
    assert one.region is not None and one.sigma2 == 1.5
    assert joined([None, None], [1, 2]) is None
    # of the candidates the coordinator reads (those not bought before), the alarm's or the next
    assert among(one, np.array([0, 3, 7, 9])).alarms[0].index == 2


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


def test_a_summary_crosses_the_wire_with_its_alarms_and_region():
    scored = _record(True)
    region = (np.arange(12, dtype=np.float32).reshape(4, 3), np.ones((2, 3), np.float32), 0.7)
    summary = DriftSummary(0.25, (ForwardedAlarm(3, 0.25, 0.125),), *region)
    back = conversion.scored_texts(parse(CONTROL, _wire(
        ScoredTexts(**{**scored.__dict__, "drift": summary})))).drift
    assert back.score == 0.25 and back.alarms == summary.alarms and back.sigma2 == 0.7
    np.testing.assert_array_equal(back.reference, region[0])
    np.testing.assert_array_equal(back.recent, region[1])
    first = conversion.scored_texts(parse(CONTROL, _wire(scored))).drift
    assert first is not None and math.isnan(first.score)  # 120-odd candidates: not tested yet


def test_merged_records_carry_their_summaries_joined():
    one = _record(True)
    two = ScoredTexts(**{**one.__dict__, "batch_id": "b1",
                         "drift": DriftSummary(0.2, (ForwardedAlarm(1, 0.2, 0.1),))})
    merged = concatenated([one, two])
    assert merged.drift.alarms == (ForwardedAlarm(len(one.ids) + 1, 0.2, 0.1),)


def test_the_setting_needs_preselect_and_names_the_fix():
    with pytest.raises(ConfigError, match="set scale.preselect true"):
        Settings.load(scale={"drift_at_scorers": True})


def test_with_several_scorers_each_tests_its_own_partitions_candidates(ag_news):
    texts, labels, X = ag_news
    s = settings(True).model_copy(update={"simulation": settings(True).simulation.model_copy(
        update={"scorers": 2})})
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, LENGTH, seed=0)
    replay = DriftScenario(labels, X, s, stream, texts=texts)._replay("default", True, False)
    for start in range(0, 1000, 50):
        replay.feed_many(stream.order[start : start + 50])
    tested = [f.drift.test for f in replay.scorers]
    assert len(tested) == 2 and tested[0] is not tested[1]
    assert all(t._pool_n or t.ready for t in tested)  # each read candidates of its own


def test_more_scorers_than_partitions_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="at most simulation.partitions"):
        Settings.load(simulation={"partitions": 2, "scorers": 4})
