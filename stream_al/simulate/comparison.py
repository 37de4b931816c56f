"""Strategies compared on one labelled dataset: what ``stream-al simulate`` and the demo run.

:func:`compare` embeds the dataset (cached per dataset and embedder), runs each strategy
through one :class:`~stream_al.simulate.simulator.Simulation` and writes the report
(:mod:`stream_al.simulate.report`). The command line prints its table; the demo calls it
directly, never the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stream_al.config import Settings
from stream_al.dataset import DatasetError, load_labeled
from stream_al.embed import make_embedder
from stream_al.simulate.features import embed_dataset
from stream_al.simulate.report import write_report
from stream_al.simulate.simulator import Simulation


def compare(settings: Settings, data_path: Path, strategies: list[str], out: Path) -> dict:
    """Embed the dataset (cached), run each strategy through one :class:`Simulation`, write
    the report to ``out`` and return it. It takes the whole :class:`Settings` for the
    simulation (a composition root) and the report's facts; progress bars go to a terminal's
    stderr only."""
    from tqdm import tqdm

    sim = settings.simulation
    data = load_labeled(data_path, sim.text_column, sim.label_column)
    if sim.test_size >= len(data):
        raise DatasetError(f"--test-size {sim.test_size} must be smaller than the {len(data)} "
                           "rows")
    embedder = make_embedder(settings.embedder)
    bar_options = {"disable": not sys.stderr.isatty(), "mininterval": 0.5}
    with tqdm(total=len(data), desc=f"embed ({embedder.name})", unit="text", **bar_options) as bar:
        X = embed_dataset(embedder, data, settings.embedder.cache_dir, progress=bar.update)
    simulation = Simulation(data, X, settings)
    results = {}
    for name in strategies:
        with tqdm(total=simulation.stream_length, desc=f"stream ({name})", unit="item",
                  **bar_options) as bar:
            results[name] = simulation.run(name, progress=bar.update)
    ceiling = simulation.all_labels_accuracy()
    meta = {"data": str(data_path), "budget": settings.budget.fraction,
            "embedder": embedder.name, "seed": sim.seed, "label_delay": sim.label_delay,
            "test_size": sim.test_size, "stream_length": simulation.stream_length}
    return write_report(out, results, ceiling, meta)
