"""Training: the loop (``fit``, ``Trainer``), evaluation metrics, checkpoints and the
sanity checks to run first (``sanity_check``).

>>> import numpy as np
>>> from chainrule import nn, optim, train
>>> from chainrule.data import spiral
>>> X, y = spiral(50, 3)
>>> net = nn.MLP([2, 32, 3], rng=np.random.default_rng(0))
>>> run = train.fit(net, optim.Adam(net.parameters(), lr=0.02), (X, y), (X, y), epochs=20,
...                 batch_size=30, verbose=False)
>>> train.evaluate(net, X, y)[1] > 0.8
True
"""

from chainrule.train.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from chainrule.train.curves import plot_curves
from chainrule.train.diagnostics import Diagnostics
from chainrule.train.lr_finder import LRFinderResult, find_lr
from chainrule.train.metrics import confusion_matrix, evaluate, format_confusion, predict_scores
from chainrule.train.sanity import Check, SanityReport, sanity_check
from chainrule.train.trainer import Trainer, fit

__all__ = [
    "Check",
    "Diagnostics",
    "LRFinderResult",
    "SanityReport",
    "Trainer",
    "confusion_matrix",
    "evaluate",
    "find_checkpoint",
    "find_lr",
    "fit",
    "format_confusion",
    "load_checkpoint",
    "plot_curves",
    "predict_scores",
    "sanity_check",
    "save_checkpoint",
]
