"""What the development suite prints and writes: mean and spread over seeds, the tables of
``benchmarks/README.md``, a learning-curve figure per set, and issue 14's targets as PASS/FAIL.

Every figure here is computed from the runs' results; nothing is typed in. Spreads are the
sample standard deviation over seeds. "labels to 90%" is the labels used at the first
checkpoint whose held-out accuracy reaches 90% of the seed's best all-labels accuracy (the
higher of the two ceilings); a run that never reaches it counts as not reached.
"""

from __future__ import annotations

import statistics as st
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import numpy as np

from benchmarks.peers.measures import Point, labels_to_reach

BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"
REACH = 0.9
BEAT_RANDOM_BY = 0.02


def method_of(run: Mapping) -> str:
    return run["method"] if run["kind"] == "stream-al" else f"{run['method']}+{run['learner']}"


def budget_name(budget: float) -> str:
    return f"{budget:.0%}" if budget <= 1 else f"{int(budget)} labels"


@dataclass(frozen=True)
class BestPeer:
    """The best peer of a cell: its mean accuracy and the default's, over the ``seeds``
    both ran (of the default's ``of``), and default − peer on each of those seeds (points)."""

    name: str
    accuracy: float
    default: float
    seeds: int
    of: int
    gaps: tuple[float, ...] = ()

    @property
    def lead(self) -> float:
        """The peer's lead over the default on the shared seeds (-inf: no default to pair)."""
        gap = self.accuracy - self.default
        return -np.inf if np.isnan(gap) else gap

    @property
    def label(self) -> str:
        """Its name, with the seeds compared when fewer than the default ran."""
        return self.name if self.seeds >= self.of else f"{self.name} ({self.seeds} of {self.of} seeds)"


class Table:
    """The runs of the main tasks, by (set, budget, method), one entry per seed."""

    def __init__(self, tasks: Iterable) -> None:
        self.runs: dict[tuple[str, float, str], list[dict]] = defaultdict(list)
        self.ceilings: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.minority: dict[str, dict[str, list[tuple[int, bool]]]] = defaultdict(
            lambda: defaultdict(list))
        self.minority_class: dict[str, str | None] = {}
        self.meta: dict[str, dict] = {}
        self.sets: list[str] = []
        self.budgets: list[float] = []
        for t in tasks:
            self._add(t)

    def _add(self, t: object) -> None:
        t = t if isinstance(t, Mapping) else vars(t)
        name = t["set_name"]
        self.minority_class[name] = t["minority"]
        smallest = min((r["budget"] for r in t["runs"]), default=None)
        for r in t["runs"]:
            if r["method"] in ("random", "default") and r["kind"] == "stream-al" \
                    and r["budget"] == smallest and r["recorded_labels"]:
                first = r["first_minority"]  # never found: counted as one more than bought
                self.minority[name][r["method"]].append(
                    (first if first is not None else r["labels_used"] + 1, first is None))
        if t["minority_only"]:
            return
        if name not in self.sets:
            self.sets.append(name)
            self.meta[name] = {"rows": t["n_rows"], "classes": t["n_classes"],
                               "stream": t["stream_length"], "seconds": []}
        self.meta[name]["seconds"].append(t["seconds"])
        best = max(t["ceilings"].values())
        for learner, acc in t["ceilings"].items():
            self.ceilings[name][learner].append(acc)
        for r in t["runs"]:
            curve = [Point(*p) for p in r["curve"]]
            row = {**r, "seed": t["seed"], "labels_to_90": labels_to_reach(curve, REACH * best)}
            self.runs[(name, r["budget"], method_of(r))].append(row)
            if r["budget"] not in self.budgets:
                self.budgets.append(r["budget"])

    def methods(self, name: str, budget: float) -> list[str]:
        return [m for (s, b, m) in self.runs if s == name and b == budget]

    def values(self, name: str, budget: float, method: str, key: str) -> list:
        return [r[key] for r in self.runs.get((name, budget, method), [])]

    def ran(self, name: str, budget: float) -> bool:
        """Whether the set has runs of ``default`` at this budget (files joined from several
        runs need not all have every budget)."""
        return bool(self.runs.get((name, budget, "default")))

    def mean(self, name: str, budget: float, method: str, key: str) -> float:
        vals = [v for v in self.values(name, budget, method, key) if v is not None]
        return float(np.mean(vals)) if vals else float("nan")

    def best_peer(self, name: str, budget: float) -> BestPeer:
        """The peer (with whichever learner does better for it) most ahead of the default on
        the seeds both ran (files joined from partial runs may hold a peer on fewer seeds
        than the default): its mean accuracy and the default's over those seeds."""
        default = {r["seed"]: r["final_accuracy"] for r in self.runs.get((name, budget,
                                                                          "default"), [])}
        best = BestPeer("-", float("nan"), float("nan"), 0, len(default))
        for m in (m for m in self.methods(name, budget) if "+" in m):
            peer = {r["seed"]: r["final_accuracy"] for r in self.runs[(name, budget, m)]}
            shared = sorted(set(peer) & set(default)) or sorted(peer)
            candidate = BestPeer(m, float(np.mean([peer[k] for k in shared])), float(np.mean(
                [default[k] for k in shared if k in default] or [np.nan])), len(shared),
                len(default), tuple(100 * (default[k] - peer[k]) for k in shared
                                    if k in default))
            if best.name == "-" or candidate.lead > best.lead:
                best = candidate
        return best

    def ceiling(self, name: str) -> float:
        """The best all-labels accuracy: the higher learner's mean over seeds."""
        return max(float(np.mean(v)) for v in self.ceilings[name].values())


