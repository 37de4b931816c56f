"""``stream-al models list | show VERSION | rollback VERSION [--config FILE] [--registry DIR]``.

The registry is the one the workers of ``--config`` write (``registry.dir``, by default
``<kafka.state_dir>/registry/<kafka.app_id>``). ``rollback`` sends version VERSION to the
running coordinator on the commands topic (``stream_al/stream/commands.py``; only the operator
role may write it, the coordinator relays it to the control topic), waits until the
scorers are sent its weights, and makes it the registry's current version;
``--registry-only`` only moves the registry's pointer.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import orjson

from stream_al.cli.errors import CommandError
from stream_al.cli.options import add_config, kafka_errors
from stream_al.config import Settings
from stream_al.registry.store import ModelRegistry, ModelVersion, RegistryError


def _registry(args: argparse.Namespace) -> ModelRegistry:
    from stream_al.stream.registering import registry_dir

    if args.registry:
        directory = Path(args.registry)
    else:
        settings = Settings.load(args.config)
        directory = registry_dir(settings.registry, settings.kafka)
    if not (directory / "index.json").exists():
        raise RegistryError(f"no model registry at {directory}; pass --registry DIR "
                            "(or set registry.dir / STREAM_AL_REGISTRY__DIR)")
    return ModelRegistry(directory)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    current = registry.current
    print(f"{'':2}{'version':>7}{'model':>7}{'created':>21}{'labels':>8}{'classes':>8}"
          f"{'accuracy':>10}  fingerprint")
    for v in registry.list_versions():
        acc = v.metrics.get("accuracy")
        print(f"{'*' if v.version == current else '':2}{v.version:>7}{v.model_version:>7}"
              f"{_when(v.created_at):>21}{v.labelled.rows:>8}{len(v.classes):>8}"
              f"{'-' if acc is None else f'{acc:.4f}':>10}  {v.fingerprint}")
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    info: ModelVersion = registry.get(args.version)
    data = info.to_json() | {"current": registry.current == info.version}
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    return 0


def _rollback(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if not args.registry_only:
        _send_rollback(args, registry)
    snapshot = registry.rollback(args.version)
    print(f"current model is now version {args.version} (model version {snapshot.version}, "
          f"fingerprint {snapshot.fingerprint()}, {len(snapshot.classes)} classes)")
    return 0


def _send_rollback(args: argparse.Namespace, registry: ModelRegistry) -> None:
    from stream_al.stream.commands import (
        latest_model_version,
        rollback_record,
        send_rollback,
        wait_for_model,
    )

    kafka = Settings.load(args.config).kafka
    record = rollback_record(registry, args.version)
    fingerprint = registry.get(args.version).fingerprint
    before = latest_model_version(kafka)
    send_rollback(kafka, record)
    print(f"rollback to version {args.version} sent on {kafka.topics.commands}")
    if args.wait <= 0:
        return
    update = wait_for_model(kafka, fingerprint, before, args.wait)
    if update is None:
        raise CommandError(f"no model with the weights of version {args.version} on "
                           f"{kafka.topics.models} within {args.wait:g}s: is a worker running "
                           "with this --config? (the command stays on the commands topic; refused "
                           "rollbacks are on the dead-letter topic)")
    print(f"the scorers are sent it as model version {update.version}")


def add_parser(subparsers: Any) -> None:
    """Register ``models list|show|rollback`` on an argparse sub-parser group."""
    models = subparsers.add_parser("models", help="the model registry: list, show, roll back")
    commands = models.add_subparsers(dest="models_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--registry", help="registry directory (default: registry.dir)")
        add_config(p)

    p = commands.add_parser("list", help="every registered version; * marks the current one")
    common(p)
    p.set_defaults(func=_list)
    p = commands.add_parser("show", help="one version as JSON: figures, labelled data, files")
    p.add_argument("version", type=int)
    common(p)
    p.set_defaults(func=_show)
    p = commands.add_parser("rollback", help="make the running scorers use VERSION's model")
    p.add_argument("version", type=int)
    p.add_argument("--registry-only", action="store_true",
                   help="only make VERSION the registry's current one; send nothing to workers")
    p.add_argument("--wait", type=float, default=60.0,
                   help="seconds to wait for the workers to publish it (0: do not wait)")
    common(p)
    p.set_defaults(func=kafka_errors(_rollback))
