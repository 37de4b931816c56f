"""The label store: one label per (item, annotator), in arrival order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_al.labels import Label, LabelStore


def test_a_retry_by_the_same_annotator_changes_nothing():
    store = LabelStore()
    assert store.add_one(Label("a-1", "World", "ann-0", 1.0))
    assert not store.add_one(Label("a-1", "Sports", "ann-0", 2.0))
    assert [x.label for x in store.labels_of("a-1")] == ["World"]


def test_several_annotators_may_label_one_item():
    store = LabelStore()
    assert store.add_many(
        [
            Label("a-1", "World", "ann-0", 1.0),
            Label("a-1", "World", "ann-1", 1.0),
            Label("a-2", "Sports", "ann-0", 1.0),
        ]
    ) == [True, True, True]
    assert (len(store), store.n_items) == (3, 2)
    assert ("a-1", "ann-1") in store and store.has_item("a-2") and not store.has_item("a-3")


@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xy"), st.sampled_from("PQ"))))
def test_the_store_holds_exactly_the_distinct_item_annotator_pairs(labels):
    store = LabelStore()
    store.add_many(Label(i, y, a, 0.0) for i, a, y in labels)
    assert len(store) == len({(i, a) for i, a, _ in labels})
    assert [x.key for x in store] == list(dict.fromkeys((i, a) for i, a, _ in labels))


def test_a_store_loaded_from_its_image_holds_the_same_rows_and_still_refuses_a_retry():
    store = LabelStore()
    store.add_many([Label(f"a-{n % 5}", "World", f"ann-{n % 3}", float(n)) for n in range(20)])
    loaded = LabelStore.of_image(store.image())
    assert len(loaded) == len(store) == 15
    assert list(loaded) == list(store)
    assert not loaded.add_one(Label("a-0", "Sports", "ann-0", 99.0))
    assert loaded.add_one(Label("a-0", "Sports", "ann-9", 99.0)) and len(loaded) == 16