def spread(values: Sequence, digits: int = 3) -> str:
    """``mean ± std`` over seeds; ``n/r`` for runs that did not reach, ``(k/n)`` if some did not.

    >>> spread([0.5, 0.7])
    '0.600 ± 0.141'
    >>> spread([10, None], 0)
    '10 (1/2)'
    """
    got = [v for v in values if v is not None]
    if not got:
        return "n/r"
    text = f"{np.mean(got):.{digits}f}"
    if len(got) > 1:
        text += f" ± {np.std(got, ddof=1):.{digits}f}"
    return text if len(got) == len(values) else f"{text} ({len(got)}/{len(values)})"


def paired(values: Sequence[float], digits: int = 1) -> str:
    """Paired differences over seeds, signed: ``mean ± sd`` (one seed: the value).

    >>> paired([1.0, 2.0]), paired([-0.25])
    ('+1.5 ± 0.7', '-0.2')
    """
    if len(values) < 2:
        return f"{values[0]:+.{digits}f}"
    return f"{st.mean(values):+.{digits}f} ± {st.stdev(values):.{digits}f}"


def headline(table: Table) -> list[str]:
    out = ["| set | budget | labels | all labels: stream-al / sklearn | random | default "
           "| best peer | default − best peer | default − random |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name in table.sets:
        ceil = table.ceilings[name]
        for budget in filter(lambda b, name=name: table.ran(name, b), table.budgets):
            peer = table.best_peer(name, budget)
            default = table.mean(name, budget, "default", "final_accuracy")
            random = table.mean(name, budget, "random", "final_accuracy")
            labels = spread(table.values(name, budget, "default", "labels_used"), 0)
            out.append(
                f"| {name} | {budget_name(budget)} | {labels} | "
                f"{np.mean(ceil['stream-al']):.3f} / {np.mean(ceil['sklearn']):.3f} | "
                f"{spread(table.values(name, budget, 'random', 'final_accuracy'))} | "
                f"{spread(table.values(name, budget, 'default', 'final_accuracy'))} | "
                f"{_peer_cells(peer)} | "
                f"{100 * (default - random):+.1f} pts |")
    return out


def _peer_cells(peer: BestPeer) -> str:
    """The best peer's name and accuracy, and the default's lead over it on the same seeds,
    paired by seed: mean ± sd where there are several (dashes: no peer).

    >>> _peer_cells(BestPeer("-", float("nan"), float("nan"), 0, 5))
    '– | –'
    >>> _peer_cells(BestPeer("pal+sklearn", 0.80, 0.81, 3, 5, (0.0, 1.0, 2.0)))
    'pal+sklearn (3 of 5 seeds) 0.800 | +1.0 ± 1.0 pts'
    """
    if peer.name == "-":
        return "– | –"
    lead = paired(peer.gaps) if len(peer.gaps) > 1 else \
        f"{100 * (peer.default - peer.accuracy):+.1f}"
    return f"{peer.label} {peer.accuracy:.3f} | {lead} pts"


def detail(table: Table, name: str) -> list[str]:
    m = table.meta[name]
    out = [f"**{name}** ({m['rows']:,} rows, {m['classes']} classes, stream {m['stream']:,}; "
           f"all labels: stream-al {spread(table.ceilings[name]['stream-al'])}, sklearn "
           f"{spread(table.ceilings[name]['sklearn'])})", ""]
    head = "| method | " + " | ".join(
        f"{budget_name(b)}: labels | accuracy | macro-F1 | AUC | labels to 90%"
        for b in table.budgets) + " |"
    out += [head, "|---|" + "---|" * (5 * len(table.budgets))]
    for method in table.methods(name, table.budgets[0]):
        cells = []
        for b in table.budgets:
            cells += [spread(table.values(name, b, method, "labels_used"), 0),
                      spread(table.values(name, b, method, "final_accuracy")),
                      spread(table.values(name, b, method, "macro_f1")),
                      spread(table.values(name, b, method, "auc")),
                      spread(table.values(name, b, method, "labels_to_90"), 0)]
        out.append(f"| {method} | " + " | ".join(cells) + " |")
    return out + [""]


def targets(table: Table) -> list[str]:
    """Issue 14's targets, each a PASS or FAIL line computed from the results: accuracy, AUC
    and labels to 90% at every budget that ran (1%, 5% and the fixed label count alike), the
    5% reach line at 5% only."""
    out = []
    for name in table.sets:
        for b in filter(lambda b, name=name: table.ran(name, b), table.budgets):
            default = table.mean(name, b, "default", "final_accuracy")
            random = table.mean(name, b, "random", "final_accuracy")
            out.append(_accuracy_line(table, name, b, default, random))
            d_auc = table.mean(name, b, "default", "auc")
            r_auc = table.mean(name, b, "random", "auc")
            out.append(f"{_mark(d_auc >= r_auc)} AUC {name} {budget_name(b)}: default "
                       f"{d_auc:.3f} vs random {r_auc:.3f}")
    if 0.05 in table.budgets:
        for name in table.sets:
            if table.meta[name]["classes"] <= 2 or not table.ran(name, 0.05):
                continue
            default, ceiling = table.mean(name, 0.05, "default", "final_accuracy"), \
                table.ceiling(name)
            out.append(f"{_mark(default >= REACH * ceiling)} 5% reaches 90% of all labels "
                       f"{name}: default {default:.3f} vs 0.9 x {ceiling:.3f} = "
                       f"{REACH * ceiling:.3f}")
    for b in table.budgets:
        ratios = {name: _ratio(table, name, b) for name in table.sets if table.ran(name, b)}
        med = median(r for r, _ in ratios.values()) if ratios else float("nan")
        listed = ", ".join(f"{n} {r:.2f} ({how})" for n, (r, how) in ratios.items())
        out.append(f"{_mark(med >= 2)} labels to 90% at {budget_name(b)}: random / default, "
                   f"median over sets {med:.2f} (>= 2 wanted; {listed})")
    out += _minority_lines(table)
    return out


def _accuracy_line(table: Table, name: str, budget: float, default: float,
                   random: float) -> str:
    """Default >= the best peer and >= random + 2 points; with no peer run, only the second
    half is measured, and the line says so (``PASS*``: a PASS of that half only)."""
    peer = table.best_peer(name, budget)
    above_random = default >= random + BEAT_RANDOM_BY
    head = f"accuracy {name} {budget_name(budget)}: default {default:.3f} vs"
    tail = f"random+2 pts {random + BEAT_RANDOM_BY:.3f}"
    if peer.name == "-":
        return f"{'PASS*' if above_random else 'FAIL'} {head} {tail} (no peer run)"
    same_seeds = "" if peer.seeds >= peer.of else f" (default {peer.default:.3f} on those seeds)"
    return f"{_mark(peer.default >= peer.accuracy and above_random)} {head} best peer " \
           f"{peer.label} {peer.accuracy:.3f}{same_seeds} and {tail}"


def _ratio(table: Table, name: str, budget: float) -> tuple[float, str]:
    """Random's labels to 90% over default's (means over seeds), and the two as text; a side
    that does not reach it in every seed counts as infinitely many labels (both: ratio 1)."""
    def labels(method: str) -> float:
        vals = table.values(name, budget, method, "labels_to_90")
        return float(np.mean(vals)) if vals and None not in vals else float("inf")

    d, r = labels("default"), labels("random")
    how = f"random {r:.0f}, default {d:.0f}".replace("inf", "n/r")
    return (1.0 if d == r else r / d), how


def _minority_lines(table: Table) -> list[str]:
    out = []
    for name, by in table.minority.items():
        cls = table.minority_class.get(name)
        d, r = by.get("default", []), by.get("random", [])
        if not cls or not d or not r:
            continue
        dm, rm = np.mean([v for v, _ in d]), np.mean([v for v, _ in r])
        out.append(f"{_mark(dm <= rm)} minority class found {name} ({cls!r}): labels until "
                   f"its first label, default {dm:.1f} vs random {rm:.1f} over {len(d)} seeds "
                   f"(never found, counted as all bought + 1: default "
                   f"{sum(n for _, n in d)}, random {sum(n for _, n in r)})")
    if not out:
        out.append("NOT MEASURED minority class: no run recorded the labels it bought")
    return out


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def figure(table: Table, name: str, path: Path) -> None:
    """Mean accuracy against mean labels over seeds, one panel per budget, every method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table.budgets), figsize=(5 * len(table.budgets), 4.2),
                             dpi=80, squeeze=False)
    styles = {"stream-al": "-", "sklearn": "--"}
    for ax, b in zip(axes[0], table.budgets, strict=True):
        for i, method in enumerate(table.methods(name, b)):
            runs = table.runs[(name, b, method)]
            curves = np.array([r["curve"] for r in runs], dtype=float)
            learner = method.partition("+")[2] or "stream-al"
            style = ":" if "+" in method and learner == "stream-al" else styles[learner]
            ax.plot(curves[:, :, 1].mean(axis=0), curves[:, :, 2].mean(axis=0), style,
                    color=plt.cm.tab20(i % 20), lw=2.2 if method == "default" else 1.2,
                    label=method)
        ax.axhline(table.ceiling(name), color="grey", lw=0.8, ls="--")
        ax.set_title(f"{name}, {budget_name(b)}")
        ax.set_xlabel("labels")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("held-out accuracy (mean over seeds)")
    axes[0][-1].legend(fontsize=6, loc="lower right", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def markdown(table: Table, meta: Mapping, lines: Sequence[str]) -> str:
    seeds = meta.get("seeds")
    out = [BEGIN, "", f"Regenerate: `{meta.get('command', 'python -m benchmarks.suite')}` "
           f"({meta.get('minutes', 0):.0f} min). Embedder {meta['config']['embedder']}, "
           f"{seeds} seeds, held out {meta['config']['test_size']}, at most "
           f"{meta['config']['max_rows']:,} rows a set. Mean ± std over seeds.", "",
           *headline(table), "", "Issue 14's targets, as this run measured them:", "", "```",
           *lines, "```", "", *[x for name in table.sets for x in detail(table, name)],
           "Figures: " + ", ".join(f"`figures/suite-{n}.png`" for n in table.sets), "", END]
    return "\n".join(out)


def write_section(readme: Path, section: str) -> None:
    text = readme.read_text() if readme.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## suite.py: results\n\n" + section + "\n"
    readme.write_text(text)


def report(tasks: Iterable, meta: Mapping, figures: Path, readme: Path | None) -> Table:
    table = Table(tasks)
    print("\n" + "\n".join(headline(table)))
    lines = targets(table)
    print("\n" + "\n".join(lines))
    for name in table.sets:
        figure(table, name, figures / f"suite-{name}.png")
    if readme is not None:
        write_section(readme, markdown(table, meta, lines))
    return table
