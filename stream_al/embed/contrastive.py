"""Few-shot contrastive fine-tuning of the MiniLM encoder on labelled texts (SetFit's body step).

SetFit (Tunstall et al. 2022) fine-tunes a sentence encoder on pairs drawn from a few labelled
texts: a pair of one class should have cosine 1, a pair of two classes cosine 0
(sentence-transformers' ``CosineSimilarityLoss``); a head is then fitted on the new embeddings.
Here the head is stream-al's own learner, refitted by the caller. Measured in
``benchmarks/finetune.py`` (issue 14, item 3); not part of any runtime default.

The loop is a plain torch loop over the loss module (no ``datasets`` / ``accelerate``, which
sentence-transformers' trainer needs and the venv does not carry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FineTuneSettings:
    """One fine-tune. Defaults: SetFit's (20 iterations give 40 pairs per text; here 20 pairs
    per text, half positive, to keep a fine-tune on two shared cores to minutes), 1 epoch,
    batch 16, learning rate 2e-5 with 10% linear warm-up; texts cut to 64 word pieces."""

    pairs_per_text: int = 20
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup: float = 0.1
    max_seq_length: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pairs_per_text < 2 or self.pairs_per_text % 2:
            raise ValueError(f"pairs_per_text must be an even number >= 2 (one positive, one "
                             f"negative per round), got {self.pairs_per_text}")


def contrastive_pairs(labels: Sequence[str], pairs_per_text: int,
                      seed: int) -> list[tuple[int, int, float]]:
    """SetFit's pair generation: per round, for every text one positive pair (a random text
    of its class, itself if it is alone) and one negative pair (a random text of another
    class); ``pairs_per_text / 2`` rounds. Pairs are ``(i, j, target cosine)``, shuffled.

    >>> pairs = contrastive_pairs(["pos", "neg", "pos"], pairs_per_text=4, seed=0)
    >>> len(pairs), sorted({t for _, _, t in pairs})
    (12, [0.0, 1.0])
    """
    if not labels:
        return []
    rng = np.random.default_rng(seed)
    y = np.asarray(labels, dtype=object)
    same = {c: np.flatnonzero(y == c) for c in set(labels)}
    other = {c: np.flatnonzero(y != c) for c in same}
    pairs: list[tuple[int, int, float]] = []
    for _ in range(pairs_per_text // 2):
        for i, c in enumerate(labels):
            pairs.append((i, int(rng.choice(same[c])), 1.0))
            if len(other[c]):
                pairs.append((i, int(rng.choice(other[c])), 0.0))
    order = rng.permutation(len(pairs))
    return [pairs[k] for k in order]


def fine_tune(model: Any, texts: Sequence[str], labels: Sequence[str],
              settings: FineTuneSettings | None = None) -> int:
    """Fine-tune the SentenceTransformer ``model`` in place on contrastive pairs of ``texts``;
    returns the optimiser steps taken. The model's ``max_seq_length`` is restored afterwards
    (texts are embedded as before; only training cuts them)."""
    import torch
    try:  # sentence-transformers >= 6 (the pinned version); the old path warns there
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    except ImportError:  # sentence-transformers 3-5
        from sentence_transformers.losses import CosineSimilarityLoss

    s = settings or FineTuneSettings()
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    torch.manual_seed(s.seed)
    pairs = contrastive_pairs(labels, s.pairs_per_text, s.seed)
    batches = [pairs[a:a + s.batch_size] for a in range(0, len(pairs), s.batch_size)]
    steps = len(batches) * s.epochs
    loss_fn = CosineSimilarityLoss(model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=s.learning_rate)
    warm = max(1, int(s.warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda k: min((k + 1) / warm, max(0.0, (steps - k) / max(1, steps - warm))))
    encode = getattr(model, "preprocess", None) or model.tokenize  # renamed in s-t 6
    kept, model.max_seq_length = model.max_seq_length, s.max_seq_length
    model.train()
    try:
        for _ in range(s.epochs):
            for batch in batches:
                left = encode([texts[i] for i, _, _ in batch])
                right = encode([texts[j] for _, j, _ in batch])
                target = torch.tensor([t for _, _, t in batch], dtype=torch.float32)
                loss = loss_fn([left, right], target)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
    finally:
        model.eval()
        model.max_seq_length = kept
    return steps
