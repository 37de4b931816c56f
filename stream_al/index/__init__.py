"""Approximate nearest neighbours (hnswlib) with a fixed memory cap."""

from stream_al.index.ann import BoundedIndex

__all__ = ["BoundedIndex"]
