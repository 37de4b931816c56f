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
