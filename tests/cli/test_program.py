"""The ``stream-al`` program: every command listed, ``--version``, user errors in one line and
bugs with their traceback."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import stream_al
from stream_al.cli import main, simulate
from tests.cli.run import one_line_error
from tests.cli.run import stream_al as run

COMMANDS = (
    "simulate", "demo", "worker", "produce", "vendor", "bridge", "labels", "models", "broker",
)


def test_the_top_level_help_lists_every_command():
    done = run("--help")
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("    ")]
    assert tuple(listed) == COMMANDS


def test_the_help_says_where_settings_come_from():
    out = run("--help").stdout
    assert "STREAM_AL_CONFIG" in out and "./stream-al.yaml" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_its_own_help(command):
    done = run(command, "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"usage: stream-al {command}")


def test_version_prints_the_package_version():
    done = run("--version")
    assert done.returncode == 0 and done.stdout == f"stream-al {stream_al.__version__}\n"


def test_the_console_script_runs_the_cli_package():
    (script,) = entry_points(group="console_scripts", name="stream-al")
    assert script.value == "stream_al.cli:main" and script.load() is main


def test_a_user_error_is_one_line_with_exit_code_2(tmp_path):
    err = one_line_error(run("simulate", "--data", str(tmp_path / "nope.csv")))
    assert err.startswith("stream-al simulate: error: data file ") and "does not exist" in err


def test_a_bug_shows_its_traceback(monkeypatch):
    def broken(args):
        return {}["no such key"]

    monkeypatch.setattr(simulate, "run", broken)  # the parser is built from the module's run
    with pytest.raises(KeyError, match="no such key"):
        main(["simulate", "--data", "any.csv"])


def test_the_version_is_the_installed_distribution_s():
    from importlib.metadata import version

    assert version("stream-al") == stream_al.__version__  # pyproject.toml's [project] version
