"""Labels cost annotator time: a cost model by length, learned from timings; budgets in labels,
minutes or money; a cost-aware selector buys more accuracy per minute."""

import numpy as np
import pytest

from stream_al.config import EmbedderSettings, Settings
from stream_al.dataset import LabeledTexts
from stream_al.embed import make_embedder
from stream_al.score.batch import ScoredBatch
from stream_al.select import Budget, BudgetError, DiverseReservoir, RandomSelector
from stream_al.select.cost import (
    BucketCostModel,
    CostBudget,
    CostSettings,
    LengthCostModel,
    LinearCostModel,
    durations_from_labels,
    lengths_of,
    make_cost_model,
)
from stream_al.select.cost_aware import CostAware
from stream_al.simulate.annotators import (
    ReadingTime,
    SimulatedAnnotator,
    crowd_labels,
    run_under_budget,
)
from stream_al.simulate.simulator import Simulation
from tests.data import rows
from tests.select.conftest import ColdModel, make_batch

TRUE_TIME = ReadingTime(base_seconds=4.0, chars_per_second=15.0, noise=0.3)


@pytest.fixture(scope="module")
def banking77_lengths():
    return lengths_of([t for t, _ in rows("banking77", 13083)])


# ---- cost models ---------------------------------------------------------------------------------
def test_the_fixed_model_grows_with_length_and_task():
    model = LengthCostModel(CostSettings(base_seconds=5, seconds_per_char=0.05,
                                         task_factor={"intent": 2.0}))
    assert model.seconds_many(np.array([0, 100])).tolist() == [5.0, 10.0]
    assert model.seconds_many(np.array([100]), task="intent").tolist() == [20.0]


def test_the_linear_model_learns_true_reading_speed_from_real_lengths(banking77_lengths):
    wrong_prior = CostSettings(base_seconds=12.0, seconds_per_char=0.01, learn="linear")
    model = make_cost_model(wrong_prior)
    assert isinstance(model, LinearCostModel)
    chars = banking77_lengths[:2000]
    seconds = TRUE_TIME.seconds_many(chars, np.random.default_rng(0))
    before = np.abs(model.seconds_many(chars) - TRUE_TIME.seconds_many(chars)).mean()
    for start in range(0, len(chars), 50):  # as labels come back, 50 at a time
        model.observe_many(chars[start : start + 50], seconds[start : start + 50])
    base, per_char = model.coefficients()
    after = np.abs(model.seconds_many(chars) - TRUE_TIME.seconds_many(chars)).mean()
    assert base == pytest.approx(4.0, abs=0.6)
    assert per_char == pytest.approx(1 / 15, rel=0.1)
    assert after < before / 5


def test_the_bucket_model_learns_a_running_mean_per_length_bucket(banking77_lengths):
    model = BucketCostModel(CostSettings(base_seconds=12.0, seconds_per_char=0.01,
                                         bucket_edges=[40, 80, 160]))
    chars = banking77_lengths[:3000]
    model.observe_many(chars, TRUE_TIME.seconds_many(chars, np.random.default_rng(1)))
    probe = np.array([30.0, 60.0, 120.0])
    expected = TRUE_TIME.seconds_many(probe)
    assert np.abs(model.seconds_many(probe) - expected).max() < 1.5
    assert np.all(np.diff(model.seconds_many(probe)) > 0)


def test_outliers_and_clock_errors_do_not_wreck_the_estimate():
    model = LinearCostModel(CostSettings(max_seconds=120))
    chars = np.full(100, 200.0)
    seconds = np.full(100, 17.0)
    seconds[:5] = [3600, 7200, -4, 0, np.nan]  # a lunch break, a meeting, clock skew
    model.observe_many(chars, seconds)
    assert model.seconds_many(np.array([200.0]))[0] < 30


def test_item_durations_are_read_from_one_annotators_consecutive_labels(banking77_lengths):
    pool = [SimulatedAnnotator("a"), SimulatedAnnotator("b")]
    chars = banking77_lengths[:40]
    ids = [f"b-{i}" for i in range(40)]
    truth = ["x"] * 40
    labels = crowd_labels(pool, ids, truth, ["x", "y"], 1, np.random.default_rng(0), chars,
                          ReadingTime(noise=0.0))
    durations = durations_from_labels(labels)
    assert len(durations) == 38  # each annotator's first label has no start
    for item, seconds in durations.items():
        assert seconds == pytest.approx(ReadingTime().seconds_many(chars[ids.index(item)]))
    assert durations_from_labels(labels, max_gap_s=1.0) == {}


# ---- budgets in labels, minutes and money --------------------------------------------------------
def test_a_minutes_budget_allows_that_many_minutes():
    s = CostSettings(unit="minutes", amount=30, period_items=1000, base_seconds=6,
                     seconds_per_char=0.06, reference_chars=200)
    budget = CostBudget(s, make_cost_model(s))
    budget.observe(1000)
    assert budget.allowance_units == pytest.approx(30)
    costs = budget.cost_many(np.array([200.0, 400.0]))
    assert costs.tolist() == pytest.approx([1.0, 30 / 18])  # 18 s typical, 30 s long
    bought = 0
    while budget.can_spend(float(costs[1])):
        budget.spend(float(costs[1]))
        bought += 1
    assert bought == 60  # 30 minutes of 30-second labels
    assert budget.spent_units == pytest.approx(30)


def test_money_prices_time_at_the_hourly_rate_plus_a_fee():
    s = CostSettings(unit="money", amount=1.0, period_items=10, base_seconds=60,
                     seconds_per_char=0.0, hourly_rate=30.0, fee_per_label=0.1)
    budget = CostBudget(s, make_cost_model(s))
    assert budget.unit_cost_many(np.array([50.0])).tolist() == pytest.approx([0.6])
    assert budget.unit_cost_many(np.array([50.0]), annotators=3).tolist() == pytest.approx([1.8])


