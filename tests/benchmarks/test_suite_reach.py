"""The reach run's report: runs of several files joined per set and seed, the accuracy target
without peers, and the first version's rows read as the suite's tasks."""

import orjson

from benchmarks.suite_reach import first_version_task, joined, reach_table, read_tasks
from benchmarks.suite_report import Table, headline, targets
from tests.benchmarks.test_suite import run, task


def seeds(default=(0.90, 0.80), random=(0.70, 0.75), budget=0.05):
    return [task(k, [run("random", r, budget=budget), run("default", d, budget=budget)])
            for k, (d, r) in enumerate(zip(default, random, strict=True))]


def test_default_minus_random_is_paired_by_seed():
    row = next(line for line in reach_table(Table(seeds())) if line.startswith("| toy | 5%"))
    # seed 0: +20 points, seed 1: +5 points; the means' difference alone would hide the spread
    assert "| +12.5 ± 10.6 |" in row


def test_each_seeds_labels_to_90_percent_is_listed():
    # 90% of 0.95 is 0.855: seed 0 (0.90) reaches it at its second checkpoint, seed 1 never
    row = next(line for line in reach_table(Table(seeds())) if line.startswith("| toy | 5%"))
    assert row.endswith("| n/r, n/r | 10, n/r |")


def test_without_peers_the_accuracy_target_says_only_half_was_measured():
    lines = targets(Table(seeds()))
    assert "PASS* accuracy toy 5%: default 0.850 vs random+2 pts 0.745 (no peer run)" in lines
    close = targets(Table(seeds(default=(0.72, 0.76))))
    assert any(line.startswith("FAIL accuracy toy 5%") and "(no peer run)" in line
               for line in close)


def test_a_budget_a_set_did_not_run_is_left_out():
    table = Table(seeds(budget=0.05) + [task(9, [run("random", 0.5, budget=0.01)])])
    assert not any("| toy | 1% |" in line for line in headline(table))
    assert not any(" toy 1%" in line for line in targets(table))


def test_runs_of_one_set_and_seed_from_two_files_are_joined():
    peers = [task(k, [run("breaking_ties", 0.95, kind="peer")], ceilings={"stream-al": 0.1,
                                                                         "sklearn": 0.1})
             for k in range(2)]
    tasks = joined(seeds() + peers + seeds())
    assert len(tasks) == 2
    assert [r["method"] for r in tasks[0]["runs"]] == ["random", "default", "breaking_ties"]
    assert tasks[0]["ceilings"] == {"stream-al": 0.9, "sklearn": 0.95}
    assert any(line.startswith("FAIL accuracy toy 5%: default 0.850 vs best peer "
                               "breaking_ties+stream-al 0.950") for line in targets(Table(tasks)))


def test_the_first_versions_lines_and_gzipped_results_are_read_as_tasks(tmp_path, monkeypatch):
    import gzip

    import benchmarks.suite_reach as reach

    monkeypatch.setattr(reach, "_n_classes", lambda name: 4)
    curve = [[50, 5, 0.5, 0.4], [100, 10, 0.9, 0.8]]
    line = {"set": "toy", "seed": 3, "rows": 300, "stream": 100, "fraction": 0.05,
            "ceilings": {"stream-al": 0.9, "sklearn": 0.95},
            "runs": {m: {"labels": 10, "acc": 0.9, "f1": 0.8, "auc": 0.6, "labels_to_90": 10,
                         "curve": curve} for m in ("random", "default")}}
    path = tmp_path / "reach.jsonl"
    path.write_bytes(orjson.dumps(line) + b"\n")
    [converted] = read_tasks(path)
    assert converted == first_version_task(line, n_classes=4)
    assert [(r["method"], r["final_accuracy"], r["macro_f1"]) for r in converted["runs"]] == \
        [("random", 0.9, 0.8), ("default", 0.9, 0.8)]
    assert Table([converted]).values("toy", 0.05, "default", "labels_to_90") == [10]
    results = tmp_path / "results.json.gz"
    results.write_bytes(gzip.compress(orjson.dumps({"meta": {}, "tasks": [converted]})))
    assert read_tasks(results) == [{"embedder": "minilm", **converted}]  # the meta names none
    results.write_bytes(gzip.compress(orjson.dumps(
        {"meta": {"command": "python -m benchmarks.suite_reach --embedder static"},
         "tasks": [converted]})))
    assert [t["embedder"] for t in read_tasks(results)] == ["static"]


