"""Compact embeddings for internal topics: float16 and int8 with a scale per row."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.embed.precision import PRECISIONS, bytes_per_row, quantize_many, round_trip_many


@pytest.fixture
def X() -> np.ndarray:
    X = np.random.default_rng(0).normal(size=(50, 384)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_rows_come_back_as_float32_of_the_same_shape_and_length(X, precision):
    q = quantize_many(X, precision)
    assert len(q.data) + 4 * len(q.scales) == len(X) * bytes_per_row(precision, X.shape[1])
    back = q.matrix()
    assert back.dtype == np.float32 and back.shape == X.shape


def test_int8_keeps_cosine_similarity_to_three_decimals(X):
    back = round_trip_many(X, "int8")
    cosine = (back * X).sum(axis=1) / np.linalg.norm(back, axis=1)
    assert cosine.min() > 0.999


def test_float32_is_exact_and_a_zero_row_survives_int8(X):
    assert np.array_equal(round_trip_many(X, "float32"), X)
    X[3] = 0.0
    assert np.array_equal(round_trip_many(X, "int8")[3], np.zeros(X.shape[1]))


def test_an_unknown_precision_names_the_choices(X):
    with pytest.raises(ValueError, match="float16"):
        quantize_many(X, "int4")
