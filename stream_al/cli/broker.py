"""``stream-al broker start|stop|status|restart|reset``: the local Kafka broker for development.

Runs ``kafka.sh``, shipped with the package (``stream_al/deploy_files``), so the command works
from an installed package as from the repository. The script's environment variables
(``KAFKA_PORT``, ``KAFKA_DATA_DIR``, ...) are documented at its top.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from stream_al.cli.errors import CommandError

ACTIONS = ("start", "stop", "status", "restart", "reset")


def kafka_script() -> Path:
    """The packaged ``kafka.sh`` (next to the ``lib.sh`` and ``kafka/pom.xml`` it reads)."""
    script = Path(str(resources.files("stream_al") / "deploy_files" / "kafka.sh"))
    if not script.is_file():
        raise CommandError(
            f"{script} is missing: the package was installed without its data files; "
            "reinstall stream-al (pip install --force-reinstall stream-al)"
        )
    return script


def broker(action: str, env: dict[str, str] | None = None, *, quiet: bool = False,
           check: bool = False) -> int:
    """Run ``kafka.sh ACTION`` and return its exit code; ``quiet``: its messages go to stderr
    (the demo keeps stdout for its own report); ``check``: a failure raises."""
    if action not in ACTIONS:
        raise CommandError(f"unknown broker action {action!r}; choose one of {', '.join(ACTIONS)}")
    done = subprocess.run(["bash", str(kafka_script()), action], env=env,
                          stdout=sys.stderr if quiet else None)
    if check and done.returncode != 0:
        raise CommandError(f"`stream-al broker {action}` failed (exit {done.returncode}); "
                           "its messages are above")
    return done.returncode


def run(args: argparse.Namespace) -> int:
    return broker(args.action)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("broker", help="the local Kafka broker for development")
    parser.add_argument("action", choices=ACTIONS)
    parser.set_defaults(func=run)