def test_the_gap_along_the_stream_is_read_at_each_share_of_the_curve():
    from benchmarks.suite_reach import gap_table

    # curves of two checkpoints: accuracy/2 at 5 labels, accuracy at 10
    [_, _, row] = gap_table(Table(seeds()), 0.05, stages=(0.5, 1.0))
    assert row == "| toy 5% | 5 | +6.3 ± 5.3 | 10 | +12.5 ± 10.6 |"


def test_the_targets_are_counted_by_mark():
    from benchmarks.suite_reach import tally

    lines = targets(Table(seeds()))
    assert tally(lines).startswith(f"targets: {sum(x.startswith('PASS ') for x in lines)} PASS, "
                                   "1 PASS* ")
    assert tally(["FAIL a", "FAIL b"]).endswith(", 2 FAIL")


def test_a_variant_is_paired_by_seed_with_the_base_and_each_with_its_own_random():
    from benchmarks.suite_reach import against

    base = seeds(default=(0.80, 0.70), random=(0.75, 0.75))
    variant = [task(k, [run("default", d)]) for k, d in enumerate((0.82, 0.74))]
    row = next(line for line in against(variant, base) if "| toy |" in line)
    # +2 and +4 points; default − random before: +5, -5; after (base's random): +7, -1
    assert "| 0.750 → 0.780 | +3.0 ± 1.4 | 1.0 | 2 / 0 |" in row
    assert row.endswith("| +0.0 ± 7.1 | +3.0 ± 5.7 |")
    # a variant that ran random too (a learner setting changes it) is gapped with its own
    own = [task(k, [run("default", d), run("random", 0.70)]) for k, d in enumerate((0.82, 0.74))]
    lines = against(own, base)
    row = next(line for line in lines if "| toy |" in line)
    assert row.endswith("| +0.0 ± 7.1 | +8.0 ± 5.7 |")
    # ... and random's own runs compared with the base's, in a table of their own
    at = next(i for i, line in enumerate(lines) if "random base → variant" in line)
    assert "| 0.750 → 0.700 | -5.0 ± 0.0 | 0.0 | 0 / 2 |" in lines[at + 2]


def test_a_setting_of_a_variant_names_its_fix_when_malformed():
    import pytest

    from benchmarks.suite import apply_settings

    with pytest.raises(ValueError, match="KEY=VALUE"):
        apply_settings(["explore"], [])


def test_a_peer_run_on_fewer_seeds_is_compared_with_the_default_on_those_seeds():
    # the default: 0.90 on seed 0, 0.80 on seed 1; the peer ran seed 1 only, at 0.85: ahead of
    # the default there, though behind the default's mean over both seeds (0.85)
    tasks = joined(seeds() + [task(1, [run("pal", 0.85, kind="peer")])])
    [line] = [x for x in targets(Table(tasks)) if x.startswith(("PASS", "FAIL")) and
              "accuracy toy 5%" in x]
    assert line.startswith("FAIL accuracy toy 5%: default 0.850 vs best peer pal+stream-al "
                           "(1 of 2 seeds) 0.850 (default 0.800 on those seeds)")
    row = next(x for x in headline(Table(tasks)) if x.startswith("| toy | 5%"))
    assert "| pal+stream-al (1 of 2 seeds) 0.850 | -5.0 pts |" in row


def test_the_defaults_lead_over_the_best_peer_is_paired_by_seed_with_its_spread():
    # the default: 0.90 then 0.80; the peer 0.85 then 0.81: +5 and -1 points, seed by seed
    tasks = joined(seeds() + [task(0, [run("pal", 0.85, kind="peer")]),
                              task(1, [run("pal", 0.81, kind="peer")])])
    row = next(x for x in headline(Table(tasks)) if x.startswith("| toy | 5%"))
    assert "| pal+stream-al 0.830 | +2.0 ± 4.2 pts |" in row
