"""Drift recovery: alarm delay, accuracy recovery with and without the drift response, ECE.

The stream is AG News with a real shift (class emergence): only World and Sports for the first
``--shift-at`` items, then Business and Sci/Tech arrive too (see
``stream_al/simulate/drift_scenario.py``). Each selector runs twice on the same stream and
seed, without and with the drift-aware budget response; the control is the same texts
shuffled (no shift), where every alarm is a false alarm. Printed per strategy, as the mean
over seeds:

- alarm delay: items from the shift to the first alarm (and which detector raised it);
- recovery: held-out accuracy 250/500/1000 items after the shift, the mean accuracy over the
  1000 and 2000 items after it, and the items needed to reach 90% of the all-labels ceiling;
- ECE of the final model on the held-out set, before and after the temperature the
  calibrator fitted on the labels it bought (adopted only when it helped on the newest ones).

    python benchmarks/drift_recovery.py                      # 5 seeds, 2% budget, static
    python benchmarks/drift_recovery.py --strategies uncertainty --seeds 0,1 --out runs/drift
    python benchmarks/drift_recovery.py --strategies default --seeds 0,1,2 --drift-sample 0.25
    python benchmarks/drift_recovery.py --strategies default --budget 0.1 --preselect 4 \
        --precision int8 [--drift-at-scorers]       # two-level (issue 17), drift test where
                                                    # the candidates are scored or not
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from stream_al.calibration import plot_reliability, reliability_diagram
from stream_al.config import Settings
from stream_al.dataset import load_labeled
from stream_al.embed import make_embedder
from stream_al.learn.online import OnlineLearner
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.drift_scenario import (
    DriftScenario,
    ScenarioResult,
    emerging_classes,
    stationary,
)
from stream_al.simulate.features import embed_dataset

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
FIRST = ["World", "Sports"]


def ceiling(labels: list[str], X: np.ndarray, scenario: DriftScenario) -> float:
    """Accuracy after the shift of the same learner trained on every label of the stream."""
    y = np.asarray(labels, dtype=object)
    order, test = scenario.stream.order, scenario.stream.test_after
    s = scenario.settings.learner
    model = OnlineLearner(X.shape[1], s.model_copy(update={"max_iter": 300, "committee_size": 2}))
    model.learn_many(X[order], list(y[order]))
    pred = model.snapshot().predict_many(X[test])
    return float((pred == y[test]).mean())


def mean(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "never"
    missing = len(values) - len(got)
    return f"{np.mean(got):.0f}" + (f" ({missing} never)" if missing else "")


def report(strategy: str, plain: list[ScenarioResult], responding: list[ScenarioResult],
           control: list[ScenarioResult], target: float) -> None:
    print(f"\n## {strategy}: {len(plain)} seeds")
    delays = [r.alarm_delay for r in plain]
    first = [next((a.detector for a in r.alarms if a.position >= r.shift_at), "-") for r in plain]
    print(f"alarm delay after the shift (items): mean {mean(delays)}, per seed {delays}, "
          f"first detector {sorted(set(first))}")
    print(f"false alarms: {sum(r.false_alarms for r in plain)} before the shift; "
          f"{sum(len(r.alarms) for r in control)} on the shuffled control "
          f"({len(control)} streams of {control[0].curve[-1].position} items)")
    print(f"{'':>14}{'acc@shift':>10}{'+250':>7}{'+500':>7}{'+1000':>7}{'auc1000':>9}"
          f"{'auc2000':>9}{'final':>7}{'labels':>8}  items to {target:.3f}")
    for name, runs in (("without", plain), ("with response", responding)):
        row = [np.mean([r.accuracy_at(k) for r in runs]) for k in (0, 250, 500, 1000)]
        auc = [np.mean([r.recovery_auc(h) for r in runs]) for h in (1000, 2000)]
        reach = [r.items_to_reach(target) for r in runs]
        cells = "".join(f"{v:>7.3f}" if i else f"{v:>10.3f}" for i, v in enumerate(row))
        print(f"{name:>14}" + cells
              + f"{auc[0]:>9.3f}{auc[1]:>9.3f}{np.mean([r.final_accuracy for r in runs]):>7.3f}"
              f"{np.mean([r.labels_used for r in runs]):>8.0f}  {mean(reach)}")
    gain = [b.recovery_auc(1000) - a.recovery_auc(1000)
            for a, b in zip(plain, responding, strict=True)]
    print(f"recovery gain (auc1000, with - without): mean {np.mean(gain):+.3f}, "
          f"min {min(gain):+.3f}, max {max(gain):+.3f}")
    runs = plain + responding
    adopted = [r for r in runs if r.calibration is not None and r.calibration.applied]
    fitted = [r for r in runs if r.calibration is not None]
    print(f"ECE on held-out, final model: {np.mean([r.ece_test for r in runs]):.4f} raw, "
          f"{np.mean([r.ece_test_calibrated for r in runs]):.4f} with the temperature adopted "
          f"(in {len(adopted)}/{len(runs)} runs"
          + (f"; those: {np.mean([r.ece_test for r in adopted]):.4f} -> "
             f"{np.mean([r.ece_test_calibrated for r in adopted]):.4f}, mean T "
             f"{np.mean([r.calibration.temperature for r in adopted]):.2f})" if adopted else ")")
          + (f"; the fitted T applied in every run: "
             f"{np.mean([r.ece_test_fitted for r in fitted]):.4f} vs "
             f"{np.mean([r.ece_test for r in fitted]):.4f} raw ({len(fitted)} runs fitted)"
             if fitted else ""))


def plot_curves(path: Path, plain: ScenarioResult, responding: ScenarioResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for r, label in ((plain, "without response"), (responding, "with drift response")):
        ax.plot([p.position for p in r.curve], [p.accuracy for p in r.curve], label=label)
    ax.axvline(plain.shift_at, color="grey", linestyle="--", label="shift")
    for a in responding.alarms:
        ax.axvline(a.position, color="red", alpha=0.4, linestyle=":")
    ax.set_xlabel("stream items")
    ax.set_ylabel("held-out accuracy (classes present)")
    ax.set_title("AG News: Business and Sci/Tech emerge (red: alarms)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="static", choices=["minilm", "static", "hashing"])
    parser.add_argument("--budget", type=float, default=0.02)
    parser.add_argument("--strategies", default="uncertainty,default,random,bandit")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--shift-at", type=int, default=2000, dest="shift_at")
    parser.add_argument("--length", type=int, default=5600)
    parser.add_argument("--max-credit", type=float, default=20.0, dest="max_credit",
                        help="cost units a response may borrow (drift.max_credit; 0: none)")
    parser.add_argument("--drift-sample", type=float, default=1.0, dest="drift_sample",
                        help="drift.sample: the share of scored items the stream's detectors read")
    parser.add_argument("--preselect", type=int, default=0, help="scale.preselect with this "
                        "many simulated texts partitions (0: every text reaches the coordinator)")
    parser.add_argument("--precision", default="float32", choices=("float32", "float16", "int8"),
                        help="scale.precision")
    parser.add_argument("--drift-at-scorers", action="store_true", dest="drift_at_scorers",
                        help="scale.drift_at_scorers (with --preselect)")
    parser.add_argument("--out", default="runs/drift_recovery", help="plots go here")
    args = parser.parse_args()
    limit_blas_threads()
    data = load_labeled(DATASETS / "ag_news.csv")
    base = Settings.load(embedder={"name": args.embedder})
    t0 = time.perf_counter()
    X = embed_dataset(make_embedder(base.embedder), data, base.embedder.cache_dir)
    print(f"# drift recovery: AG News {'+'.join(FIRST)} until item {args.shift_at}, then all four "
          f"topics; {args.length} items, budget {args.budget:.0%}, response credit "
          f"{args.max_credit:g}, drift.sample {args.drift_sample:g}, {args.embedder} embeddings, "
          f"{f'{args.preselect} partitions pre-selecting' if args.preselect else 'every text'}"
          f" in {args.precision}, drift test at the "
          f"{'scorers' if args.drift_at_scorers else 'coordinator'} "
          f"({time.perf_counter() - t0:.0f} s to embed/load)")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for strategy in args.strategies.split(","):
        plain, responding, control, ceilings = [], [], [], []
        for seed in seeds:
            s = Settings.load(embedder={"name": args.embedder},
                              budget={"fraction": args.budget}, selection={"seed": seed},
                              learner={"seed": seed},
                              drift={"seed": seed, "max_credit": args.max_credit,
                                     "sample": args.drift_sample},
                              scale={"preselect": args.preselect > 0,
                                     "precision": args.precision,
                                     "drift_at_scorers": args.drift_at_scorers},
                              simulation={"partitions": max(1, args.preselect)})
            stream = emerging_classes(data.labels, FIRST, args.shift_at, args.length, seed=seed)
            scenario = DriftScenario(data.labels, X, s, stream)
            ceilings.append(ceiling(data.labels, X, scenario))
            plain.append(scenario.run(strategy, respond=False))
            responding.append(scenario.run(strategy, respond=True))
            calm = stationary(data.labels, args.length, seed=seed)
            control.append(DriftScenario(data.labels, X, s, calm).run(strategy, respond=True))
        report(strategy, plain, responding, control, 0.9 * float(np.mean(ceilings)))
        plot_curves(out / f"recovery_{strategy}.png", plain[0], responding[0])
    print(f"\n(all-labels ceiling after the shift: {np.mean(ceilings):.4f}; "
          f"{time.perf_counter() - t0:.0f} s of simulation; plots in {out}/)")
    reliability_example(data.labels, X, out, seeds)
    return 0


def reliability_example(labels: list[str], X: np.ndarray, out: Path, seeds: list[int]) -> None:
    """Calibration without a shift (5% budget, random selection): ECE raw and temperature-scaled."""
    results = []
    for seed in seeds:
        s = Settings.load(budget={"fraction": 0.05}, selection={"seed": seed},
                          learner={"seed": seed}, drift={"seed": seed})
        stream = stationary(labels, 5600, seed=seed)
        results.append(DriftScenario(labels, X, s, stream).run("random", respond=False))
    adopted = [r.calibration is not None and r.calibration.applied for r in results]
    temps = [r.calibration.temperature for r in results if r.calibration]
    print(f"\n## calibration on the shuffled stream, random selection at 5%, {len(seeds)} seeds")
    print(f"ECE on held-out: {np.mean([r.ece_test for r in results]):.4f} raw -> "
          f"{np.mean([r.ece_test_calibrated for r in results]):.4f} with the adopted temperature "
          f"(adopted in {sum(adopted)}/{len(results)}; fitted T {np.round(temps, 2).tolist()}); "
          f"fitted T always applied: {np.mean([r.ece_test_fitted for r in results]):.4f}")
    result, stream = results[0], stationary(labels, 5600, seed=seeds[0])
    snapshot = result.snapshot
    y = np.asarray(labels, dtype=object)
    col = {c: i for i, c in enumerate(snapshot.classes)}
    rows = stream.test_after
    idx = np.array([col[c] for c in y[rows]])
    t = result.calibration.temperature if result.calibration else 1.0
    plot_reliability(out / "reliability.png", {
        "raw": reliability_diagram(snapshot.predict_proba_many(X[rows]), idx),
        f"T = {t:.2f}": reliability_diagram(
            snapshot.with_temperature(t).predict_proba_many(X[rows]), idx),
    }, title="Final model on held-out AG News")


if __name__ == "__main__":
    raise SystemExit(main())
