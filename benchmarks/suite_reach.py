"""Issue 14's two reach targets at realistic sizes: default against random only, at 5%.

The quick slices of ``benchmarks.suite`` (2,000 rows, a 1,500-item stream) give 75 labels at 5%,
fewer than Banking77's 77 or HWU64's 64 classes, so "5% reaches 90% of all-labels accuracy" cannot
hold there and "labels to 90%" is not reached by either side. This runs the suite's own pieces
(``load_set``, ``stream_al_runs``, the sklearn ceiling) on its full-size slices (at most 20,000
rows, 2,000 held out), for ``random`` and ``default`` only, and writes one JSON line per set and
seed::

    python -m benchmarks.suite_reach --sets ag_news hwu64 banking77 --seeds 5 --out runs/reach.jsonl
    python -m benchmarks.suite_reach --report runs/reach.jsonl
"""

from __future__ import annotations

import argparse
import statistics as st
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from benchmarks.peers.harness import Stream, sklearn_ceiling
from benchmarks.peers.measures import labels_to_reach
from benchmarks.suite import SETS, Config, load_set, set_up_process, stream_al_runs

REACH = 0.9
"""Of the best all-labels accuracy (stream-al's learner or sklearn's), as in the suite."""


def run(name: str, seed: int, config: Config, fraction: float) -> dict:
    started = time.process_time()
    data, X = load_set(name, config.embedder, config.max_rows)
    stream = Stream.of(X, data.labels, config.test_size, seed)
    runs, sim = stream_al_runs(data, X, config, seed, fraction, ("random", "default"))
    ceilings = {"stream-al": sim.all_labels_accuracy(), "sklearn": sklearn_ceiling(stream, seed)}
    best = max(ceilings.values())
    return {
        "set": name, "seed": seed, "rows": len(data), "stream": sim.stream_length,
        "embedder": config.embedder, "fraction": fraction, "ceilings": ceilings,
        "runs": {r.name: {"labels": r.labels_used, "acc": r.final_accuracy, "f1": r.macro_f1,
                          "auc": r.auc, "labels_to_90": labels_to_reach(r.curve, REACH * best),
                          "curve": [[p.position, p.labels_used, p.accuracy, p.macro_f1]
                                    for p in r.curve]}
                 for r in runs},
        "cpu_s": time.process_time() - started,
    }


def _spread(values: Sequence[float], digits: int = 3) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f}"
    return f"{st.mean(values):.{digits}f} ± {st.stdev(values):.{digits}f}"


def report(rows: Sequence[dict]) -> list[str]:
    """A markdown table: per set, mean ± std over seeds, and each seed's labels to 90%."""
    lines = [
        "| set | rows / stream | labels | all labels: stream-al / sklearn | 90% of best | random "
        "| default | default − random (pts) | default ≥ 90% | labels to 90%: random | default |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["set"] for r in rows):
        rs = sorted((r for r in rows if r["set"] == name), key=lambda r: r["seed"])
        best = [max(r["ceilings"].values()) for r in rs]
        acc = {m: [r["runs"][m]["acc"] for r in rs] for m in ("random", "default")}
        diff = [100 * (d - a) for d, a in zip(acc["default"], acc["random"], strict=True)]
        reached = sum(d >= REACH * b for d, b in zip(acc["default"], best, strict=True))

        def to_90(method: str, rs: list[dict] = rs) -> str:
            return ", ".join("n/r" if r["runs"][method]["labels_to_90"] is None
                             else str(r["runs"][method]["labels_to_90"]) for r in rs)

        ceil = {k: [r["ceilings"][k] for r in rs] for k in ("stream-al", "sklearn")}
        lines.append(
            f"| {name} | {rs[0]['rows']:,} / {rs[0]['stream']:,} | {rs[0]['runs']['default']['labels']} "
            f"| {_spread(ceil['stream-al'])} / {_spread(ceil['sklearn'])} "
            f"| {_spread([REACH * b for b in best])} | {_spread(acc['random'])} "
            f"| {_spread(acc['default'])} | {_spread(diff, 1)} | {reached}/{len(rs)} seeds "
            f"| {to_90('random')} | {to_90('default')} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    set_up_process("benchmarks.suite_reach", argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=["ag_news", "hwu64", "banking77"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--first-seed", dest="first_seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--embedder", choices=["hashing", "static", "minilm"], default="minilm")
    parser.add_argument("--out", type=Path, default=Path("runs/reach.jsonl"), help="appended to")
    parser.add_argument("--report", type=Path, help="print the table of this file and stop")
    args = parser.parse_args(argv)
    if args.report:
        rows = [orjson.loads(line) for line in args.report.read_text().splitlines() if line]
        print("\n".join(report(rows)))
        return 0
    config = Config(embedder=args.embedder, budgets=(args.budget,))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("ab") as out:
        for seed in range(args.first_seed, args.seeds):
            for name in args.sets:
                row = run(name, seed, config, args.budget)
                out.write(orjson.dumps(row) + b"\n")
                out.flush()
                print(name, seed, {m: r["acc"] for m, r in row["runs"].items()}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
