"""One bridge in a process of its own (as in production), Label Studio answered by the stand-in,
writing its group membership to a file whenever it changes; several of them are several bridges
in one consumer group (``test_group.py``, ``benchmarks/bridge_group.py``).

    python -m tests.label_studio.group_member --config C --out DIR --name a [--poll-ms 100]

``DIR/<name>.status``: a JSON line per change (time, generation, member state, partitions),
read from the bridge's group consumer every 20 ms (``group_metadata()``, ``assignment()``);
``DIR/<name>.tasks``: the item ids of the tasks it made (the stand-in's).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kafka.coordinator.base import MemberState

from stream_al.config import KafkaSettings, Settings
from tests.label_studio.stand_in import LabelStudioStandIn


def command(config: Path, out: Path, name: str, import_ms: float = 0.0,
            poll_ms: int | None = None) -> list[str]:
    """The command line of one member (``poll_ms``: the bridge's ``POLL_MS``, if not its own)."""
    return [sys.executable, "-m", "tests.label_studio.group_member", "--config", str(config),
            "--out", str(out), "--name", name, "--import-ms", str(import_ms),
            *(["--poll-ms", str(poll_ms)] if poll_ms is not None else [])]


def statuses(out: Path, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each member's status lines so far."""
    got = {}
    for name in names:
        path = out / f"{name}.status"
        lines = path.read_text().splitlines() if path.exists() else []
        got[name] = [json.loads(x) for x in lines if x.endswith("}")]
    return got


def settled(out: Path, names: list[str], partitions: int) -> int | None:
    """The group's generation once the members ``names`` are all stable in it and split the
    ``partitions`` between them; else None."""
    last = [s[-1] for s in statuses(out, names).values() if s]
    if len(last) < len(names) or any(x["state"] != str(MemberState.STABLE) for x in last):
        return None
    generations = {x["gen"] for x in last}
    parts = sorted(p for x in last for p in x["parts"])
    return generations.pop() if len(generations) == 1 and parts == list(range(partitions)) \
        else None


def watch(consumers: list[Any], status: Path, stop: threading.Event) -> None:
    last = None
    with status.open("a") as f:
        while not stop.wait(0.02):
            if not consumers:
                continue
            meta = consumers[0].group_metadata()
            now = (meta.generation_id, str(meta.state),
                   sorted(tp.partition for tp in consumers[0].assignment()))
            if now != last:
                last = now
                f.write(json.dumps({"t": time.time(), "gen": now[0], "state": now[1],
                                    "parts": now[2]}) + "\n")
                f.flush()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--import-ms", type=float, default=0.0)
    p.add_argument("--poll-ms", type=int)
    args = p.parse_args()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck member shows its stacks
    from stream_al.label_studio import bridge

    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka.coordinator").setLevel(logging.INFO)  # its joins, for the record
    consumers: list[Any] = []
    make = bridge.clients.consumer

    def consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> Any:
        made = make(kafka, *topics, **options)
        if options.get("group_id"):
            consumers.append(made)
        return made

    bridge.clients.consumer = consumer
    if args.poll_ms is not None:
        bridge.POLL_MS = args.poll_ms
    settings = Settings.load(args.config)
    member = bridge.Bridge(settings.kafka, settings.embedder, bridge.BridgeOptions(
        url="http://stand-in", token="-", project="items", expert_project=None,
        pre_annotate=False, poll_s=0.5))
    member.ls = LabelStudioStandIn(Path(args.out), args.name, args.import_ms / 1000)
    stop = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True, args=(
        consumers, Path(args.out) / f"{args.name}.status", stop))
    watcher.start()
    signal.signal(signal.SIGTERM, lambda *_: member.stop.set())
    try:
        member.run(lambda line: print(line, flush=True))
    finally:
        stop.set()
        watcher.join(1)


if __name__ == "__main__":
    main()