def test_labels_per_period_resets_each_period_without_carry_over():
    s = CostSettings(unit="labels", amount=10, period_items=100, carry_over=False)
    budget = CostBudget(s, make_cost_model(s))
    budget.observe(100)
    budget.observe(50)
    assert budget.allowance_units == pytest.approx(5)  # half a period into the second


def test_a_budget_above_one_typical_label_per_item_names_the_fix():
    s = CostSettings(unit="minutes", amount=5, period_items=1)
    with pytest.raises(BudgetError, match="lower cost.amount"):
        CostBudget(s, make_cost_model(s))


def test_task_factor_must_be_positive():
    with pytest.raises(ValueError, match="task_factor"):
        CostSettings(task_factor={"ner": 0})


# ---- cost-aware selection ------------------------------------------------------------------------
def test_cost_aware_prefers_cheap_items_of_equal_informativeness():
    batch = make_batch(200, seed=3)
    batch.scores["margin"] = np.full(200, 0.5, dtype=np.float32)
    batch.costs = np.where(np.arange(200) % 2 == 0, 0.5, 2.0).astype(np.float32)
    rescaled = CostAware(RandomSelector(0.1))._rescaled(batch)
    assert rescaled.scores["margin"][0] == pytest.approx(4 * rescaled.scores["margin"][1])
    assert rescaled.scores["margin"].max() <= 1.0


def test_cost_aware_reservoir_rescores_with_cost_and_stays_in_budget():
    def run(aware: bool):
        make = lambda r: DiverseReservoir(r, "margin", max_clusters=4, size=16,  # noqa: E731
                                          batch_interval=100, seed=0)
        selector = CostAware.of(make, ColdModel()) if aware else make(ColdModel())
        budget, chosen = Budget(0.05), []
        for s in range(10):
            batch = make_batch(100, seed=s, start=100 * s)
            batch.costs = np.where(np.arange(100) % 2 == 0, 0.5, 2.0).astype(np.float32)
            budget.observe(100)
            chosen += selector.select_many(batch, budget)
            assert budget.spent <= 0.05 * budget.seen + 1e-9
        return chosen

    plain, aware = run(False), run(True)
    assert np.mean([s.cost for s in aware]) < 0.75 < np.mean([s.cost for s in plain])
    assert len(aware) > len(plain)
    assert all("cost_factor" in s.scores for s in aware)


def test_cost_aware_without_a_rescorer_says_how_to_build_it():
    with pytest.raises(ValueError, match="CostAware.of"):
        CostAware(RandomSelector(0.1)).informativeness_many(np.zeros((1, 4), dtype=np.float32))


def test_cost_aware_buys_more_accuracy_per_minute_on_banking77():
    """Same minute budget, same stream, same true reading times: the diverse selector wrapped in
    CostAware buys more labels and ends more accurate, by 3 points over three seeds and on no
    seed behind by 2 (the simulator's coordinator, which learns the reading times from the
    labels' timestamps). A run is chaotic in its last bits: seed 1's gain came out at -0.5,
    +2.5 and +5.7 points in three processes (BLAS kernels, what ran before), so the bound per
    seed is loose and the mean carries the claim."""
    data = rows("banking77", 13083)
    texts = [t for t, _ in data]
    corpus = LabeledTexts(texts, [lab for _, lab in data])
    X = make_embedder(EmbedderSettings(name="static")).embed(texts)
    chars = lengths_of(texts)
    ref = float(np.median(chars))
    typical_minutes = TRUE_TIME.seconds_many(np.array([ref]))[0] / 60
    gains, extra_labels = [], []
    for seed in (0, 1, 2):
        true_seconds = TRUE_TIME.seconds_many(chars, np.random.default_rng(seed))
        runs = []
        for aware in (False, True):
            settings = Settings.load(
                selection={"seed": seed, "batch_interval": 200},
                learner={"seed": seed, "committee_size": 2, "max_iter": 30},
                simulation={"test_size": 2000, "seed": seed, "label_delay": 50,
                            "chunk_size": 50, "checkpoints": 10},
                cost={"unit": "minutes", "amount": 0.03 * typical_minutes, "period_items": 1,
                      "reference_chars": int(ref), "learn": "linear",  # prior: 6 s + 0.06 s/char
                      "aware": aware},
                # a deployment that knows its 77 intents lists them: the class cap (25 new
                # classes an hour, 3,600 items here) would refuse the labels of the others
                kafka={"label_classes": corpus.classes})
            runs.append(run_under_budget(Simulation(corpus, X, settings), "diverse",
                                         true_seconds))
        plain, aware_run = runs
        assert aware_run.minutes <= plain.minutes * 1.1  # the same spend, give or take a label
        gains.append(aware_run.accuracy - plain.accuracy)
        extra_labels.append(aware_run.labels / plain.labels)
    assert np.mean(extra_labels) > 1.15
    assert np.mean(gains) > 0.03 and min(gains) > -0.02


def test_cost_budget_is_a_budget_for_every_selector():
    s = CostSettings(unit="minutes", amount=0.01, period_items=1, reference_chars=100)
    budget = CostBudget(s, make_cost_model(s))
    batch = ScoredBatch([f"i{i}" for i in range(1000)], np.eye(1000, 8, dtype=np.float32),
                        {"margin": np.ones(1000, dtype=np.float32)},
                        costs=budget.cost_many(np.full(1000, 100.0)))
    budget.observe(1000)
    chosen = RandomSelector(0.5, seed=0).select_many(batch, budget)
    assert budget.spent_units <= 10 + 1e-6
    assert len(chosen) == int(10 / budget.unit_cost_many(np.array([100.0]))[0])
