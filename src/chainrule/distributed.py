"""Data-parallel training on MPI: the world, collectives, and ``DataParallel``.

Launched under MPI (``mpiexec -n 4 python train.py``), every process is a *rank* that holds a
copy of the model and a disjoint share of every batch. ``DataParallel(model)`` makes the copies
start equal (rank 0's parameters and buffers are broadcast) and stay equal: during
``backward()`` each rank's gradients are averaged across ranks, weighted by the ranks' batch
shares, so every rank takes the same optimizer step the single process would take on the whole
batch. Not launched under MPI, the world has size 1, mpi4py is not needed, and every function
here is a no-op.

Gradients are averaged in *buckets* (PyTorch DDP's design): the parameters, in reverse
registration order (the order backward completes them), are packed into contiguous buffers of
about ``bucket_mb`` MiB, and each parameter's ``.grad`` is a view of its bucket. A Linear
layer's backward computes its weight's and bias's gradients straight into the bucket; other
parameters' gradients are copied in by an identity gate. A bucket's nonblocking
``Iallreduce`` starts the moment its last gradient is in, while backward goes on through the
earlier layers, strictly in bucket order, so the sequence of allreduces is the same on every
rank. ``optimizer.step()`` waits for all of them. The details: ``distributed_buckets``.

>>> import chainrule as cr
>>> from chainrule import distributed as dist, nn
>>> dist.init(), dist.rank(), dist.world_size(), dist.is_main()
(1, 0, 1, True)
>>> net = dist.DataParallel(nn.Linear(3, 2))     # world size 1: the model itself, unchanged
>>> net(cr.tensor(np.ones((4, 3), np.float32))).shape
(4, 2)
"""

from __future__ import annotations

import json
import os
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule import _tensor, function, optim
from chainrule import distributed_buckets as _buckets
from chainrule.data import loader as _loader

# environment variables an MPI launcher sets in every process it starts
_LAUNCH_VARS = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")

_world: dict[str, Any] = {
    "init": False,
    "comm": None,
    "MPI": None,
    "rank": 0,
    "size": 1,
    "one_machine": True,  # every rank shares this machine's memory
}


def _launched_size() -> int:
    """The world size the launcher announced, 1 when not launched under MPI."""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        v = os.environ.get(key)
        if v is not None and v.isdigit():
            return int(v)
    return 2 if any(k in os.environ for k in _LAUNCH_VARS) else 1


