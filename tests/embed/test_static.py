"""The static embedder: a shipped model with a fixed fingerprint; other widths distilled once.

Tests marked ``model`` distil MiniLM (stream-al[minilm]); the others need the core install only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from stream_al.embed import EmbeddingError, StaticEmbedder
from stream_al.embed import static as static_module
from stream_al.embed.static import (
    SHIPPED_FILES_SHA256,
    SHIPPED_MODEL_DIR,
    SHIPPED_SHA256,
    static_model_dir,
    weights_sha256,
)
from stream_al.embed.static_build import build_static_model, distil

REPO = Path(__file__).resolve().parents[2]
PINNED_VECTORS = Path(__file__).with_name("static_vectors.npy")
"""The shipped model's vectors of :data:`PINNED_TEXTS`, saved when the model was pinned. A
deliberate change of the model (or of model2vec's tokenising and pooling) rewrites it with
``np.save(PINNED_VECTORS, StaticEmbedder(cache_dir=...).embed(PINNED_TEXTS))``."""
PINNED_TEXTS = [
    "Oil prices rise as supply fears grow",
    "The team won the championship after extra time",
    "how do i reset my card pin",
    "wake me up at seven tomorrow",
    "an utterly charming and hilarious film",
    "Transfer $250.00 to savings, ASAP!!",
    "antidisestablishmentarianism",
    "Ünïcödé çàfé naïve résumé",
    "\U0001f600\U0001f680",
]
"""Words, numbers, accents and word pieces only the [UNK] vector stands for."""


def _forbid_distill(*args, **kwargs):
    raise AssertionError("distill() was called although the model is there")


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model rebuilt from MiniLM by the project's build step (one distillation)."""
    target = tmp_path_factory.mktemp("rebuild") / "static-256"
    distil(target, 256)
    return target


def test_every_install_embeds_with_the_same_weights():
    assert weights_sha256(SHIPPED_MODEL_DIR) == SHIPPED_SHA256


def test_every_install_splits_texts_with_the_same_vocabulary_and_pooling():
    import hashlib

    for name, pinned in SHIPPED_FILES_SHA256.items():
        assert hashlib.sha256((SHIPPED_MODEL_DIR / name).read_bytes()).hexdigest() == pinned, name


def test_every_install_gives_a_text_the_pinned_vector(static_embedder):
    """The model's fingerprint as vectors: weights, vocabulary, tokeniser and pooling at once."""
    pinned = np.load(PINNED_VECTORS)
    vectors = static_embedder.embed(PINNED_TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == pinned.shape == (len(PINNED_TEXTS), 256)
    np.testing.assert_allclose(vectors, pinned, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SHIPPED_FILES_SHA256))
def test_a_model_whose_vocabulary_or_pooling_changed_is_refused(embed_cache, monkeypatch, name):
    monkeypatch.setitem(static_module.SHIPPED_FILES_SHA256, name, "0" * 64)
    with pytest.raises(EmbeddingError, match=f"{name}.*reinstall stream-al"):
        StaticEmbedder(cache_dir=embed_cache)


def test_the_shipped_model_states_its_source_licence_and_fingerprint():
    provenance = (SHIPPED_MODEL_DIR / "PROVENANCE.md").read_text()
    assert "sentence-transformers/all-MiniLM-L6-v2" in provenance
    assert "Apache-2.0" in provenance
    assert SHIPPED_SHA256 in provenance
    assert not (SHIPPED_MODEL_DIR / "README.md").exists(), "model2vec's card says MIT"


def test_the_shipped_weights_stay_small():
    assert (SHIPPED_MODEL_DIR / "model.safetensors").stat().st_size < 20_000_000  # float16


def test_the_default_width_loads_the_shipped_model_without_distilling(
    static_embedder, embed_cache, ag_news
):
    again = StaticEmbedder(cache_dir=embed_cache, dim=256)
    assert not again.built and again.path == SHIPPED_MODEL_DIR
    assert static_model_dir(embed_cache, 256) == SHIPPED_MODEL_DIR
    texts = [text for text, _ in ag_news[:5]]
    np.testing.assert_array_equal(again.embed(texts), static_embedder.embed(texts))
    assert not list(embed_cache.glob("model2vec-*")), "nothing is written to the cache"


def test_a_model_that_is_not_the_shipped_one_is_refused_naming_the_fix(embed_cache, monkeypatch):
    monkeypatch.setattr(static_module, "SHIPPED_SHA256", "0" * 64)
    with pytest.raises(EmbeddingError, match="reinstall stream-al"):
        StaticEmbedder(cache_dir=embed_cache)


def test_the_shipped_model_embeds_without_importing_torch(embed_cache):
    code = (
        "import sys; from pathlib import Path; from stream_al.embed import StaticEmbedder; "
        "StaticEmbedder(cache_dir=Path(sys.argv[1])).embed(['Oil prices rise']); "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(embed_cache)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("preset", [None, "true"])
def test_texts_are_cut_into_word_pieces_on_the_calling_thread_unless_the_user_said_otherwise(
    embed_cache, preset
):
    code = (  # the share of the embedding's CPU time spent on the calling thread
        "import os, sys, psutil; from pathlib import Path; "
        "from stream_al.embed import StaticEmbedder; "
        "e = StaticEmbedder(cache_dir=Path(sys.argv[1])); p = psutil.Process(); "
        "cpu = lambda: {t.id: t.user_time + t.system_time for t in p.threads()}; "
        "before = cpu(); e.embed(['Oil prices rise as the long winter begins'] * 20000); "
        "after = cpu(); used = {k: v - before.get(k, 0) for k, v in after.items()}; "
        "print(os.environ['TOKENIZERS_PARALLELISM'], used[os.getpid()] / sum(used.values()))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}
    if preset is not None:
        env["TOKENIZERS_PARALLELISM"] = preset
    done = subprocess.run([sys.executable, "-c", code, str(embed_cache)], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    setting, on_caller = done.stdout.split()
    assert setting == (preset or "false")
    assert (float(on_caller) > 0.95) == (preset is None), done.stdout


@pytest.mark.model
def test_the_build_step_remakes_the_shipped_model(rebuilt, ag_news):
    """Same vectors (byte-identical weights here; another CPU may round a few differently)."""
    from model2vec import StaticModel

    texts = [text for text, _ in ag_news[:200]]
    shipped = StaticModel.from_pretrained(SHIPPED_MODEL_DIR).encode(texts)
    again = StaticModel.from_pretrained(rebuilt).encode(texts)
    cosines = (shipped * again).sum(1) / np.linalg.norm(shipped, axis=1) / np.linalg.norm(again, axis=1)
    assert cosines.min() >= 0.9999
    assert not (rebuilt / "README.md").exists()


@pytest.mark.model
def test_building_when_the_model_is_there_is_a_no_op(rebuilt, monkeypatch):
    monkeypatch.setattr("model2vec.distill.distill", _forbid_distill)
    assert build_static_model(rebuilt, dim=256) is False


@pytest.mark.model
def test_concurrent_builders_distill_once_and_never_expose_half_a_model(
    rebuilt, tmp_path, monkeypatch
):
    """Two builders race for an empty cache: one distills, the other waits and reuses it."""
    from model2vec import StaticModel

    distilled = StaticModel.from_pretrained(rebuilt)
    calls = []

    def slow_distill(**kwargs):  # a real model, handed over slowly to widen the race
        calls.append(kwargs)
        time.sleep(0.5)
        return distilled

    monkeypatch.setattr("model2vec.distill.distill", slow_distill)
    target = static_model_dir(tmp_path, 128)
    results: list[bool] = []
    builders = [threading.Thread(target=lambda: results.append(build_static_model(target, 128)))
                for _ in range(2)]
    for b in builders:
        b.start()
    for b in builders:
        b.join()
    assert sorted(results) == [False, True]
    assert len(calls) == 1 and calls[0]["pca_dims"] == 128
    assert StaticModel.from_pretrained(target).dim == distilled.dim
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [target.name]


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
