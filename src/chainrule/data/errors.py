"""The one error type every dataset loader raises."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset file is missing, truncated, corrupt or not in the expected format.

    The message names the file and what was wrong with it.

    >>> raise DataError("train-labels-idx1-ubyte: label 12 out of range 0..9")
    Traceback (most recent call last):
    ...
    chainrule.data.errors.DataError: train-labels-idx1-ubyte: label 12 out of range 0..9
    """
