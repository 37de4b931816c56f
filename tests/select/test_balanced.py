"""Coverage first, then class-balanced margin: the cold model's labels cover the space, a rare
predicted class is asked for first, and nothing is bought twice in effect."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import Settings
from stream_al.learn import ModelSnapshot
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select.balanced import CoverThenBalance, RecentPurchases
from stream_al.select.class_balance import balancing_quotas
from stream_al.select.coverage import farthest_first
from stream_al.select.stage import SelectionStage

DIM = 16


def blobs(n: int, share: list[float], seed: int, start: int = 0) -> tuple[ScoredBatch, np.ndarray]:
    """``n`` unit vectors around one centre per share (the same centres for every seed)."""
    centres = np.random.default_rng(99).normal(size=(len(share), DIM)) * 4
    rng = np.random.default_rng(seed)
    which = rng.choice(len(share), size=n, p=share)
    X = centres[which] + rng.normal(size=(n, DIM))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return ScoredBatch([f"item-{start + i}" for i in range(n)], X), which


def stage_for(fraction: float = 0.05, **selection) -> SelectionStage:
    settings = Settings.load(budget={"fraction": fraction},
                             selection={"batch_interval": 100, **selection})
    return SelectionStage(settings.selection, settings.budget, DIM, "balanced")


def feed(stage: SelectionStage, batch: ScoredBatch) -> list:
    batch.scores = score_many(stage.snapshot, batch.X)
    return stage.select_many(batch)


def test_a_cold_model_spends_its_first_labels_on_every_region_of_the_space():
    stage = stage_for()
    bought = []
    for s in range(10):
        batch, which = blobs(100, [0.55, 0.3, 0.1, 0.05], seed=s, start=100 * s)
        ids = {sel.item_id for sel in feed(stage, batch)}
        bought += [w for item, w in zip(batch.ids, which, strict=True) if item in ids]
    assert isinstance(stage.selector, CoverThenBalance) and not stage.selector.trusted()
    assert set(bought[:12]) == {0, 1, 2, 3}  # even the 5% region, within a dozen labels


def test_once_trusted_the_rarest_predicted_class_is_asked_for_first():
    batch, which = blobs(2000, [0.9, 0.1], seed=0)
    stage = stage_for(fraction=0.05)
    centre = np.stack([batch.X[which == c].mean(axis=0) for c in (0, 1)])
    stage.set_model(ModelSnapshot(1, ("common", "rare"), (centre * 10).astype(np.float32),
                                  np.zeros(2, dtype=np.float32)))
    stage.selector.recent.add_many(batch.X[which == 0][:40])  # 40 bought so far, all common
    bought = []
    for s in range(1, 6):
        batch_s, which_s = blobs(200, [0.9, 0.1], seed=s, start=1000 * s)
        ids = {sel.item_id for sel in feed(stage, batch_s)}
        bought += [w for item, w in zip(batch_s.ids, which_s, strict=True) if item in ids]
    assert stage.selector.trusted()
    assert np.mean(bought) >= 0.5  # the rare class: 10% of the stream, half the labels or more


def test_a_near_duplicate_of_an_item_whose_label_is_in_flight_is_not_bought():
    stage = stage_for(fraction=0.2)
    batch, _ = blobs(100, [0.5, 0.5], seed=0)
    first = feed(stage, batch)
    assert first
    copies = ScoredBatch([f"copy-{i}" for i in range(100)], np.repeat(
        np.stack([s.embedding for s in first]), 100 // len(first) + 1, axis=0)[:100])
    assert feed(stage, copies) + stage.flush() == []


def test_farthest_first_picks_the_point_farthest_from_everything_bought():
    X = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], dtype=np.float32)
    assert farthest_first(X, np.ones(4), anchors=X[:1], n=2) == [3, 2]


def test_farthest_first_prefers_typical_points_over_outliers_at_equal_distance():
    X = np.array([[0, 1], [0, -1]], dtype=np.float32)
    assert farthest_first(X, np.array([0.2, 1.0]), anchors=np.array([[1.0, 0.0]]), n=1) == [1]


@pytest.mark.parametrize(("bought", "available", "expected"), [
    ([10, 1, 0], [5, 5, 1], [0, 3, 1]),
    ([0, 0], [9, 9], [2, 2]),
    ([3, 0], [9, 0], [4, 0]),  # a class without candidates gets nothing; the rest goes on
    ([0, 0, 0], [1, 1, 0], [1, 1, 0]),  # never more than the candidates
])
def test_balancing_quotas_give_each_label_to_the_class_with_fewest(bought, available, expected):
    n = 4
    assert balancing_quotas(n, np.array(bought), np.array(available)).tolist() == expected


def quotas_one_pass_per_label(n: int, bought: np.ndarray, available: np.ndarray) -> np.ndarray:
    """The rule read literally: for each label, a pass over every class."""
    quota = np.zeros(len(available), dtype=np.int64)
    for _ in range(min(n, int(available.sum()))):
        total = np.where(quota < available, bought + quota, np.iinfo(np.int64).max)
        quota[int(np.argmin(total))] += 1
    return quota


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.lists(st.tuples(st.integers(0, 30), st.integers(0, 12)),
                                    min_size=1, max_size=80))
def test_balancing_quotas_are_the_rule_applied_label_by_label(n, classes):
    bought = np.array([b for b, _ in classes], dtype=np.int64)
    available = np.array([a for _, a in classes], dtype=np.int64)
    assert np.array_equal(balancing_quotas(n, bought, available),
                          quotas_one_pass_per_label(n, bought, available))


def test_behind_the_cost_aware_wrapper_the_model_is_still_trusted_once_it_knows_the_classes():
    from stream_al.select.cost_aware import CostAware
    from stream_al.select.factory import make_selector

    stage = stage_for()
    batch, which = blobs(400, [0.5, 0.5], seed=0)
    centre = np.stack([batch.X[which == c].mean(axis=0) for c in (0, 1)])
    stage.set_model(ModelSnapshot(1, ("a", "b"), centre, np.zeros(2, dtype=np.float32)))
    aware = CostAware.of(lambda r: make_selector("balanced", stage.selection,
                                                 stage.budget_settings, r), stage)
    aware.inner.recent.add_many(batch.X[:10])
    assert aware.inner.trusted()


def test_a_label_is_bought_as_soon_as_the_budget_affords_one():
    stage = stage_for(fraction=0.01, batch_interval=1000)  # 1 label per 100 items
    bought = []
    for s in range(11):
        batch, _ = blobs(10, [0.5, 0.5], seed=s, start=10 * s)
        bought += feed(stage, batch)
    assert len(bought) == 1  # at item 100, not once a batch of two labels is affordable


def two_class_model_and_boundary() -> tuple[ModelSnapshot, np.ndarray, np.ndarray]:
    """A confident two-class model, its class-0 centre, and two items on its boundary that
    are far apart (the model's least confident items)."""
    rng = np.random.default_rng(5)
    basis, _ = np.linalg.qr(rng.normal(size=(DIM, 3)))
    c0, c1, e = basis.T.astype(np.float32)
    mid = (c0 + c1) / np.linalg.norm(c0 + c1)
    boundary = np.stack([mid + 0.5 * e, mid - 0.5 * e])
    boundary /= np.linalg.norm(boundary, axis=1, keepdims=True)
    model = ModelSnapshot(1, ("a", "b"), np.stack([c0, c1]) * 10,
                          np.array([1e-3, 0.0], dtype=np.float32))
    return model, c0, boundary.astype(np.float32)


def test_a_candidate_not_bought_stays_a_candidate_for_the_next_label():
    stage = stage_for(fraction=0.05, batch_interval=1000)
    model, c0, boundary = two_class_model_and_boundary()
    stage.set_model(model)
    rng = np.random.default_rng(0)

    def near_c0(n: int, start: int) -> ScoredBatch:
        X = c0 + 0.05 * rng.normal(size=(n, DIM))
        X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
        return ScoredBatch([f"item-{start + i}" for i in range(n)], X)

    stage.selector.recent.add_many(near_c0(40, 10_000).X)  # trusted: 40 bought, all class a
    first = near_c0(18, 0)
    first = ScoredBatch(first.ids + ["edge-1", "edge-2"], np.vstack([first.X, boundary]))
    assert [s.item_id for s in feed(stage, first)] in (["edge-1"], ["edge-2"])
    second = [s.item_id for s in feed(stage, near_c0(20, 100))]
    assert second and second[0] in ("edge-1", "edge-2")  # the other edge, kept from before


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.lists(st.integers(1, 9), min_size=0, max_size=8),
       st.integers(0, 14), st.integers(0, 1000))
