"""``stream-al demo`` finds its dataset without the repository: ``--data``, the ``demo.data``
setting, else the AG News copy shipped with the package; a missing file names the fix. Its
learning-curve PNG needs matplotlib (the ``plots`` extra); without it the demo says so."""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from stream_al.cli import demo
from stream_al.cli.demo import Point, kafka_report, packaged_data
from stream_al.dataset import load_labeled
from tests.cli.run import one_line_error, stream_al
from tests.stream.harness import wait_for
from tests.without_matplotlib import FIX, python


def test_the_package_ships_the_ag_news_test_split_with_its_attribution():
    data = load_labeled(packaged_data())
    assert len(data) == 7600
    assert sorted(set(data.labels)) == ["Business", "Sci/Tech", "Sports", "World"]
    assert "Zhang" in (packaged_data().parent / "README.md").read_text()


def test_a_missing_data_flag_names_the_fix(tmp_path):
    err = one_line_error(stream_al("demo", "--data", str(tmp_path / "nope.csv")))
    assert "no dataset at" in err and "(--data)" in err and "pass --data FILE" in err


def test_a_missing_demo_data_setting_names_the_setting(tmp_path):
    done = stream_al("demo", env={"STREAM_AL_DEMO__DATA": str(tmp_path / "gone.csv")})
    err = one_line_error(done)
    assert "gone.csv (demo.data)" in err and "STREAM_AL_DEMO__DATA" in err


def test_the_demo_compares_through_the_simulators_api_not_the_command_line(
        tmp_path, monkeypatch, capsys):
    imported = {node.module for node in ast.walk(ast.parse(Path(demo.__file__).read_text()))
                if isinstance(node, ast.ImportFrom)}
    assert "stream_al.simulate.comparison" in imported
    assert "stream_al.cli.program" not in imported and not hasattr(demo, "main")
    rows = "".join(f"item {i} about {'markets' if i % 2 else 'football'},{'a' if i % 2 else 'b'}\n"
                   for i in range(120))
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + rows)
    monkeypatch.setenv("STREAM_AL_EMBEDDER__CACHE_DIR", str(tmp_path / "cache"))
    demo._compare(argparse.Namespace(data=str(data), budget=0.1, embedder="hashing", seed=0,
                                     test_size=40), tmp_path)
    summary = json.loads((tmp_path / "simulation" / "summary.json").read_text())
    assert set(summary["strategies"]) == {"default", "random"}
    out = capsys.readouterr().out
    assert "[demo] the same data in the simulator" in out and "(BLAS: openblas " in out


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 OpenBLAS kernels")
def test_the_demos_figures_name_the_blas_kernels_openblas_coretype_chose():
    """Kernels round differently and the figures follow (make demo pins them on x86-64)."""
    code = "import numpy; from stream_al.runtime import blas_kernels; print(blas_kernels())"
    for kernel in ("Sandybridge", "Haswell"):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "OPENBLAS_CORETYPE": kernel}, check=True)
        assert done.stdout.strip() == f"openblas {kernel}"


def report_four_model_versions(run_dir: Path) -> None:
    points = [Point(at_s=1.0 + i, version=i + 1, labels=10 * (i + 1), accuracy=0.5 + 0.05 * i)
              for i in range(4)]
    kafka_report(points, run_dir, 1000, argparse.Namespace(data="ag_news.csv", budget=0.05))


def test_without_matplotlib_the_demo_report_skips_its_png_and_says_how_to_get_it(tmp_path):
    done = python("from tests.cli.test_demo import report_four_model_versions\n"
                  f"from pathlib import Path\nreport_four_model_versions(Path({str(tmp_path)!r}))")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "40 labels learned" in lines[1] and "final held-out accuracy 0.650" in lines[1]
    assert lines[2] == ("[demo] skipped kafka_learning_curve.png: matplotlib is not installed "
                        f"(the core install leaves it out); add it with {FIX} to draw them")
    assert lines[3] == f"[demo] wrote {tmp_path}/kafka_curve.csv"
    assert len((tmp_path / "kafka_curve.csv").read_text().splitlines()) == 5
    assert not (tmp_path / "kafka_learning_curve.png").exists()


def test_with_matplotlib_the_demo_report_draws_its_learning_curve(tmp_path, capsys):
    report_four_model_versions(tmp_path)
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"[demo] wrote {tmp_path}/kafka_learning_curve.png and kafka_curve.csv")
    assert (tmp_path / "kafka_learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.kafka
def test_the_demo_counts_purchases_written_in_transactions_not_their_commit_markers(
        kafka_bootstrap):
    """The coordinator writes ``selected`` in transactions: each commit leaves a marker that
    end offsets count, so counting offsets showed more purchases than labels could ever answer."""
    import uuid

    import numpy as np
    from kafka import KafkaProducer

    from stream_al.config import KafkaSettings

    topic = f"demo-count-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap,
                             transactional_id=f"demo-count-{uuid.uuid4().hex[:8]}")
    producer.init_transactions()
    for batch in range(3):  # three transactions of two records: six records, three markers
        producer.begin_transaction()
        for i in range(2):
            producer.send(topic, f"{batch}-{i}".encode())
        producer.commit_transaction()
    producer.close()
    watcher = demo.Watcher(KafkaSettings(bootstrap=kafka_bootstrap), np.zeros((0, 2)), [])
    try:
        assert wait_for(lambda: watcher.count(topic) == 6, 30, "six records counted")
        assert watcher.count(topic) == 6
    finally:
        watcher.close()
