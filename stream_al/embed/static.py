"""Static word-piece embeddings distilled from all-MiniLM-L6-v2 with model2vec.

A text's vector is the weighted mean of its word-piece vectors: no transformer at inference,
so it is some 200 times faster than MiniLM on two cores and needs no torch once built.
The distilled model is made once (about 15-20 s on two cores) from the locally installed
MiniLM weights, saved under ``cache_dir/model2vec-minilm-<dim>``, and loaded from there on
later runs. Concurrent builders are serialised by a lock file and each build is written to a
temporary directory that is renamed into place, so no reader ever sees half a model.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stream_al.embed.base import check_texts, l2_normalise
from stream_al.embed.minilm import minilm_model_path

if TYPE_CHECKING:
    from model2vec import StaticModel

MINILM_WIDTH = 384


def static_model_dir(cache_dir: Path, dim: int) -> Path:
    """Where the distilled model of dimension ``dim`` lives (or will live) in ``cache_dir``."""
    return Path(cache_dir) / f"model2vec-minilm-{dim}"


def build_static_model(target: Path, dim: int) -> bool:
    """Distill MiniLM to a ``dim``-wide static model at ``target`` unless one is there already.

    Returns True if this call built the model, False if it was found (possibly because a
    concurrent process finished building it while this one waited for the lock).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return False
        for stale in target.parent.glob(f".{target.name}.*"):  # staging left by a killed build
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        source = minilm_model_path()
        from model2vec.distill import distill

        model = distill(model_name=str(source), pca_dims=dim, device="cpu")
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            model.save_pretrained(staging)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return True


class StaticEmbedder:
    """model2vec embeddings distilled from all-MiniLM-L6-v2: ``dim`` dims, unit rows, float32.

    ``built`` tells whether constructing this instance had to distill the model (True) or
    loaded it from ``cache_dir`` (False).

    >>> e = StaticEmbedder(dim=256, cache_dir=Path("/tmp/stream-al-doc"))  # doctest: +SKIP
    >>> e.embed(["Oil prices rise"]).shape  # doctest: +SKIP
    (1, 256)
    """

    name = "static"

    def __init__(self, cache_dir: Path, dim: int = 256, batch_size: int = 1024) -> None:
        if not 2 <= dim <= MINILM_WIDTH:
            raise ValueError(f"static dim must be in [2, {MINILM_WIDTH}] (PCA of MiniLM's "
                             f"{MINILM_WIDTH} dims), got {dim}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        from model2vec import StaticModel

        self.path = static_model_dir(cache_dir, dim)
        self.built = False if self.path.is_dir() else build_static_model(self.path, dim)
        self.batch_size = batch_size
        self._model = StaticModel.from_pretrained(self.path)
        self.dim = int(self._model.dim)
        self._unknown = _unknown_token_vector(self._model)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Rows of shape ``(len(texts), dim)``, float32, unit norm."""
        check_texts(texts)
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            use_multiprocessing=False,
            show_progress_bar=False,
        )
        vectors = l2_normalise(vectors)
        # model2vec drops unknown word pieces, so a text made only of them (emoji, a
        # 200-letter "word") comes back as zeros; give it the [UNK] vector, as MiniLM would.
        vectors[~vectors.any(axis=1)] = self._unknown
        return vectors


def _unknown_token_vector(model: StaticModel) -> np.ndarray:
    """Unit vector of the model's unknown token (mean of all tokens if it has none)."""
    table = np.asarray(model.embedding, dtype=np.float32)
    row = table[model.unk_token_id] if model.unk_token_id is not None else table.mean(axis=0)
    return l2_normalise(row[None, :])[0]