def test_the_distance_to_the_newest_purchases_is_the_brute_force_one(capacity, adds, newest, seed):
    rng = np.random.default_rng(seed)
    recent, bought = RecentPurchases(capacity), []
    for n in adds:
        X = rng.normal(size=(n, 6)).astype(np.float32)
        recent.add_many(X)
        bought += list(X)
    queries = rng.normal(size=(5, 6)).astype(np.float32)
    kept = bought[-min(newest, capacity):] if newest else []
    expected = (1.0 - (queries @ np.array(kept).T).max(axis=1) if kept
                else np.full(5, 2.0, dtype=np.float32))
    np.testing.assert_allclose(recent.nearest_distance_many(queries, newest), expected, rtol=1e-5,
                               atol=1e-5)
    everything = bought[-capacity:]
    np.testing.assert_allclose(recent.nearest_distance_many(queries),
                               1.0 - (queries @ np.array(everything).T).max(axis=1)
                               if everything else np.full(5, 2.0), rtol=1e-5, atol=1e-5)


def test_with_explore_one_every_trusted_label_is_a_uniform_draw_among_the_candidates():
    reasons, picked = [], []
    for seed in (0, 1):
        stage = stage_for(fraction=0.05, explore=1.0, seed=seed)
        batch, which = blobs(400, [0.5, 0.5], seed=0)
        centre = np.stack([batch.X[which == c].mean(axis=0) for c in (0, 1)])
        stage.set_model(ModelSnapshot(1, ("a", "b"), (centre * 10).astype(np.float32),
                                      np.zeros(2, dtype=np.float32)))
        stage.selector.recent.add_many(batch.X[:10])  # trusted
        chosen = [feed(stage, blobs(40, [0.5, 0.5], seed=s, start=100 * s)[0]) for s in range(1, 6)]
        reasons += [c.reason for cs in chosen for c in cs]
        picked.append([c.item_id for cs in chosen for c in cs])
    assert reasons and set(reasons) == {"explore"}
    assert picked[0] != picked[1]  # the draw follows the selection seed


