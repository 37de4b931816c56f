"""Every example in a docstring of the library and the benchmarks runs and prints what it says.

Two had drifted unnoticed (an example indented as if it were output): docstrings are read as
the specification of a function, so a wrong one misleads as much as a wrong test would."""

import doctest
import importlib
import pkgutil

import pytest

import benchmarks
import stream_al


def _modules(package) -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
                  if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", _modules(stream_al) + _modules(benchmarks))
def test_the_examples_in_its_docstrings_hold(name: str, monkeypatch) -> None:
    # some benchmarks run as scripts (python benchmarks/pacing_oracle.py) and import their
    # siblings by bare name, as the script's own directory on the path lets them
    monkeypatch.syspath_prepend(benchmarks.__path__[0])
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS,
                             verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"
