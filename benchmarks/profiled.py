"""Run a ``stream-al`` command (``stream_al.cli``) under cProfile, executor threads included.

cProfile (Python 3.11) sees only the thread that enabled it, and the worker does its heavy
work (embedding, selection) in ``run_in_executor`` threads, so each thread-pool work item is
profiled too, and everything is merged into one ``pstats`` file when the command exits:

    python -m benchmarks.profiled OUT.pstats worker --config run.yaml
    python -c "import pstats; pstats.Stats('OUT.pstats').sort_stats('cumtime').print_stats(40)"
"""

from __future__ import annotations

import concurrent.futures.thread as pool
import cProfile
import pstats
import sys
import threading


def main(argv: list[str]) -> int:
    out, args = argv[0], argv[1:]
    profiles: list[cProfile.Profile] = []
    local = threading.local()
    run = pool._WorkItem.run

    def profiled_run(self: pool._WorkItem) -> None:
        profile = getattr(local, "profile", None)
        if profile is None:
            profile = local.profile = cProfile.Profile()
            profiles.append(profile)
        profile.enable()
        try:
            run(self)
        finally:
            profile.disable()

    pool._WorkItem.run = profiled_run
    from stream_al.cli import main as cli_main

    main_profile = cProfile.Profile()
    main_profile.enable()
    try:
        return cli_main(args)
    finally:
        main_profile.disable()
        stats = pstats.Stats(main_profile)
        for p in profiles:
            stats.add(p)
        stats.dump_stats(out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
