"""Scoring: how informative a label for each item would be."""

from stream_al.score.batch import INFORMATIVENESS, ScoredBatch, score_many
from stream_al.score.disagreement import committee_disagreement, vote_entropy
from stream_al.score.uncertainty import entropy, least_confidence, margin, uncertainty

__all__ = [
    "INFORMATIVENESS",
    "ScoredBatch",
    "committee_disagreement",
    "entropy",
    "least_confidence",
    "margin",
    "score_many",
    "uncertainty",
    "vote_entropy",
]
