"""Drawing PNGs: matplotlib is the optional ``plots`` extra, left out of the core install.

Every plot function gets pyplot from :func:`pyplot`, which raises
:class:`PlotsUnavailableError` (naming the fix) when matplotlib cannot be imported. A caller
that asked for a plot file lets it propagate; a run that draws PNGs beside its figures (the
simulator's report, the demo) catches it and prints :func:`skipped` instead, so the figures
and CSVs are written either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stream_al.errors import StreamAlError

INSTALL = "pip install 'stream-al[plots]'"


class PlotsUnavailableError(StreamAlError):
    """A PNG was asked for but matplotlib (the ``plots`` extra) cannot be imported."""


def _why(exc: ImportError) -> str:
    if exc.name == "matplotlib" or (exc.name or "").startswith("matplotlib."):
        return "matplotlib is not installed (the core install leaves it out)"
    return f"matplotlib does not import ({exc})"


def pyplot(path: str | Path) -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, to draw ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotsUnavailableError(
            f"cannot draw {Path(path).name}: {_why(exc)}; add it with {INSTALL}") from exc
    return plt


def available() -> bool:
    """Whether :func:`pyplot` would succeed (matplotlib imports)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def skipped(names: str, error: PlotsUnavailableError) -> str:
    """The one line a run prints instead of the PNGs ``names`` it could not draw."""
    cause = error.__cause__
    why = _why(cause) if isinstance(cause, ImportError) else str(error)
    return f"skipped {names}: {why}; add it with {INSTALL} to draw them"
