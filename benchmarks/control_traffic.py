"""Two-level selection at scale (issue 17): bytes on ``control``, coordinator and worker CPU.

On real texts (SST-2 by default, its cached embeddings; ``--embedder static`` or ``minilm``),
in batches of ``kafka.batch_max`` texts as the scorers read them, with a model warmed on
``--warm`` gold labels first (so scores and pre-selection look as they do live):

1. **control bytes per stream text**, for each way of forwarding (``full-f32``: every text,
   float32, JSON with base64 rows, the record before issue 17; ``full-int8``; ``cand-f32``;
   ``cand-int8``: candidates only with ``scale.candidate_multiple`` 4 or ``--multiple``, int8;
   ``-bin``: the same in a binary envelope, ``scale.envelope: binary``, stream/envelope.py;
   ``-defl``: in a binary envelope whose metadata is deflated, ``scale.envelope: deflated``):
   the bytes of the records a scorer writes (``Message.to_bytes``, what the producer sends; no
   Kafka framing) / stream texts.
2. **coordinator CPU-us per stream text**, same four: process CPU of parsing each record
   (``parse(CONTROL, ...)``), converting it and ``Coordinator.on_scored``; the bought items are
   labelled (gold) right away through ``on_labels``, timed apart.
3. **coordinator ceiling**: a driver feeds the coordinator candidate records as N texts
   partitions would (N = 1 ... 64; each record one partition's batch of ``batch_max`` texts and
   ``--small`` texts), until ``--n`` stream texts: stream texts it governs per CPU-second.
   The coordinator's clock runs as if texts came at 300,000/s (refits, model releases).
   ``--history K``: the coordinator starts as it would after a long stream: K more texts (the
   rows after the measured ones) were bought and labelled before, so its novelty index, OOD
   labelled rows, label store and model hold them (a 40,000-text run otherwise ends with
   ~2,000 purchases, far below the novelty index's and OOD index's 10,000).
   ``--warmup T``: the records are governed from the start, but timed only from the first
   that starts at or after T stream texts: a coordinator's one-off work on its first records
   (k-means++ seeding of its clusters, its drift test's reference taken and its threshold
   calibrated: ~10 ms, about the two first 2,048-text records' worth again) is then out of a
   figure meant as the rate it sustains. A long-running coordinator has done it; with
   ``--history`` it has not (its history is learned, not selected). The last 1,052 of
   SST-2's 40,000 texts (from the 38,948th) are the file's tail, its test sentences (19 words
   on average against the training phrases' 9): with 2,048 texts per record and a history of
   5,000 or 10,000 the embedding drift test raises a true alarm there (~1,000 texts after the
   change), and the response's first record (~4 ms more) is in the timed figure.
   ``--ood-at-scorers``: ``scale.ood_at_scorers``; the records are then made one at a time,
   each by a scorer that took in the labelled rows the coordinator learned before it (int8,
   as on the wire), and the scorer's OOD check and rows taken in are timed apart (CPU-ms per
   1,000 stream texts: what it adds to the workers, not the coordinator).
   ``--drift-at-scorers``: ``scale.drift_at_scorers``; each scorer sums its candidates' drift
   features per block and forwards the sums (stream_al/drift/forwarded.py); that is timed
   apart the same way.
4. **worker CPU-ms per 1,000 texts beyond the embedding** (static): parsing the texts records,
   ``score_many``, the pre-selection and building and encoding the record, against the
   embedding's own CPU, before (full-f32) and after (cand-int8, cand-int8-bin). Broker
   clients excluded. With ``--ood-at-scorers`` also ``cand-int8-defl-ood``: the scorer's OOD
   check of its candidates, against the warm labels' rows (``--history K``: K rows) and
   taking in ``--fraction`` of its texts' rows as labels (one worker holding every
   partition: with W workers, each takes in every label, W times this per its own text).

    python -m benchmarks.control_traffic                     # SST-2, 40,000 texts, static
    python -m benchmarks.control_traffic --n 20000 --embedder minilm --parts bytes
    python -m benchmarks.control_traffic --parts ceiling --envelope json   # the ceiling, JSON records
    python -m benchmarks.control_traffic --parts ceiling --history 10000  # as after a long stream
    python -m benchmarks.control_traffic --parts ceiling --history 10000 --warmup 4096 \
        --partitions 4 --ood-at-scorers                       # the rate it sustains there
    python -m benchmarks.control_traffic --parts ceiling worker --ood-at-scorers --history 10000

Targets (issue 17): bytes <= 100 per stream text; coordinator >= 300,000 stream texts/s per
core at 5% budget; worker CPU beyond embedding <= the embedding's own (static).
Run under ``nice -n 10`` on a shared machine and compare ratios within one run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import NamedTuple

import numpy as np

from benchmarks.suite import SLICE_SEED, load_set
from stream_al.config import Settings
from stream_al.embed import make_embedder
from stream_al.embed.precision import round_trip_many
from stream_al.labels import Label
from stream_al.loop.candidates import Forwarding
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import ScoredTexts
from stream_al.runtime import limit_blas_threads, settle_heap
from stream_al.score.batch import score_many
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.stream import conversion
from stream_al.stream.messages import CONTROL, ScoredBatchRecord, TextIn, parse

CLOCK_RATE = 300_000.0
"""Stream texts per second of the coordinator's clock (the issue's target rate)."""
WAYS = {"full-f32": (False, "float32", "json"), "full-int8": (False, "int8", "json"),
        "cand-f32": (True, "float32", "json"), "cand-int8": (True, "int8", "json"),
        "full-f32-bin": (False, "float32", "binary"), "cand-f16-bin": (True, "float16", "binary"),
        "cand-int8-bin": (True, "int8", "binary"), "cand-int8-defl": (True, "int8", "deflated")}
"""(scale.preselect, scale.precision, scale.envelope) of each way of forwarding."""


@dataclass
class Stream:
    ids: list[str]
    texts: list[str]
    labels: list[str]
    X: np.ndarray


MULTIPLE = [4.0]
"""scale.candidate_multiple of the candidate ways (``--multiple``)."""
DRIFT_SAMPLE = [1.0]
"""drift.sample: the share of candidates the stream's drift detectors read (``--drift-sample``)."""
OOD_AT_SCORERS = [False]
"""scale.ood_at_scorers of the candidate ways (``--ood-at-scorers``)."""
DRIFT_AT_SCORERS = [False]
"""scale.drift_at_scorers of the candidate ways (``--drift-at-scorers``)."""
DRIFT_FREQUENCIES: list[int | None] = [None]
"""drift.frequencies of the candidate ways (``--drift-frequencies``; None: the settings' default)."""


