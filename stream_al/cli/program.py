"""The ``stream-al`` program: every command on one parser, and how errors are reported.

A :class:`~stream_al.errors.StreamAlError` (something the user can fix) is printed as one line,
``stream-al COMMAND: error: MESSAGE``, with exit code 2; any other exception is a bug and shows
its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stream_al import __version__
from stream_al.cli import (
    bridge,
    broker,
    demo,
    labels,
    models,
    produce,
    simulate,
    vendor,
    worker,
)
from stream_al.errors import StreamAlError

COMMANDS = (simulate, demo, worker, produce, vendor, bridge, labels, models, broker)
"""Modules of the commands, in the order the help lists them; each has ``add_parser``."""

USER_ERROR = 2
"""Exit code of a command stopped by a user error (argparse uses it for bad arguments too)."""

DESCRIPTION = """\
Streaming active learning for NLP on Kafka: pick the texts worth a human label, learn online.

Settings come from (highest priority first) the command's flags, STREAM_AL_* environment
variables, a YAML config file (--config FILE, else $STREAM_AL_CONFIG, else ./stream-al.yaml,
else ~/.config/stream-al/config.yaml) and the defaults.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream-al", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stream-al {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (2 with a one-line message for a user error)."""
    from stream_al.runtime import limit_blas_threads, run_with_pinned_blas

    limit_blas_threads()
    args = build_parser().parse_args(argv)
    if argv is None and args.command == "demo":  # its figures: the same on any x86-64 machine
        run_with_pinned_blas("stream_al.cli")
    try:
        return int(args.func(args) or 0)
    except StreamAlError as e:
        print(f"stream-al {args.command}: error: {e}", file=sys.stderr)
        return USER_ERROR
