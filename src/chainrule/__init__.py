"""chainrule: backpropagation made real, fast and visible.

A define-by-run computational graph over NumPy arrays, as CS231n Lecture 4 teaches it: every
node implements ``forward``/``backward``, and ``backward`` applies the chain rule from the
output back to every input.

>>> import chainrule as cr
>>> x, y, z = (cr.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
>>> f = (x + y) * z
>>> f.backward()
>>> x.grad.item(), y.grad.item(), z.grad.item()
(-4.0, -4.0, 3.0)
"""

from chainrule import _tensor  # noqa: F401, I001 - imported first: it loads the ops
from chainrule.anomaly import AnomalyError, detect_anomaly
from chainrule.engine import grad
from chainrule.function import Function, enable_grad, is_grad_enabled, no_grad
from chainrule.functional import hessian, hvp, jacobian
from chainrule.gradcheck import (
    GradcheckError,
    gradcheck,
    gradgradcheck,
    numerical_gradient,
    relative_error,
)
from chainrule.ops import (
    abs,
    add,
    broadcast_to,
    clip,
    concatenate,
    cos,
    divide,
    dot,
    elu,
    exp,
    expand_dims,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    permute,
    power,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    subtract,
    sum,
    tanh,
    transpose,
    var,
    where,
)
from chainrule._tensor import Tensor, as_tensor, from_numpy, tensor
from chainrule import nn, optim, serialization
from chainrule.serialization import load, save
from chainrule import viz
from chainrule.viz import Explanation, explain

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "Explanation",
    "Function",
    "GradcheckError",
    "Tensor",
    "abs",
    "add",
    "as_tensor",
    "broadcast_to",
    "clip",
    "concatenate",
    "cos",
    "detect_anomaly",
    "divide",
    "dot",
    "elu",
    "enable_grad",
    "exp",
    "expand_dims",
    "explain",
    "from_numpy",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "leaky_relu",
    "load",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "nn",
    "no_grad",
    "numerical_gradient",
    "optim",
    "permute",
    "power",
    "relative_error",
    "relu",
    "reshape",
    "save",
    "serialization",
    "sigmoid",
    "sin",
    "softmax",
    "split",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "var",
    "viz",
    "where",
]
