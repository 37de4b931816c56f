"""The static embedder: distilled once into the cache, loaded from it ever after."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import model2vec.distill
import numpy as np
import pytest

from stream_al.embed import StaticEmbedder
from stream_al.embed.static import build_static_model, static_model_dir

REPO = Path(__file__).resolve().parents[2]


def _forbid_distill(*args, **kwargs):
    raise AssertionError("distill() was called although the model is in the cache")


def test_the_first_construction_distills_into_the_cache(static_embedder, embed_cache):
    assert static_embedder.built
    assert static_embedder.path == static_model_dir(embed_cache, 256)
    assert (static_embedder.path / "config.json").is_file()
    assert not [p for p in embed_cache.iterdir() if p.name.startswith(".model2vec-minilm-256.")
                and p.is_dir()], "a staging directory was left behind"


def test_later_constructions_load_from_the_cache_without_distilling(
    static_embedder, embed_cache, ag_news, monkeypatch
):
    monkeypatch.setattr(model2vec.distill, "distill", _forbid_distill)
    again = StaticEmbedder(cache_dir=embed_cache, dim=256)
    assert not again.built
    texts = [text for text, _ in ag_news[:5]]
    np.testing.assert_array_equal(again.embed(texts), static_embedder.embed(texts))


def test_building_when_the_model_is_there_is_a_no_op(static_embedder, monkeypatch):
    monkeypatch.setattr(model2vec.distill, "distill", _forbid_distill)
    assert build_static_model(static_embedder.path, dim=256) is False


def test_concurrent_builders_distill_once_and_never_expose_half_a_model(
    static_embedder, tmp_path, monkeypatch
):
    """Two builders race for an empty cache: one distills, the other waits and reuses it."""
    from model2vec import StaticModel

    distilled = StaticModel.from_pretrained(static_embedder.path)
    calls = []

    def slow_distill(**kwargs):  # the real model, handed over slowly to widen the race
        calls.append(kwargs)
        time.sleep(0.5)
        return distilled

    monkeypatch.setattr(model2vec.distill, "distill", slow_distill)
    target = static_model_dir(tmp_path, 256)
    results: list[bool] = []
    builders = [threading.Thread(target=lambda: results.append(build_static_model(target, 256)))
                for _ in range(2)]
    for b in builders:
        b.start()
    for b in builders:
        b.join()
    assert sorted(results) == [False, True]
    assert len(calls) == 1 and calls[0]["pca_dims"] == 256
    assert StaticEmbedder(cache_dir=tmp_path, dim=256).dim == 256
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [target.name]


def test_a_cached_model_embeds_without_importing_torch(static_embedder, embed_cache):
    code = (
        "import sys; from pathlib import Path; from stream_al.embed import StaticEmbedder; "
        "StaticEmbedder(cache_dir=Path(sys.argv[1])).embed(['Oil prices rise']); "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(embed_cache)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 512}, r"static dim must be in \[2, 384\].* got 512"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ],
)
def test_rejects_impossible_sizes_naming_the_fix(embed_cache, kwargs, message):
    with pytest.raises(ValueError, match=message):
        StaticEmbedder(cache_dir=embed_cache, **kwargs)
