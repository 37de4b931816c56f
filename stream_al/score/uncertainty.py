"""Uncertainty of one model's class probabilities: entropy, margin, least confidence.

All three are normalised to [0, 1] and are 1 (maximally uncertain) when the model knows fewer
than two classes, so a cold model asks for labels instead of trusting a one-class guess.
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


def margin(proba: np.ndarray) -> np.ndarray:
    """One minus the gap between the two most probable classes."""
    if (cold := _cold(proba)) is not None:
        return cold
    top2 = np.partition(proba, -2, axis=1)[:, -2:]
    return (1.0 - (top2[:, 1] - top2[:, 0])).astype(np.float32)


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
