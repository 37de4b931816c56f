"""make_embedder: the configuration names the embedder; unknown names are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stream_al.config import ConfigError, EmbedderSettings, Settings
from stream_al.embed import (
    EMBEDDER_NAMES,
    HashingEmbedder,
    MiniLMEmbedder,
    StaticEmbedder,
    make_embedder,
)

REPO = Path(__file__).resolve().parents[2]


def test_the_choices_are_hashing_static_and_minilm():
    assert EMBEDDER_NAMES == ("hashing", "static", "minilm")


def test_hashing_by_name_with_its_settings(settings_for):
    embedder = make_embedder(settings_for("hashing", hashing_features=2**12, batch_size=3))
    assert isinstance(embedder, HashingEmbedder)
    assert (embedder.n_features, embedder.batch_size, embedder.dim) == (2**12, 3, 512)


def test_static_by_name_from_the_shared_cache(static_embedder, settings_for):
    embedder = make_embedder(settings_for("static", batch_size=5))
    assert isinstance(embedder, StaticEmbedder)
    assert (embedder.path, embedder.batch_size, embedder.built) == (static_embedder.path, 5, False)


@pytest.mark.model
def test_minilm_by_name(minilm_embedder):
    assert isinstance(minilm_embedder, MiniLMEmbedder)
    assert (minilm_embedder.name, minilm_embedder.dim, minilm_embedder.batch_size) == (
        "minilm", 384, 64)


def test_the_name_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STREAM_AL_EMBEDDER__NAME", "hashing")
    assert isinstance(make_embedder(Settings.load().embedder), HashingEmbedder)


def test_an_unknown_name_is_refused_listing_the_choices():
    settings = EmbedderSettings.model_construct(name="bert")
    with pytest.raises(ConfigError, match="'bert'.* one of: hashing, static, minilm"):
        make_embedder(settings)


def test_importing_the_package_loads_no_model_library():
    code = (
        "import sys, stream_al.embed; "
        "print(sorted(m for m in ('torch', 'sklearn', 'model2vec', 'transformers') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"
