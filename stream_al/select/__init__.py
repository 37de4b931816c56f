"""Selection: which stream items to buy labels for, under a budget."""

from stream_al.select.balanced import CoverThenBalance
from stream_al.select.bandit import Exp3Bandit
from stream_al.select.base import Selection, Selector
from stream_al.select.budget import Budget, BudgetError, SubBudget
from stream_al.select.diverse import DiverseReservoir
from stream_al.select.factory import DEFAULT_STRATEGY, STRATEGIES, make_selector
from stream_al.select.random import RandomSelector
from stream_al.select.selections import Selections, selections_of
from stream_al.select.stage import SelectionStage
from stream_al.select.variable_uncertainty import VariableUncertainty

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "Budget",
    "BudgetError",
    "CoverThenBalance",
    "DiverseReservoir",
    "Exp3Bandit",
    "RandomSelector",
    "Selection",
    "SelectionStage",
    "Selections",
    "Selector",
    "SubBudget",
    "VariableUncertainty",
    "make_selector",
    "selections_of",
]
