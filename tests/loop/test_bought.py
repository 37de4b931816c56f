"""Per-label state off the heap: bought texts, the label store and the learned rows keep
every row (nothing capped or dropped) while the Python heap stays flat in their number."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.labels import Label, LabelStore
from stream_al.loop.bought import MERGE_EVERY, BoughtTexts
from stream_al.loop.learned import LearnedRows


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 3 * MERGE_EVERY), max_size=3 * MERGE_EVERY),
       st.lists(st.integers(0, 4 * MERGE_EVERY), max_size=200))
def test_bought_is_exactly_what_was_added_once(added, asked):
    bought, first = BoughtTexts(), {}
    for n in added:
        assert bought.add(f"i-{n}", f"text {n} {len(first)}") == (f"i-{n}" not in first)
        first.setdefault(f"i-{n}", f"text {n} {len(first)}")
    ids = [f"i-{n}" for n in asked]
    assert bought.contains_many(ids) == [i in first for i in ids]
    assert list(bought) == list(first)  # buying order
    assert {i: bought[i] for i in first} == first
    assert [bought.position(i) for i in first] == list(range(len(first)))


def test_learned_rows_read_back_as_labels_and_a_copy_does_not_move():
    bought = BoughtTexts()
    for n in range(3000):
        bought.add(f"i-{n}", f"text {n}")
    labels = [Label(f"i-{n}", "pos" if n % 3 else "neg", f"ann-{n % 4}", 0.0)
              for n in range(2999, -1, -2)]
    rows = LearnedRows(bought, labels[:1000])
    frozen = rows.copy()
    rows.extend(labels[1000:])
    assert list(rows) == labels and list(frozen) == labels[:1000]


def test_a_label_of_an_item_never_bought_is_refused():
    rows = LearnedRows(BoughtTexts())
    try:
        rows.extend([Label("nobody", "pos", "a", 0.0)])
    except KeyError:
        return
    raise AssertionError("an unknown item was learned")


def test_the_heap_does_not_grow_with_the_labels():
    """20,000 items bought, labelled by two annotators and learned: every one still there,
    and the Python heap holds under 40 bytes per item (a dict of texts and two Label lists
    took ~700; sqlite's own page cache is bounded and outside the Python heap)."""
    n, warm = 22_000, 2_000  # the first 2,000 load what the code imports on first use
    bought, store = BoughtTexts(), LabelStore()
    rows = LearnedRows(bought)
    for start in range(0, n, 500):
        if start == warm:
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
        batch = [f"item-{i}" for i in range(start, start + 500)]
        assert not any(bought.contains_many(batch))
        for i in batch:
            bought.add(i, f"the text of {i}, a sentence of ordinary length for a review")
            store.add_one(Label(i, "pos", "vendor-a", 1.0, 0.9, 2.0))
            store.add_one(Label(i, "pos", "vendor-b", 1.0, None, 2.0))
        rows.extend(Label(i, "pos", "adjudicated", 0.0) for i in batch)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert (len(bought), len(store), len(rows)) == (n, 2 * n, n)
    n -= warm
    assert store.labels_of("item-7")[1] == Label("item-7", "pos", "vendor-b", 1.0, None, 2.0)
    assert grown / n < 40, f"{grown / n:.0f} bytes a label on the heap"


def test_bought_texts_loaded_from_their_image_answer_as_the_originals_and_take_more():
    """A derived-state checkpoint images the bought texts: loaded again, every id is found
    at its position with its text, an id never bought is not, and buying goes on after."""
    bought = BoughtTexts()
    bought.add_many((f"i-{n}", f"text {n}") for n in range(MERGE_EVERY + 10))
    bought.add("late", "bought after the merge")
    loaded = BoughtTexts.of_image(bought.image())

    ids = [f"i-{n}" for n in range(MERGE_EVERY + 10)] + ["late", "never"]
    assert len(loaded) == len(bought)
    assert loaded.contains_many(ids) == bought.contains_many(ids) == [True] * (len(ids) - 1) + [
        False]
    assert [loaded.position(i) for i in ids[:-1]] == [bought.position(i) for i in ids[:-1]]
    assert loaded["late"] == "bought after the merge" and "never" not in loaded
    assert loaded.add("next", "one more") and loaded.position("next") == len(bought)
    assert not loaded.add("i-3", "again")


def test_a_settled_verdict_loaded_from_its_image_is_the_one_decided():
    from stream_al.loop.settled import SettledItems

    settled = SettledItems()
    settled.put_many([("a", 1, 2, "World"), ("b", 2, 1, None), ("c", 3, 3, "Sports")])
    loaded = SettledItems.of_image(settled.image())
    assert loaded.written and not SettledItems.of_image(SettledItems().image()).written
    assert [loaded.get(i) for i in "abcd"] == [settled.get(i) for i in "abcd"]
    assert loaded.learned() == [("a", "World"), ("c", "Sports")]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3 * MERGE_EVERY), max_size=MERGE_EVERY // 2),
                max_size=6))
