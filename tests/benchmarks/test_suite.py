"""The suite's own rules: budgets, the minority class, and targets read from results."""

import pytest

from benchmarks.suite import budget_fraction, minority_budget, minority_class, peer_names
from benchmarks.suite_report import Table, spread, targets


def test_a_budget_is_a_fraction_up_to_one_and_a_label_count_above():
    assert budget_fraction(0.05, 1000) == 0.05
    assert budget_fraction(200, 10_000) == 0.02
    with pytest.raises(ValueError, match="lower --budgets or raise --max-rows"):
        budget_fraction(200, 150)


def test_chosen_peers_are_named_with_their_learner_and_left_out_where_they_cannot_run():
    assert peer_names(77, ["pal+sklearn", "breaking_ties+stream-al"]) == \
        [("breaking_ties", "stream-al")]
    assert ("pal", "sklearn") in peer_names(18)
    assert len(peer_names(4)) == 14 and len(peer_names(77)) == 12
    with pytest.raises(ValueError, match="give name\\+learner"):
        peer_names(4, ["breaking_ties"])


def test_the_minority_check_runs_at_the_smallest_fraction():
    assert minority_budget((0.05, 0.01, 200)) == 0.01
    assert minority_budget((200, 500)) == 200


def test_the_minority_class_is_the_rarest_with_at_least_five_percent():
    labels = ["flight"] * 80 + ["airfare"] * 9 + ["ground"] * 6 + ["meal"] * 4 + ["day"]
    assert minority_class(labels) == "ground"
    assert minority_class([f"intent{i}" for i in range(77)]) is None


def run(method, accuracy, labels_first=None, kind="stream-al", learner="stream-al",
        budget=0.05, first=None):
    curve = [[50, 5, accuracy / 2, 0.0], [100, 10, accuracy, 0.0]]
    if labels_first is not None:
        curve = [[50, labels_first, accuracy, 0.0], [100, 10, accuracy, 0.0]]
    return {"method": method, "learner": learner, "kind": kind, "budget": budget,
            "labels_used": 10, "final_accuracy": accuracy, "macro_f1": accuracy,
            "auc": accuracy * 0.75, "first_minority": first, "recorded_labels": 10,
            "curve": curve}


def task(seed, runs, ceilings=None):
    return {"set_name": "toy", "seed": seed, "n_rows": 200, "n_classes": 4,
            "stream_length": 100, "minority": "b", "minority_only": False,
            "ceilings": ceilings or {"stream-al": 0.9, "sklearn": 0.95}, "runs": runs,
            "seconds": 1.0}


def test_targets_are_computed_from_the_runs():
    seeds = [task(k, [run("random", 0.70, first=4),
                      run("default", 0.90, labels_first=5, first=2),
                      run("variable_uncertainty", 0.80, kind="peer", learner="sklearn"),
                      run("variable_uncertainty", 0.85, kind="peer")]) for k in range(2)]
    lines = targets(Table(seeds))
    assert "PASS accuracy toy 5%: default 0.900 vs best peer variable_uncertainty+stream-al " \
           "0.850 and random+2 pts 0.720" in lines
    assert any(line.startswith("PASS AUC toy 5%") for line in lines)
    # 90% of the best ceiling (0.95) is 0.855: default at 5 labels, random never
    assert any(line.startswith("PASS labels to 90% at 5%") and "inf" in line for line in lines)
    assert any(line.startswith("PASS minority class found toy ('b')") and "default 2.0 vs "
               "random 4.0 over 2 seeds" in line for line in lines)


def test_a_default_behind_a_peer_fails():
    seeds = [task(0, [run("random", 0.70), run("default", 0.80),
                      run("pal", 0.82, kind="peer", learner="sklearn")])]
    lines = targets(Table(seeds))
    assert any(line.startswith("FAIL accuracy toy 5%") for line in lines)


def test_spread_reports_the_runs_that_did_not_reach():
    assert spread([0.5, 0.7]) == "0.600 ± 0.141"
    assert spread([None, None]) == "n/r"
    assert spread([10, None], 0) == "10 (1/2)"


def test_a_fixed_label_count_is_held_to_the_same_targets_as_the_fractions():
    seeds = [task(k, [run("random", 0.70, budget=200), run("default", 0.80, budget=200),
                      run("pal", 0.82, kind="peer", learner="sklearn", budget=200)])
             for k in range(2)]
    lines = targets(Table(seeds))
    assert any(line.startswith("FAIL accuracy toy 200 labels: default 0.800 vs best peer "
                               "pal+sklearn 0.820") for line in lines)
    assert any(line.startswith("PASS AUC toy 200 labels") for line in lines)
    assert any(line.startswith("FAIL labels to 90% at 200 labels") for line in lines)
    assert not any(line.startswith(("PASS 5% reaches", "FAIL 5% reaches")) for line in lines)
