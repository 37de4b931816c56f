"""A selector's picks as columns are the picks as objects: the same selections, bit for bit,
whatever is joined, relabelled, completed or kept of them (real SST-2 rows, static embedder)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.learn.online import OnlineLearner
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select.base import Selection, selection_of
from stream_al.select.selections import Selections, selections_of
from tests.data import static_slice

N = 300


@pytest.fixture(scope="module")
def batch() -> ScoredBatch:
    """Real rows scored by a model that learned 60 of them (float32 scores, as the
    coordinator's), with a price per row and a float64 column of annotators asked for."""
    data, X = static_slice("sst2", N)
    learner = OnlineLearner(X.shape[1])
    learner.learn_many(X[:60], data.labels[:60])
    scores = {k: np.asarray(v, dtype=np.float32)
              for k, v in score_many(learner.snapshot(), X).items()}
    lengths = np.array([len(t) for t in data.texts], dtype=np.float32)
    scores["annotators"] = 1.0 + (lengths > np.median(lengths)).astype(np.float64)
    return ScoredBatch([f"sst2-{i}" for i in range(N)], X, scores,
                       costs=(lengths / lengths.mean()).astype(np.float32))


def as_objects(batch: ScoredBatch, rows: list[int], strategy: str, reason: str,
               priorities: list[float], groups: list[int]) -> list[Selection]:
    return [selection_of(batch, i, strategy, reason, p, g)
            for i, p, g in zip(rows, priorities, groups, strict=True)]


def same(picks: Selections, objects: list[Selection]) -> None:
    """Equal as selections (scores included, bit for bit) and with the same embeddings."""
    assert picks == objects and len(picks) == len(objects)
    for s, o in zip(picks, objects, strict=True):
        assert [type(v) for v in s.scores.values()] == [type(v) for v in o.scores.values()]
        assert list(s.scores) == list(o.scores)  # in the same order
        if o.embedding is None:
            assert s.embedding is None
        else:
            assert s.embedding is not None and np.array_equal(s.embedding, o.embedding)


picks_of = st.lists(st.tuples(st.integers(0, N - 1), st.floats(-2, 2, allow_nan=False),
                              st.integers(0, 63)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(picks_of)
def test_picks_as_columns_are_the_selections_each_row_would_make(batch, picks):
    rows, priorities, groups = ([list(c) for c in zip(*picks, strict=True)] if picks
                                else ([], [], []))
    columns = selections_of(batch, rows, "balanced", "coverage", priorities, groups)
    objects = as_objects(batch, rows, "balanced", "coverage", priorities, groups)
    same(columns, objects)
    same(Selections.of(objects), objects)  # and back: objects to columns
    assert columns.item_ids == [o.item_id for o in objects]
    assert columns.costs == [o.cost for o in objects]


@settings(max_examples=60, deadline=None)
@given(picks_of, picks_of, st.integers(0, 4), st.data())
def test_joined_relabelled_completed_and_kept_picks_are_those_of_the_objects(
        batch, a, b, bare, data):
    """Picks of two batches (the second without novelty, as a reservoir's held rows), one
    relabelled as a wrapper's own draws, then objects without an embedding (a selector that
    returns a list): joined, given novelty where they lack it (the stage), and some kept
    (what is bought) — as lists of objects would be."""
    lacking = ScoredBatch(batch.ids, batch.X, {k: v for k, v in batch.scores.items()
                                               if k != "novelty"}, costs=batch.costs)
    with_novelty = ScoredBatch(batch.ids, batch.X, {**batch.scores, "novelty": np.linspace(
        0, 1, N, dtype=np.float32)}, costs=batch.costs)
    parts, objects = [], []
    for source, picks, relabel in ((with_novelty, a, True), (lacking, b, False)):
        rows, priorities, groups = ([list(c) for c in zip(*picks, strict=True)] if picks
                                    else ([], [], []))
        columns = selections_of(source, rows, "balanced", "balanced", priorities, groups)
        these = as_objects(source, rows, "balanced", "balanced", priorities, groups)
        if relabel:
            columns = columns.relabelled("validation", "validation")
            these = [replace(s, strategy="validation", reason="validation") for s in these]
        parts.append(columns)
        objects += these
    unembedded = [Selection(f"bare-{k}", "peer", "peer", 0.5, scores={"margin": 0.25 * k})
                  for k in range(bare)]
    parts.append(unembedded)
    objects += [replace(s, scores=dict(s.scores)) for s in unembedded]
    joined = Selections.joined(parts)
    same(joined, objects)

    with_vector = [k for k, s in enumerate(objects) if s.embedding is not None]
    assert joined.embedded_rows() == with_vector
    novelty = [round(0.001 * k, 6) for k in range(len(with_vector))]
    if joined.scores.lacks("novelty"):
        joined.set_default_score("novelty", with_vector, novelty)
        for k, value in zip(with_vector, novelty, strict=True):
            objects[k].scores.setdefault("novelty", value)
    same(joined, objects)

    kept = sorted(data.draw(st.sets(st.integers(0, max(0, len(objects) - 1)))
                            if objects else st.just(set())))
    same(joined.subset(kept), [objects[k] for k in kept])
