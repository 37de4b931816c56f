"""Small slices of the real datasets in ../shared/datasets, for tests."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@lru_cache(maxsize=8)
def rows(name: str, n: int, seed: int = 0) -> tuple[tuple[str, str], ...]:
    """``n`` (text, label) rows of ``name``.csv, shuffled with ``seed`` (the files are grouped)."""
    import random

    with (DATASETS / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        all_rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    random.Random(seed).shuffle(all_rows)
    return tuple(all_rows[:n])


def static_slice(name: str, n: int):  # -> (LabeledTexts, np.ndarray)
    """``n`` shuffled rows of ``name``.csv as a :class:`LabeledTexts` and their static
    embeddings (the model ships with the package: the same vectors on every machine)."""
    from stream_al.config import EmbedderSettings
    from stream_al.dataset import LabeledTexts
    from stream_al.embed import make_embedder

    texts, labels = (list(column) for column in zip(*rows(name, n), strict=True))
    X = make_embedder(EmbedderSettings(name="static")).embed(texts)
    return LabeledTexts(texts, labels), X
