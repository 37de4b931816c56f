"""The Kafka benchmarks read their texts from a dataset's CSV: as many rows as the run needs,
or a clear error when the file has fewer (not an IndexError half-way through producing)."""

from __future__ import annotations

import csv

import pytest

from benchmarks.broker import read_rows
from tests.data import rows


@pytest.fixture
def three_rows(tmp_path):
    path = tmp_path / "sst2_slice.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows("sst2", 3))
    return path


def test_the_first_n_rows_are_read_in_file_order(three_rows):
    texts, labels = read_rows(three_rows, 2)
    assert list(zip(texts, labels, strict=True)) == list(rows("sst2", 3)[:2])


def test_without_n_every_row_is_read(three_rows):
    assert len(read_rows(three_rows)[0]) == 3


def test_a_file_shorter_than_the_run_needs_is_a_clear_error(three_rows):
    with pytest.raises(SystemExit, match="has 3 rows, fewer than the 4 this run needs"):
        read_rows(three_rows, 4)
