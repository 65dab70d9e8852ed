"""Learning-rate schedules, per epoch, acting on every param group (as in PyTorch).

A schedule records each group's ``"initial_lr"`` (its lr when the schedule was made, unless the
group has one already) and sets each group's ``"lr"`` from its own initial lr: groups keep
their ratios.

>>> import numpy as np
>>> from chainrule import nn, optim
>>> opt = optim.SGD([{"params": [nn.Parameter(np.zeros(1))]},
...                  {"params": [nn.Parameter(np.zeros(1))], "lr": 0.1}], lr=1.0)
>>> sched = optim.StepLR(opt, step_size=1, gamma=0.5)
>>> sched.step(); sched.get_last_lr()
[0.5, 0.05]
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.optim.base import Optimizer


class LRScheduler:
    """Base class: sets each group's ``lr`` from the epoch count; call ``step()`` once per
    epoch."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lrs: list[float] = []
        self._follow_groups()
        self.last_epoch = 0

    def _follow_groups(self) -> None:
        """Start scheduling the groups added since (``add_param_group``) from their lr."""
        for g in self.optimizer.param_groups[len(self.base_lrs) :]:
            g.setdefault("initial_lr", g["lr"])
            self.base_lrs.append(float(g["initial_lr"]))

    def lr_at(self, base_lr: float) -> float:
        """The lr at ``last_epoch`` of a group whose initial lr is ``base_lr``."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """Each group's lr at ``last_epoch``."""
        return [self.lr_at(b) for b in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch and set each group's lr."""
        self._follow_groups()
        self.last_epoch += 1
        for g, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            g["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The lr of each group now (as in PyTorch, a list)."""
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the epoch count and base lrs (plus the schedule's settings)."""
        return {
            "type": type(self).__name__,
            **{k: v for k, v in vars(self).items() if k != "optimizer"},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output (one of before param groups, with a single
        ``base_lr``, too)."""
        if not isinstance(state, dict) or state.get("type") != type(self).__name__:
            got = state.get("type") if isinstance(state, dict) else state
            raise ValueError(f"{type(self).__name__}.load_state_dict: state is for {got!r}")
        if "base_lr" in state and "base_lrs" not in state:
            base = state["base_lr"]  # one lr for every group
            state = {k: v for k, v in state.items() if k != "base_lr"}
            state["base_lrs"] = [base] * len(self.optimizer.param_groups)
        own = {k for k in vars(self) if k != "optimizer"}
        unknown = sorted(set(state) - own - {"type"})
        missing = sorted(own - set(state))
        if unknown or missing:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: unknown keys {unknown}, missing {missing}"
            )
        for k in own:
            setattr(self, k, state[k])


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> sched = optim.StepLR(opt, step_size=2, gamma=0.1)
    >>> lrs = []
    >>> for _ in range(4):
    ...     sched.step(); lrs.append(round(opt.lr, 6))
    >>> lrs
    [1.0, 0.1, 0.1, 0.01]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        super().__init__(optimizer)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, base_lr: float) -> float:
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs, then held:
    ``lr = eta_min + (base - eta_min) (1 + cos(pi min(t, T_max) / T_max)) / 2``.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> sched = optim.CosineLR(opt, T_max=2)
    >>> sched.step(); round(opt.lr, 6)
    0.5
    >>> sched.step(); sched.step(); round(opt.lr, 6)
    0.0
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        if T_max < 1:
            raise ValueError(f"CosineLR: T_max must be >= 1, got {T_max}")
        super().__init__(optimizer)
        self.T_max, self.eta_min = int(T_max), float(eta_min)

    def lr_at(self, base_lr: float) -> float:
        t = min(self.last_epoch, self.T_max)
        return (
            self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        )
