"""One digest of everything the coordinator decided in ceiling runs (issue 17), to compare
commits that claim to change its speed and nothing else.

For each configuration (``candidate_multiple``, ``drift.sample``, N partitions, texts per
record, records selected together), the ceiling driver of ``benchmarks.control_traffic``
(SST-2, static, 40,000 texts, int8 candidates, deflated envelope, 5% budget, a model warmed on
300 labels) runs the coordinator, labels what it buys at once, and hashes every purchase (id,
batch, strategy, reason, scores, model version, deadline, cost, group, priority, annotators,
window), the final ledger, the OOD detector's reference distances, threshold and nearest
labelled ids, and the drift scores:

    python -m benchmarks.coordinator_digest > before.txt    # on the commit before
    python -m benchmarks.coordinator_digest | diff - before.txt && echo same
    python -m benchmarks.coordinator_digest --at-scorers    # the ceiling's configuration
    python -m benchmarks.coordinator_digest --drop-score novelty   # decisions, not that score
    python -m benchmarks.coordinator_digest --at-scorers --drift-trace   # + the drift test's trace
    python -m benchmarks.coordinator_digest --at-scorers ood --drift-frequencies 64 --drift-trace

Bit-for-bit: a change that moves a float in its last place changes the digest.
``--drop-score NAME`` hashes the purchases without that score: a change that only stops
computing a score no decision reads (issue 17, seventeenth pass: ``selection.purchase_novelty``
off) keeps the digest it gives. ``--drift-trace`` prints a second digest per configuration: the
drift monitor's scores and the embedding test's threshold after every record (a change to the
drift test that raises no other alarm still shows there). ``--at-scorers ood``: only the OOD
check at the scorers, the drift test at the coordinator (with ``--drift-frequencies M``: its
``drift.frequencies``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from itertools import islice

import numpy as np

from benchmarks import control_traffic as ct
from benchmarks.suite import load_set
from stream_al.labels import Label
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.stream import conversion
from stream_al.stream.messages import CONTROL, parse

CONFIGS = [(4.0, 1.0, 4, 512, 4), (4.0, 1.0, 16, 64, 1), (2.0, 1.0, 16, 512, 4),
           (4.0, 0.25, 64, 512, 4), (3.0, 1.0, 1, 512, 1)]
"""(candidate_multiple, drift.sample, partitions, texts per record, records at a time)."""
AT_SCORERS = [(3.0, 1.0, 4, 2048, 1, 0), (3.0, 1.0, 4, 512, 1, 0),
              (3.0, 1.0, 4, 2048, 1, 10_000), (3.0, 1.0, 4, 512, 1, 10_000)]
"""``--at-scorers``: the ceiling's runs (issue 17, fourteenth pass), as above and the texts
bought and labelled before (``control_traffic --history``)."""


def digest(stream: ct.Stream, multiple: float, drift_sample: float, partitions: int,
           batch: int, merge: int, history: ct.Stream | None = None,
           dropped: frozenset[str] = frozenset()) -> tuple[str, str]:
    """The digest of the decisions and that of the drift trace. ``history``: bought and
    labelled before (``control_traffic --history``); ``dropped``: scores the purchases are
    hashed without."""
    ct.MULTIPLE[0], ct.DRIFT_SAMPLE[0] = multiple, drift_sample
    s = ct.settings_of(True, "int8", 0.05, "static", "deflated")
    gold = dict(zip(stream.ids, stream.labels, strict=True))
    c = ct.warm_model(stream, s, 300, LookupEmbedder(stream.texts, stream.X), history)
    # made as they are taken: with the OOD check at the scorers, each record is checked
    # against the rows labelled before it
    records = ct.scorer_records(stream, s, c.learner.snapshot(), batch, partitions, c)
    h, trace = hashlib.sha256(), hashlib.sha256()
    offset, texts, now = 1, 0, 0.0
    while chunk := list(islice(records, merge)):
        taken = []
        for raw in chunk:
            scored = conversion.scored_texts(parse(CONTROL, raw))
            texts += sum(x.count for x in scored.spans)
            taken.append((scored, offset))
            offset += 1
        now = texts / ct.CLOCK_RATE
        bought = c.on_scored_many(taken, now)
        trace.update(repr((c.health.scores(), c.health.monitor.embedding.threshold)).encode())
        for p in bought:
            h.update(json.dumps([p.item_id, p.batch_id, p.strategy, p.reason,
                                 sorted((k, v) for k, v in p.scores.items()
                                        if k not in dropped),
                                 p.model_version, p.deadline, p.cost,
                                 p.group, p.priority, p.annotators, p.window]).encode())
        if bought:
            c.on_labels([Label(p.item_id, gold[p.item_id], "gold", now) for p in bought],
                        offset, now)
            c.model_update(now)
            offset += 1
    h.update(repr(c.ledger(now)).encode())
    ood = c.health.ood
    h.update(ood.reference.distances.tobytes())
    h.update(ood.reference._nearest[: ood.reference.size].tobytes())
    h.update(repr(ood.threshold).encode())
    h.update(repr(c.health.scores()).encode())
    trace.update(repr(list(c.health.monitor.alarms)).encode())
    return h.hexdigest()[:16], trace.hexdigest()[:16]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--at-scorers", nargs="?", const="both", choices=("both", "ood"),
                   help="the ceiling's configurations instead (AT_SCORERS): scale.ood_at_scorers "
                   "and drift_at_scorers (both), or ood_at_scorers only (ood)")
    p.add_argument("--drift-frequencies", type=int, default=None,
                   help="drift.frequencies (None: the settings' default)")
    p.add_argument("--drift-trace", action="store_true",
                   help="print the digest of the drift trace too")
    p.add_argument("--drop-score", action="append", default=[], metavar="NAME",
                   help="hash the purchases without this score (repeatable)")
    args = p.parse_args()
    limit_blas_threads()
    n = 40_000
    data, X = load_set("sst2", "static", n)
    stream = ct.Stream([f"t-{i}" for i in range(n)], list(data.texts[:n]),
                       list(data.labels[:n]), np.asarray(X[:n], dtype=np.float32))
    ct.OOD_AT_SCORERS[0] = args.at_scorers is not None
    ct.DRIFT_AT_SCORERS[0] = args.at_scorers == "both"
    ct.DRIFT_FREQUENCIES[0] = args.drift_frequencies
    for *config, bought in AT_SCORERS if args.at_scorers else [(*c, 0) for c in CONFIGS]:
        history = ct.history_of("sst2", "static", n, bought) if bought else None
        decisions, trace = digest(stream, *config, history=history,
                                  dropped=frozenset(args.drop_score))
        print(*config, *([bought] if args.at_scorers else []), decisions,
              *([trace] if args.drift_trace else []), flush=True)


if __name__ == "__main__":
    main()
