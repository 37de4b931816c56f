"""Several Label Studio bridges in one consumer group: does the group settle, and does every
selected item become one task?

A private broker (or ``--bootstrap``); ``selected`` with ``--partitions`` partitions;
``--members`` bridge processes (``tests/label_studio/group_member.py``), each the real
:class:`~stream_al.label_studio.bridge.Bridge` (its own consumer loop, its relay thread, its
model follower) in one group, with Label Studio's REST calls answered by a stand-in after
``--import-ms`` (``tests/label_studio/stand_in.py``: a member starting late reads the tasks made
so far, as it would from the project). Items are produced all along (``--rate`` a second). Each
member writes its group generation, member state and assigned partitions whenever they change
(sampled every 20 ms from its consumer); ``--poll-ms`` replaces the bridge's ``POLL_MS``.

Scenarios: ``together`` (all members start at once), ``rolling`` (``--members`` - 1 start, then
one more joins once they settle, then the first leaves: a rolling restart's overlap; with
``--leave kill`` it is killed, as in a crash).

    python -m benchmarks.bridge_group --members 3 --runs 3
    python -m benchmarks.bridge_group --members 3 --scenario rolling --runs 3
    python -m benchmarks.bridge_group --members 3 --scenario rolling --poll-ms 0

Per run (a JSON line): seconds until settled after each start, join and leave (None: not
within ``--settle-timeout``), generations seen, the last generation change after the last
join or leave, whether the members end on one generation with a disjoint cover of the
partitions, items produced, items that became a task, duplicate tasks, commits the group
refused, and join answers each member threw away (as leader, as follower).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.broker import Process, load_average, private_broker, run_config, wait_until
from stream_al.config import KafkaSettings, Settings
from stream_al.label_studio.bridge import POLL_MS
from stream_al.stream import clients
from tests.label_studio import group_member
from tests.label_studio.group_member import settled, statuses
from tests.label_studio.stand_in import selected_item, tasks_made


# ---- the driver --------------------------------------------------------------------------------
def feed(bootstrap: str, topic: str, run: str, rate: float, stop: threading.Event,
         sent: list[str]) -> None:
    producer = clients.producer(KafkaSettings(bootstrap=bootstrap), acks="all", linger_ms=5)
    i = 0
    try:
        while not stop.wait(1 / rate):
            item = selected_item(f"{run}-{i}")
            producer.send(topic, key=item.item_id.encode(), value=item.to_bytes())
            sent.append(item.item_id)
            i += 1
        producer.flush()
    finally:
        producer.close()


def start(config: Path, out: Path, name: str, args: argparse.Namespace) -> Process:
    return Process(group_member.command(config, out, name, args.import_ms, args.poll_ms)[1:],
                   out / f"{name}.log")


def run_once(bootstrap: str, args: argparse.Namespace, run: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="stream-al-bridge-group-"))
    config = run_config(bootstrap, directory)
    topics = Settings.load(config).kafka.topics
    admin = clients.admin(KafkaSettings(bootstrap=bootstrap))
    from kafka.admin import NewTopic

    admin.create_topics([NewTopic(topics.selected, args.partitions, 1)]
                        + [NewTopic(t, 1, 1) for t in (topics.models, topics.labels,
                                                       topics.events)])
    admin.close()
    out = directory / "out"
    out.mkdir()
    names = [f"m{k}" for k in range(args.members)]
    first = names if args.scenario == "together" else names[:-1]
    stop, sent = threading.Event(), []
    feeder = threading.Thread(target=feed, args=(bootstrap, topics.selected, f"r{run}",
                                                 args.rate, stop, sent), daemon=True)
    members = {n: start(config, out, n, args) for n in first}
    events = []  # (time, what): members joining or leaving
    t0 = time.time()
    events.append((t0, "start " + ",".join(first)))
    feeder.start()
    result: dict[str, Any] = {"run": run, "scenario": args.scenario, "leave": args.leave,
                              "members": args.members,
                              "poll_ms": args.poll_ms if args.poll_ms is not None else POLL_MS}
    try:
        result["settle_s"] = [wait_time(out, first, args, t0)]
        if args.scenario == "rolling":
            late = names[-1]
            members[late] = start(config, out, late, args)
            events.append((t := time.time(), f"join {late}"))
            result["settle_s"].append(wait_time(out, first + [late], args, t))
            if args.leave == "kill":  # a crash: no last commit, no LeaveGroup
                os.killpg(members[names[0]].process.pid, signal.SIGKILL)
            members[names[0]].stop()
            events.append((t := time.time(), f"leave {names[0]}"))
            result["settle_s"].append(wait_time(out, names[1:], args, t))
        left = t0 + args.seconds - time.time()
        if left > 0:
            time.sleep(left)  # items flow; the status files record any rebalance
        stop.set()
        feeder.join(30)
        alive = [n for n in names if members[n].process.poll() is None]
        want = set(sent)
        with contextlib.suppress(TimeoutError):  # counted below
            wait_until(lambda: want <= set(tasks_made(out)), 60, "a task for every item",
                       every_s=0.2)
        result.update(outcome(out, names, alive, want, events, args.partitions))
    finally:
        stop.set()
        for m in members.values():
            m.stop()
    result["load"] = load_average()
    return result


def wait_time(out: Path, names: list[str], args: argparse.Namespace, since: float) -> float | None:
    """Seconds until the members are settled (None: not within ``--settle-timeout``)."""
    try:
        wait_until(lambda: settled(out, names, args.partitions) is not None, args.settle_timeout,
                   "the group to settle", every_s=0.05)
    except TimeoutError:
        return None
    return round(time.time() - since, 2)


def discards(log: str) -> tuple[int, int]:
    """Join answers a member threw away, (as the group's leader, as a follower): a JoinGroup
    answered ("Successfully joined") and then sent again ("(Re-)joining") with no assignment
    taken ("Setting newly assigned") and no error in between (kafka-python 3.0.12 drops a join
    that completed between two polls). A leader's new join is a new rebalance."""
    counts, answered, leader = [0, 0], False, False
    for line in log.splitlines():
        if "Successfully joined group" in line:
            answered, leader = True, False
        elif "Elected group leader" in line:
            leader = True
        elif "Setting newly assigned partitions" in line or " failed " in line:
            answered = False
        elif "(Re-)joining group" in line:
            if answered:
                counts[0 if leader else 1] += 1
            answered = False
    return counts[0], counts[1]


def outcome(out: Path, names: list[str], alive: list[str], want: set[str],
            events: list[tuple[float, str]], partitions: int) -> dict[str, Any]:
    seen = statuses(out, names)
    gens = sorted({x["gen"] for s in seen.values() for x in s if x["gen"] > 0})
    last_event = events[-1][0]
    changes = [x["t"] for s in seen.values() for i, x in enumerate(s)
               if i and x["gen"] != s[i - 1]["gen"]]
    tasks = tasks_made(out)
    logs = [(out / f"{n}.log").read_text() for n in names]
    refused = sum(text.count("offsets not committed") for text in logs)
    return {
        "generations": gens,
        "n_generations": len(gens),
        "last_change_after_last_event_s": round(max(changes) - last_event, 2) if changes else None,
        "settled_at_end": settled(out, alive, partitions) is not None,
        "items": len(want),
        "items_with_task": len(want & set(tasks)),
        "duplicate_tasks": sum(n - 1 for n in tasks.values()),
        "refused_commits": refused,
        "discarded_joins_leader_follower": [discards(text) for text in logs],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--scenario", choices=["together", "rolling"], default="together")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=20.0, help="items a second")
    p.add_argument("--import-ms", type=float, default=20.0,
                   help="how long the stand-in for Label Studio takes to import a batch")
    p.add_argument("--leave", choices=["stop", "kill"], default="stop",
                   help="rolling: the first member is stopped (SIGTERM) or killed (SIGKILL)")
    p.add_argument("--poll-ms", type=int,
                   help="the members' poll timeout (default: the bridge's POLL_MS)")
    p.add_argument("--settle-timeout", type=float, default=60.0)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--bootstrap", help="an existing broker (default: a private one)")
    args = p.parse_args()
    if args.bootstrap:
        for run in range(args.runs):
            print(json.dumps(run_once(args.bootstrap, args, run)), flush=True)
        return
    with private_broker() as bootstrap:
        for run in range(args.runs):
            print(json.dumps(run_once(bootstrap, args, run)), flush=True)


if __name__ == "__main__":
    main()
