"""W1: the lecture's sigmoid neuron, build + forward + backward of the 5-input scalar graph.

f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2))) at w0=2, x0=-1, w1=-3, x1=-2, w2=-3, built from the
primitive gates as on the slide, in microseconds per graph (leaves created each time).
Goal (issue 2): no slower than micrograd, and at most 0.5x PyTorch.
"""

from __future__ import annotations

import math

import chainrule as cr
from harness import Row, interleaved

VALUES = (2.0, -1.0, -3.0, -2.0, -3.0)


def chainrule_graph() -> None:
    w0, x0, w1, x1, w2 = (cr.tensor(v, requires_grad=True) for v in VALUES)
    f = 1 / (1 + cr.exp(-(w0 * x0 + w1 * x1 + w2)))
    f.backward()


def chainrule_graph_f64() -> None:
    w0, x0, w1, x1, w2 = (cr.tensor(v, requires_grad=True, dtype="float64") for v in VALUES)
    f = 1 / (1 + cr.exp(-(w0 * x0 + w1 * x1 + w2)))
    f.backward()


def _micrograd_value() -> type:
    from micrograd.engine import Value

    if not hasattr(Value, "exp"):  # micrograd 0.1.0 has no exp: one more gate, in its own style

        def exp(self: Value) -> Value:
            out = Value(math.exp(self.data), (self,), "exp")

            def _backward() -> None:
                self.grad += out.data * out.grad

            out._backward = _backward
            return out

        Value.exp = exp
    return Value


def run(quick: bool = False) -> list[Row]:
    fns = {"chainrule": chainrule_graph, "chainrule float64": chainrule_graph_f64}
    try:
        value = _micrograd_value()

        def micrograd_graph() -> None:
            w0, x0, w1, x1, w2 = (value(v) for v in VALUES)
            f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
            f.backward()

        fns["micrograd"] = micrograd_graph
    except ImportError:
        pass
    try:
        import torch

        def torch_graph() -> None:
            w0, x0, w1, x1, w2 = (torch.tensor(v, requires_grad=True) for v in VALUES)
            f = 1 / (1 + torch.exp(-(w0 * x0 + w1 * x1 + w2)))
            f.backward()

        fns["torch"] = torch_graph
    except ImportError:
        pass
    number = 300 if quick else 2000
    times = interleaved(fns, repeats=5 if quick else 9, number=number)
    us = {k: v * 1e6 for k, v in times.items()}
    met = met64 = None
    if "torch" in us and "micrograd" in us:
        met = us["chainrule"] <= us["micrograd"] and us["chainrule"] <= 0.5 * us["torch"]
        met64 = us["chainrule float64"] <= us["micrograd"]
    f64 = {"chainrule": us.pop("chainrule float64")}
    f64.update({k: v for k, v in us.items() if k != "chainrule"})
    return [
        Row(
            "W1 lecture sigmoid neuron (build+fwd+bwd)",
            "us/graph",
            us,
            "<= micrograd and <= 0.5x torch",
            met,
            notes=["micrograd 0.1.0 given an exp gate written in its closure style"],
        ),
        Row(
            "W1 lecture sigmoid neuron, float64 leaves (dtype='float64')",
            "us/graph",
            f64,
            "as fast as float32, and <= micrograd",
            met64,
            notes=[
                "the same graph with cr.tensor(v, dtype='float64') leaves; torch in float32",
                f"chainrule with float32 leaves in the same run: {us['chainrule']:.1f} us/graph",
            ],
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
