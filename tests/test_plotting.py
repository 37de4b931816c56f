"""PNGs need matplotlib, the ``plots`` extra: asking for a plot without it is an error that
names the fix; with it the plot is drawn."""

from __future__ import annotations

from stream_al.plotting import available
from tests.without_matplotlib import FIX, python

ASK_FOR_A_PLOT = """
import numpy as np
from pathlib import Path
from stream_al.calibration import plot_reliability, reliability_diagram
from stream_al.errors import StreamAlError
from stream_al.plotting import PlotsUnavailableError, available

path = Path(sys.argv[1]) / "reliability.png"
proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
print("available", available())
try:
    plot_reliability(path, {"raw": reliability_diagram(proba, np.array([0, 1, 1]))})
except PlotsUnavailableError as e:
    print("error", isinstance(e, StreamAlError), e)
print("written", path.exists())
"""


def test_without_matplotlib_asking_for_a_plot_raises_an_error_that_names_the_fix(tmp_path):
    done = python(f"sys.argv[1:] = [{str(tmp_path)!r}]\n" + ASK_FOR_A_PLOT)
    assert done.returncode == 0, done.stderr
    available_line, error, written = done.stdout.splitlines()
    assert available_line == "available False"
    assert error.startswith("error True cannot draw reliability.png: matplotlib is not installed")
    assert error.endswith(FIX)
    assert written == "written False"


def test_with_matplotlib_plots_are_available():
    assert available()  # the suite's install (the dev extra) includes the plots extra
