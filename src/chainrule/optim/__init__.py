"""Optimizers and learning-rate schedules: the update rules of CS231n's "Neural Networks 3".

Every optimizer updates the parameters in place under ``no_grad``, with buffers allocated once
per parameter (momentum, moments, one scratch array) so a step allocates nothing per parameter.
Parameters whose ``.grad`` is None are skipped. Where NumPy runs on OpenBLAS (its wheels on
Linux) and a parameter, its gradient and buffers are contiguous float32 or float64 arrays, the
``a x + b y`` steps are one BLAS pass each (``chainrule._blas``) instead of two or three NumPy
passes: the same update, rounded once instead of twice.

- ``SGD``: ``p -= lr * d``, with ``g = grad + weight_decay * p``; with momentum
  ``buf = momentum * buf + g`` and ``d = buf`` (or ``d = g + momentum * buf``, Nesterov); the
  PyTorch form, equal to CS231n's ``v = mu v - lr dx; x += v`` for a constant lr.
- ``RMSprop``: ``v = alpha v + (1 - alpha) g^2;  p -= lr g / (sqrt(v) + eps)``.
- ``Adam``: ``m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr mhat / (sqrt(vhat) + eps)``
  with ``mhat = m / (1 - b1^t)``, ``vhat = v / (1 - b2^t)``; ``weight_decay`` adds ``wd * p`` to g.
- ``AdamW``: Adam with decoupled decay, ``p -= lr * weight_decay * p`` before the Adam step.

Parameters come in ``param_groups`` as in PyTorch: pass a list of dicts, each with ``"params"``
and any hyperparameters of its own (the rest default to the keyword arguments), and change
``opt.param_groups[i]["lr"]`` between steps; the schedules act on every group.

``state_dict()`` is plain data, ready for safetensors + JSON: ``{"type": name, "scalars":
{...numbers...}, "param_groups": [{"params": [indices], "lr": ..., ...}], "buffers":
{"<param index>.<name>": ndarray}}``; ``load_state_dict`` checks the type, the groups, the
indices and the shapes.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn, optim
>>> w = nn.Parameter(np.array([1.0, -2.0]))
>>> opt = optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w.data.tolist()
[0.8, -1.6]
"""

from chainrule.optim.base import GroupValue, Optimizer
from chainrule.optim.rules import SGD, Adam, AdamW, RMSprop
from chainrule.optim.schedules import CosineLR, LRScheduler, StepLR
from chainrule.optim.threads import (
    get_num_threads,
    register_optimizer_step_pre_hook,
    set_num_threads,
)

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineLR",
    "GroupValue",
    "LRScheduler",
    "Optimizer",
    "RMSprop",
    "StepLR",
    "get_num_threads",
    "register_optimizer_step_pre_hook",
    "set_num_threads",
]
