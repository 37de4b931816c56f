"""Embedders: texts in, unit float32 rows out, batch first, chosen by configuration.

Three variants behind one :class:`Embedder` protocol:

- ``hashing``: hashed word n-grams projected to 512 dense dims; no model, fastest.
- ``static``: model2vec word-piece vectors distilled from all-MiniLM-L6-v2, shipped; fast.
- ``minilm``: the all-MiniLM-L6-v2 transformer itself; best quality, slowest.

Importing this package is cheap: scikit-learn, model2vec and torch are imported only when an
embedder is built.

>>> from stream_al.config import EmbedderSettings
>>> embedder = make_embedder(EmbedderSettings(name="hashing"))
>>> embedder.embed(["Oil prices rise", "Team wins the cup"]).shape
(2, 512)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from stream_al.config import ConfigError, EmbedderName, EmbedderSettings
from stream_al.embed.base import Embedder, EmbeddingError, check_texts, l2_normalise
from stream_al.embed.hashing import HashingEmbedder
from stream_al.embed.minilm import MiniLMEmbedder
from stream_al.embed.static import StaticEmbedder

_FACTORIES: dict[str, Callable[[EmbedderSettings], Embedder]] = {
    "hashing": lambda s: HashingEmbedder(n_features=s.hashing_features,
                                         batch_size=s.batch_size or 1024),
    "static": lambda s: StaticEmbedder(cache_dir=s.cache_dir, dim=s.static_dim,
                                       batch_size=s.batch_size or 256),
    "minilm": lambda s: MiniLMEmbedder(batch_size=s.batch_size),
}
EMBEDDER_NAMES: tuple[str, ...] = get_args(EmbedderName)
assert set(EMBEDDER_NAMES) == set(_FACTORIES), "config.EmbedderName and _FACTORIES disagree"


def make_embedder(settings: EmbedderSettings) -> Embedder:
    """Build the embedder named by ``settings.name`` with its part of the settings."""
    factory = _FACTORIES.get(settings.name)
    if factory is None:
        raise ConfigError(
            f"unknown embedder {settings.name!r}; set embedder.name to one of: "
            f"{', '.join(EMBEDDER_NAMES)}"
        )
    return factory(settings)


__all__ = [
    "EMBEDDER_NAMES",
    "Embedder",
    "EmbeddingError",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "StaticEmbedder",
    "check_texts",
    "l2_normalise",
    "make_embedder",
]
