"""The ``stream-al`` command line: one module per command (or family of sub-commands).

``simulate``, ``demo``, ``worker``, ``produce``, ``vendor``, ``labels``, ``models`` and
``broker``; :mod:`stream_al.cli.program` puts them on one parser and reports errors.
Run it as ``stream-al`` (the console script) or ``python -m stream_al.cli``.
"""

from stream_al.cli.program import build_parser, main

__all__ = ["build_parser", "main"]
