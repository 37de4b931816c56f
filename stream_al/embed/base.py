"""The embedder contract: texts in, one float32 row per text out, batch first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from stream_al.errors import StreamAlError


class EmbeddingError(StreamAlError, ValueError):
    """Texts that cannot be embedded (empty, not strings); the message names the offender."""


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int
    # Optional: ``parallel_calls`` (int), how many ``embed`` calls may usefully run at once;
    # 1 when absent (see :func:`parallel_calls`).

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape ``(len(texts), dim)``, dtype float32, rows of unit norm."""
        ...


def parallel_calls(embedder: Embedder) -> int:
    """How many ``embed`` calls of ``embedder`` may run at once to keep its threads busy: an
    embedder with threads of its own (MiniLM's model copies) says so with a ``parallel_calls``
    attribute; one whose call already uses every core does not, and gets 1."""
    return max(1, int(getattr(embedder, "parallel_calls", 1)))


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
