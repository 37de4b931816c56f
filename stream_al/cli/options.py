"""What several commands share: the ``--config``/``--bootstrap`` options, settings from them,
and Kafka failures turned into one line that says what to do."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from stream_al.cli.errors import CommandError
from stream_al.config import Settings

CONFIG_HELP = (
    "YAML settings file (default: $STREAM_AL_CONFIG, else ./stream-al.yaml, else "
    "~/.config/stream-al/config.yaml)"
)


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=CONFIG_HELP)


def add_kafka(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--bootstrap``."""
    add_config(parser)
    parser.add_argument("--bootstrap", help="Kafka bootstrap HOST:PORT (kafka.bootstrap)")


def load_settings(args: argparse.Namespace, **flags: dict[str, Any]) -> Settings:
    """Settings of a command: its flags over the environment over the config file.

    ``flags`` are sections of settings given on the command line (``budget={"fraction": 0.1}``);
    empty sections are ignored, and so is ``--bootstrap`` when the command has none.
    """
    bootstrap = getattr(args, "bootstrap", None)
    if bootstrap:
        flags = {**flags, "kafka": {**flags.get("kafka", {}), "bootstrap": bootstrap}}
    return Settings.load(args.config, **{k: v for k, v in flags.items() if v})


def kafka_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run ``command``; a Kafka failure becomes a :class:`CommandError` that says what to do."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from kafka.errors import KafkaError

        try:
            return command(args)
        except KafkaError as e:
            if "bootstrap" in str(e).lower():
                bootstrap = getattr(args, "bootstrap", None) or "kafka.bootstrap"
                raise CommandError(
                    f"no Kafka broker answers at {bootstrap}; start one with "
                    f"`stream-al broker start` or pass --bootstrap HOST:PORT"
                ) from None
            raise CommandError(f"Kafka error: {e}") from None

    return run
