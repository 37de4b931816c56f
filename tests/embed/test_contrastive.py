"""Contrastive fine-tuning of MiniLM on labelled texts: SetFit's pairs, and a short real fine-tune."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from stream_al.embed.contrastive import FineTuneSettings, contrastive_pairs, fine_tune
from tests.data import rows


def test_every_text_gets_half_positive_half_negative_pairs():
    labels = [label for _, label in rows("ag_news", 40)]
    pairs = contrastive_pairs(labels, pairs_per_text=6, seed=0)
    assert len(pairs) == 6 * len(labels)
    assert Counter(i for i, _, _ in pairs) == dict.fromkeys(range(len(labels)), 6)
    for i, j, target in pairs:
        assert (labels[i] == labels[j]) == (target == 1.0)
    assert sum(t for _, _, t in pairs) == 3 * len(labels)


def test_pairs_are_seeded():
    labels = [label for _, label in rows("sst2", 30)]
    assert contrastive_pairs(labels, 4, seed=1) == contrastive_pairs(labels, 4, seed=1)
    assert contrastive_pairs(labels, 4, seed=1) != contrastive_pairs(labels, 4, seed=2)


def test_a_text_alone_in_its_class_is_its_own_positive_and_one_class_has_no_negatives():
    assert sorted(contrastive_pairs(["a", "b"], 2, seed=0)) == [
        (0, 0, 1.0), (0, 1, 0.0), (1, 0, 0.0), (1, 1, 1.0)]
    assert {t for _, _, t in contrastive_pairs(["a", "a"], 2, seed=0)} == {1.0}


def test_an_odd_pair_count_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="even number >= 2"):
        FineTuneSettings(pairs_per_text=3)


@pytest.mark.model
def test_fine_tuning_pulls_a_class_together_and_keeps_the_embedding_length():
    from sentence_transformers import SentenceTransformer

    from stream_al.embed.minilm import minilm_model_path

    texts, labels = (list(c) for c in zip(*rows("sst2", 24), strict=True))
    model = SentenceTransformer(str(minilm_model_path()), device="cpu")
    before = model.encode(texts, normalize_embeddings=True)
    steps = fine_tune(model, texts, labels, FineTuneSettings(pairs_per_text=4, epochs=2))
    after = model.encode(texts, normalize_embeddings=True)
    assert steps == 2 * int(np.ceil(4 * len(texts) / 16))
    assert model.max_seq_length == 256  # training cut texts to 64 word pieces, not encoding
    y = np.asarray(labels)

    def margin(Z: np.ndarray) -> float:  # mean same-class minus mean other-class cosine
        S = Z @ Z.T
        same = y[:, None] == y[None, :]
        return float(S[same].mean() - S[~same].mean())

    assert margin(after) > margin(before)
