"""Purchase's hand-written ``__init__`` (one ``__dict__`` update) is the one ``dataclass``
would write: the same parameters, order and defaults, the same instance, still frozen."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from stream_al.loop.records import Purchase


def test_init_takes_the_fields_in_order_with_their_defaults():
    params = list(inspect.signature(Purchase.__init__).parameters.values())[1:]
    fields = dataclasses.fields(Purchase)
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        for f in fields]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)


def test_instance_is_the_generated_one_and_frozen():
    generated = dataclasses.make_dataclass(
        "Generated", [(f.name, f.type, f) for f in dataclasses.fields(Purchase)], frozen=True)
    args = ("i", "text", "b", "balanced", "coverage", {"margin": 0.5}, 3, 60.0, 1.5, 2)
    for kwargs in ({}, {"priority": 0.25, "annotators": 3, "window": 7}):
        p, g = Purchase(*args, **kwargs), generated(*args, **kwargs)
        assert dataclasses.asdict(p) == dataclasses.asdict(g)
        assert vars(p) == vars(g) and list(vars(p)) == list(vars(g))
        assert p == Purchase(*args, **kwargs)
        assert dataclasses.replace(p, window=9).window == 9
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.window = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Purchase(*args[:-1])  # type: ignore[call-arg]
