"""The l2 search's state survives a rebuild: a learner reset to a snapshot (a restart's last
published model, a rollback's) keeps the penalty its models were fitted at and the search
schedule it had, so its first refit runs no search in place and its next search is due at the
labels it would have been due at without the rebuild, and runs apart."""

import dataclasses
import io

import numpy as np
import orjson
import pytest

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.learn.regularisation import DEFAULT_GRID, run_search
from stream_al.learn.snapshot import ModelSnapshot, SearchState

N = 270
"""Labels before the rebuild, 10 at a time: the first search at 10 (in the refit), then one
apart each time the labels grew 1.5 times (asked at 20, 30, 50, 80, 120, 180, 270)."""


def learner_of(X, **settings) -> OnlineLearner:
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2, **settings))
    learner.searches_apart = True  # as the Kafka worker's
    return learner


def taught(X, labels, n: int = N, step: int = 10, **settings) -> OnlineLearner:
    """A learner that learned the first ``n`` labels ``step`` at a time, each search answered
    as the worker's search process answers it."""
    learner = learner_of(X, **settings)
    for start in range(0, n, step):
        learner.learn_many(X[start:start + step], list(labels[start:start + step]))
        answer(learner)
    return learner


def answer(learner: OnlineLearner) -> None:
    """Run the search the learner asked for, if any, and apply it (a new version)."""
    task = learner.take_search()
    if task is not None:
        learner.searched(task, run_search(task))
        learner.fit()


def rebuilt(X, labels, snapshot: ModelSnapshot, n: int = N, **settings) -> OnlineLearner:
    """A fresh learner reset to ``snapshot`` read back from its bytes (as from ``models``)
    with the first ``n`` labels, as a rebuild makes it."""
    learner = learner_of(X, **settings)
    learner.reset_to(ModelSnapshot.from_bytes(snapshot.to_bytes()), X[:n], list(labels[:n]),
                     version=snapshot.version + 1)
    return learner


def schedule(learner: OnlineLearner, X, labels, start: int, stop: int) -> list[int]:
    """The labels at each search while ``learner`` learns rows ``start:stop`` 10 at a time."""
    at = []
    for i in range(start, stop, 10):
        learner.learn_many(X[i:i + 10], list(labels[i:i + 10]))
        if learner.main.search.pending is not None:
            at.append(len(learner.main.search.pending.y))
        answer(learner)
    return at


@pytest.fixture(scope="module")
def ag_news(real_slice):
    X, labels = real_slice("ag_news", 1000)
    return X, labels, taught(X, labels)


def test_a_snapshot_holds_the_search_state_of_its_fit(ag_news):
    X, labels, learner = ag_news
    search = learner.main.search
    assert learner.snapshot().search == SearchState(learner.main.l2, search.searched_at, None)
    assert search.searched_at == N and search.l2 == learner.main.l2


def test_a_rebuilt_learner_has_the_penalty_and_schedule_it_had(ag_news):
    X, labels, learner = ag_news
    other = rebuilt(X, labels, learner.snapshot())
    assert other.main.l2 == learner.main.l2 != other.settings.l2_prior
    assert {m.l2 for m in other.committee} == {learner.main.l2}
    assert other.main.search.searched_at == learner.main.search.searched_at == N
    k = len(learner.classes)
    due = [n for n in range(N, 2 * N) if other.main.search.due(n, k)]
    assert due[0] == int(N * other.settings.cv_growth)  # not at once: at 1.5 x the last search
    assert due == [n for n in range(N, 2 * N) if learner.main.search.due(n, k)]


def test_after_a_rebuild_the_searches_come_at_the_labels_they_would_have_come_at(ag_news):
    X, labels, learner = ag_news
    without = taught(X, labels)  # the same learner, no rebuild
    other = rebuilt(X, labels, learner.snapshot())
    expected = schedule(without, X, labels, N, 1000)
    assert expected == [410, 620, 930]  # 1.5 x 270 = 405, up to the next batch of 10, ...
    assert schedule(other, X, labels, N, 1000) == expected


def test_the_first_refit_after_a_rebuild_runs_no_search_in_place(ag_news):
    X, labels, learner = ag_news
    other = rebuilt(X, labels, learner.snapshot())
    version = other.version
    other.learn_many(X[N:N + 10], list(labels[N:N + 10]))
    assert other.version == version + 1
    assert other.main.search.searched_at == N and other.main.search.pending is None
    assert other.main.l2 == learner.main.l2
    other.learn_many(X[N + 10:410], list(labels[N + 10:410]))  # due: asked for, apart
    task = other.take_search()
    assert task is not None and len(task.y) == 410
    assert other.main.search.searched_at == N and other.main.l2 == learner.main.l2


