"""Real labelled text for the annotation tests: an AG News slice and its static embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from stream_al.config import EmbedderSettings
from stream_al.embed import make_embedder
from stream_al.runtime import limit_blas_threads
from tests.data import rows


@dataclass(frozen=True)
class Corpus:
    ids: list[str]
    texts: list[str]
    labels: list[str]
    X: np.ndarray

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))


def corpus(name: str, n: int) -> Corpus:
    limit_blas_threads()
    data = rows(name, n)
    texts, labels = [t for t, _ in data], [y for _, y in data]
    X = make_embedder(EmbedderSettings(name="static")).embed(texts)  # built once per machine
    return Corpus([f"{name}-{i}" for i in range(n)], texts, labels, X)


@pytest.fixture(scope="session")
def ag_news() -> Corpus:
    return corpus("ag_news", 1600)
