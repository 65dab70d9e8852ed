"""DataParallel's gradient averaging: buckets, the gates that fill them, the reducer.

The parameters, in reverse registration order (the order backward completes them), are packed
into contiguous buffers (*buckets*) of about ``bucket_mb`` MiB; each parameter's gradient lives
in a slice of its bucket, and the ``.grad`` each parameter gets after averaging is a view of
that slice (PyTorch DDP's ``gradient_as_bucket_view``): nothing is copied out.

How a gradient gets into its slice:

- ``nn.Linear``'s weight and bias (the bulk of an MLP's bytes) are written there by the layer's
  own backward: under ``DataParallel`` the layer records ``LinearInto`` instead of
  ``functional.Linear``, whose ``dw = x^T @ (s * dout)`` is computed by the matmul straight into
  the slice (``out=``), ``db`` by the sum likewise. No copy, no temporary.
- Any other parameter goes through ``Ready``, an identity gate whose backward receives the
  parameter's gradient and copies it into the slice (``np.multiply(dout, s, out=slice)``).

Either way the gradient arrives multiplied by this rank's weight ``s = n_rank / n_total``, so a
plain ``SUM`` allreduce gives the weighted average, and no division pass follows the wait. For a
Linear layer ``s`` multiplies the small upstream gradient (``N x out``) rather than ``dw``
(``in x out``); for a copied gradient it rides along with the copy. (The alternative, scaling
the loss by ``1 / world_size``, would also scale gradients that reach the parameters outside
the model, and ``op=SUM`` with the division left to the optimizer would need every optimizer,
and every user reading ``.grad``, to know about it.)

The engine runs a gate once every consumer of its input has sent its gradient: when the gate
runs, the parameter's gradient from that use is complete. ``Reducer.done`` counts the uses; a
bucket whose parameters are all done starts its nonblocking ``Iallreduce``, strictly in bucket
order, so the sequence of allreduces is the same on every rank (``make_buckets`` has an example;
the classes here are ``DataParallel``'s parts, tested through it in tests/test_distributed.py).
MPI moves a nonblocking collective along only inside MPI calls, so each gradient handed in tests
the requests in flight.
Across machines a Linear layer computing a weight gradient larger than ``2 * chunk`` bytes while
one is in flight computes it in blocks of at most ``chunk`` (``CHUNK``) bytes of rows, testing
between them, so the network moves bytes during the GEMM. Within one machine ``chunk`` is 0:
there the allreduce is memory copies by the same cores that compute, which nothing can hide, and
each block costs the GEMM a little (4 blocks: ~10% of W10's largest, ~0.1 ms a step). Whether a
rank blocks or tests never changes which allreduces start, or in which order.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from chainrule import _tensor, function
from chainrule.nn import functional as F  # noqa: N812 - the usual name

CHUNK = 512 << 10  # across machines: bytes of dw computed between two tests of the requests


class Ready(function.Function):
    """out = p;  the gradient goes to the reducer's bucket instead of to ``p.grad``."""

    __slots__ = ("index", "pass_", "reducer")

    def forward(self, p: np.ndarray, reducer: Any = None, index: int = 0) -> np.ndarray:
        self.reducer, self.index, self.pass_ = reducer, index, reducer.passes
        return p

    def backward(self, dout: Any) -> Any:
        self.reducer.check_pass(self.pass_)
        self.reducer.add(self.index, dout)
        return None


