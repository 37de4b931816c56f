"""Static word-piece embeddings distilled from all-MiniLM-L6-v2 with model2vec.

A text's vector is the weighted mean of its word-piece vectors: no transformer at inference,
so it is some 200 times faster than MiniLM on two cores and needs no torch.
The 256-wide model ships with the package (``static_model/``, 15 MB of float16 weights, built
by ``python -m stream_al.embed.static_build`` from the MiniLM weights; provenance and licence
in its ``PROVENANCE.md``), so every install embeds with the same bytes: the loader checks its
fingerprint. Another width is distilled once into ``cache_dir/model2vec-minilm-<dim>``, which
needs ``stream-al[minilm]`` (torch).

Word pieces are cut on the calling thread: the embedder sets ``TOKENIZERS_PARALLELISM=false``
(process-wide, unless the environment already says otherwise). Parallel by data, not inside a
call, as for MiniLM: the Hugging Face tokenizer's own thread pool, woken for every call and
spinning after it, cost a scorer 39-47 CPU-ms per 1,000 SST-2 texts on two shared cores, against
38-39 on one thread, and the pool only competes with the other workers for the cores
(``benchmarks/three_workers.py``; benchmarks/README.md, issue 17).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stream_al.embed.base import EmbeddingError, check_texts, l2_normalise
from stream_al.embed.static_build import (
    SHIPPED_DIM,
    SHIPPED_MODEL_DIR,
    WEIGHTS,
    build_static_model,
    file_sha256,
    weights_sha256,
)

if TYPE_CHECKING:
    from model2vec import StaticModel

MINILM_WIDTH = 384
SHIPPED_SHA256 = "9c92f49731960451327a85b8e8e9dd8a2ea1ce7e42f014243fb279542b18d0d8"
"""sha256 of the shipped weights; ``static_build`` prints it when it rebuilds them."""
SHIPPED_FILES_SHA256 = {
    "tokenizer.json": "dd33465341c98889c3338356b6200c8b232b89af5f1b7aa8e6ee1d4d7a699631",
    "config.json": "43c56112b9959f4057d810e507b7413a2f34c87df3dc4d374c0f5c6aadcaec53",
    "modules.json": "a68dcbed0429dcdd5bfdca92b0b03cc30d09122c0a3fcf4758787d4b244e45b2",
}
"""sha256 of the other files that decide a text's vector (the vocabulary and how it is split,
the normaliser, pooling): the weights' fingerprint alone would let them change unnoticed."""


def static_model_dir(cache_dir: Path, dim: int) -> Path:
    """Where the model of width ``dim`` lives: shipped for 256, else in ``cache_dir``."""
    if dim == SHIPPED_DIM:
        return SHIPPED_MODEL_DIR
    return Path(cache_dir) / f"model2vec-minilm-{dim}"


def shipped_model_path() -> Path:
    """The shipped model's directory, checked against its fingerprint."""
    if not all((SHIPPED_MODEL_DIR / name).is_file() for name in (WEIGHTS, *SHIPPED_FILES_SHA256)):
        raise EmbeddingError(f"the static model is missing from {SHIPPED_MODEL_DIR}; reinstall "
                             "stream-al (or run python -m stream_al.embed.static_build)")
    found = weights_sha256(SHIPPED_MODEL_DIR)
    if found != SHIPPED_SHA256:
        raise EmbeddingError(
            f"the static model in {SHIPPED_MODEL_DIR} has sha256 {found}, not the shipped "
            f"{SHIPPED_SHA256}; reinstall stream-al, or after a deliberate rebuild set "
            "stream_al.embed.static.SHIPPED_SHA256 to the fingerprint static_build printed"
        )
    for name, pinned in SHIPPED_FILES_SHA256.items():
        found = file_sha256(SHIPPED_MODEL_DIR / name)
        if found != pinned:
            raise EmbeddingError(
                f"the static model's {name} in {SHIPPED_MODEL_DIR} has sha256 {found}, not the "
                f"shipped {pinned}; reinstall stream-al, or after a deliberate rebuild update "
                "stream_al.embed.static.SHIPPED_FILES_SHA256"
            )
    return SHIPPED_MODEL_DIR


TOKENIZER_THREADS = "TOKENIZERS_PARALLELISM"
"""The Hugging Face tokenizer's switch for its own thread pool (``false``: the calling thread)."""


class StaticEmbedder:
    """model2vec embeddings distilled from all-MiniLM-L6-v2: ``dim`` dims, unit rows, float32.

    ``built`` tells whether constructing this instance had to distill the model (True: a width
    other than the shipped 256, first use of ``cache_dir``) or loaded it (False).

    >>> e = StaticEmbedder(cache_dir=Path("/tmp/stream-al-doc"))
    >>> e.embed(["Oil prices rise"]).shape
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

        os.environ.setdefault(TOKENIZER_THREADS, "false")  # read by the tokenizer at each call
        self.path = static_model_dir(cache_dir, dim)
        self.built = False
        if dim == SHIPPED_DIM:
            shipped_model_path()
        elif not self.path.is_dir():
            self.built = build_static_model(self.path, dim)
        self.batch_size = batch_size
        self.model_id = (SHIPPED_SHA256 if dim == SHIPPED_DIM else weights_sha256(self.path))[:16]
        """The weights' fingerprint: caches of vectors are keyed by it."""
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