def test_without_quotas_the_most_informative_candidate_is_bought_whatever_its_class():
    model, c0, boundary = two_class_model_and_boundary()
    c1 = model.weights[1] / 10
    rng = np.random.default_rng(0)
    X = np.vstack([c0 + 0.05 * rng.normal(size=(9, DIM)), c1 + 0.05 * rng.normal(size=(9, DIM))])
    X = np.vstack([X / np.linalg.norm(X, axis=1, keepdims=True), boundary]).astype(np.float32)
    ids = [f"a-{i}" for i in range(9)] + [f"b-{i}" for i in range(9)] + ["edge-1", "edge-2"]
    bought = {}
    for quotas in (True, False):
        stage = stage_for(fraction=0.05, batch_interval=1000, quotas=quotas)
        stage.set_model(model)
        stage.selector.recent.add_many(X[:9])  # trusted: 9 bought, all predicted class a
        bought[quotas] = [s.item_id for s in feed(stage, ScoredBatch(list(ids), X.copy()))]
    assert bought[True][0].startswith("b-")  # the quota: class b, bought least so far
    assert bought[False] in (["edge-1"], ["edge-2"])  # no quota: the least confident item


def trusted_on_reviews(seed: int) -> tuple[SelectionStage, list[ScoredBatch]]:
    """A trusted balanced stage on SST-2 reviews (int8 rows as the coordinator reads them):
    a model from the class centres of 200 labelled reviews, 300 reviews bought, and batches
    of 200 candidates of which a tenth are reviews bought before (near-duplicates)."""
    from stream_al.embed.precision import round_trip_many
    from tests.drift.realdata import embedded

    _, labels, X = embedded("sst2", 1500)
    X = round_trip_many(X, "int8")
    y = np.array([label == labels[0] for label in labels[:200]])
    centre = np.stack([X[:200][~y].mean(axis=0), X[:200][y].mean(axis=0)])
    settings = Settings.load(budget={"fraction": 0.05}, selection={"seed": seed})
    stage = SelectionStage(settings.selection, settings.budget, X.shape[1], "balanced")
    stage.set_model(ModelSnapshot(1, ("a", "b"), (centre * 10).astype(np.float32),
                                  np.zeros(2, dtype=np.float32)))
    stage.selector.recent.add_many(X[200:500])
    rng = np.random.default_rng(seed)
    batches = []
    for b in range(5):
        rows = np.concatenate([np.arange(500 + 200 * b, 680 + 200 * b),
                               rng.choice(np.arange(200, 500), 20, replace=False)])
        batches.append(ScoredBatch([f"r{b}-{i}" for i in range(len(rows))], X[rows]))
    return stage, batches


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trusted_it_buys_what_deciding_every_candidates_separation_buys(seed, monkeypatch):
    """Trusted, a class's picks read the separation of its leading candidates only; the
    purchases are those of the candidates apart from the recent purchases, every one decided
    first (the way taken when the leading candidates cannot decide)."""
    def bought(stage, batches):
        assert stage.selector.trusted()
        return [[(s.item_id, s.reason) for s in feed(stage, b)] for b in batches]

    lazily = bought(*trusted_on_reviews(seed))
    balanced = CoverThenBalance._balanced
    monkeypatch.setattr(CoverThenBalance, "_balanced", lambda self, X, priority, n, rows, apart:
                        balanced(self, X, priority, n, rows, apart) if apart.decided else None)
    assert lazily == bought(*trusted_on_reviews(seed))
    assert sum(map(len, lazily)) >= 20


def test_trusted_a_near_duplicate_of_an_item_whose_label_is_in_flight_is_not_bought():
    stage, batches = trusted_on_reviews(0)
    first = feed(stage, batches[0])
    assert stage.selector.trusted() and first
    copies = ScoredBatch([f"copy-{i}" for i in range(len(first))],
                         np.stack([s.embedding for s in first]))
    mixed = ScoredBatch(copies.ids + batches[1].ids, np.vstack([copies.X, batches[1].X]))
    again = {s.item_id for s in feed(stage, mixed)}
    assert again and not again & set(copies.ids)
