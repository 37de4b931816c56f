"""Run Python code as on a core install, where matplotlib (the ``plots`` extra) is missing.

The suite's venv has matplotlib (the ``dev`` extra), so a subprocess makes it unimportable
(``sys.modules['matplotlib'] = None``, what Python does for a module it must not import)
before stream_al is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIX = "pip install 'stream-al[plots]'"


def python(code: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
    """``python -c CODE`` importing this tree's stream_al, with matplotlib unimportable."""
    prelude = "import sys\nsys.modules['matplotlib'] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
