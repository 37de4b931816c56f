"""The hashing embedder: no model, no fitting, the same vector in every process."""

from __future__ import annotations

import os
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from stream_al.embed import HashingEmbedder
from stream_al.embed.hashing import sparse_projection

REPO = Path(__file__).resolve().parents[2]


def test_needs_no_fitting_before_embedding():
    vectors = HashingEmbedder(dim=64, n_features=2**12).embed(["Oil prices rise"])
    assert vectors.shape == (1, 64)


def test_gives_the_same_vector_in_another_process_with_another_hash_seed(ag_news):
    text = ag_news[0][0]
    code = (
        "import sys, numpy as np; from stream_al.embed import HashingEmbedder; "
        "np.save(sys.stdout.buffer, HashingEmbedder().embed([sys.argv[1]]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code, text], env=env, cwd=REPO,
                          capture_output=True, check=True)
    theirs = np.load(BytesIO(done.stdout))
    np.testing.assert_array_equal(theirs, HashingEmbedder().embed([text]))


def test_the_seed_chooses_the_projection(ag_news):
    text = ag_news[0][0]
    a = HashingEmbedder(seed=0).embed([text])
    b = HashingEmbedder(seed=1).embed([text])
    assert not np.allclose(a, b)


def test_shared_words_make_texts_closer():
    oil, gas, cup = HashingEmbedder().embed(
        ["Crude oil prices rise in Asian trade", "Oil prices rise on supply fears",
         "Arsenal win the cup final at Wembley"]
    )
    assert oil @ gas > oil @ cup


def test_projection_maps_every_feature_to_signed_coordinates_keeping_norms():
    projection = sparse_projection(n_features=2**14, dim=256, nnz_per_feature=8, seed=3)
    assert projection.shape == (2**14, 256)
    assert (projection.getnnz(axis=1) == 8).all()
    np.testing.assert_allclose(np.abs(projection.data), 1 / np.sqrt(8))
    x = np.random.default_rng(0).normal(size=(20, 2**14)).astype(np.float32)
    ratio = np.linalg.norm(x @ projection, axis=1) / np.linalg.norm(x, axis=1)
    assert np.all(np.abs(ratio - 1) < 0.2)


def test_projection_is_the_same_for_the_same_seed():
    a = sparse_projection(n_features=4096, dim=64, seed=7)
    b = sparse_projection(n_features=4096, dim=64, seed=7)
    assert (a != b).nnz == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "dim must be >= 1, got 0"),
        ({"dim": 512, "n_features": 256}, r"n_features \(256\) must be >= dim \(512\)"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ],
)
def test_rejects_impossible_sizes_naming_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HashingEmbedder(**kwargs)
