"""Real slices for the learner tests: dataset rows embedded with the static embedder."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from stream_al.config import EmbedderSettings
from stream_al.embed import make_embedder
from stream_al.runtime import limit_blas_threads
from tests.data import rows

Slice = tuple[np.ndarray, np.ndarray]


@pytest.fixture(scope="session")
def real_slice() -> Callable[[str, int], Slice]:
    """``real_slice(name, n)``: ``n`` shuffled rows of ``name``.csv as (static embeddings,
    labels); each slice embedded once per session. BLAS single-threaded, as the benchmarks."""
    limit_blas_threads()
    embedder = make_embedder(EmbedderSettings(name="static"))
    cache: dict[tuple[str, int], Slice] = {}

    def build(name: str, n: int) -> Slice:
        if (name, n) not in cache:
            texts, labels = zip(*rows(name, n), strict=True)
            cache[name, n] = embedder.embed(list(texts)), np.array(labels, dtype=object)
        return cache[name, n]

    return build
