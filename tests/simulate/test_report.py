"""The simulator's report: figures and CSVs always; the PNGs with matplotlib (the ``plots``
extra), else one printed line says they were skipped and how to get them."""

from __future__ import annotations

import json

import pytest

from stream_al.cli import main
from tests.data import rows
from tests.without_matplotlib import FIX, python

PNGS = ("learning_curve.png", "reliability.png")


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "ag.csv"
    path.write_text("text,label\n" + "\n".join(
        f'"{t.replace(chr(34), chr(39))}",{y}' for t, y in rows("ag_news", 700)))
    return path


def simulate_argv(data, out) -> list[str]:
    return ["simulate", "--data", str(data), "--budget", "0.05", "--embedder", "hashing",
            "--strategy", "default,random", "--test-size", "200", "--out", str(out)]


def test_without_matplotlib_the_report_skips_the_pngs_and_says_how_to_get_them(data, tmp_path):
    out = tmp_path / "out"
    done = python("from stream_al.cli import main\n"
                  f"sys.exit(main({simulate_argv(data, out)!r}))")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    skipped = [line for line in lines if line.startswith("skipped")]
    assert skipped == [f"skipped learning_curve.png and reliability.png: matplotlib is not "
                       f"installed (the core install leaves it out); add it with {FIX} to draw "
                       f"them"]
    assert lines[-1] == f"wrote {out}/summary.json, curve.csv"
    assert set(json.loads((out / "summary.json").read_text())["strategies"]) == {"default",
                                                                                  "random"}
    assert (out / "curve.csv").stat().st_size > 0 and (out / "calibration.csv").stat().st_size > 0
    assert not any((out / png).exists() for png in PNGS)


def test_with_matplotlib_the_report_draws_the_pngs(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(simulate_argv(data, out)) == 0
    printed = capsys.readouterr().out
    assert "skipped" not in printed
    assert printed.splitlines()[-1] == f"wrote {out}/summary.json, curve.csv, learning_curve.png"
    for png in PNGS:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
