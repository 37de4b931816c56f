"""How often would "a verdict decided before a checkpoint is final" change a rebuild?

docs/delivery-semantics.md, format 3, open problem (4). Format 3 as built (loop/resume.py)
refuses a suffix that could change a verdict of the image's history, so its rebuild equals a
full one; the alternative the lead considered keeps the image's verdicts as they are. This
measures what that would change: on a history of multi-labelled items (the shape of
``tests/loop/test_restore_bulk.py``'s, scaled: items asking 1 or 3 labels, disagreements,
a careless annotator, experts on some), a restore of the first ``1 - suffix`` of the items
and their labels against a restore of all of it; for every item the first one settled, is
its learned class (or its hold) the same in both?

    nice -n 15 python benchmarks/verdict_drift.py --items 3000 --suffix 0.05 0.2
"""

from __future__ import annotations

import argparse
import json

from stream_al.embed import make_embedder
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.restore import History
from tests.loop.test_restore_bulk import NOW, history, settings


def verdicts(c: Coordinator) -> dict[str, str | None]:
    """Settled item -> class learned (None: held for an expert)."""
    a = c.annotating
    out = {i: learned for i, (_, _, learned) in a.settled.get_many(
        [x.item_id for x in c.labels]).items()}
    out.update({i: None for i, it in a.open.items() if it.held})
    return out


def drift(adjudication: str, n_items: int, suffix: float, seed: int) -> dict:
    bought, labels, requested = history(n_items, seed=seed)
    cut = int(n_items * (1 - suffix))
    number = {p.item_id: n for n, p in enumerate(bought)}
    early = [x for x in labels if number.get(x.item_id, -1) < cut]
    s = settings(adjudication)
    embedder = make_embedder(s.embedder)
    before = Coordinator(s, embedder.dim, embedder)
    before.restore(History(bought[:cut], {}, early, None, 0, NOW, requested=requested))
    after = Coordinator(s, embedder.dim, embedder)
    after.restore(History(bought, {}, labels, None, 0, NOW, requested=requested))
    v0, v1 = verdicts(before), verdicts(after)
    changed = [i for i in v0 if v1.get(i, "?") != v0[i]]
    return {"adjudication": adjudication, "items": n_items, "suffix": suffix, "seed": seed,
            "settled_before": len(v0), "changed": len(changed),
            "share": len(changed) / max(1, len(v0))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--suffix", type=float, nargs="+", default=[0.05, 0.2])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    for adjudication in ("majority", "dawid_skene"):
        for suffix in args.suffix:
            for seed in range(args.seeds):
                print(json.dumps(drift(adjudication, args.items, suffix, seed)), flush=True)


if __name__ == "__main__":
    main()
