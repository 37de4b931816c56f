"""Online learning: incremental softmax models, a committee, immutable snapshots."""

from stream_al.learn.base import Learner
from stream_al.learn.online import OnlineLearner
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.learn.softmax import OnlineSoftmax

__all__ = ["Learner", "ModelSnapshot", "OnlineLearner", "OnlineSoftmax"]
