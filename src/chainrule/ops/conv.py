"""Convolution and pooling gates on NCHW images, each differentiable twice.

Layout as in CS231n and PyTorch: images ``x`` (N, C, H, W), conv weights (F, C/groups, HH, WW),
output side ``Ho = (H + 2 pad - dilation (HH - 1) - 1) // stride + 1``.

How the work is done: ``conv_gemm.strategy`` (the one place this choice lives) sends stride-1
convolutions of NumPy float arrays to ``ops/conv_gemm.py`` (one BLAS GEMM per kernel offset on a
padded grid, no im2col buffer: W8's 3x3 conv forward+backward 215 -> 131 ms CPU time on one
thread) and everything else (strides, groups, other array modules) here: **im2col + one batched
GEMM**. Each kernel offset's strided slice of the padded input is copied into ``cols`` (N, C,
HH, WW, Ho, Wo); ``out = w (G, F/G, C/G*HH*WW) @ cols (N, G, C/G*HH*WW, Ho*Wo)`` lands directly
in NCHW order. The backward is the same two pieces the other way round: ``col2im`` (slice-adds
into a padded zero buffer) for dx, a batched GEMM summed over N for dw. Pooling uses the shifted
slices alone; over exact tiles (kernel = stride, no padding) ``ops/pool_tiled.py``'s
whole-array passes.

Gradients of gradients: a convolution is bilinear in (x, w), so its backward is made of two
more bilinear gates, ``Conv2dInputGrad`` (dout, w) -> dx and ``Conv2dWeightGrad`` (x, dout) ->
dw, whose own backwards are conv2d and each other. The pooling gates are linear given their
routing (max pool's argmax, a constant int mask), so each has an adjoint gate (scatter <->
gather). On arrays the backwards call the array helpers directly (the fast path); on Tensors
(``create_graph=True``) they apply the gates, which records the gradient's graph.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.function import Function
from chainrule.ops import conv_gemm, pool_tiled, registry

_xp = backend.get_array_module
_is_tensor = backend.is_tensor


def pair(v: Any, name: str, op: str) -> tuple[int, int]:
    """An int or a pair of ints, as a pair; a clear error otherwise."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, tuple | list) and len(v) == 2 and all(isinstance(e, int) for e in v):
        return (int(v[0]), int(v[1]))
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")


def out_side(size: int, k: int, s: int, p: int, d: int) -> int:
    """Output side of a window sweep: (size + 2p - d(k - 1) - 1) // s + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _window(i: int, j: int, ho: int, wo: int, s: tuple[int, int], d: tuple[int, int]) -> Any:
    """The (..., rows, cols) slice that kernel offset (i, j) sees in the padded input."""
    r0, c0 = i * d[0], j * d[1]
    return (
        Ellipsis,
        slice(r0, r0 + s[0] * (ho - 1) + 1, s[0]),
        slice(c0, c0 + s[1] * (wo - 1) + 1, s[1]),
    )


def _pad(x: Any, p: tuple[int, int], value: float = 0.0) -> Any:
    if p == (0, 0):
        return x
    xp = _xp(x)
    width = [(0, 0)] * (x.ndim - 2) + [(p[0], p[0]), (p[1], p[1])]
    return xp.pad(x, width, constant_values=value)


class Geometry:
    """Kernel, stride, padding, dilation and groups of one conv or pool, and the input shape."""

    __slots__ = ("d", "groups", "k", "out_hw", "p", "s", "x_shape")

    def __init__(self, x_shape: tuple[int, ...], k: Any, s: Any, p: Any, d: Any, groups: int):
        self.x_shape, self.k, self.s, self.p, self.d = x_shape, k, s, p, d
        self.groups = groups
        h, w = x_shape[-2:]
        self.out_hw = (out_side(h, k[0], s[0], p[0], d[0]), out_side(w, k[1], s[1], p[1], d[1]))


def im2col(x: Any, g: Geometry) -> Any:
    """(N, C, H, W) -> columns (N, C, HH, WW, Ho, Wo): one slice copy per kernel offset."""
    xp = _xp(x)
    xpad = _pad(x, g.p)
    ho, wo = g.out_hw
    n, c = x.shape[:2]
    cols = xp.empty((n, c, g.k[0], g.k[1], ho, wo), dtype=x.dtype)
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            cols[:, :, i, j] = xpad[_window(i, j, ho, wo, g.s, g.d)]
    return cols


def col2im(cols: Any, g: Geometry) -> Any:
    """The adjoint of im2col: add each offset's columns back where they came from."""
    xp = _xp(cols)
    n, c, h, w = g.x_shape
    ho, wo = g.out_hw
    dxpad = xp.zeros((n, c, h + 2 * g.p[0], w + 2 * g.p[1]), dtype=cols.dtype)
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            dxpad[_window(i, j, ho, wo, g.s, g.d)] += cols[:, :, i, j]
    return dxpad[:, :, g.p[0] : g.p[0] + h, g.p[1] : g.p[1] + w]


