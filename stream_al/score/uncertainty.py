"""Uncertainty of one model's class probabilities: entropy, margin, least confidence.

All three are normalised to [0, 1] and are 1 (maximally uncertain) when the model knows fewer
than two classes, so a cold model asks for labels instead of trusting a one-class guess.

Every reduction runs along the class axis, so a column-major ``proba`` (``(k, n)`` memory
transposed, as :func:`stream_al.score.batch.score_many` passes it) is reduced in one
vectorised pass over the items instead of a short loop per item.
"""

from __future__ import annotations

import numpy as np


def _cold(proba: np.ndarray) -> np.ndarray | None:
    if proba.ndim != 2:
        raise ValueError(f"probabilities must be (n, k), got shape {proba.shape}")
    if proba.shape[1] < 2:
        return np.ones(proba.shape[0], dtype=np.float32)
    return None


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy divided by log(k)."""
    if (cold := _cold(proba)) is not None:
        return cold
    p = np.clip(proba, 1e-12, 1.0)
    return (-(p * np.log(p)).sum(axis=1) / np.log(proba.shape[1])).astype(np.float32)


def top_two(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest and the second-largest probability of each row (k >= 2)."""
    rows = np.arange(len(proba))
    first = proba.argmax(axis=1)
    rest = proba.copy(order="K")
    rest[rows, first] = -np.inf
    return proba[rows, first], rest.max(axis=1)


def margin(proba: np.ndarray) -> np.ndarray:
    """One minus the gap between the two most probable classes."""
    if (cold := _cold(proba)) is not None:
        return cold
    first, second = top_two(proba)
    return (1.0 - (first - second)).astype(np.float32)


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """One minus the top probability, rescaled so a uniform prediction scores 1."""
    if (cold := _cold(proba)) is not None:
        return cold
    k = proba.shape[1]
    return np.clip((1.0 - proba.max(axis=1)) * k / (k - 1), 0.0, 1.0).astype(np.float32)


UNCERTAINTY = {"entropy": entropy, "margin": margin, "least_confidence": least_confidence}


def uncertainty(kind: str, proba: np.ndarray) -> np.ndarray:
    try:
        fn = UNCERTAINTY[kind]
    except KeyError:
        raise ValueError(
            f"unknown uncertainty {kind!r}; choose one of {sorted(UNCERTAINTY)}"
        ) from None
    return fn(proba)