def init() -> int:
    """Join the MPI world if this process was launched under MPI; returns the world size.

    Idempotent. Under MPI with more than one rank it also pins NumPy's BLAS (and the
    optimizers' threads) to this rank's share of the machine's cores, and makes an uncaught
    exception on any rank abort the whole job with a message naming the rank, never a hang.

    >>> init()          # not launched under mpiexec: a world of one
    1
    """
    if _world["init"]:
        return int(_world["size"])
    _world["init"] = True
    if _launched_size() > 1:
        try:
            import mpi4py
        except ImportError:
            raise RuntimeError(
                "chainrule.distributed: this process was launched under MPI "
                f"(world size {_launched_size()}) but mpi4py is not installed: "
                "pip install 'chainrule[mpi]'"
            ) from None
        mpi4py.rc.thread_level = "funneled"  # only the main thread calls MPI
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        _world.update(comm=comm, MPI=MPI, rank=comm.Get_rank(), size=comm.Get_size())
        if _world["size"] > 1:
            _abort_on_exception()
            local = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
            _world["one_machine"] = local == _world["size"]
            pin_threads(max(1, _cores() // local))
    return int(_world["size"])


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pin_threads(n: int) -> None:
    """Use ``n`` BLAS threads (OpenBLAS, as NumPy's wheels ship it) and ``n`` optimizer threads,
    unless ``OPENBLAS_NUM_THREADS`` was set by the user. ``init()`` calls it with this rank's
    share of the cores, so ranks on one machine do not oversubscribe it.

    >>> pin_threads(1)
    """
    optim.set_num_threads(n)
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    from chainrule import _blas

    lib = _blas.numpy_openblas()
    for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_"):
        setter = getattr(lib, name, None) if lib is not None else None
        if setter is not None:
            setter(n)
            return
    for name in ("openblas_set_num_threads", "scipy_openblas_set_num_threads"):
        setter = getattr(lib, name, None) if lib is not None else None
        if setter is not None:
            setter(n)
            return


def _abort_on_exception() -> None:
    previous = sys.excepthook

    def hook(kind: Any, value: Any, tb: Any) -> None:
        if kind is KeyboardInterrupt:
            previous(kind, value, tb)
        else:  # the one line first, straight to the file descriptor: abort ends us right after
            import traceback

            text = "".join(traceback.format_exception(kind, value, tb))
            os.write(2, text.encode(errors="replace"))
            line = (
                f"chainrule.distributed: rank {rank()} of {world_size()} failed with "
                f"{kind.__name__}: {value}; aborting all ranks\n"
            )
            os.write(2, line.encode(errors="replace"))
        time.sleep(0.5)  # let the launcher forward this rank's output before the abort
        _world["comm"].Abort(1)

    sys.excepthook = hook


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1`` (0 when not under MPI).

    >>> rank()
    0
    """
    init()
    return int(_world["rank"])


def world_size() -> int:
    """The number of ranks (1 when not under MPI).

    >>> world_size()
    1
    """
    return init()


def is_main() -> bool:
    """True on rank 0: the rank that writes checkpoints, metrics and progress.

    >>> is_main()
    True
    """
    return rank() == 0


def barrier() -> None:
    """Wait until every rank has reached this point (nothing at world size 1).

    >>> barrier()
    """
    if init() > 1:
        _world["comm"].Barrier()


def abort(message: str, code: int = 1) -> None:
    """Print ``message`` naming this rank and end every rank of the job (MPI abort)."""
    sys.stderr.write(f"chainrule.distributed: rank {rank()}: {message}\n")
    sys.stderr.flush()
    if init() > 1:
        _world["comm"].Abort(code)
    raise SystemExit(code)


def _array(x: Any, who: str) -> np.ndarray:
    a = x.data if isinstance(x, _tensor.Tensor) else x
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{who}: expected a Tensor or an ndarray, got {type(x).__name__}")
    return a


def all_reduce(tensor: Any, op: str = "mean") -> Any:
    """Replace ``tensor``'s values, in place, by their sum or mean over all ranks; returns it.

    >>> import chainrule as cr
    >>> all_reduce(cr.tensor([1.0, 2.0]), op="sum")   # world size 1: unchanged
    tensor([1., 2.])
    """
    if op not in ("mean", "sum"):
        raise ValueError(f"all_reduce: op must be 'mean' or 'sum', got {op!r}")
    a = _array(tensor, "all_reduce")
    if op == "mean" and a.dtype.kind not in "fc":
        raise TypeError(f"all_reduce(op='mean') needs a floating-point array, got {a.dtype}")
    if init() == 1:
        return tensor
    buf = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    _world["comm"].Allreduce(_world["MPI"].IN_PLACE, buf, op=_world["MPI"].SUM)
    if op == "mean":
        buf /= world_size()
    if buf is not a:
        np.copyto(a, buf)
    return tensor


def broadcast(tensor: Any, root: int = 0) -> Any:
    """Overwrite ``tensor``'s values, in place, with rank ``root``'s; returns it.

    >>> import chainrule as cr
    >>> broadcast(cr.tensor([3.0]))
    tensor([3.])
    """
    a = _array(tensor, "broadcast")
    n = world_size()
    if not isinstance(root, int) or not 0 <= root < n:
        raise ValueError(f"broadcast: root must be a rank 0..{n - 1}, got {root!r}")
    if n == 1:
        return tensor
    buf = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    _world["comm"].Bcast(buf, root=root)
    if buf is not a:
        np.copyto(a, buf)
    return tensor


def shard(loader: _loader.DataLoader) -> _loader.DataLoader:
    """Make ``loader`` serve this rank its share of every batch; returns it.

    >>> from chainrule.data.loader import DataLoader
    >>> shard(DataLoader(np.zeros((4, 1)), np.zeros(4), batch_size=2)).shard
    (0, 1)
    """
    n = world_size()
    if n > loader.batch_size:
        raise ValueError(
            f"shard: batch_size {loader.batch_size} is smaller than the {n} ranks sharing it"
        )
    loader.shard = (rank(), n)
    return loader


_stop = {"requested": False}


def request_stop() -> None:
    """Ask every rank to stop: the next ``DataParallel`` forward pass tells them all, so all
    ranks see ``stop_requested`` after the same step (the trainer's Ctrl-C uses it).

    >>> request_stop(); _stop["requested"]
    True
    >>> _stop["requested"] = False
    """
    _stop["requested"] = True


class DataParallel:
    """Wrap ``model`` for data-parallel training on the MPI world (see the module docstring).

    At construction, every rank's parameter and buffer names, shapes and dtypes are compared
    (a mismatch raises on every rank, naming the ranks and the first differing entry), rank 0's
    values are broadcast, and every random generator the model's modules hold (Dropout's
    ``rng``) is replaced by ``default_rng([s, rank])`` with ``s`` drawn from rank 0's, so each
    rank drops its own samples' units reproducibly.

    ``bucket_mb`` is the buckets' size in MiB. By default it is 1 MiB when the ranks span
    several machines, and unlimited (one bucket per dtype) when they share one: there the
    allreduce is memory copies by the cores that compute, so nothing hides behind backward and
    each extra collective only adds its own overhead (~0.05 ms a bucket for W10's gradients).

    In training, the forward pass records this rank's batch size (the first axis of the first
    input); gradients are averaged with weights ``n_rank / n_total``, which is the whole-batch
    gradient of a mean-reduced loss. ``.grad`` of a parameter is then a view of its bucket
    (``chainrule.distributed_buckets``), valid until the next backward, which overwrites it:
    call ``optimizer.zero_grad()`` before each backward (accumulating over several backward
    calls is refused with an error). BatchNorm keeps per-rank batch statistics (PyTorch's
    default); ``sync_buffers()`` averages the running statistics (the trainer does it before
    each checkpoint, so every rank saves the same model).

    At world size 1, ``DataParallel(model)`` returns ``model`` itself.

    >>> from chainrule import nn
    >>> model = nn.Linear(2, 2)
    >>> DataParallel(model) is model
    True
    """

    def __new__(cls, model: Any, bucket_mb: float | None = None) -> Any:
        if world_size() == 1:
            return model
        return super().__new__(cls)

    def __init__(self, model: Any, bucket_mb: float | None = None) -> None:
        if bucket_mb is not None and not bucket_mb > 0:
            raise ValueError(f"DataParallel: bucket_mb must be > 0 or None, got {bucket_mb!r}")
        if bucket_mb is None:  # across machines 1 MiB; on one, one bucket (nothing can hide)
            bucket_mb = 1.0 if not _world["one_machine"] else float(1 << 40)
        d = self.__dict__
        d["module"] = model
        d["_comm"], d["_MPI"] = _world["comm"], _world["MPI"]
        self._check_same_model()
        for _, a in self._arrays():
            self._comm.Bcast(a, root=0)
        self._seed_generators()
        params = [p for p in model.parameters() if p.requires_grad]
        d["_params"] = params
        chunk = 0 if _world["one_machine"] else _buckets.CHUNK
        red = _buckets.Reducer(params, int(bucket_mb * (1 << 20)), self._comm, self._MPI, chunk)
        d["_reducer"] = red
        d["_active"] = False
        self._install_gates()
        me = weakref.ref(self)

        def wait_before_step(_optimizer: Any) -> None:
            dp = me()
            if dp is not None:
                dp.synchronize()

        d["_remove_hook"] = optim.register_optimizer_step_pre_hook(wait_before_step)

    # -- construction ---------------------------------------------------------------------------

    def _arrays(self) -> Iterator[tuple[str, np.ndarray]]:
        for name, p in self.module.named_parameters():
            yield name, p._writable()
        for name, b in self.module.named_buffers():
            if not b.flags.c_contiguous:
                raise ValueError(f"DataParallel: buffer {name} is not contiguous")
            yield name, b

    def _check_same_model(self) -> None:
        mine = [f"{k} {a.shape} {a.dtype}" for k, a in self._arrays()]
        sig = json.dumps(mine)
        theirs = self._comm.allgather(sig)  # once, at construction: strings, not gradients
        bad = [r for r, s in enumerate(theirs) if s != theirs[0]]
        if bad:
            ref, other = json.loads(theirs[0]), json.loads(theirs[bad[0]])
            pairs = zip(ref, other, strict=False)  # one may be longer
            diff = next(
                (f"rank 0 has {a!r}, rank {bad[0]} has {b!r}" for a, b in pairs if a != b),
                f"rank 0 has {len(ref)} parameters and buffers, rank {bad[0]} has {len(other)}",
            )
            raise ValueError(
                f"DataParallel: the model differs on rank(s) {bad} from rank 0: {diff}"
            )

    def _seed_generators(self) -> None:
        new: dict[int, np.random.Generator] = {}
        for m in self.module.modules():
            for k, v in list(m.__dict__.items()):
                if isinstance(v, np.random.Generator):
                    if id(v) not in new:
                        s = np.array([v.integers(2**62)], dtype=np.int64)
                        self._comm.Bcast(s, root=0)
                        new[id(v)] = rank_generator(int(s[0]), rank())
                    m.__dict__[k] = new[id(v)]

    def _install_gates(self) -> None:
        from chainrule.nn import layers

        index = {id(p): i for i, p in enumerate(self._params)}
        for m in self.module.modules():
            direct = [(k, index[id(p)]) for k, p in m._parameters.items() if id(p) in index]
            if not direct:
                continue
            if type(m) is layers.Linear and "forward" not in m.__dict__:
                m.__dict__["forward"] = self._linear(m, m.forward, index)
            else:
                m.__dict__["forward"] = self._gated(m.forward, m.__dict__, direct)

    def _gated(self, forward: Callable[..., Any], attrs: dict[str, Any], direct: list) -> Any:
        red = self._reducer

        def gated_forward(*args: Any, **kwargs: Any) -> Any:
            if not self._active:
                return forward(*args, **kwargs)
            saved = {}
            for k, i in direct:
                p = attrs[k]
                saved[k] = p
                red.uses[i] += 1
                attrs[k] = _buckets.Ready.apply(p, reducer=red, index=i)
            try:
                return forward(*args, **kwargs)
            finally:
                attrs.update(saved)

        return gated_forward

    def _linear(self, m: Any, forward: Callable[..., Any], index: dict[int, int]) -> Any:
        """An ``nn.Linear``'s forward recording ``LinearInto``: its backward computes the
        weight's and bias's gradients straight into their buckets."""
        red = self._reducer
        gate = _buckets.LinearInto.apply

        def linear_forward(x: Any) -> Any:
            w, b = m.weight, m.bias
            iw = index.get(id(w), -1)
            ib = index.get(id(b), -1) if b is not None else -1
            # a parameter made trainable after wrapping is not in a bucket: the plain layer
            if not self._active or (iw < 0 and w.requires_grad):
                return forward(x)
            if b is None:
                red.uses[iw] += 1
                return gate(x, w, reducer=red, iw=iw, ib=-1)
            if ib < 0 and b.requires_grad:
                return forward(x)
            if iw >= 0:
                red.uses[iw] += 1
            if ib >= 0:
                red.uses[ib] += 1
            return gate(x, w, b, reducer=red, iw=iw, ib=ib)

        return linear_forward

    # -- training -------------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the model; when recording a graph, arm the gradient averaging for its backward."""
        if not (function.GradMode.enabled and self.module.training):
            return self.module(*args, **kwargs)
        self.synchronize()  # a previous backward's buckets, if no optimizer step waited
        first = args[0] if args else next(iter(kwargs.values()))
        n = len(first.data if isinstance(first, _tensor.Tensor) else first)
        self._reducer.start_flags(n, _stop["requested"])
        self.__dict__["_active"] = True
        try:
            return self.module(*args, **kwargs)
        finally:
            self.__dict__["_active"] = False

    def synchronize(self) -> None:
        """Finish this step's averaging: start what backward did not (unused parameters count
        as zero), wait for every bucket, and set each parameter's ``.grad`` to the average.
        ``optimizer.step()`` calls it; call it yourself to read gradients without a step."""
        red = self._reducer
        if not red.finish():
            return
        if red.not_zeroed:
            red.reset()
            raise RuntimeError(
                "DataParallel: a parameter still had a gradient when backward began: call "
                "optimizer.zero_grad() before each backward (gradients are views of the "
                "allreduce buckets, overwritten by the next backward)"
            )
        grads = red.grads
        for i, p in enumerate(self._params):
            extra = p.grad
            if extra is None:
                p.grad = grads[i]
            elif extra is not grads[i]:
                # a gradient that reached the parameter outside the model's forward (e.g. a
                # weight penalty): averaged on its own, a blocking allreduce
                g = grads[i].data + all_reduce(np.array(extra.data, copy=True), op="mean")
                p.grad = _tensor.Tensor._wrap(g, False)
        if red.trace is not None:
            red.trace.append((time.perf_counter(), "synchronized", -1))
        red.reset()

    def sync_buffers(self) -> None:
        """Average every floating-point buffer (BatchNorm's running statistics) over the ranks."""
        for _, b in self.module.named_buffers():
            if b.dtype.kind == "f":
                all_reduce(b, op="mean")

    @property
    def buckets(self) -> list[list[str]]:
        """The parameter names of each bucket, in the order their allreduces start."""
        names = {id(p): k for k, p in self.module.named_parameters()}
        return [[names[id(self._params[i])] for i in b.indices] for b in self._reducer.buckets]

    @property
    def stop_requested(self) -> bool:
        """True once a rank has called ``request_stop()`` before this step's forward pass: the
        same answer on every rank after the step's ``synchronize()``."""
        red = self._reducer
        if red.flags is not None:
            red.settle()
        return bool(red.stop)

    @property
    def trace(self) -> list[Any] | None:
        """Set to a list to record ``(time, event, index)`` of the averaging (for tests)."""
        return self._reducer.trace

    # -- the wrapped model ----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["module"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "trace":
            self._reducer.trace = value
        elif name in self.__dict__:
            self.__dict__[name] = value
        else:
            setattr(self.module, name, value)

    def train(self, mode: bool = True) -> DataParallel:
        self.module.train(mode)
        return self

    def eval(self) -> DataParallel:
        return self.train(False)

    def __repr__(self) -> str:
        return f"DataParallel({self.module!r}, world_size={world_size()})"


def rank_generator(seed: int, rank: int) -> np.random.Generator:
    """The random generator of ``rank`` in a job seeded with ``seed``: ``default_rng([seed,
    rank])``. DataParallel gives each rank's Dropout one (``seed`` drawn from rank 0's).

    >>> float(rank_generator(7, 1).random()) == float(np.random.default_rng([7, 1]).random())
    True
    """
    return np.random.default_rng([seed, rank])


def unwrap(model: Any) -> Any:
    """The model inside a ``DataParallel`` (the model itself otherwise)."""
    return model.module if isinstance(model, DataParallel) else model