def settings_of(preselect: bool, precision: str, fraction: float, embedder: str,
                envelope: str = "binary", ood_at_scorers: bool | None = None) -> Settings:
    """``ood_at_scorers`` None: ``--ood-at-scorers`` (candidate ways only)."""
    at_scorers = OOD_AT_SCORERS[0] if ood_at_scorers is None else ood_at_scorers
    return Settings.load(embedder={"name": embedder}, budget={"fraction": fraction},
                         scale={"preselect": preselect, "precision": precision,
                                "candidate_multiple": MULTIPLE[0], "envelope": envelope,
                                "ood_at_scorers": preselect and at_scorers,
                                "drift_at_scorers": preselect and DRIFT_AT_SCORERS[0]},
                         learner={"refit_every_s": 1.0},
                         drift={"sample": DRIFT_SAMPLE[0]} | (
                             {} if DRIFT_FREQUENCIES[0] is None else {"frequencies": DRIFT_FREQUENCIES[0]}))


def warm_model(stream: Stream, s: Settings, n: int, embedder: LookupEmbedder,
               history: Stream | None = None) -> Coordinator:
    """A coordinator whose model learned ``n`` gold labels (bought as any item is), and
    before them the items of ``history``: bought (in its novelty index) and labelled. Its
    state is then exempt from the cyclic collector, as the worker's after a rebuild."""
    c = Coordinator(s, stream.X.shape[1], embedder)
    if history is not None:
        for i, item in enumerate(history.ids):
            c.texts.add(item, history.texts[i])
            c.embeddings[item] = history.X[i]
        c.stage.novelty.add_many(history.X)
        for start in range(0, len(history.ids), 2048):
            c.on_labels([Label(item, label, "gold", 0.0) for item, label in zip(
                history.ids[start : start + 2048], history.labels[start : start + 2048],
                strict=True)], 0, 0.0)
    rng = np.random.default_rng(0)
    for i in rng.choice(len(stream.ids), n, replace=False).tolist():
        c.texts.add(f"warm-{i}", stream.texts[i])
        c.embeddings[f"warm-{i}"] = stream.X[i]
    labels = [Label(f"warm-{i}", stream.labels[i], "gold", 0.0)
              for i in rng.choice(len(stream.ids), n, replace=False).tolist()
              if f"warm-{i}" in c.texts]
    c.on_labels(labels, 0, 0.0)
    c.model_update(10.0, force=True)
    settle_heap()  # as the worker's shell does after building one (stream/coordinating.py)
    return c


