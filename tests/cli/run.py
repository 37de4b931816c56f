"""The ``stream-al`` program run as a user runs it: a subprocess, output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stream_al(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO,
              pythonpath: Path = REPO, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """``python -m stream_al.cli ARGS`` importing stream_al from ``pythonpath``."""
    return subprocess.run(
        [sys.executable, "-m", "stream_al.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(pythonpath)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The one error line of a command stopped by a user error (exit 2, no traceback)."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    return done.stderr
