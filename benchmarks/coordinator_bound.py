"""What the coordinator's ceiling would be without its OOD check or its drift monitor (issue 17).

An upper bound, not a configuration: the coordinator of ``benchmarks.control_traffic --parts
ceiling`` with ``OODSelector``'s per-candidate check (distances, flags, the burst test's
input, OOD purchases) and/or ``DataHealth.on_batch`` (the drift monitor's per-candidate tests)
replaced by nothing. Its decisions differ from a deployed coordinator's (no OOD purchases, no
drift alarms); what it measures is how much of the ceiling those two parts take, i.e. what
moving them out of the coordinator (to the scorers, which scale with the ``texts`` partitions)
would buy at most. Every other argument goes to ``control_traffic``:

    python -m benchmarks.coordinator_bound --without ood drift --partitions 4
    python -m benchmarks.coordinator_bound --without ood --history 10000

Run the variants in rotating order under ``nice -n 10`` and compare within one round.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks import control_traffic
from stream_al.drift.health import DataHealth
from stream_al.select.ood_cap import OODSelector


def _no_ood_check(self: OODSelector, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.full(len(X), np.nan, dtype=np.float32), np.zeros(len(X), dtype=bool),
            np.zeros(0, dtype=np.intp))


def without(parts: list[str]) -> None:
    """Take ``parts`` ("ood", "drift") out of every coordinator built after this call."""
    if "ood" in parts:
        OODSelector._check = _no_ood_check  # type: ignore[method-assign]
        OODSelector._measured = lambda self, chosen: chosen  # type: ignore[method-assign]
    if "drift" in parts:
        DataHealth.on_batch = lambda self, X, uncertainty, drift=None: []  # type: ignore[method-assign]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--without", nargs="*", choices=("ood", "drift"), default=[])
    args, rest = p.parse_known_args()
    without(args.without)
    print(f"coordinator without: {', '.join(args.without) or 'nothing (as deployed)'}")
    control_traffic.main(["--parts", "ceiling", *rest])


if __name__ == "__main__":
    main()
