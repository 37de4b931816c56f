"""``stream-al broker`` runs the broker script shipped with the package, so it works from an
installed package (a wheel in a directory outside the repository) as from the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from stream_al.cli.broker import kafka_script
from tests.cli.run import REPO, one_line_error, stream_al
from tests.fixtures.deploy import free_ports

DEPLOY = REPO / "deploy"


def stopped_broker_env(tmp_path) -> dict[str, str]:
    """A port nothing listens on and an empty data directory."""
    (port,) = free_ports(1)
    return {"KAFKA_PORT": str(port), "KAFKA_DATA_DIR": str(tmp_path / "kafka")}


def test_deploy_links_to_the_packaged_script_so_there_is_one_copy():
    script = kafka_script()
    for name in ("kafka.sh", "lib.sh", "kafka/pom.xml"):
        assert (DEPLOY / name).is_symlink()
        assert (DEPLOY / name).resolve() == (script.parent / name).resolve()


def test_status_of_a_stopped_broker(tmp_path):
    done = stream_al("broker", "status", env=stopped_broker_env(tmp_path))
    assert done.returncode == 3 and "stopped" in done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package as ``pip install`` puts it: a wheel built from a copy of the repository,
    installed into a directory of its own (dependencies come from the running environment)."""
    tmp = tmp_path_factory.mktemp("installed")
    source = tmp / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "runs", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
                    str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("stream_al-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return site, elsewhere


def test_an_installed_package_holds_the_files_of_broker_and_demo(installed):
    site, _ = installed
    files = site / "stream_al" / "deploy_files"
    for name in ("kafka.sh", "lib.sh", "kafka/pom.xml"):
        assert (files / name).read_bytes() == (kafka_script().parent / name).read_bytes()
    assert (site / "stream_al" / "demo_data" / "ag_news.csv").stat().st_size > 1_000_000


def test_broker_works_from_an_installed_package(installed, tmp_path):
    site, elsewhere = installed
    done = stream_al("broker", "status", env=stopped_broker_env(tmp_path), cwd=elsewhere,
                     pythonpath=site)
    assert done.returncode == 3 and "stopped" in done.stdout, done.stderr


def test_the_installed_demo_finds_its_data_and_names_a_missing_file(installed, tmp_path):
    site, elsewhere = installed
    err = one_line_error(stream_al("demo", "--data", str(tmp_path / "nope.csv"), cwd=elsewhere,
                                   pythonpath=site))
    assert "pass --data FILE" in err
    shown = subprocess.run(
        [sys.executable, "-c", "from stream_al.cli.demo import packaged_data as p; print(p())"],
        cwd=elsewhere, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    )
    assert shown.stdout.strip().startswith(str(site))
