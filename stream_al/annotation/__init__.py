"""Annotation: who labels what, and how far to trust it.

- ``assignment``: how many annotators an item gets (k, more for gold and unsure items).
- ``batches``: neighbourhood batches with deadlines; expired items re-offered or released.
- ``agreement``: Krippendorff's alpha, Cohen's and Fleiss' kappa.
- ``adjudication``: majority vote, Dawid-Skene, votes weighed by known annotator accuracies,
  escalation to an expert topic.
- ``dawid_skene``: Dawid & Skene's EM and its one-coin variant in numpy (crowd-kit's algorithm).
- ``quality``: per-annotator accuracy on gold items.
- ``noise``: labels that disagree with a confident model and with their neighbours.
- (files for vendors without Kafka: ``stream_al/stream/vendor_files.py``, wire records.)
- ``simulated``: annotators with known error rates and reading times (tests, benchmarks).
"""

from stream_al.annotation.adjudication import (
    Adjudicator,
    Escalation,
    dawid_skene_many,
    majority_many,
    weighted_vote_many,
)
from stream_al.annotation.agreement import (
    RunningAgreement,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
)
from stream_al.annotation.assignment import Assignment, AssignmentPolicy
from stream_al.annotation.base import AnnotationSettings, Verdict
from stream_al.annotation.batches import AnnotationBatch, BatchTracker, make_batches
from stream_al.annotation.noise import NoiseFlagger, Suspicion, cleanlab_suspicions
from stream_al.annotation.quality import AnnotatorQuality

__all__ = [
    "Adjudicator",
    "AnnotationBatch",
    "AnnotationSettings",
    "AnnotatorQuality",
    "Assignment",
    "AssignmentPolicy",
    "BatchTracker",
    "Escalation",
    "NoiseFlagger",
    "RunningAgreement",
    "Suspicion",
    "Verdict",
    "cleanlab_suspicions",
    "cohen_kappa",
    "dawid_skene_many",
    "fleiss_kappa",
    "krippendorff_alpha",
    "majority_many",
    "make_batches",
    "weighted_vote_many",
]
