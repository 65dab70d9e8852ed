"""Datasets and batching: the built-in sets, MNIST/CIFAR-10 loaders, DataLoader, preprocessing.

>>> from chainrule import data
>>> X, y = data.digits()
>>> X.shape
(1797, 8, 8)
"""

from chainrule.data.builtin import DIGITS_ATTRIBUTION, digits
from chainrule.data.cifar import RestrictedUnpickler, load_cifar10
from chainrule.data.errors import DataError
from chainrule.data.images import ChannelStandardizer
from chainrule.data.loader import DataLoader
from chainrule.data.mnist import load_mnist, read_idx
from chainrule.data.preprocess import Standardizer, train_val_test_split
from chainrule.data.specs import Splits, load_splits, parse_spec
from chainrule.data.synthetic import spiral

__all__ = [
    "DIGITS_ATTRIBUTION",
    "ChannelStandardizer",
    "DataError",
    "DataLoader",
    "RestrictedUnpickler",
    "Splits",
    "Standardizer",
    "digits",
    "load_cifar10",
    "load_mnist",
    "load_splits",
    "parse_spec",
    "read_idx",
    "spiral",
    "train_val_test_split",
]