def test_a_snapshot_written_before_the_search_state_was_kept_resets_as_before(ag_news):
    """An older record (no ``search`` in its header): the prior, and the first refit searches
    in place, on every label in the memory."""
    X, labels, learner = ag_news
    old = dataclasses.replace(learner.snapshot(), search=None)
    other = rebuilt(X, labels, old)
    assert other.main.l2 == other.settings.l2_prior
    assert other.main.search.searched_at == 0
    other.learn_many(X[N:N + 10], list(labels[N:N + 10]))
    assert other.main.search.searched_at == N + 10  # in the refit, not asked for apart
    assert other.take_search() is None


@pytest.mark.parametrize("settings, state", [
    ({}, SearchState(0.5, N)),  # not a value of the grid
    ({}, SearchState(2e-3, 0)),  # the prior of a learner configured otherwise
    ({"served_rule": "nll", "cv_rule": "best"}, SearchState(1.0, N)),  # no served choice
])
def test_a_state_the_learners_search_cannot_have_is_ignored_and_the_first_refit_searches(
        ag_news, settings, state):
    X, labels, learner = ag_news
    snapshot = dataclasses.replace(learner.snapshot(), search=state)
    other = rebuilt(X, labels, snapshot, **settings)
    assert other.main.search.searched_at == 0 and other.main.l2 == other.settings.l2_prior
    assert other.snapshot().fingerprint() == snapshot.fingerprint()  # the weights are restored
    other.learn_many(X[N:N + 10], list(labels[N:N + 10]))
    assert other.main.search.searched_at == N + 10


def test_a_learner_with_a_fixed_l2_ignores_the_search_state_and_writes_none(ag_news):
    X, labels, learner = ag_news
    other = rebuilt(X, labels, learner.snapshot(), l2=0.1)
    assert other.main.l2 == 0.1 and other.main.search is None
    assert other.snapshot().search is None


@pytest.mark.parametrize("state, why", [
    (SearchState(0.0, N), "search state's l2 must be finite and > 0, got 0.0"),
    (SearchState(-1.0, N), "finite and > 0"),
    (SearchState(float("nan"), N), "finite and > 0"),
    (SearchState(1.0, N, float("inf")), "served_l2 must be finite and > 0, got inf"),
    (SearchState(1.0, -1), "last search is at -1 labels"),
    (SearchState(1.0, N + 1), f"last search is at {N + 1} labels, the model learned {N}"),
])
def test_a_learner_refuses_a_malformed_search_state_and_stays_as_it_was(ag_news, state, why):
    X, labels, learner = ag_news
    bad = dataclasses.replace(learner.snapshot(), search=state)
    other = taught(X, labels, n=100)
    before = (other.version, other.snapshot().fingerprint(), other.n_labels, other.main.l2,
              other.main.search.searched_at)
    with pytest.raises(ValueError, match=why):
        other.reset_to(bad, X[:N], list(labels[:N]), version=9)
    assert (other.version, other.snapshot().fingerprint(), other.n_labels, other.main.l2,
            other.main.search.searched_at) == before


def test_the_served_rules_choice_survives_with_the_served_head(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels, served_rule="nll", cv_rule="best")
    search = learner.main.search
    assert learner.snapshot().search == SearchState(search.l2, N, search.served_l2)
    other = rebuilt(X, labels, learner.snapshot(), served_rule="nll", cv_rule="best")
    assert (other.main.search.l2, other.main.search.served_l2) == (search.l2, search.served_l2)
    other.learn_many(X[N:N + 10], list(labels[N:N + 10]))  # the served head refits at its choice
    assert other.main.search.searched_at == N
    assert other.served.l2 == learner.served.l2


def test_a_rollback_to_an_earlier_snapshot_takes_its_schedule(ag_news):
    """Reset to a model of fewer labels (a rollback), the learner searches again when those
    labels have grown, not when the later ones would have."""
    X, labels, learner = ag_news
    earlier = taught(X, labels, n=100).snapshot()  # its last search at 80 labels
    other = taught(X, labels)
    other.reset_to(earlier, X[:100], list(labels[:100]), version=other.version + 1)
    assert other.main.search.searched_at == 80
    assert other.main.l2 == earlier.search.l2
    assert schedule(other, X, labels, 100, 200) == [120, 180]


# ---- the search state in a snapshot's bytes ----------------------------------------------------
def header_of(data: bytes) -> dict:
    with np.load(io.BytesIO(data)) as z:
        return orjson.loads(z["header"].tobytes())