def test_purchases_added_together_are_kept_as_one_at_a_time(emissions):
    """An emission's new purchases in one statement: the same ids, texts, buying order and
    answers as adding them one by one (hashes merged past MERGE_EVERY either way)."""
    together, one_by_one = BoughtTexts(), BoughtTexts()
    for ids in emissions:
        new = list(dict.fromkeys(f"i-{n}" for n in ids if f"i-{n}" not in together))
        together.add_new_many([(i, f"text of {i}") for i in new])
        for i in new:
            one_by_one.add(i, f"text of {i}")
    asked = [f"i-{n}" for n in range(0, 3 * MERGE_EVERY, 7)]
    assert together.contains_many(asked) == one_by_one.contains_many(asked)
    assert [i in together for i in asked] == [i in one_by_one for i in asked]
    assert list(together) == list(one_by_one)
    assert {i: together[i] for i in together} == {i: one_by_one[i] for i in one_by_one}


def test_settled_verdicts_are_read_many_at_a_time_as_one_at_a_time():
    from stream_al.loop.settled import SettledItems

    settled = SettledItems()
    settled.put_many([(f"i-{n}", n, 1 + n % 3, None if n % 2 else "World") for n in range(0, 3000, 2)])
    ids = [f"i-{n}" for n in range(2500)]
    assert settled.get_many(ids) == {i: settled.get(i) for i in ids if settled.get(i) is not None}
    assert settled.get_many([]) == {}


def test_learned_rows_continue_from_their_state_and_refuse_other_codes():
    bought = BoughtTexts()
    for i in range(3):
        bought.add(f"a-{i}", f"text {i}")
    rows = LearnedRows(bought, [Label("a-2", "neg", "v1", 1.0), Label("a-0", "pos", "v2", 2.0)])
    again = LearnedRows(bought)
    again.load_state(rows.state())
    again.extend([Label("a-1", "neg", "v2", 3.0)])
    assert [(x.item_id, x.label, x.annotator_id) for x in again] == [
        ("a-2", "neg", "v1"), ("a-0", "pos", "v2"), ("a-1", "neg", "v2")]
    assert len(rows) == 2, "the state is a copy"
    other = LearnedRows(bought, [Label("a-1", "pos", "v1", 1.0)])  # 'pos' is class 0 there
    with pytest.raises(ValueError, match="codes differ"):
        other.load_state(rows.state())


def test_an_emission_that_cannot_be_written_keeps_none_of_its_rows():
    """All or nothing: an emission whose third id was bought before raises, and the two rows
    before it are not kept (positions stay dense for the next emission)."""
    import sqlite3

    bought = BoughtTexts()
    bought.add_new_many([("a", "text a"), ("b", "text b")])
    with pytest.raises(sqlite3.IntegrityError):
        bought.add_new_many([("c", "text c"), ("d", "text d"), ("a", "again")])
    assert len(bought) == 2 and list(bought) == ["a", "b"]
    assert bought.contains_many(["c", "d"]) == [False, False] and "c" not in bought
    bought.add_new_many([("c", "text c")])
    assert bought.position("c") == 2 and bought["a"] == "text a"


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(-60, 60), max_size=40), st.sets(st.integers(-70, 70), min_size=1,
                                                          max_size=30))
def test_merging_fresh_hashes_keeps_every_hash_sorted_and_once(known, fresh):
    """The membership index after a merge is the union of what it held and the fresh hashes,
    sorted, each once (as ``np.union1d`` made it), whether or not they overlap."""
    import numpy as np

    bought = BoughtTexts()
    bought._sorted = np.array(sorted(known), dtype=np.int64)
    bought._fresh = set(fresh)
    bought._merge()
    assert bought._sorted.dtype == np.int64
    assert bought._sorted.tolist() == sorted(known | fresh) and not bought._fresh
