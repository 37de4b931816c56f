"""The OOD check where candidates are scored (``scale.ood_at_scorers``, select/ood_check.py).

The scorers check the candidates they forward against the labelled rows the coordinator
publishes; the coordinator's OOD cap buys from the flags they forward and measures nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.config import ConfigError, OODSettings, Settings
from stream_al.loop.candidates import Forwarding
from stream_al.loop.records import ScoredTexts
from stream_al.select.ood_cap import OOD_REASON
from stream_al.select.ood_check import (
    OOD_DISTANCE,
    OOD_FLAG,
    UNCHECKED,
    ReferenceRows,
    ScorerCheck,
    forwarded,
)
from stream_al.simulate.drift_scenario import DriftScenario, ShiftStream
from tests.drift.realdata import embedded


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_each_labelled_row_takes_the_next_ring_slot_and_goes_out_once():
    ring = ReferenceRows(capacity=4)
    ring.add_many(np.eye(3, dtype=np.float32))
    slots, rows = ring.take_many()
    assert slots.tolist() == [0, 1, 2] and rows.shape == (3, 3)
    ring.add_many(np.eye(3, dtype=np.float32)[:2])
    ring.add_many(np.eye(3, dtype=np.float32)[2:])
    slots, rows = ring.take_many()
    assert slots.tolist() == [3, 0, 1]  # the ring wraps: slot = count mod capacity
    assert rows.tolist() == np.eye(3).tolist()
    assert len(ring.take_many()[0]) == 0 and ring.count == 6


def test_a_scorer_with_fewer_than_min_labels_rows_judges_nothing():
    rng = np.random.default_rng(0)
    check = ScorerCheck(OODSettings(min_labels=20))
    check.labelled_many(_unit(rng.normal(size=(19, 8))))
    scores = check.scores_many(_unit(rng.normal(size=(5, 8))))
    assert (scores[OOD_FLAG] == UNCHECKED).all()
    dist, flags, checked = forwarded(scores)
    assert not flags.any() and len(checked) == 0
    assert np.isfinite(dist).all()


def test_a_scorer_flags_what_is_far_from_its_labelled_rows_and_not_what_is_near():
    rng = np.random.default_rng(1)
    near = [4, 0, 0, 0, 0, 0, 0, 0]
    check = ScorerCheck(OODSettings(min_labels=20))
    check.labelled_many(_unit(rng.normal(size=(300, 8)) + near))
    check.scores_many(_unit(rng.normal(size=(200, 8)) + near))  # calibrates its threshold
    far = check.scores_many(_unit(rng.normal(size=(20, 8)) + [0, 0, 0, 0, 0, 0, 0, 4]))
    assert (far[OOD_FLAG] == 1.0).all()
    alike = check.scores_many(_unit(rng.normal(size=(200, 8)) + near))
    assert (alike[OOD_FLAG] != UNCHECKED).all()
    assert (alike[OOD_FLAG] == 1.0).mean() < 0.15  # about 1 - ood.quantile of its own stream
    assert alike[OOD_DISTANCE].max() < far[OOD_DISTANCE].min()


def _scored(X: np.ndarray, partition: int = 0) -> ScoredTexts:
    n = len(X)
    return ScoredTexts("b", [str(i) for i in range(n)], ["t"] * n, X,
                       {"margin": np.linspace(0, 1, n)}, 0, [partition] * n, list(range(n)))


def test_candidates_carry_their_ood_scores_only_with_the_setting():
    X = _unit(np.random.default_rng(2).normal(size=(400, 8)))
    for at_scorers in (False, True):
        s = Settings.load(scale={"preselect": True, "ood_at_scorers": at_scorers})
        out = Forwarding(s.scale, s.budget, s.selection, ood=s.ood).candidates_of(_scored(X))
        assert 0 < len(out.ids) < len(X)
        assert (OOD_FLAG in out.scores) is at_scorers
        assert (OOD_DISTANCE in out.scores) is at_scorers


@pytest.mark.parametrize("overrides, fix", [
    ({"scale": {"ood_at_scorers": True}}, "set scale.preselect true"),
    ({"scale": {"preselect": True, "ood_at_scorers": True}, "ood": {"sample": 0.5}},
     "set ood.sample to 1"),
])
def test_the_setting_refuses_what_it_cannot_honour_and_names_the_fix(overrides, fix):
    with pytest.raises(ConfigError, match=fix):
        Settings.load(**overrides)


def _news_then_banking(at_scorers: bool, lag: int = 0, scorers: int = 1,
                       ) -> tuple[DriftScenario, object]:
    """300 news texts (about 30 labelled), then 300 banking queries: through the loop with 4
    partitions pre-selecting. As in tests/stream/test_governance_kafka.py, every flag counts
    (``burst_confidence`` 0): on static vectors few banking queries are flagged."""
    news_texts, news_labels, news = embedded("ag_news", 300)
    bank_texts, bank_labels, bank = embedded("banking77", 300)
    X = np.vstack([news, bank])
    stream = ShiftStream(np.arange(600), 300, np.arange(300), np.arange(300))
    s = Settings.load(budget={"fraction": 0.1}, drift={"response_items": 0},
                      ood={"min_labels": 20, "max_share": 0.3, "cap_window_items": 300,
                           "burst_confidence": 0.0},
                      simulation={"partitions": 4, "reference_lag": lag, "scorers": scorers},
                      scale={"preselect": True, "ood_at_scorers": at_scorers})
    scenario = DriftScenario(news_labels + bank_labels, X, s, stream,
                             texts=news_texts + bank_texts)
    replay = scenario._replay("default", respond=False, ood=True)
    for start in range(0, 600, 50):
        replay.feed_many(np.arange(start, start + 50))
    return scenario, replay


@pytest.mark.parametrize("at_scorers", [False, True])
def test_a_new_domain_is_bought_as_ood_whether_the_coordinator_or_the_scorers_check(at_scorers):
    _, replay = _news_then_banking(at_scorers)
    ood = [p for p in replay.out.purchases if p.reason == OOD_REASON]
    assert ood and all(int(p.item_id) >= 300 for p in ood)  # banking queries only
    assert all(p.scores["ood_distance"] > 0 for p in ood)
    assert len(ood) <= 0.3 * 0.1 * (600 + 300)
    c = replay.c
    if at_scorers:  # the scorers hold the labelled rows, the coordinator none
        assert c.health.ood.n_labelled == 0
        # every row learned before the last chunk was scored (the last ones come with the next)
        assert 20 < replay.forwarding.ood.detector.n_labelled <= c.reference.count
        assert all(p.scores[OOD_FLAG] == 1.0 for p in ood)
        assert 0 < c.health.ood_ratio < 1  # the gauge counts the forwarded flags
    else:
        assert c.health.ood.n_labelled > 20 and c.reference is None


def test_rows_that_have_not_reached_the_scorers_flag_nothing():
    _, replay = _news_then_banking(True, lag=10**6)
    assert replay.forwarding.ood.detector is None or replay.forwarding.ood.detector.n_labelled == 0
    assert replay.c.reference.count > 20  # learned, still on the way
    assert not [p for p in replay.out.purchases if p.reason == OOD_REASON]


def test_one_scorer_holding_every_row_at_once_buys_exactly_what_the_coordinator_bought():
    # one scorer for the 4 partitions (the simulator's), float32 rows, no lag: the same
    # detector sees the same rows and candidates in the same order, only in another process
    _, central = _news_then_banking(False)
    _, scorers = _news_then_banking(True)
    assert ([(p.item_id, p.reason) for p in scorers.out.purchases]
            == [(p.item_id, p.reason) for p in central.out.purchases])
    assert [p.scores["ood_distance"] for p in scorers.out.purchases if p.reason == OOD_REASON] \
        == [p.scores["ood_distance"] for p in central.out.purchases if p.reason == OOD_REASON]


def test_a_scorer_without_a_graph_flags_what_the_coordinator_with_one_flagged():
    # beyond 2,048 rows the coordinator's first pass is an HNSW graph, the scorer's one exact
    # product: the graph's misses are measured exactly, so the flags are the same
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(40, 16)) * 3
    def draw(n: int) -> np.ndarray:
        return _unit(centres[rng.integers(40, size=n)] + rng.normal(size=(n, 16)))
    labelled, stream = draw(3000), [draw(300) for _ in range(4)]
    with_graph = ScorerCheck(OODSettings(), graph=True)
    exact = ScorerCheck(OODSettings())
    for check in (with_graph, exact):
        check.labelled_many(labelled)
    assert not with_graph.detector.index.exact and exact.detector.index.exact
    flagged = 0
    for X in stream:
        flags = exact.scores_many(X)[OOD_FLAG]
        assert (with_graph.scores_many(X)[OOD_FLAG] == flags).all()
        flagged += int((flags == 1.0).sum())
    assert 0 < flagged < 300  # about 1 - ood.quantile of the 1,200 (not a vacuous pass)


def test_rows_nobody_took_are_kept_only_as_far_as_the_ring_reaches():
    ring = ReferenceRows(capacity=4)
    for k in range(5):
        ring.add_many(np.full((3, 2), k, dtype=np.float32))
    slots, rows = ring.take_many()
    assert ring.count == 15 and len(rows) == 4
    assert slots.tolist() == [11 % 4, 12 % 4, 13 % 4, 14 % 4]  # the last four, in their slots
    assert rows[:, 0].tolist() == [3.0, 4.0, 4.0, 4.0]


def test_rows_go_out_with_their_numbers_and_a_rebuild_sends_its_whole_ring_again():
    ring = ReferenceRows(capacity=4)
    ring.add_many(np.eye(3, dtype=np.float32))
    numbers, _ = ring.take_numbered_many()
    assert numbers.tolist() == [0, 1, 2]
    rebuilt = ReferenceRows(capacity=4)  # after a restart: 7 rows learned, the last 4 kept
    rebuilt.restored_many(7, np.eye(4, dtype=np.float32) * 2)
    numbers, rows = rebuilt.take_numbered_many()
    assert numbers.tolist() == [3, 4, 5, 6] and rows.tolist() == (np.eye(4) * 2).tolist()
    rebuilt.add_many(np.ones((1, 4), dtype=np.float32))
    assert rebuilt.take_many()[0].tolist() == [3]  # number 7 goes on: slot 7 mod 4


def test_four_scorers_each_take_every_row_and_calibrate_on_their_own_candidates():
    _, replay = _news_then_banking(True, scorers=4)
    detectors = [f.ood.detector for f in replay.scorers]
    assert len({id(d) for d in detectors}) == 4
    assert len({d.n_labelled for d in detectors}) == 1  # every row reaches every scorer
    samples = [d.reference.distances[np.isfinite(d.reference.distances)] for d in detectors]
    assert all(len(x) for x in samples)  # each measured candidates of its own partition ...
    assert len({x.tobytes() for x in samples}) == 4  # ... and only those
    ood = [p for p in replay.out.purchases if p.reason == OOD_REASON]
    assert ood and all(int(p.item_id) >= 300 for p in ood)  # banking queries only
