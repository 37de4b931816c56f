"""The texts a record stands for (its candidates' spans, or its texts) are counted once per
texts offset."""

from __future__ import annotations

from stream_al.loop.spans import Span, new_at_offsets, new_in_spans, spans_of


def test_one_span_per_partition_of_a_batch():
    assert spans_of([(1, 7), (0, 3), (1, 9), (0, 4)]) == [Span(0, 3, 4, 2), Span(1, 7, 9, 2)]


def test_a_redelivered_span_is_not_counted_again_and_an_overlap_counts_its_new_part():
    counted: dict[int, int] = {}
    assert new_in_spans(counted, [Span(0, 0, 99, 100)]) == 100
    assert new_in_spans(counted, [Span(0, 0, 99, 100)]) == 0
    assert new_in_spans(counted, [Span(0, 50, 149, 100)]) == 50
    assert counted == {0: 149}


def test_a_redelivered_text_is_not_counted_again_and_a_text_made_again_is():
    counted: dict[int, int] = {1: 4}
    assert new_at_offsets(counted, [0, 1, 1], [0, 4, 5]) == [0, 2]  # 1@4: counted before
    assert new_at_offsets(counted, [0, 1], [0, 5]) == []  # redelivered
    assert new_at_offsets(counted, [0], [1]) == [0]  # the same text at a new offset
    assert counted == {0: 1, 1: 5}
