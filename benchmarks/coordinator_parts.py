"""Where the coordinator's CPU goes in the ceiling driver (issue 17): per stream text, per
candidate and per purchase, for each part of selection and of labelling.

The ceiling driver of ``benchmarks.control_traffic`` (SST-2, static, 40,000 texts, int8
candidates, deflated envelope, a model warmed on 300 labels) runs with process-CPU timers
wrapped around the coordinator's parts (no profiler: the figures are unprofiled CPU, nested
parts marked ``·`` are inside the line above them); the best of ``--repeat`` runs is printed:

    python -m benchmarks.coordinator_parts                          # N = 4, 512 per record, 5%
    python -m benchmarks.coordinator_parts --fraction 0.025         # half the purchases
    python -m benchmarks.coordinator_parts --multiple 2             # half the candidates

Run the three to split the cost into per purchase and per candidate (same candidate share at
2.5% x4 and 5% x2; same purchases at 5% x4 and 5% x2). Run under ``nice -n 10``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import time

import numpy as np

import stream_al.drift.embedding as embedding
import stream_al.drift.health as health
import stream_al.loop.annotating as annotating
import stream_al.loop.buying as buying
import stream_al.loop.coordinator as coordinator
import stream_al.loop.pricing as pricing
import stream_al.ood as ood
import stream_al.select.balanced as balanced
import stream_al.select.diverse as diverse
import stream_al.select.drift_aware as drift_aware
import stream_al.select.separation as separation
import stream_al.select.stage as stage
import stream_al.stream.conversion as conversion
import stream_al.stream.messages as messages
from benchmarks import control_traffic as ct
from benchmarks.suite import load_set
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.lookup import LookupEmbedder

SELECTION = [
    (ct, "parse", "parse (envelope + validation)"),
    (conversion, "scored_texts", "convert (record to ScoredTexts)"),
    (coordinator.Coordinator, "on_scored", "on_scored (all)"),
    (coordinator, "new_at_offsets", "· new offsets"),
    (coordinator.Coordinator, "_emit", "purchases out (Coordinator._emit)"),
    (buying.Buying, "buy_many", "· purchases made (Buying.buy_many)"),
    (pricing.Pricing, "price_ranked_many", "pricing"),
    (health.DataHealth, "on_batch", "drift monitor"),
    (embedding.EmbeddingDrift, "_push", "· drift kernel rows (_push)"),
    (embedding.EmbeddingDrift, "_calibrate", "· drift calibration (once per reference)"),
    (ood.OODDetector, "check_many", "OOD check"),
    (ood.StreamReference, "admit_many", "· OOD reference admission"),
    (diverse.DiverseReservoir, "_offer", "reservoir offer"),
    (diverse.OnlineClusters, "assign_many", "· cluster assignment"),
    (balanced.CoverThenBalance, "_emit", "reservoir purchase step (balanced._emit)"),
    (balanced.CoverThenBalance, "_balanced", "· class quotas, separation"),
    (diverse.OnlineClusters, "typicality_many", "· typicality"),
    (stage.SelectionStage, "informativeness_many", "· informativeness of held items"),
    (balanced, "farthest_first", "· coverage (farthest_first)"),
    (balanced.RecentPurchases, "add_many", "· recent purchases kept"),
    (balanced.CoverThenBalance, "_kept", "· candidates kept"),
    (drift_aware.CreditBudget, "spend", "· budget spend (CreditBudget.spend)"),
    (balanced, "spent_in_order", "· budget spend (spent_in_order, its ranked picks)"),
    (balanced.RecentPurchases, "nearest_distance_many", "· distance to recent purchases"),
    (getattr(separation, "ApartFromRows", None), "_settled",
     "· · of the candidates asked (ApartFromRows)"),
    (balanced, "selections_of", "· selections made (selections_of)"),
    (stage.SelectionStage, "_record", "novelty of bought items (stage._record)"),
]
LABELS = [
    (coordinator.Coordinator, "on_labels", "on_labels (all)"),
    (health.DataHealth, "on_labels", "· drift + OOD labelled index"),
    (annotating.Annotating, "on_labels", "· annotation (settle, noise check)"),
]
SPENT: collections.Counter[str] = collections.Counter()


def timed(owner: object, name: str, label: str) -> None:
    """Wrap ``owner.name`` (a method of a class, or a function as a module calls it) so that its process CPU adds to ``SPENT[label]``."""
    method = getattr(owner, name, None) if owner is not None else None
    if method is None:  # a part an older commit does not have (paired runs: one tool)
        return

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            SPENT[label] += time.process_time() - start

    setattr(owner, name, wrapper)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=40_000)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--batch", type=int, default=512, help="texts per scorer record")
    p.add_argument("--merge", type=int, default=1, help="records the coordinator takes at once")
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--multiple", type=float, default=4.0, help="scale.candidate_multiple")
    p.add_argument("--drift-sample", type=float, default=1.0, help="drift.sample")
    p.add_argument("--history", type=int, default=0, help="texts bought and labelled before "
                   "the measured stream (control_traffic --history)")
    p.add_argument("--ood-at-scorers", action="store_true", help="scale.ood_at_scorers")
    p.add_argument("--drift-at-scorers", action="store_true", help="scale.drift_at_scorers")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", help="also append the best run as a JSON line to this file")
    args = p.parse_args()
    limit_blas_threads()
    for owner, name, label in SELECTION + LABELS:
        timed(owner, name, label)
    ct.MULTIPLE[0], ct.DRIFT_SAMPLE[0] = args.multiple, args.drift_sample
    ct.OOD_AT_SCORERS[0], ct.DRIFT_AT_SCORERS[0] = args.ood_at_scorers, args.drift_at_scorers
    data, X = load_set("sst2", "static", args.n)
    n = min(args.n, len(data.texts))
    stream = ct.Stream([f"t-{i}" for i in range(n)], list(data.texts[:n]),
                       list(data.labels[:n]), np.asarray(X[:n], dtype=np.float32))
    history = ct.history_of("sst2", "static", n, args.history) if args.history else None
    gold = dict(zip(stream.ids, stream.labels, strict=True))
    embedder = LookupEmbedder(stream.texts, stream.X)
    s = ct.settings_of(True, "int8", args.fraction, "static", "deflated")
    best = None
    for _ in range(args.repeat):
        c = ct.warm_model(stream, s, 300, embedder, history)
        made = ct.scorer_records(stream, s, c.learner.snapshot(), args.batch, args.partitions,
                                 c)  # as they are taken: an OOD check at the scorers reads
        candidates = 0  # the rows labelled so far

        def counted(records):  # taken before govern's timer starts
            nonlocal candidates
            for r in records:
                candidates += len(messages.parse(ct.CONTROL, r).ids)
                yield r

        records = counted(made)
        SPENT.clear()
        selecting, labelling, bought, _ = ct.govern(c, records, gold, merge=args.merge)
        if best is None or selecting < best[0]:
            best = (selecting, labelling, dict(SPENT), candidates, bought)
    selecting, labelling, spent, candidates, bought = best
    print(f"N {args.partitions}, {args.batch} texts per record, {args.merge} at a time, budget "
          f"{args.fraction:.1%}, candidates x{args.multiple:g}, drift.sample {args.drift_sample}"
          f": best of {args.repeat}: selection {n / selecting:,.0f} stream texts/s, with labels "
          f"{n / (selecting + labelling):,.0f}; {candidates:,} candidates, {bought:,} bought")
    print(f"  {'part':45s} {'µs/stream text':>14s} {'µs/candidate':>12s} {'µs/purchase':>11s}")
    parts = ([("selection (parse + convert + on_scored)", selecting)]
             + [(label, spent.get(label, 0.0)) for _, _, label in SELECTION]
             + [("labels (on_labels + model_update)", labelling)]
             + [(label, spent.get(label, 0.0)) for _, _, label in LABELS])
    for label, seconds in parts:
        print(f"  {label:45s} {seconds / n * 1e6:14.2f} {seconds / candidates * 1e6:12.1f} "
              f"{seconds / max(bought, 1) * 1e6:11.1f}")
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps({"args": vars(args), "select_s": selecting, "labels_s": labelling,
                                "candidates": candidates, "bought": bought,
                                "parts_s": spent}) + "\n")


if __name__ == "__main__":
    main()
