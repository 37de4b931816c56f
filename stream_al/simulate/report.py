"""What a simulation writes: summary.json, curve.csv, calibration.csv, with budget pacing
pacing.csv, and with matplotlib (the ``plots`` extra) learning_curve.png (with pacing, the
pacer's rate over the stream under it) and reliability.png."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from stream_al.calibration import ReliabilityDiagram, plot_reliability
from stream_al.plotting import PlotsUnavailableError, available, pyplot, skipped
from stream_al.simulate.simulator import StrategyResult


def summary(results: Mapping[str, StrategyResult], all_labels_accuracy: float,
            meta: Mapping[str, object] | None = None) -> dict[str, object]:
    """The documented shape: ``{"all_labels_accuracy", "strategies": {name: {...}}}``."""
    out: dict[str, object] = {
        "all_labels_accuracy": round(all_labels_accuracy, 4),
        "strategies": {name: r.summary() for name, r in results.items()},
    }
    if meta:
        out["meta"] = dict(meta)
    return out


def write_report(out_dir: Path, results: Mapping[str, StrategyResult], all_labels_accuracy: float,
                 meta: Mapping[str, object] | None = None) -> dict[str, object]:
    """Write the report's files into ``out_dir`` and return the summary.

    The PNGs are drawn beside the figures: without matplotlib they are skipped with one
    printed line that names the fix, and everything else is written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = summary(results, all_labels_accuracy, meta)
    (out_dir / "summary.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    with (out_dir / "curve.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["strategy", "position", "labels_used", "accuracy", "macro_f1"])
        for name, r in results.items():
            for p in r.curve:
                w.writerow([name, p.position, p.labels_used, f"{p.accuracy:.4f}",
                            f"{p.macro_f1:.4f}"])
    write_calibration(out_dir, results)
    write_pacing(out_dir, results)
    try:
        draw_report(out_dir, results, all_labels_accuracy)
    except PlotsUnavailableError as e:
        print(skipped("learning_curve.png and reliability.png", e), flush=True)
    return data


def files_written() -> str:
    """The files :func:`write_report` writes here, for the line a command prints after it."""
    return "summary.json, curve.csv" + (", learning_curve.png" if available() else "")


def write_calibration(out_dir: Path, results: Mapping[str, StrategyResult]) -> None:
    """``calibration.csv``: ECE per strategy on the held-out split."""
    with (out_dir / "calibration.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["strategy", "ece"])
        for name, d in _diagrams(results).items():
            w.writerow([name, f"{d.ece:.4f}"])


def write_pacing(out_dir: Path, results: Mapping[str, StrategyResult]) -> None:
    """``pacing.csv``: the pacer's rate (x the budget) over the stream, per paced strategy."""
    paced = {name: r for name, r in results.items() if r.pace}
    if not paced:
        return
    with (out_dir / "pacing.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["strategy", "position", "rate"])
        for name, r in paced.items():
            for position, rate in r.pace:
                w.writerow([name, position, f"{rate:.4f}"])


def draw_report(out_dir: Path, results: Mapping[str, StrategyResult],
                all_labels_accuracy: float) -> None:
    """``learning_curve.png`` and, when the results carry reliability diagrams,
    ``reliability.png``; raises :class:`~stream_al.plotting.PlotsUnavailableError` without
    matplotlib."""
    plot_learning_curves(out_dir / "learning_curve.png", results, all_labels_accuracy)
    diagrams = _diagrams(results)
    if diagrams:
        plot_reliability(out_dir / "reliability.png", diagrams,
                         "Held-out reliability of the final models")


def _diagrams(results: Mapping[str, StrategyResult]) -> dict[str, ReliabilityDiagram]:
    return {name: r.reliability for name, r in results.items() if r.reliability is not None}


def plot_learning_curves(path: Path, results: Mapping[str, StrategyResult],
                         all_labels_accuracy: float) -> None:
    """Held-out accuracy against labels bought, one line per strategy; raises
    :class:`~stream_al.plotting.PlotsUnavailableError` without matplotlib."""
    plt = pyplot(path)
    paced = {name: r for name, r in results.items() if r.pace}
    if paced:
        fig, (ax, pace) = plt.subplots(2, 1, figsize=(7, 6.5), dpi=110,
                                       gridspec_kw={"height_ratios": [3, 1.3]})
        plot_pace(pace, paced)
    else:
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, r in results.items():
        ax.plot([p.labels_used for p in r.curve], [p.accuracy for p in r.curve],
                marker="o", markersize=3, label=f"{name} (final {r.final_accuracy:.3f})")
    ax.axhline(all_labels_accuracy, color="grey", linestyle="--",
               label=f"all labels ({all_labels_accuracy:.3f})")
    ax.set_xlabel("labels bought")
    ax.set_ylabel("held-out accuracy")
    ax.set_title("stream-al: accuracy per label bought")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_pace(ax: Any, paced: Mapping[str, StrategyResult]) -> None:
    """The pacer's rate over the stream (1: the whole budget; the floor: control trickle)."""
    for name, r in paced.items():
        ax.step([p for p, _ in r.pace], [rate for _, rate in r.pace], where="post",
                label=f"{name} ({r.labels_saved:.0f} labels saved)")
    ax.set_xlabel("stream items")
    ax.set_ylabel("pacer rate")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
