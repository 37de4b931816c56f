"""The embedder contract: texts in, one float32 row per text out, batch first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


class EmbeddingError(ValueError):
    """Texts that cannot be embedded (empty, not strings); the message names the offender."""


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape ``(len(texts), dim)``, dtype float32, rows of unit norm."""
        ...


def check_texts(texts: Sequence[str]) -> None:
    """Raise :class:`EmbeddingError` naming the first text that is not a non-blank string."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise EmbeddingError(f"text #{i} is {type(t).__name__}, expected str")
        if not t.strip():
            raise EmbeddingError(f"text #{i} is empty or whitespace; drop it before embedding")


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return x / norms
