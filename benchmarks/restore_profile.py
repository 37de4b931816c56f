"""Where a 1M-label restore spends its CPU, and what loading images of its O(labels) state costs.

In process, no broker: the history ``benchmarks/failover.py`` writes (N items, one label each,
7 annotators, ag_news rows in order) handed to the worker's caps replay
(``Admission.replay_many``) and ``Coordinator.restore``, under cProfile; then the label store,
the bought texts and the settled verdicts imaged with ``sqlite3.Connection.serialize`` and loaded
into fresh connections with ``deserialize`` (what a derived-state checkpoint, format 3, would
load instead of folding every label), timed.

    nice -n 15 python benchmarks/restore_profile.py --labels 1000000
    nice -n 15 python benchmarks/restore_profile.py --labels 1000000 --no-profile  # CPU alone
    nice -n 15 python benchmarks/restore_profile.py --labels 1000000 --no-profile --phases
    nice -n 15 python benchmarks/restore_profile.py --labels 1000000 --resume 5000

``--resume S``: the checkpoint's format 3 instead (loop/resume.py): the first N - S labels
restored and imaged (``image_of`` + ``checkpoint_image.encode``: what a checkpoint costs),
then the image decoded and resumed with the last S in a fresh coordinator (what a failover
costs), against a restore of all N; the state's hash and counts compared.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import os
import pstats
import sqlite3
import tempfile
import time
import zlib
from pathlib import Path

from benchmarks.broker import DATASETS, read_rows
from stream_al.config import Settings
from stream_al.embed import make_embedder
from stream_al.labels import Label
from stream_al.learn.online import OnlineLearner
from stream_al.loop.admission import Admission
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import Purchase
from stream_al.loop.restore import History


def history(n: int, texts: list[str], labels: list[str], now: float):
    items = [Purchase(f"h-{i}", texts[i % len(texts)], f"b{i // 50}", "uncertainty",
                      "uncertainty", {}, 0, now + 86_400, 1.0, 0) for i in range(n)]
    answers = [Label(f"h-{i}", labels[i % len(texts)], f"ann-{i % 7}", now - n + i)
               for i in range(n)]
    return items, answers, [now - n + i for i in range(n)]


def _published_model(s: Settings, texts: list[str], labels: list[str], n: int):
    """The dead coordinator's last model, as benchmarks/failover.py publishes it: fitted on
    ``learner.memory`` labels, counting all ``n``."""
    embedder = make_embedder(s.embedder)
    learner = OnlineLearner(embedder.dim, s.learner)
    rows = [i % len(texts) for i in range(min(n, s.learner.memory))]
    learner.learn_many(embedder.embed([texts[r] for r in rows]), [labels[r] for r in rows],
                       fit=False)
    learner.replay.seen = n
    learner.fit()
    return learner.snapshot()


PHASES = {  # (owner, method): name; indented names are parts of the one above
    ("texts", "add_many"): "bought texts",
    ("", "store_many"): "labels, hash, agreement",
    ("labels", "add_new_many"): "  label store (sqlite)",
    ("labels_hash", "add_labels_many"): "  labels_hash",
    ("agreement", "add_many"): "  agreement window",
    ("pricing", "observe_labels"): "cost model",
    ("annotating", "restore"): "verdicts (Annotating.restore)",
    ("annotating.settled", "put_many"): "  settled rows (sqlite)",
    ("learned", "extend"): "learned rows",
    ("health.ood", "add_labelled_many"): "OOD detector's rows (constant)",
    ("stage.novelty", "add_many"): "novelty index (constant)",
}


def phases(coordinator: Coordinator) -> dict[str, float]:
    """CPU seconds of each step of :data:`PHASES` in the coordinator's next restore (each
    method wrapped on the instance; no profiler)."""
    spent: dict[str, float] = {}
    for (path, method), name in PHASES.items():
        owner = coordinator
        for part in filter(None, path.split(".")):
            owner = getattr(owner, part)
        f = getattr(owner, method)

        def wrapped(*a, f=f, name=name, **k):
            started = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - started

        setattr(owner, method, wrapped)
    return spent


def timed(f, *a, **k):
    t, c = time.perf_counter(), time.process_time()
    out = f(*a, **k)
    return out, time.perf_counter() - t, time.process_time() - c


def image_roundtrip(name: str, db: sqlite3.Connection) -> None:
    blob, w1, c1 = timed(db.serialize)
    packed, w2, c2 = timed(zlib.compress, blob, 1)
    _, w3, c3 = timed(zlib.decompress, packed)
    fresh = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    _, w4, c4 = timed(fresh.deserialize, blob)
    print(f"  image {name}: {len(blob) / 2**20:.0f} MB ({len(packed) / 2**20:.0f} MB zlib-1); "
          f"serialize {c1:.2f}s CPU, compress {c2:.2f}s, decompress {c3:.2f}s, "
          f"deserialize {c4:.2f}s", flush=True)


def resume_timing(s: Settings, embedder, items, labels, suffix: int, now: float, model) -> None:
    """Format 3 against a full restore, on the same history (see the module)."""
    from stream_al.loop.admission import AdmissionState
    from stream_al.loop.resume import image_of, resume
    from stream_al.stream.checkpoint_image import CheckpointImage, decode, encode
    from stream_al.stream.rebuild import TopicState

    cut = len(items) - suffix
    c = Coordinator(s, embedder.dim, embedder)
    _, w0, c0 = timed(c.restore, History(items[:cut], {}, labels[:cut], None, 0, now,
                                         model=model))
    image, w1, c1 = timed(image_of, c, {})
    raw, w2, c2 = timed(encode, CheckpointImage(image, AdmissionState({}, [], [], 0, now),
                                                TopicState()))
    del c, image
    print(f"  checkpoint: restore of {cut} {c0:.1f}s CPU, image_of {c1:.1f}s CPU ({w1:.1f}s "
          f"wall), encode {c2:.1f}s CPU: {len(raw) / 2**20:.0f} MB", flush=True)
    t, cpu = time.perf_counter(), time.process_time()
    image, w3, c3 = timed(lambda raw: decode(raw).coordinator, raw)
    c = Coordinator(s, embedder.dim, embedder)
    restored, w4, c4 = timed(resume, c, image, History(items[cut:], {}, labels[cut:], None, 0,
                                                       now, model=model))
    print(f"  failover: decode {c3:.1f}s CPU, resume {c4:.1f}s CPU; in all "
          f"{time.perf_counter() - t:.1f}s wall, {time.process_time() - cpu:.1f}s CPU: "
          f"{restored}; load {os.getloadavg()[0]:.1f}", flush=True)
    full = Coordinator(s, embedder.dim, embedder)
    whole, w5, c5 = timed(full.restore, History(items, {}, labels, None, 0, now, model=model))
    same = {"labels_hash": full.labels_hash.hexdigest() == c.labels_hash.hexdigest(),
            "restored": whole == dataclasses.replace(restored, embedded=whole.embedded),
            "n_labels": full.learner.snapshot().n_labels == c.learner.snapshot().n_labels,
            "weights": (full.learner.snapshot().weights == c.learner.snapshot().weights).all(),
            "spent": full.stage.budget.spent == c.stage.budget.spent}
    print(f"  full restore of {len(items)}: {w5:.1f}s wall, {c5:.1f}s CPU; the same "
          f"labels_hash, labels, n_labels and spent: {same}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="time the restore without cProfile (and skip the images)")
    parser.add_argument("--resume", type=int, default=None, metavar="S",
                        help="time an image of the first N - S labels resumed with the last S")
    parser.add_argument("--phases", action="store_true",
                        help="with --no-profile: CPU seconds of each step of the restore")
    args = parser.parse_args()
    texts, labels = read_rows(DATASETS / "ag_news.csv")
    texts, labels = texts[:-4000], labels[:-4000]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "c.yaml"
        config.write_text("embedder: {name: hashing}\nbudget: {fraction: 0.1, warmup_labels: 4}\n"
                          f"kafka: {{state_dir: {tmp}}}\n")
        s = Settings.load(config)
    now = time.time()
    items, answers, times = history(args.labels, texts, labels, now)
    embedder = make_embedder(s.embedder)
    admission = Admission(s.kafka, s.annotation.max_annotators)
    kept, w, c = timed(admission.replay_many, answers, times)
    print(f"{args.labels} labels: caps replay (Admission.replay_many) {w:.2f}s wall, "
          f"{c:.2f}s CPU", flush=True)
    model, w, c = timed(_published_model, s, texts, labels, args.labels)
    print(f"  the dead coordinator's last model (not timed in the restore): {c:.1f}s CPU",
          flush=True)
    if args.resume is not None:
        resume_timing(s, embedder, items, kept, args.resume, now, model)
        return
    coordinator = Coordinator(s, embedder.dim, embedder)
    spent = phases(coordinator) if args.phases and not args.profile else {}
    profile = cProfile.Profile()
    t, cpu = time.perf_counter(), time.process_time()
    if args.profile:
        profile.enable()
    restored = coordinator.restore(History(items, {}, kept, None, 0, now, model=model))
    profile.disable()
    print(f"  restore {time.perf_counter() - t:.1f}s wall, {time.process_time() - cpu:.1f}s CPU "
          f"({'under cProfile' if args.profile else 'no profiler'}): {restored}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    total = time.process_time() - cpu
    for name, seconds in spent.items():
        print(f"    {name:36s} {seconds:6.2f}s CPU {100 * seconds / total:4.0f}%", flush=True)
    if not args.profile:
        return
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue(), flush=True)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue(), flush=True)
    image_roundtrip("label store", coordinator.labels._db)
    image_roundtrip("bought texts", coordinator.texts._db)
    image_roundtrip("settled verdicts", coordinator.annotating.settled._db)
    ids = [f"h-{i}" for i in range(args.labels)]
    _, w, c = timed(lambda: sorted(hash(i) for i in ids))
    print(f"  bought texts' hash array recomputed from the ids: {c:.2f}s CPU", flush=True)


if __name__ == "__main__":
    main()
