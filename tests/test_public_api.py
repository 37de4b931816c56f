"""``stream_al``'s public API: every name imports, and importing the package stays light."""

import subprocess
import sys
from pathlib import Path

import pytest

import stream_al

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", [n for n in stream_al.__all__ if n != "__version__"])
def test_every_public_name_imports_from_the_package(name):
    value = getattr(stream_al, name)
    assert value.__name__ == name
    assert name in dir(stream_al)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'simulate_everything'"):
        stream_al.simulate_everything  # noqa: B018


def test_importing_the_package_loads_no_numpy_or_kafka_client():
    code = "import sys, stream_al; print(sorted({'numpy', 'sklearn', 'kafka', 'faust'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_package_declares_its_types():
    assert (REPO / "stream_al" / "py.typed").is_file()


def test_all_lists_exactly_the_lazily_imported_names():
    assert set(stream_al.__all__) == {"__version__", *stream_al._PUBLIC}
