"""The worker, produce and vendor commands refuse bad arguments with one clear line."""

from __future__ import annotations

import pytest

from stream_al.cli import main
from tests.stream.harness import AG_NEWS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["produce", "--data", "no-such-file.csv"], "data file no-such-file.csv does not exist"),
        (["produce", "--data", str(AG_NEWS), "--text-column", "body"], "no column 'body'"),
        (["produce", "--data", str(AG_NEWS), "--rate", "-1"], "--rate must be >= 0"),
        (["vendor", "--gold", str(AG_NEWS), "--noise", "1.5"], "--noise must be in [0, 1]"),
        (
            ["vendor", "--gold", str(AG_NEWS), "--annotators", "2", "--per-item", "3"],
            "--per-item must be in [1, --annotators=2]",
        ),
        (["vendor", "--gold", str(AG_NEWS), "--label-column", "topic"], "pass --label-column"),
        (["worker", "--budget", "1.5", "--bootstrap", "127.0.0.1:1"], "budget must be in (0, 1]"),
        (["worker", "--config", "missing.yaml"], "config file missing.yaml does not exist"),
    ],
)
def test_bad_arguments_give_a_message_and_no_traceback(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
