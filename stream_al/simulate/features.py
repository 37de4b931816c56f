"""Embeddings of a whole dataset, computed in batches once and cached on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from stream_al.dataset import LabeledTexts
from stream_al.embed.base import Embedder


def embed_dataset(embedder: Embedder, data: LabeledTexts, cache_dir: Path | None,
                  batch_size: int = 1024,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Embed every text of ``data``; reuse ``cache_dir/<fingerprint>-<embedder>.npy`` if there.

    An embedder whose weights can differ between installs names them in ``model_id`` (the
    static embedder: its weights' sha256), which is part of the file name: vectors of another
    model are never reused (stale vectors of a static model distilled on another thread count
    turned the demo's 0.814 into 0.845).
    """
    path = None
    if cache_dir is not None:
        model = getattr(embedder, "model_id", "")
        name = f"{data.fingerprint()}-{embedder.name}-{embedder.dim}{f'-{model}' if model else ''}"
        path = Path(cache_dir) / "embeddings" / f"{name}.npy"
        if path.exists():
            X = np.load(path)
            if X.shape == (len(data), embedder.dim):
                if progress:
                    progress(len(data))
                return X
    parts = []
    for start in range(0, len(data), batch_size):
        chunk = data.texts[start : start + batch_size]
        parts.append(embedder.embed(chunk))
        if progress:
            progress(len(chunk))
    X = np.vstack(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, X)
        tmp.replace(path)
    return X
