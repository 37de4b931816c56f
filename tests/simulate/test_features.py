"""Cached dataset embeddings are reused only for the same data, embedder and model weights."""

from pathlib import Path

import numpy as np

from stream_al.dataset import LabeledTexts
from stream_al.embed import HashingEmbedder, StaticEmbedder
from stream_al.embed.static import SHIPPED_SHA256
from stream_al.simulate.features import embed_dataset

DATA = LabeledTexts(["Oil prices rise", "Team wins the cup", "New chip is faster"],
                    ["business", "sports", "tech"])


def test_static_vectors_are_cached_under_the_models_fingerprint(tmp_path: Path):
    embedder = StaticEmbedder(cache_dir=tmp_path)
    X = embed_dataset(embedder, DATA, tmp_path)
    (cached,) = (tmp_path / "embeddings").iterdir()
    assert cached.name.endswith(f"-static-256-{SHIPPED_SHA256[:16]}.npy")
    np.testing.assert_array_equal(np.load(cached), X)


def test_vectors_of_another_model_are_not_reused(tmp_path: Path):
    """A cache written with other weights under the same embedder name and width."""
    embedder = StaticEmbedder(cache_dir=tmp_path)
    stale = tmp_path / "embeddings" / f"{DATA.fingerprint()}-static-256.npy"
    stale.parent.mkdir()
    np.save(stale, np.zeros((len(DATA), 256), dtype=np.float32))
    X = embed_dataset(embedder, DATA, tmp_path)
    np.testing.assert_array_equal(X, embedder.embed(DATA.texts))


def test_an_embedder_without_model_weights_keeps_its_cache_name(tmp_path: Path):
    embed_dataset(HashingEmbedder(), DATA, tmp_path)
    (cached,) = (tmp_path / "embeddings").iterdir()
    assert cached.name == f"{DATA.fingerprint()}-hashing-512.npy"