class LinearInto(F.Linear):
    """out = x @ W + b;  dx = dout @ W^T, and ``s * dW``, ``s * db`` written into the buckets."""

    __slots__ = ("ib", "iw", "pass_", "reducer")
    differentiable_backward = False  # gradients go to MPI buffers, not into a graph

    def forward(
        self, x: Any, w: Any, b: Any = None, reducer: Any = None, iw: int = -1, ib: int = -1
    ) -> Any:
        self.reducer, self.iw, self.ib, self.pass_ = reducer, iw, ib, reducer.passes
        return super().forward(x, w, b)

    def backward(self, dout: np.ndarray) -> tuple[Any, ...]:
        needs = self.needs_input_grad
        red = self.reducer
        red.check_pass(self.pass_)
        if red.flags is not None:
            red.settle()
        x = self.x
        dx = dout @ self.w.T if needs[0] else None
        d2 = dout.reshape(-1, dout.shape[-1])  # batch axes folded: (N, out)
        if red.scale != 1.0:
            d2 = d2 * red.scale  # (N, out): far smaller than dw
        if needs[1]:
            x2t = x.reshape(-1, x.shape[-1]).T  # (in, N)
            view, first = red.slot(self.iw)
            chunk = red.chunk
            if first and chunk and red.finished < red.launched and view.nbytes > 2 * chunk:
                # an allreduce is in flight, and MPI moves it only inside MPI calls: compute
                # dw in blocks of rows, each straight into the bucket, testing between them
                blocks = -(-view.nbytes // chunk)  # equal blocks of at most chunk bytes
                rows = -(-view.shape[0] // blocks)
                for r in range(0, view.shape[0], rows):
                    np.matmul(x2t[r : r + rows], d2, out=view[r : r + rows])
                    red.progress()
            elif first:
                np.matmul(x2t, d2, out=view)  # the bucket is the matmul's output
            else:  # another use of the same weight this step
                view += x2t @ d2
        if len(needs) == 2:
            if needs[1]:
                red.done(self.iw)
            return dx, None
        if needs[2]:
            view, first = red.slot(self.ib)
            if first:
                np.sum(d2, axis=0, out=view)
            else:
                view += d2.sum(axis=0)
        if needs[1]:
            red.done(self.iw)
        if needs[2]:
            red.done(self.ib)
        return dx, None, None


class Bucket:
    """One contiguous buffer: the parameters ``indices``, each at ``offsets[i]``."""

    __slots__ = ("buf", "indices", "offsets", "remaining", "request")

    def __init__(self, indices: list[int], params: list[Any]) -> None:
        self.indices = indices
        self.offsets: dict[int, tuple[int, int]] = {}
        n = 0
        for i in indices:
            size = params[i].data.size
            self.offsets[i] = (n, n + size)
            n += size
        self.buf = np.zeros(n, dtype=params[indices[0]].data.dtype)
        self.remaining = len(indices)
        self.request: Any = None


def make_buckets(params: list[Any], cap: int) -> list[Bucket]:
    """Parameters in reverse order, grouped by dtype into buckets of at least ``cap`` bytes
    (the last of each dtype smaller).

    >>> from chainrule import nn
    >>> params = list(nn.MLP([784, 512, 512, 10]).parameters())   # W1 b1 W2 b2 W3 b3
    >>> [(b.indices, b.buf.nbytes) for b in make_buckets(params, 1 << 20)]
    [([5, 4, 3, 2], 1071144), ([1, 0], 1607680)]
    """
    buckets: list[Bucket] = []
    open_: dict[np.dtype, list[int]] = {}  # one open bucket per dtype
    for i in reversed(range(len(params))):
        dt = params[i].data.dtype
        group = open_.setdefault(dt, [])
        group.append(i)
        if sum(params[j].data.nbytes for j in group) >= cap:
            buckets.append(Bucket(group, params))
            del open_[dt]
    buckets.extend(Bucket(g, params) for g in open_.values())
    return buckets


class Reducer:
    """One step's averaging: which gradients are in, which buckets are in flight."""

    def __init__(self, params: list[Any], cap: int, comm: Any, mpi: Any, chunk: int = 0) -> None:
        self.params = params
        self.chunk = chunk  # LinearInto's block of dw while an allreduce is in flight; 0: none
        self.comm, self.mpi = comm, mpi
        self.buckets = make_buckets(params, cap)
        self.bucket_of: list[Bucket] = [self.buckets[0]] * len(params)
        for b in self.buckets:
            for i in b.indices:
                self.bucket_of[i] = b
        self.views = [
            self.bucket_of[i].buf[slice(*self.bucket_of[i].offsets[i])].reshape(p.data.shape)
            for i, p in enumerate(params)
        ]
        new = object.__new__
        self.grads: list[Any] = []  # the .grad each parameter gets: made once, views of buckets
        for v in self.views:
            t = new(_tensor.Tensor)
            t.data, t.grad, t.requires_grad, t._node, t._version, t._meta = (
                v,
                None,
                False,
                None,
                0,
                None,
            )
            self.grads.append(t)
        self.scale = 1.0  # this rank's share of the batch, n_rank / n_total
        self.stop = False  # some rank asked to stop (``distributed.request_stop``)
        self.flags: Any = None  # this step's (request, [n_total, stops], n_rank), in flight
        self.trace: list[Any] | None = None  # (time, event, index) records, for tests
        self.passes = 0  # forward passes armed so far: each gate records the one it is in
        self.reset()

    def reset(self) -> None:
        n = len(self.params)
        for b in self.buckets:
            b.request = None
            b.remaining = len(b.indices)
        self.uses = [0] * n  # uses recorded in this step's forward, not yet done in backward
        self.filled = [False] * n
        self.launched = 0  # buckets [0, launched) have started their allreduce
        self.finished = 0  # buckets [0, finished) have completed it
        self.not_zeroed = False

    def start_flags(self, n: int, stop: bool) -> None:
        """Start summing the ranks' batch sizes and stop requests (the forward pass does): a
        nonblocking allreduce, waited for when backward first needs the rank's weight, so a
        rank does not wait here for a slower one."""
        self.passes += 1
        a = np.array([n, float(stop)], dtype=np.float64)
        self.flags = (self.comm.Iallreduce(self.mpi.IN_PLACE, a, op=self.mpi.SUM), a, n)

    def settle(self) -> None:
        """Wait for ``start_flags``'s sums: set ``scale`` and ``stop``."""
        request, a, n = self.flags
        self.flags = None
        request.Wait()
        self.scale = float(n) / float(a[0])  # a Python float: keeps float32 float32
        self.stop = bool(a[1])

    def check_pass(self, recorded: int) -> None:
        """A gate's backward: its forward pass must be the latest one. A later forward began
        a new step (its batch size, its use counts), so gradients of an earlier one cannot
        join its average (PyTorch's DistributedDataParallel refuses this too)."""
        if recorded != self.passes:
            raise RuntimeError(
                "DataParallel: this backward runs through a forward pass made before the "
                "latest one (the model was called again before backward), and each step "
                "averages the gradients of one forward pass. Call backward after each forward "
                "pass, or compute both outputs inside one call of the model"
            )

    def slot(self, i: int) -> tuple[np.ndarray, bool]:
        """Parameter ``i``'s slice of its bucket, and whether this step writes it first."""
        if self.flags is not None:
            self.settle()
        if self.filled[i]:
            if self.uses[i] <= 0:  # every use recorded in forward has sent its gradient
                raise RuntimeError(
                    "DataParallel: a second backward through the same forward pass "
                    "(retain_graph=True): its gradients are already being averaged. Run the "
                    "forward pass again for each backward"
                )
            return self.views[i], False
        self.filled[i] = True
        if self.params[i].grad is not None:
            self.not_zeroed = True
        return self.views[i], True

    def add(self, i: int, g: Any) -> None:
        """One use's gradient of parameter ``i``, copied (scaled) into its slice."""
        view, first = self.slot(i)
        if first:
            np.multiply(g, self.scale, out=view)
        else:
            view += g * self.scale
        self.done(i)

    def done(self, i: int) -> None:
        """One use of parameter ``i`` has sent its gradient; a bucket whose parameters are all
        complete starts its allreduce (in bucket order)."""
        u = self.uses[i] - 1
        self.uses[i] = u
        if u == 0:
            b = self.bucket_of[i]
            b.remaining -= 1
            if self.trace is not None:
                self.trace.append((time.perf_counter(), "ready", i))
            if b.remaining == 0:
                self.launch()
        if self.finished < self.launched:  # MPI moves a request along only inside MPI calls
            self.progress()

    def launch(self, force: bool = False) -> None:
        buckets = self.buckets
        k = self.launched
        while k < len(buckets):
            b = buckets[k]
            if b.remaining > 0 and not force:
                break
            b.request = self.comm.Iallreduce(self.mpi.IN_PLACE, b.buf, op=self.mpi.SUM)
            if self.trace is not None:
                self.trace.append((time.perf_counter(), "launch", k))
            k += 1
        self.launched = k

    def progress(self) -> None:
        k = self.finished
        buckets = self.buckets
        while k < self.launched and buckets[k].request.Test():
            k += 1
        self.finished = k

    def finish(self) -> bool:
        """Start what backward did not (unused parameters count as zero) and wait for every
        bucket. False when no gradient was recorded since the last ``finish``."""
        if self.flags is not None:
            self.settle()
        if self.launched == 0 and not any(self.filled):
            self.reset()
            return False
        for b in self.buckets[self.launched :]:
            for i in b.indices:
                if not self.filled[i]:
                    lo, hi = b.offsets[i]
                    b.buf[lo:hi] = 0
        self.launch(force=True)
        if self.trace is not None:  # the bytes already averaged when backward is over
            self.progress()
            done = sum(b.buf.nbytes for b in self.buckets[: self.finished])
            self.trace.append((time.perf_counter(), "waiting", done))
        pending = [b.request for b in self.buckets[self.finished :]]
        if len(pending) == 1:
            pending[0].Wait()
        elif pending:
            self.mpi.Request.Waitall(pending)
        return True
