"""The stream simulator: replay a labelled dataset, buy labels, draw learning curves."""

from stream_al.simulate.simulator import Simulation, StrategyResult, label_gain

__all__ = ["Simulation", "StrategyResult", "label_gain"]
