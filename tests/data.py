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
