"""The model registry: every model version with its labelled data, figures and creation time.

>>> from stream_al.registry import ModelRegistry, LabelledRow, rollback_snapshot
"""

from stream_al.registry.store import (
    LabelledRef,
    LabelledRow,
    ModelRegistry,
    ModelVersion,
    RegistryError,
    rollback_snapshot,
)

__all__ = [
    "LabelledRef",
    "LabelledRow",
    "ModelRegistry",
    "ModelVersion",
    "RegistryError",
    "rollback_snapshot",
]
