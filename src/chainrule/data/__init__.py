"""Datasets and batching."""

from chainrule.data.synthetic import spiral

__all__ = ["spiral"]