def records_of(stream: Stream, s: Settings, snapshot, batch: int, partitions: int = 1,
               coordinator: Coordinator | None = None) -> list[bytes]:
    """The scorers' records for ``stream``, dealt over ``partitions`` in batches of ``batch``
    (with ``scale.ood_at_scorers``, checked against the rows ``coordinator`` learned so far)."""
    return list(scorer_records(stream, s, snapshot, batch, partitions, coordinator))


@dataclass
class ScorerCost:
    """CPU seconds a scorer spent on the OOD check of its candidates (``scale.ood_at_scorers``)
    and on taking the coordinator's labelled rows in."""

    check_s: float = 0.0
    rows_s: float = 0.0
    drift_s: float = 0.0
    """``scale.drift_at_scorers``: the scorers' drift feature sums."""


def scorer_records(stream: Stream, s: Settings, snapshot, batch: int, partitions: int = 1,
                   coordinator: Coordinator | None = None, cost: ScorerCost | None = None,
                   ) -> Iterator[bytes]:
    """:func:`records_of`, one record at a time: with ``scale.ood_at_scorers`` and a
    ``coordinator``, before each record the scorer takes the labelled rows the coordinator
    learned since the last one (int8, as on the wire: select/ood_check.py), and ``cost``
    adds up the CPU of its OOD check (one scorer for every partition, as a worker holding
    them all)."""
    forwarding = Forwarding(s.scale, s.budget, s.selection, ood=s.ood, drift=s.drift)
    check, drift = forwarding.ood, forwarding.drift
    forwarding.ood = forwarding.drift = None  # their work is timed apart below
    cost = cost or ScorerCost()
    if check is not None and coordinator is not None and coordinator.reference is not None:
        # what the scorer read of the reference at its start (warm labels, --history): untimed
        check.labelled_many(rows_on_the_wire(coordinator))
    for k, start in enumerate(range(0, len(stream.ids), batch)):
        sl = slice(start, start + batch)
        X = stream.X[sl]
        p = k % partitions
        offsets = list(range((k // partitions) * batch, (k // partitions) * batch + len(X)))
        scored = forwarding.candidates_of(ScoredTexts(
            f"b{k}", stream.ids[sl], stream.texts[sl], X, score_many(snapshot, X),
            snapshot.version, [p] * len(X), offsets))
        if drift is not None:
            t0 = time.process_time()
            scored = replace(scored, drift=drift.observe_many(scored.X))
            cost.drift_s += time.process_time() - t0
        if check is not None:
            if coordinator is not None and coordinator.reference is not None:
                rows = rows_on_the_wire(coordinator)
                t0 = time.process_time()
                check.labelled_many(rows)
                cost.rows_s += time.process_time() - t0
            t0 = time.process_time()
            scored = replace(scored, scores=scored.scores | check.scores_many(scored.X))
            cost.check_s += time.process_time() - t0
        yield ScoredBatchRecord.of(
            scored.batch_id, scored.ids, scored.texts, scored.X, scored.scores,
            scored.model_version, np.ones(len(scored.ids)), 0.0,
            list(zip(scored.partitions, scored.offsets, strict=True)),
            precision=s.scale.precision, weights=scored.weights,
            spans=[(x.partition, x.first, x.last, x.count) for x in scored.spans],
            envelope=s.scale.envelope, drift=scored.drift).to_bytes()


def rows_on_the_wire(coordinator: Coordinator) -> np.ndarray:
    """The labelled rows ``coordinator`` learned since the last call, as int8 on the wire."""
    rows = coordinator.reference.take_many()[1]
    return round_trip_many(rows, "int8") if len(rows) else rows


class Governed(NamedTuple):
    """What :func:`govern` measured."""

    selecting: float
    """CPU seconds of parse + convert + on_scored."""
    labelling: float
    """CPU seconds of labelling the bought items (on_labels + model_update)."""
    bought: int
    texts: int
    """Stream texts of the records timed."""


def govern(c: Coordinator, records: Iterable[bytes], gold: dict[str, str],
           rate: float = CLOCK_RATE, merge: int = 1, untimed: int = 0) -> Governed:
    """CPU seconds of parse + convert + on_scored over ``records``, CPU seconds of labelling
    the bought items, the number bought and the stream texts timed. The coordinator's clock
    runs as if texts came at ``rate`` per second (refits and model releases at their cadence
    at that rate). ``merge``: records handed to the coordinator together (``on_scored_many``:
    each run of compatible ones selected as one). ``records`` may be made as they are taken (:func:`scorer_records`):
    that is not timed. ``untimed``: the records taken while fewer than this many stream texts
    had passed are governed (and their purchases labelled) but not timed: the ceiling's
    warm-up, the one-off work of a coordinator's first records (its clusters seeded, its drift
    test's reference taken and its threshold calibrated), which a long-running one has done."""
    selecting = labelling = 0.0
    bought = timed_texts = 0
    offset = 1
    texts = 0
    records = iter(records)
    while taken := list(islice(records, merge)):
        timed, before = texts >= untimed, texts
        t0 = time.process_time()
        batch = []
        for raw in taken:
            scored = conversion.scored_texts(parse(CONTROL, raw))
            texts += sum(s.count for s in scored.spans) if scored.spans else len(scored.ids)
            batch.append((scored, offset))
            offset += 1
        now = texts / rate
        items = c.on_scored_many(batch, now)
        t1 = time.process_time()
        if items:
            bought += len(items)
            # the vendors' side: ids as the worker publishes them (columns, when the
            # coordinator returns them so), not a Purchase object each
            ids = getattr(items, "item_ids", None) or [p.item_id for p in items]
            labels = [Label(i, gold[i], "gold", now) for i in ids]
            c.on_labels(labels, offset, now)
            c.model_update(now)
            offset += 1
        if timed:
            selecting += t1 - t0
            labelling += time.process_time() - t1
            timed_texts += texts - before
    return Governed(selecting, labelling, bought, timed_texts)


def part_bytes_and_coordinator(stream: Stream, args: argparse.Namespace) -> None:
    gold = dict(zip(stream.ids, stream.labels, strict=True))
    embedder = LookupEmbedder(stream.texts, stream.X)
    print(f"\n1-2. control bytes and coordinator CPU per stream text ({len(stream.ids):,} texts, "
          f"batches of {args.batch}, budget {args.fraction:.0%}, {stream.X.shape[1]} dims)")
    print(f"  {'way':13s} {'bytes/text':>10s} {'texts fwd':>9s} {'select us/text':>14s} "
          f"{'labels us/text':>14s} {'bought':>7s}")
    for way, (preselect, precision, envelope) in WAYS.items():
        s = settings_of(preselect, precision, args.fraction, args.embedder, envelope)
        c = warm_model(stream, s, args.warm, embedder)
        records = records_of(stream, s, c.learner.snapshot(), args.batch, coordinator=c)
        size = sum(len(r) for r in records)
        forwarded = sum(len(parse(CONTROL, r).ids) for r in records)
        selecting, labelling, bought, _ = govern(c, records, gold)
        n = len(stream.ids)
        print(f"  {way:13s} {size / n:10.1f} {forwarded / n:9.1%} {selecting / n * 1e6:14.1f} "
              f"{labelling / n * 1e6:14.1f} {bought:7d}")


def part_ceiling(stream: Stream, args: argparse.Namespace, history: Stream | None = None,
                 ) -> None:
    gold = dict(zip(stream.ids, stream.labels, strict=True))
    embedder = LookupEmbedder(stream.texts, stream.X)
    s = settings_of(True, "int8", args.fraction, args.embedder, args.envelope)
    at_scorers = s.scale.ood_at_scorers
    drift_at = s.scale.drift_at_scorers
    print(f"\n3. coordinator ceiling: candidate records (int8, {args.envelope}, drift.sample "
          f"{args.drift_sample}, {args.merge} record(s) at a time, candidates x{args.multiple:g}, "
          f"{len(history.ids) if history else 0:,} bought before, OOD check at the "
          f"{'scorers' if at_scorers else 'coordinator'}, drift test at the "
          f"{'scorers' if drift_at else 'coordinator'}) as N partitions send them; stream "
          "texts governed per CPU-second (parse + convert + on_scored; labels apart)"
          + (f", after {args.warmup:,} stream texts governed untimed" if args.warmup else "")
          + ("; the scorers' OOD check and rows taken in, CPU-ms per 1,000 stream texts"
             if at_scorers else "")
          + ("; the scorers' drift test, CPU-ms per 1,000 stream texts" if drift_at else ""))
    print(f"  {'N':>3s} {'texts/record':>12s} {'texts/s (select)':>16s} "
          f"{'texts/s (select+labels)':>23s}" + (f" {'scorer check':>12s} {'rows in':>8s}"
                                                 if at_scorers else "")
          + (f" {'drift test':>10s}" if drift_at else ""))
    for batch in (args.batch, args.small):
        for n_parts in args.partitions:
            c = warm_model(stream, s, args.warm, embedder, history)
            cost = ScorerCost()
            records = scorer_records(stream, s, c.learner.snapshot(), batch, n_parts, c, cost)
            selecting, labelling, _, timed = govern(c, records, gold, merge=args.merge,
                                                    untimed=args.warmup)
            n = len(stream.ids)  # the scorers' costs are of every record
            print(f"  {n_parts:3d} {batch:12d} {timed / selecting:16,.0f} "
                  f"{timed / (selecting + labelling):23,.0f}" + (
                      f" {cost.check_s / n * 1e6:12.2f} {cost.rows_s / n * 1e6:8.2f}"
                      if at_scorers else "")
                  + (f" {cost.drift_s / n * 1e6:10.2f}" if drift_at else ""), flush=True)


def part_worker(stream: Stream, args: argparse.Namespace, history: Stream | None = None,
                ) -> None:
    s = settings_of(False, "float32", args.fraction, "static")
    embedder = make_embedder(s.embedder)
    raw = [TextIn(schema_version=1, id=i, text=t, source="bench", timestamp=0.0).to_bytes()
           for i, t in zip(stream.ids, stream.texts, strict=True)]
    X = embedder.embed(stream.texts)
    static = Stream(stream.ids, stream.texts, stream.labels, X)
    c = warm_model(static, s, args.warm, LookupEmbedder(stream.texts, X))
    snapshot = c.learner.snapshot()
    reference = X[:args.warm] if history is None else embedder.embed(history.texts)
    print(f"\n4. worker CPU-ms per 1,000 texts (static embedder, batches of {args.batch}; broker "
          f"clients excluded)" + (f"; -ood: the OOD check at the scorer, which holds "
                                  f"{len(reference):,} labelled rows at its start and takes in "
                                  f"{args.fraction:.0%} of its texts' rows as labels arrive "
                                  "(columns: its check, the rows taken in)"
                                  if args.ood_at_scorers else ""))
    ways = ["full-f32", "cand-int8", "cand-int8-bin", "cand-int8-defl"]
    for way in ways + (["cand-int8-defl-ood"] if args.ood_at_scorers else []):
        at_scorers = way.endswith("-ood")
        preselect, precision, envelope = WAYS[way.removesuffix("-ood")]
        way_settings = settings_of(preselect, precision, args.fraction, "static",
                                   ood_at_scorers=at_scorers)
        forwarding = Forwarding(way_settings.scale, way_settings.budget, way_settings.selection,
                                ood=way_settings.ood, drift=way_settings.drift)
        check, forwarding.ood = forwarding.ood, None  # timed apart below
        if check is not None:
            check.labelled_many(round_trip_many(reference, "int8"))
        labelled = np.random.default_rng(0)
        embed_s = other_s = check_s = rows_s = 0.0
        for k, start in enumerate(range(0, len(raw), args.batch)):
            t0 = time.process_time()
            texts = [parse(TextIn, r) for r in raw[start : start + args.batch]]
            t1 = time.process_time()
            X = embedder.embed([t.text for t in texts])
            t2 = time.process_time()
            scored = forwarding.candidates_of(ScoredTexts(
                f"b{k}", [t.id for t in texts], [t.text for t in texts], X,
                score_many(snapshot, X), snapshot.version, [0] * len(texts),
                list(range(start, start + len(texts)))))
            t3 = t4 = t5 = time.process_time()
            if check is not None:  # timed apart: the check, then labelled rows taken in
                scored = replace(scored, scores=scored.scores | check.scores_many(scored.X))
                t4 = time.process_time()
                rows = labelled.choice(len(X), round(args.fraction * len(X)), replace=False)
                check.labelled_many(round_trip_many(X[rows], "int8"))
                t5 = time.process_time()
            ScoredBatchRecord.of(
                scored.batch_id, scored.ids, scored.texts, scored.X, scored.scores,
                scored.model_version, np.ones(len(scored.ids)), 0.0,
                list(zip(scored.partitions, scored.offsets, strict=True)), precision=precision,
                weights=scored.weights, envelope=envelope,
                spans=[(x.partition, x.first, x.last, x.count) for x in scored.spans]).to_bytes()
            t6 = time.process_time()
            embed_s += t2 - t1
            check_s += t4 - t3
            rows_s += t5 - t4
            other_s += (t1 - t0) + (t3 - t2) + (t6 - t5)
        per = 1000 / len(raw) * 1000
        other_s += check_s + rows_s
        print(f"  {way:18s} embedding {embed_s * per:6.1f} ms   beyond it {other_s * per:6.1f} ms"
              f"   ratio {other_s / embed_s:.2f}" + (
                  f"   (OOD check {check_s * per:5.1f} ms, rows in {rows_s * per:5.1f} ms)"
                  if check is not None else ""), flush=True)


def history_of(dataset: str, embedder: str, n: int, k: int) -> Stream:
    """``k`` rows of ``dataset`` that ``load_set(dataset, embedder, n)`` left out (the next
    ones of its seeded permutation)."""
    data, X = load_set(dataset, embedder, 10**9)
    order = np.random.default_rng(SLICE_SEED).permutation(len(data.texts))
    rest = np.sort(order[n : n + k])
    if len(rest) < k:
        raise SystemExit(f"--history {k}: {dataset} has only {len(rest)} rows beyond the "
                         f"measured {n}")
    return Stream([f"h-{i}" for i in range(k)], [data.texts[i] for i in rest],
                  [data.labels[i] for i in rest], np.asarray(X[rest], dtype=np.float32))


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="sst2")
    p.add_argument("--embedder", default="static", choices=("static", "minilm"))
    p.add_argument("--n", type=int, default=40_000)
    p.add_argument("--batch", type=int, default=Settings().kafka.batch_max,
                   help="texts per scorer batch (kafka.batch_max)")
    p.add_argument("--small", type=int, default=64, help="the ceiling's small batches")
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--warm", type=int, default=300)
    p.add_argument("--multiple", type=float, default=Settings().scale.candidate_multiple,
                   help="scale.candidate_multiple")
    p.add_argument("--history", type=int, default=0, help="the ceiling: texts bought and "
                   "labelled before the measured stream (the rows after it)")
    p.add_argument("--warmup", type=int, default=0, help="the ceiling: stream texts governed "
                   "before the timing starts (a coordinator's one-off work on its first records: "
                   "clusters seeded, the drift test's reference and threshold)")
    p.add_argument("--drift-sample", type=float, default=1.0, help="drift.sample")
    p.add_argument("--drift-frequencies", type=int, default=None, help="drift.frequencies: random "
                   "Fourier frequencies of the embedding drift test (0: the exact kernel)")
    p.add_argument("--ood-at-scorers", action="store_true", help="scale.ood_at_scorers: the "
                   "scorers check the candidates for OOD (the ceiling times their check apart)")
    p.add_argument("--drift-at-scorers", action="store_true", help="scale.drift_at_scorers: "
                   "the scorers test the candidates for embedding drift (timed apart)")
    p.add_argument("--merge", type=int, default=1, help="the ceiling: control records the "
                   "coordinator takes at a time (Coordinator.on_scored_many)")
    p.add_argument("--envelope", default="deflated", choices=("json", "binary", "deflated"),
                   help="the ceiling's records: scale.envelope")
    p.add_argument("--partitions", type=int, nargs="+", default=[1, 4, 16, 64],
                   help="the ceiling's N")
    p.add_argument("--parts", nargs="+", default=["bytes", "ceiling", "worker"],
                   choices=("bytes", "ceiling", "worker"))
    args = p.parse_args(argv)
    limit_blas_threads()
    MULTIPLE[0] = args.multiple
    DRIFT_SAMPLE[0] = args.drift_sample
    OOD_AT_SCORERS[0] = args.ood_at_scorers
    DRIFT_AT_SCORERS[0] = args.drift_at_scorers
    DRIFT_FREQUENCIES[0] = args.drift_frequencies
    data, X = load_set(args.dataset, args.embedder, args.n)
    n = min(args.n, len(data.texts))
    stream = Stream([f"t-{i}" for i in range(n)], list(data.texts[:n]), list(data.labels[:n]),
                    np.asarray(X[:n], dtype=np.float32))
    history = history_of(args.dataset, args.embedder, n, args.history) if args.history else None
    if "bytes" in args.parts:
        part_bytes_and_coordinator(stream, args)
    if "ceiling" in args.parts:
        part_ceiling(stream, args, history)
    if "worker" in args.parts:
        part_worker(stream, args, history)


if __name__ == "__main__":
    main()
