"""Embeddings in fewer bytes on internal topics: float16, or int8 with a scale per row.

A scorer sends each candidate's embedding to the coordinator, which learns from it; the
precision trades bytes on ``control`` against the learner's input. ``int8`` stores each row as
``round(x / scale)`` with ``scale = max|x| / 127`` (one float32 per row), so a 384-dim row takes
388 bytes instead of 1,536; ``float16`` takes 768.

>>> import numpy as np
>>> X = np.array([[0.5, -1.0, 0.25]], dtype=np.float32)
>>> q = quantize_many(X, "int8")
>>> len(q.data), q.scales.dtype.name
(3, 'float32')
>>> bool(np.abs(q.matrix() - X).max() <= 1.0 / 254)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Precision = Literal["float32", "float16", "int8"]
PRECISIONS: tuple[Precision, ...] = ("float32", "float16", "int8")
_DTYPE = {"float32": np.float32, "float16": np.float16, "int8": np.int8}


@dataclass(frozen=True)
class Quantized:
    """Rows of embeddings as raw bytes in ``precision``; ``scales`` (int8 only, float32 per
    row; empty otherwise)."""

    precision: Precision
    data: bytes
    scales: np.ndarray
    dim: int

    def matrix(self) -> np.ndarray:
        """The rows back as float32 (n, dim)."""
        return dequantize(self.precision, self.data, self.scales, self.dim)


def quantize_many(X: np.ndarray, precision: Precision) -> Quantized:
    """``X`` (n, dim) in ``precision``."""
    if precision not in _DTYPE:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    X = np.asarray(X, dtype=np.float32)
    if precision != "int8":
        data = np.ascontiguousarray(X, dtype=_DTYPE[precision]).tobytes()
        return Quantized(precision, data, np.zeros(0, dtype=np.float32), X.shape[1])
    scales = (np.abs(X).max(axis=1) / 127.0).astype(np.float32) if len(X) else np.zeros(0, np.float32)
    safe = np.where(scales > 0, scales, 1.0)[:, None]
    data = np.clip(np.rint(X / safe), -127, 127).astype(np.int8).tobytes()
    return Quantized(precision, data, scales, X.shape[1])


def dequantize(precision: Precision, data: bytes, scales: np.ndarray, dim: int) -> np.ndarray:
    """Float32 rows of ``data`` written by :func:`quantize_many`."""
    if precision not in _DTYPE:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    rows = np.frombuffer(data, dtype=_DTYPE[precision]).reshape(-1, dim)
    if precision == "int8":
        return rows.astype(np.float32) * np.asarray(scales, dtype=np.float32)[:, None]
    return rows.astype(np.float32)


def bytes_per_row(precision: Precision, dim: int) -> int:
    """Bytes one embedding row takes in ``precision`` (int8: its scale included)."""
    return dim * np.dtype(_DTYPE[precision]).itemsize + (4 if precision == "int8" else 0)


def round_trip_many(X: np.ndarray, precision: Precision) -> np.ndarray:
    """``X`` as the coordinator receives it in ``precision`` (the simulator's scorers)."""
    if precision == "float32":
        return np.asarray(X, dtype=np.float32)
    return quantize_many(X, precision).matrix()
