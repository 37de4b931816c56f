"""The MiniLM embedder: the bundled all-MiniLM-L6-v2, offline, on every available core."""

from __future__ import annotations

import os

import numpy as np
import pytest

from stream_al.embed.base import parallel_calls
from stream_al.embed.minilm import available_cores, minilm_model_path

pytestmark = pytest.mark.model


def test_loads_the_bundled_weights_with_the_hub_switched_off():
    path = minilm_model_path()
    assert (path / "model.safetensors").is_file()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_uses_every_available_core_with_one_model_copy_per_core(minilm_embedder):
    import torch

    assert len(minilm_embedder._models) == available_cores()
    assert torch.get_num_threads() == 1  # parallel by data: no intra-op threads to wait for


def test_a_call_shared_between_the_copies_keeps_the_texts_order(minilm_embedder, ag_news):
    texts = [text for text, _ in ag_news[:70]]
    together = minilm_embedder.embed(texts)
    alone = np.vstack([minilm_embedder.embed([text]) for text in texts[::7]])
    np.testing.assert_allclose(together[::7], alone, atol=1e-4)


def test_calls_may_overlap_one_per_copy_and_give_the_rows_of_calls_made_one_at_a_time(
    minilm_embedder, ag_news
):
    from concurrent.futures import ThreadPoolExecutor

    assert parallel_calls(minilm_embedder) == available_cores()
    calls = [[text for text, _ in ag_news[start:start + 40]] for start in (0, 40, 80)]
    alone = [minilm_embedder.embed(texts) for texts in calls]
    with ThreadPoolExecutor(max_workers=3) as pool:
        overlapped = list(pool.map(minilm_embedder.embed, calls))
    for one, other in zip(alone, overlapped, strict=True):
        np.testing.assert_allclose(one, other, atol=1e-5)


def test_long_texts_are_truncated_not_rejected(minilm_embedder, ag_news):
    long_text = " ".join(text for text, _ in ag_news[:20])
    vector = minilm_embedder.embed([long_text])
    assert vector.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_a_paraphrase_is_closer_than_a_text_on_another_topic(minilm_embedder):
    rise, climb, match = minilm_embedder.embed(
        ["Oil prices rose sharply on Monday", "Crude costs climbed steeply at the start of the week",
         "The striker scored twice in the second half"]
    )
    assert rise @ climb > rise @ match + 0.2
