"""The ceiling driver measures the coordinator as the worker runs it: the coordinator it
builds is out of Python's cyclic collector's rescans, as after the worker shell's rebuild
(stream/coordinating.py, ``runtime.settle_heap``)."""

import gc

import numpy as np

from benchmarks import control_traffic as ct
from stream_al.simulate.lookup import LookupEmbedder


def test_the_ceilings_coordinator_is_frozen_as_the_workers_is():
    rng = np.random.default_rng(0)
    n = 200
    stream = ct.Stream([f"t-{i}" for i in range(n)], [f"text {i}" for i in range(n)],
                       [("a", "b")[i % 2] for i in range(n)],
                       rng.normal(size=(n, 16)).astype(np.float32))
    s = ct.settings_of(True, "int8", 0.05, "static", "deflated")
    gc.unfreeze()
    try:
        c = ct.warm_model(stream, s, 40, LookupEmbedder(stream.texts, stream.X))
        assert not any(o is c for o in gc.get_objects())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def _records_of_sst2(n: int, batch: int):
    """``n`` SST-2 texts (static embeddings) as candidate records of ``batch`` texts, and a
    coordinator warmed on 40 of their labels."""
    from tests.data import static_slice

    data, X = static_slice("sst2", n)
    stream = ct.Stream([f"t-{i}" for i in range(n)], list(data.texts), list(data.labels),
                       np.asarray(X, dtype=np.float32))
    s = ct.settings_of(True, "int8", 0.05, "static", "deflated")
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
