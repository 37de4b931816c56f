"""The simulated vendor: k labels per purchase from distinct annotators, at a known accuracy,
after the configured delay."""

from __future__ import annotations

import pytest

from stream_al.loop.records import Purchase
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.simulate.vendor import SimulatedVendor


def purchase(item_id: str, annotators: int = 1) -> Purchase:
    return Purchase(item_id, "text", "b", "random", "random", {}, 0, 100.0, float(annotators),
                    0, 0.0, annotators)


def test_each_purchase_gets_its_k_labels_from_distinct_annotators_after_the_delay():
    vendor = SimulatedVendor({"a": "x", "b": "y"}, ["x", "y"], delay_s=30.0, pool=5)
    vendor.buy_many([purchase("a", 3), purchase("b", 1)], now=10.0)
    assert vendor.due_many(39.9) == []
    labels = vendor.due_many(40.0)
    assert sorted(x.item_id for x in labels) == ["a", "a", "a", "b"]
    assert len({x.annotator_id for x in labels if x.item_id == "a"}) == 3
    assert all(x.timestamp == 40.0 for x in labels) and vendor.last_due is None


@pytest.mark.parametrize("accuracy", [1.0, 0.7])
def test_annotators_give_the_true_class_at_the_configured_rate(accuracy):
    truth = {str(i): "x" for i in range(4000)}
    vendor = SimulatedVendor(truth, ["x", "y", "z"], delay_s=0.0, accuracy=accuracy, seed=1)
    vendor.buy_many([purchase(i) for i in truth], now=0.0)
    labels = vendor.due_many(0.0)
    share = sum(x.label == "x" for x in labels) / len(labels)
    assert share == pytest.approx(accuracy, abs=0.03)


def test_a_text_outside_the_dataset_is_refused_with_the_fix():
    import numpy as np

    lookup = LookupEmbedder(["a"], np.ones((1, 2), dtype=np.float32))
    with pytest.raises(KeyError, match="embed them with the dataset's embedder"):
        lookup.embed(["b"])
