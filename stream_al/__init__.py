"""stream-al: streaming active learning for NLP.

Pure cores (embed, learn, score, select, index, drift) with thin shells (simulate, stream, cli).

The names below are the library's public API, enough to run the simulator and the benchmark
harness's loop from a notebook. They are imported on first use, so ``import stream_al`` stays
light (no numpy, scikit-learn or Kafka client until a name is touched)::

    from stream_al import Settings, Simulation, embed_dataset, load_labeled, make_embedder

    settings = Settings.load(embedder={"name": "static"}, budget={"fraction": 0.05})
    data = load_labeled("ag_news.csv")
    X = embed_dataset(make_embedder(settings.embedder), data, settings.embedder.cache_dir)
    result = Simulation(data, X, settings).run("default")
    result.summary()   # labels_used, final_accuracy, macro_f1, auc
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC: dict[str, str] = {
    "Settings": "stream_al.config",
    "ConfigError": "stream_al.config",
    "LabeledTexts": "stream_al.dataset",
    "load_labeled": "stream_al.dataset",
    "make_embedder": "stream_al.embed",
    "embed_dataset": "stream_al.simulate.features",
    "Simulation": "stream_al.simulate.simulator",
    "StrategyResult": "stream_al.simulate.simulator",
    "write_report": "stream_al.simulate.report",
    "DriftScenario": "stream_al.simulate.drift_scenario",
    "limit_blas_threads": "stream_al.runtime",
}
"""Public name -> the module that defines it."""

__all__ = [
    "ConfigError",
    "DriftScenario",
    "LabeledTexts",
    "Settings",
    "Simulation",
    "StrategyResult",
    "__version__",
    "embed_dataset",
    "limit_blas_threads",
    "load_labeled",
    "make_embedder",
    "write_report",
]

if TYPE_CHECKING:
    from stream_al.config import ConfigError, Settings
    from stream_al.dataset import LabeledTexts, load_labeled
    from stream_al.embed import make_embedder
    from stream_al.runtime import limit_blas_threads
    from stream_al.simulate.drift_scenario import DriftScenario
    from stream_al.simulate.features import embed_dataset
    from stream_al.simulate.report import write_report
    from stream_al.simulate.simulator import Simulation, StrategyResult


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'stream_al' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