def with_header(data: bytes, **changes) -> bytes:
    """``data`` (a snapshot's bytes) with its header's keys changed (None: removed)."""
    with np.load(io.BytesIO(data)) as z:
        arrays = {name: z[name] for name in z.files if name != "header"}
    header = {k: v for k, v in {**header_of(data), **changes}.items() if v is not None}
    buf = io.BytesIO()
    np.savez_compressed(buf, header=np.frombuffer(orjson.dumps(header), dtype=np.uint8), **arrays)
    return buf.getvalue()


def test_the_search_state_goes_through_a_snapshots_bytes_and_back(ag_news):
    _, _, learner = ag_news
    snapshot = learner.snapshot()
    assert header_of(snapshot.to_bytes())["search"] == {"l2": learner.main.l2, "searched_at": N}
    back = ModelSnapshot.from_bytes(snapshot.to_bytes())
    assert back.search == snapshot.search
    assert back.fingerprint() == snapshot.fingerprint()


def test_a_record_without_the_search_state_loads_with_none(ag_news):
    _, _, learner = ag_news
    old = with_header(learner.snapshot().to_bytes(), search=None)
    assert ModelSnapshot.from_bytes(old).search is None
    assert ModelSnapshot.from_bytes(old).fingerprint() == learner.snapshot().fingerprint()


def test_the_search_state_adds_only_its_header_key(ag_news):
    """The arrays are those of before, and a reader of before reads the header keys it knows
    (it ignores ``search``)."""
    _, _, learner = ag_news
    snapshot = learner.snapshot()
    data, old = snapshot.to_bytes(), dataclasses.replace(snapshot, search=None).to_bytes()
    with np.load(io.BytesIO(data)) as z, np.load(io.BytesIO(old)) as z0:
        assert z.files == z0.files
        assert all(np.array_equal(z[f], z0[f]) for f in z.files if f != "header")
    assert {k: v for k, v in header_of(data).items() if k != "search"} == header_of(old)
    assert 0 < len(data) - len(old) <= 48


@pytest.mark.parametrize("search, why", [
    ({"l2": 1.0}, "not .*searched_at"),
    ([1.0, N], "not .*searched_at"),
    ({"l2": None, "searched_at": N}, "search state has l2 None, not a number"),  # NaN: null
    ({"l2": "1.0", "searched_at": N}, "not a number"),
    ({"l2": 1.0, "searched_at": 3.5}, "searched_at 3.5, not a whole number"),
    ({"l2": 1.0, "searched_at": True}, "not a whole number"),
    ({"l2": 1.0, "searched_at": N, "served_l2": None}, "served_l2 None, not a number"),
])
def test_a_search_state_that_is_not_numbers_does_not_load(ag_news, search, why):
    _, _, learner = ag_news
    with pytest.raises(ValueError, match=why):
        ModelSnapshot.from_bytes(with_header(learner.snapshot().to_bytes(), search=search))


def test_every_grid_value_and_the_prior_can_be_resumed():
    from stream_al.learn.regularisation import L2Search

    search = L2Search()
    assert all(search.resumable(SearchState(v, 10)) for v in (*DEFAULT_GRID, 1e-3))
    assert not search.resumable(SearchState(0.2, 10))
    assert L2Search(prior=2e-3).resumable(SearchState(2e-3, 0))


def test_a_learner_rebuilt_from_the_verdicts_continues_the_penalty_and_schedule(ag_news):
    """One changed verdict rebuilds the learner from its labels (loop/annotating.py): it fits
    at the penalty it had, with no search in place, and searches when it would have."""
    X, labels, learner = ag_news
    fresh = learner_of(X)
    fresh.adopt_penalty(learner, N)
    fresh.learn_many(X[:N], list(labels[:N]))
    assert fresh.main.search.scores == {}  # no search ran: none in place, none asked for
    assert fresh.main.search.pending is None and fresh.main.search.searched_at == N
    assert fresh.main.l2 == learner.main.l2 and {m.l2 for m in fresh.committee} == {fresh.main.l2}
    assert schedule(fresh, X, labels, N, 1000) == [410, 620, 930]
    unschooled = learner_of(X)
    unschooled.adopt_penalty(learner_of(X), N)  # nothing searched yet: nothing to continue
    unschooled.learn_many(X[:N], list(labels[:N]))
    assert unschooled.main.search.scores  # searched in place, as before
    fixed = learner_of(X, l2=1.0)
    fixed.adopt_penalty(learner, N)
    assert fixed.main.search is None and fixed.main.l2 == 1.0
