"""Every embedder keeps the ``Embedder`` contract, on real AG News text."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.embed import Embedder, EmbeddingError, make_embedder
from stream_al.embed.base import parallel_calls
from stream_al.embed.minilm import available_cores

EMBEDDERS = [
    "hashing",
    "static",
    pytest.param("minilm", marks=pytest.mark.model),
]


@pytest.fixture(params=EMBEDDERS)
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def embedder(name: str, request: pytest.FixtureRequest) -> Embedder:
    return request.getfixturevalue(f"{name}_embedder")


def test_is_an_embedder_named_as_configured(embedder, name):
    assert isinstance(embedder, Embedder)
    assert embedder.name == name
    assert embedder.dim == {"hashing": 512, "static": 256, "minilm": 384}[name]


def test_says_how_many_calls_may_run_at_once(embedder, name):
    """Hashing and static use every core in one call; MiniLM keeps one model copy per core
    busy when calls overlap."""
    expected = available_cores() if name == "minilm" else 1
    assert parallel_calls(embedder) == expected


@pytest.fixture(scope="module")
def embedded() -> dict[str, np.ndarray]:
    """AG News vectors per embedder name, computed once per module."""
    return {}


@pytest.fixture
def ag_vectors(embedder, name, ag_news, embedded) -> np.ndarray:
    """The whole AG News slice embedded in one call."""
    if name not in embedded:
        embedded[name] = embedder.embed([text for text, _ in ag_news])
    return embedded[name]


def test_returns_one_float32_unit_row_per_text(embedder, ag_news, ag_vectors):
    assert ag_vectors.shape == (len(ag_news), embedder.dim)
    assert ag_vectors.dtype == np.float32
    assert np.all(np.isfinite(ag_vectors))
    np.testing.assert_allclose(np.linalg.norm(ag_vectors, axis=1), 1.0, atol=1e-5)


def test_an_empty_batch_gives_zero_rows(embedder):
    vectors = embedder.embed([])
    assert vectors.shape == (0, embedder.dim)
    assert vectors.dtype == np.float32


def test_texts_without_known_words_still_get_unit_rows(embedder):
    odd = ["the of and", "!!!", "🙂🙂", "x" * 300, "日本語のニュース", "$36;10"]
    np.testing.assert_allclose(np.linalg.norm(embedder.embed(odd), axis=1), 1.0, atol=1e-5)


def test_the_same_batch_always_gets_the_same_vectors(embedder, ag_news):
    texts = [text for text, _ in ag_news[:10]]
    np.testing.assert_array_equal(embedder.embed(texts), embedder.embed(texts))


def test_a_vector_does_not_depend_on_its_batch(embedder, ag_news, ag_vectors):
    alone = np.vstack([embedder.embed([text]) for text, _ in ag_news[:8]])
    np.testing.assert_allclose(alone, ag_vectors[:8], atol=1e-5)
    repeated = embedder.embed([ag_news[0][0]] * 3)
    np.testing.assert_allclose(repeated, np.repeat(ag_vectors[:1], 3, axis=0), atol=1e-5)


def test_two_instances_give_the_same_vectors(name, settings_for, ag_news, ag_vectors):
    other = make_embedder(settings_for(name, batch_size=7))
    vectors = other.embed([text for text, _ in ag_news[:20]])
    np.testing.assert_allclose(vectors, ag_vectors[:20], atol=1e-5)


def test_texts_on_the_same_topic_are_closer_than_texts_on_different_topics(ag_news, ag_vectors):
    labels = np.array([label for _, label in ag_news])
    similarity = ag_vectors @ ag_vectors.T
    same = labels[:, None] == labels[None, :]
    different = ~same
    np.fill_diagonal(same, False)
    within, across = similarity[same].mean(), similarity[different].mean()
    assert within > across, f"within-topic {within:.3f} <= across-topic {across:.3f}"


@pytest.mark.parametrize(
    ("texts", "offender"),
    [
        (["Oil prices rise", ""], "text #1 is empty"),
        (["   \n\t"], "text #0 is empty"),
        (["Oil prices rise", None], "text #1 is NoneType"),
        ([b"bytes are not text"], "text #0 is bytes"),
    ],
)
def test_rejects_texts_that_are_not_nonblank_strings_naming_which(embedder, texts, offender):
    with pytest.raises(EmbeddingError, match=offender):
        embedder.embed(texts)
