"""Texts per second of each embedder on the same real AG News texts, for a few batch sizes.

The texts are fed the way the pipeline feeds them: ``embed`` calls of ``--call-size`` texts
(the Kafka worker's batch, ``kafka.batch_max``), inside which the embedder works in batches of
its ``batch_size`` (``embedder.batch_size`` in the configuration), the knob compared here.
The ``1/call`` column is the one-message-at-a-time path. Construction time (model load, or
the one-off static distillation when the cache is empty) is reported and not counted.

    python -m benchmarks.embedder_speed --n 1000 --batch-sizes 8 32 128 512

(run from the repository root).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

from stream_al.config import EmbedderSettings
from stream_al.embed import EMBEDDER_NAMES, Embedder, make_embedder

AG_NEWS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ag_news.csv"


def read_texts(path: Path, n: int) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [row["text"] for _, row in zip(range(n), csv.DictReader(f), strict=False)]


def texts_per_second(embedder: Embedder, texts: list[str], call_size: int,
                     batch_size: int) -> float:
    embedder.batch_size = batch_size
    embedder.embed(texts[:call_size])  # warm-up: lazy allocations, first-call caches
    start = time.perf_counter()
    for i in range(0, len(texts), call_size):
        embedder.embed(texts[i:i + call_size])
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=AG_NEWS, help="CSV with a 'text' column")
    parser.add_argument("--n", type=int, default=1000, help="texts to embed per measurement")
    parser.add_argument("--call-size", type=int, default=512, help="texts per embed() call")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32, 128, 512])
    parser.add_argument("--embedders", nargs="+", choices=EMBEDDER_NAMES,
                        default=list(EMBEDDER_NAMES))
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="model cache (default: EmbedderSettings' cache_dir)")
    args = parser.parse_args()

    texts = read_texts(args.data, args.n)
    print(f"{len(texts)} texts from {args.data.name}, mean {sum(map(len, texts)) / len(texts):.0f}"
          f" chars; {len(os.sched_getaffinity(0))} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"texts/s, embed() calls of {args.call_size} texts, by embedder batch_size (bs):")
    print(f"{'embedder':<9} {'dim':>4} {'load s':>7} {'1/call':>8} " + " ".join(
        f"{'bs=' + str(b):>8}" for b in args.batch_sizes))
    best: dict[str, tuple[int, float]] = {}
    for name in args.embedders:
        overrides = {"cache_dir": args.cache_dir} if args.cache_dir else {}
        start = time.perf_counter()
        embedder = make_embedder(EmbedderSettings(name=name, **overrides))
        load = time.perf_counter() - start
        one = texts_per_second(embedder, texts, call_size=1, batch_size=1)
        rates = {b: texts_per_second(embedder, texts, args.call_size, b) for b in args.batch_sizes}
        best[name] = max(rates.items(), key=lambda item: item[1])
        print(f"{name:<9} {embedder.dim:>4} {load:>7.1f} {one:>8,.0f} "
              + " ".join(f"{rates[b]:>8,.0f}" for b in args.batch_sizes), flush=True)
    print("best batch size: " + ", ".join(
        f"{name} {b} ({rate:,.0f} texts/s)" for name, (b, rate) in best.items()))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
