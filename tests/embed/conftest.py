"""Fixtures for the embedder tests: real AG News texts and one instance of each embedder.

The static embedder loads the model the package ships; MiniLM is loaded once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_al.config import EmbedderSettings
from stream_al.embed import Embedder, make_embedder
from tests.data import rows


@pytest.fixture(scope="session")
def ag_news() -> list[tuple[str, str]]:
    """400 shuffled (text, label) rows of AG News: four topics, about 100 each."""
    return list(rows("ag_news", 400))


@pytest.fixture(scope="session")
def embed_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh model cache shared by every embed test in the session."""
    return tmp_path_factory.mktemp("embed-cache")


@pytest.fixture(scope="session")
def settings_for(embed_cache: Path):
    """``settings_for(name, **overrides)``: embedder settings using the shared cache."""

    def build(name: str, **overrides) -> EmbedderSettings:
        return EmbedderSettings(name=name, cache_dir=embed_cache, **overrides)

    return build


@pytest.fixture(scope="session")
def hashing_embedder(settings_for) -> Embedder:
    return make_embedder(settings_for("hashing"))


@pytest.fixture(scope="session")
def static_embedder(settings_for) -> Embedder:
    """The shipped static model (256 wide), checked against its fingerprint."""
    return make_embedder(settings_for("static"))


@pytest.fixture(scope="session")
def minilm_embedder(settings_for) -> Embedder:
    return make_embedder(settings_for("minilm", batch_size=64))
