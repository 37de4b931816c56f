"""The ceiling driver measures the coordinator as the worker runs it: the coordinator it
builds is out of Python's cyclic collector's rescans, as after the worker shell's rebuild
(stream/coordinating.py, ``runtime.settle_heap``)."""

import gc

import numpy as np

from benchmarks import control_traffic as ct
from stream_al.simulate.lookup import LookupEmbedder
from tests.data import static_slice


def test_the_ceilings_coordinator_is_frozen_as_the_workers_is():
    stream, s = _sst2(200)
    gc.unfreeze()
    try:
        c = ct.warm_model(stream, s, 40, LookupEmbedder(stream.texts, stream.X))
        assert not any(o is c for o in gc.get_objects())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def _sst2(n: int):
    """``n`` SST-2 texts (static embeddings) as the ceiling's stream, and its settings."""
    data, X = static_slice("sst2", n)
    stream = ct.Stream([f"t-{i}" for i in range(n)], list(data.texts), list(data.labels),
                       np.asarray(X, dtype=np.float32))
    return stream, ct.settings_of(True, "int8", 0.05, "static", "deflated")


def _records_of_sst2(n: int, batch: int):
    """``n`` SST-2 texts as candidate records of ``batch`` texts, and a coordinator warmed on
    40 of their labels."""
    stream, s = _sst2(n)
    c = ct.warm_model(stream, s, 40, LookupEmbedder(stream.texts, stream.X))
    records = ct.records_of(stream, s, c.learner.snapshot(), batch)
    return c, records, dict(zip(stream.ids, stream.labels, strict=True))


def test_the_ceilings_warm_up_is_governed_but_not_timed():
    c, records, gold = _records_of_sst2(600, 100)
    whole = ct.govern(c, records, gold)
    c, records, gold = _records_of_sst2(600, 100)
    warmed = ct.govern(c, records, gold, untimed=250)
    assert whole.texts == 600
    assert warmed.texts == 300  # the records from the first that starts at or after 250
    assert warmed.bought == whole.bought  # the warm-up's records are governed all the same
    assert warmed.selecting > 0 and warmed.labelling > 0