def _conv(x: Any, w: Any, g: Geometry) -> Any:
    how = conv_gemm.strategy(g, x, w)
    if how:
        return conv_gemm.forward(x, w, None, g, how)
    n, grp, f = x.shape[0], g.groups, w.shape[0]
    ho, wo = g.out_hw
    ck = x.shape[1] // grp * g.k[0] * g.k[1]  # not -1: an empty batch cannot infer it
    cols = im2col(x, g).reshape(n, grp, ck, ho * wo)  # (N, G, C/G*HH*WW, P)
    out = w.reshape(grp, f // grp, -1) @ cols  # (G, F/G, CK) @ (N, G, CK, P) -> (N, G, F/G, P)
    return out.reshape(n, f, ho, wo)


def _conv_input_grad(dout: Any, w: Any, g: Geometry) -> Any:
    how = conv_gemm.strategy(g, dout, w)
    if how:
        return conv_gemm.backward(dout, w, None, g, (True, False))[0]
    n, grp, f = dout.shape[0], g.groups, w.shape[0]
    ho, wo = g.out_hw
    w2 = w.reshape(grp, f // grp, -1)
    dcols = w2.transpose(0, 2, 1) @ dout.reshape(n, grp, f // grp, ho * wo)  # (N, G, CK, P)
    return col2im(dcols.reshape(n, g.x_shape[1], g.k[0], g.k[1], ho, wo), g)


def _conv_weight_grad(x: Any, dout: Any, w_shape: tuple[int, ...], g: Geometry) -> Any:
    how = conv_gemm.strategy(g, x, dout)
    if how:
        return conv_gemm.backward(dout, None, x, g, (False, True))[1]
    n, grp, f = x.shape[0], g.groups, w_shape[0]
    ho, wo = g.out_hw
    ck = x.shape[1] // grp * g.k[0] * g.k[1]
    cols = im2col(x, g).reshape(n, grp, ck, ho * wo)  # (N, G, CK, P)
    d = dout.reshape(n, grp, f // grp, ho * wo)
    return (d @ cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w_shape)  # sum_n (F/G, CK)


@registry.op(
    family="conv",
    function="conv2d",
    namespace="chainrule.nn.functional",
    method=None,
    label="conv",
    local="weight sharing: dx = conv transpose, dw = correlate x with dout",
)
class Conv2d(Function):
    """out = sum_{c,i,j} w[f,c,i,j] x[n,c,s*y+d*i,s*x+d*j] + b[f];  dx = conv^T(dout, w),
    dw = sum_n dout (x) im2col(x),  db = sum dout"""

    __slots__ = ("g", "how", "w", "x")
    differentiable_backward = True

    def forward(self, x: Any, w: Any, b: Any = None, g: Any = None) -> Any:
        self.x, self.w, self.g = x, w, g
        self.how = conv_gemm.strategy(g, x, w, *(() if b is None else (b,)))
        if self.how:
            return conv_gemm.forward(x, w, b, g, self.how)
        out = _conv(x, w, g)
        if b is not None:
            out += b.reshape(1, -1, 1, 1)
        return out

    def backward(self, dout: Any) -> tuple[Any, Any, Any]:
        needs = self.needs_input_grad[:3]
        x, w, g = self.x, self.w, self.g
        if self.how and conv_gemm.strategy(g, dout, w):
            return conv_gemm.backward(dout, w, x, g, needs)
        nx, nw, nb = needs
        graph = _is_tensor(dout) or _is_tensor(w) or _is_tensor(x)
        dx = dw = db = None
        if nx:
            dx = Conv2dInputGrad.apply(dout, w, g=g) if graph else _conv_input_grad(dout, w, g)
        if nw:
            dw = (
                Conv2dWeightGrad.apply(x, dout, w_shape=w.shape, g=g)
                if graph
                else _conv_weight_grad(x, dout, w.shape, g)
            )
        if nb:
            db = dout.sum(axis=(0, 2, 3))
        return dx, dw, db


@registry.op(
    family="conv",
    function="Conv2dInputGrad",
    namespace="chainrule.ops.conv",
    method=None,
    label="conv^T",
    local="bilinear: its backward is conv2d and the weight gradient",
)
class Conv2dInputGrad(Function):
    """out = conv^T(dout, w) (conv2d's dx);  ddout = conv2d(ddx, w),  dw = weight_grad(ddx, dout)"""

    __slots__ = ("dout", "g", "w")
    differentiable_backward = True

    def forward(self, dout: Any, w: Any, g: Any = None) -> Any:
        self.dout, self.w, self.g = dout, w, g
        return _conv_input_grad(dout, w, g)

    def backward(self, ddx: Any) -> tuple[Any, Any]:
        nd, nw = self.needs_input_grad
        dout, w, g = self.dout, self.w, self.g
        graph = _is_tensor(ddx) or _is_tensor(w) or _is_tensor(dout)
        a = b = None
        if nd:
            a = Conv2d.apply(ddx, w, None, g=g) if graph else _conv(ddx, w, g)
        if nw:
            b = (
                Conv2dWeightGrad.apply(ddx, dout, w_shape=w.shape, g=g)
                if graph
                else _conv_weight_grad(ddx, dout, w.shape, g)
            )
        return a, b


@registry.op(
    family="conv",
    function="Conv2dWeightGrad",
    namespace="chainrule.ops.conv",
    method=None,
    label="conv dw",
    local="bilinear: its backward is conv2d and the input gradient",
)
class Conv2dWeightGrad(Function):
    """out = sum_n dout (x) im2col(x) (conv2d's dw);  dx = conv^T(dout, ddw),
    ddout = conv2d(x, ddw)"""

    __slots__ = ("dout", "g", "x")
    differentiable_backward = True

    def forward(self, x: Any, dout: Any, w_shape: Any = None, g: Any = None) -> Any:
        self.x, self.dout, self.g = x, dout, g
        return _conv_weight_grad(x, dout, w_shape, g)

    def backward(self, ddw: Any) -> tuple[Any, Any]:
        nx, nd = self.needs_input_grad
        x, dout, g = self.x, self.dout, self.g
        graph = _is_tensor(ddw) or _is_tensor(x) or _is_tensor(dout)
        a = b = None
        if nx:
            a = Conv2dInputGrad.apply(dout, ddw, g=g) if graph else _conv_input_grad(dout, ddw, g)
        if nd:
            b = Conv2d.apply(x, ddw, None, g=g) if graph else _conv(x, ddw, g)
        return a, b


# -- pooling ------------------------------------------------------------------------------------


def _max_pool(x: Any, g: Geometry) -> tuple[Any, Any]:
    """The max of each window and the offset (an int code) that won; the first max wins ties."""
    if g.k == (2, 2) and pool_tiled.tiled(x, g):
        return pool_tiled.max_pool_2x2_routes(x)  # Routes, not a code: see _scatter
    xp = _xp(x)
    xpad = _pad(x, g.p, float("-inf"))
    ho, wo = g.out_hw
    best = idx = None
    code = 0
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            v = xpad[_window(i, j, ho, wo, g.s, g.d)]
            if best is None:
                best = v.copy()
                idx = xp.zeros(v.shape, dtype="int16")  # a name every array module reads
            else:
                better = v > best
                xp.copyto(best, v, where=better)
                xp.copyto(idx, code, where=better)
            code += 1
    return best, idx


def _scatter(dout: Any, idx: Any, g: Geometry) -> Any:
    """Route each output's gradient to the input its window's code names (max pool's dx)."""
    if isinstance(idx, pool_tiled.Routes):  # the 2x2 fast forward's winners
        if pool_tiled.tiled(dout, g):
            return pool_tiled.scatter_routes(dout, idx, g)
        idx = idx.code()
    if pool_tiled.tiled(dout, g):
        return pool_tiled.scatter(dout, idx, g)
    xp = _xp(dout)
    h, w = g.x_shape[-2:]
    ho, wo = g.out_hw
    dxpad = xp.zeros((*g.x_shape[:-2], h + 2 * g.p[0], w + 2 * g.p[1]), dtype=dout.dtype)
    code = 0
    zero = xp.zeros((), dtype=dout.dtype)
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            dxpad[_window(i, j, ho, wo, g.s, g.d)] += xp.where(idx == code, dout, zero)
            code += 1
    return dxpad[..., g.p[0] : g.p[0] + h, g.p[1] : g.p[1] + w]


def _gather(ddx: Any, idx: Any, g: Geometry) -> Any:
    """The adjoint of _scatter: each output takes the value at its window's routed input."""
    xp = _xp(ddx)
    ho, wo = g.out_hw
    dpad = _pad(ddx, g.p)
    out = xp.zeros(idx.shape, dtype=ddx.dtype)
    code = 0
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            out = out + xp.where(idx == code, dpad[_window(i, j, ho, wo, g.s, g.d)], 0.0)
            code += 1
    return out


@registry.op(
    family="conv",
    function="max_pool2d",
    namespace="chainrule.nn.functional",
    method=None,
    label="maxpool",
    local="max routes",
)
class MaxPool2d(Function):
    """out = max over each window;  dx = dout routed to the window's max (max routes)"""

    __slots__ = ("g", "idx")
    differentiable_backward = True

    def forward(self, x: Any, g: Any = None) -> Any:
        out, self.idx = _max_pool(x, g)
        self.g = g
        return out

    def backward(self, dout: Any) -> Any:
        if _is_tensor(dout):
            if isinstance(self.idx, pool_tiled.Routes):
                self.idx = self.idx.code()  # the general scatter and gather read the code
            return RouteScatter.apply(dout, idx=self.idx, g=self.g)
        return _scatter(dout, self.idx, self.g)


@registry.op(
    family="conv",
    function="RouteScatter",
    namespace="chainrule.ops.conv",
    method=None,
    label="route",
    local="linear: its backward gathers at the winners",
)
class RouteScatter(Function):
    """out = dout routed into the windows' winners (max pool's dx);  ddout = gather(ddx)"""

    __slots__ = ("g", "idx")
    differentiable_backward = True

    def forward(self, dout: Any, idx: Any = None, g: Any = None) -> Any:
        self.idx, self.g = idx, g
        return _scatter(dout, idx, g)

    def backward(self, ddx: Any) -> Any:
        if _is_tensor(ddx):
            return RouteGather.apply(ddx, idx=self.idx, g=self.g)
        return _gather(ddx, self.idx, self.g)


@registry.op(
    family="conv",
    function="RouteGather",
    namespace="chainrule.ops.conv",
    method=None,
    label="gather",
    local="linear: its backward scatters to the winners",
)
class RouteGather(Function):
    """out = x at the windows' winners;  dx = dout scattered back to the winners"""

    __slots__ = ("g", "idx")
    differentiable_backward = True

    def forward(self, x: Any, idx: Any = None, g: Any = None) -> Any:
        self.idx, self.g = idx, g
        return _gather(x, idx, g)

    def backward(self, dout: Any) -> Any:
        if _is_tensor(dout):
            return RouteScatter.apply(dout, idx=self.idx, g=self.g)
        return _scatter(dout, self.idx, self.g)


def _avg_pool(x: Any, g: Geometry) -> Any:
    """Sum of each (zero-padded) window over its HH*WW size (padding counts, as PyTorch's
    count_include_pad=True)."""
    if pool_tiled.tiled(x, g):
        return pool_tiled.avg_pool(x, g)
    ho, wo = g.out_hw
    xpad = _pad(x, g.p)
    out = None
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            v = xpad[_window(i, j, ho, wo, g.s, g.d)]
            out = v.copy() if out is None else out + v
    return out * (1.0 / (g.k[0] * g.k[1]))


def _avg_scatter(dout: Any, g: Geometry) -> Any:
    """The adjoint of _avg_pool: dout / (HH*WW) added to every input of its window."""
    if pool_tiled.tiled(dout, g):
        return pool_tiled.avg_scatter(dout, g)
    xp = _xp(dout)
    h, w = g.x_shape[-2:]
    ho, wo = g.out_hw
    dxpad = xp.zeros((*g.x_shape[:-2], h + 2 * g.p[0], w + 2 * g.p[1]), dtype=dout.dtype)
    share = dout * (1.0 / (g.k[0] * g.k[1]))
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            dxpad[_window(i, j, ho, wo, g.s, g.d)] += share
    return dxpad[..., g.p[0] : g.p[0] + h, g.p[1] : g.p[1] + w]


@registry.op(
    family="conv",
    function="avg_pool2d",
    namespace="chainrule.nn.functional",
    method=None,
    label="avgpool",
    local="mean shares equally",
)
class AvgPool2d(Function):
    """out = mean over each window;  dx = dout / (HH*WW) spread over the window (mean shares)"""

    __slots__ = ("g",)
    differentiable_backward = True

    def forward(self, x: Any, g: Any = None) -> Any:
        self.g = g
        return _avg_pool(x, g)

    def backward(self, dout: Any) -> Any:
        if _is_tensor(dout):
            return AvgPoolGrad.apply(dout, g=self.g)
        return _avg_scatter(dout, self.g)


@registry.op(
    family="conv",
    function="AvgPoolGrad",
    namespace="chainrule.ops.conv",
    method=None,
    label="spread",
    local="linear: its backward is avg pooling",
)
class AvgPoolGrad(Function):
    """out = dout / (HH*WW) spread over each window (avg pool's dx);  ddout = avg_pool(ddx)"""

    __slots__ = ("g",)
    differentiable_backward = True

    def forward(self, dout: Any, g: Any = None) -> Any:
        self.g = g
        return _avg_scatter(dout, g)

    def backward(self, ddx: Any) -> Any:
        if _is_tensor(ddx):
            return AvgPool2d.apply(ddx, g=self.g)
        return _avg_pool(ddx, self.g)


@registry.op(
    family="conv",
    function="pad",
    namespace="chainrule.nn.functional",
    method=None,
    label="pad",
    local="pass-through inside, nothing from the border",
)
class Pad(Function):
    """out = x with the last two axes padded by a constant;  dx = dout cropped back"""

    __slots__ = ("crop",)
    differentiable_backward = True

    def forward(self, x: Any, widths: Any = None, value: float = 0.0) -> Any:
        left, right, top, bottom = widths
        h, w = x.shape[-2:]
        self.crop = (Ellipsis, slice(top, top + h), slice(left, left + w))
        width = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return _xp(x).pad(x, width, constant_values=value)

    def backward(self, dout: Any) -> Any:
        return dout[self.crop]


CONV_OPS: tuple[type[Function], ...] = (
    Conv2d,
    Conv2dInputGrad,
    Conv2dWeightGrad,
    MaxPool2d,
    RouteScatter,
    RouteGather,
    AvgPool2d,
    AvgPoolGrad,
    Pad,
)
