"""Differential fuzzing: random graphs, shapelint against onnxruntime.

Hypothesis draws small graphs on an input [1, C, H, W] (H and W each symbolic or fixed) from
Conv, MaxPool/AveragePool, ConvTranspose, Resize (nearest), Pad, Slice, Concat and Add, with
random attributes, and from the idioms PyTorch's exporter writes, each a chain of nodes whose
shape tensors are computed at run time from ``Shape`` of some earlier tensor (the "ref"):

- ``F.pad`` as TorchScript exports it: the pad list (constants; milesial/Pytorch-UNet's
  ``diff // 2, diff − diff // 2`` with diff = ref's size − x's size, ``//`` as Div, as Div plus
  torch's fix-up for negatives, or through float; or the pad to the next multiple of m,
  ceil(h / m)·m − h, through float) → Concat(pad, ConstantOfShape) → Reshape([-1, 2]) →
  Slice(−1, INT64_MIN+1, step −1) → Transpose → Reshape(−1) → Cast → Pad;
- ``x.expand(1, -1, ref.size(2), -1)`` (and a constant token expanded):
  Expand(x, Where(Equal(size, −1), ones, size));
- Reshape with 0, −1, constants and dims read through Shape → Gather → Concat, whose element
  count matches at some sizes only;
- ViT tokens: flatten(2).transpose(1, 2), a position embedding [1, N, C] of a fixed N, back with
  reshape(B, C, ref.size(2), ref.size(3)) or −1;
- x + a constant of a fixed shape (broadcasts at some sizes only);
- ``F.interpolate(x, size=...)``: Resize sizes from ref's Shape, or rounded through float
  (Cast → Div → Ceil/Floor → Cast → Mul, floor(h · s)).

Branches are merged with Concat/Add, so mismatches happen. Each graph is saved with every data
tensor as a graph output and run in onnxruntime at a few sampled sizes. At each size:

- where onnxruntime runs, every tensor's shape that shapelint inferred (symbolically, evaluated
  at the size) equals the real one, ``contract(...).runs(size)`` is True, and ``lint`` pinned to
  the size reports no error;
- where onnxruntime fails, ``contract(...).runs(size)`` is False or None, and the pinned ``lint``
  reports an error (SL001/SL003/SL004/SL006).

``runs() is None`` means shapelint abstains; it may do so only where it reports an unknown
(``analysis.unknowns``: an op that lost a shape, a check it could not state), or where some
tensor is empty at that size (an empty tensor reaching an op whose behaviour on it was not
measured); else it is a disagreement too. Likewise a pinned lint without an error where
onnxruntime fails is an abstention only when the pinned inference reports an unknown. Both are
counted (``abstains:…``) and the unknowns printed by op and reason. Shapes are compared where
shapelint gives them: a dim it leaves unknown is counted (``tensors_not_concrete``), not compared.
Every tensor's shape is compared as inferred with the input pinned to the size,
and the symbolic shapes evaluated at the size wherever every pool window fits its input. Any
other difference is one, and the test fails with the graph's spec, which :func:`build` turns back into the model
(see tests/test_fuzz_reproducers.py). Known open shapelint bugs and onnxruntime quirks are
matched narrowly (on onnxruntime's own message), counted under ``known:…`` in the printed
summary, and each has a reproducer in tests/test_fuzz_reproducers.py. onnxruntime runs in a
worker process: on some graphs it aborts the whole process (counted as ``known:ort-crashed``).
onnxruntime's graph optimizations change two verdicts of the graph as written (both confirmed by
re-running that size with them off): ReshapeFusion turns a run-time Reshape dim into −1, so a
count mismatch runs (``known:ort-reshape-fusion``); on static graphs Shape is folded from onnx's
shape inference, which disagrees with the pool kernels on ceil_mode, so a Reshape fails or a Resize to a size
read from Shape gets the folded size (``known:ort-shape-folding``).

CI runs 180 fixed, derandomized examples (~15-20 s on 2 cores). The long run (≥ 1,000 graphs,
fresh random examples, a summary printed at the end)::

    SHAPELINT_FUZZ_EXAMPLES=2000 PYTHONPATH=. pytest tests/test_fuzz_differential.py -s

``SHAPELINT_FUZZ_OPS=fpad,expand,reshape,tokens,add_const,resize_to`` draws only those
generators (names as in UNARY and IDIOMS, without the underscore; merges stay).

``SHAPELINT_FUZZ_SEED=N`` makes a long run repeatable; ``SHAPELINT_FUZZ_LOG=FILE`` appends the
spec of every graph onnxruntime crashed on.

Out of scope, counted but not compared: the verdict (not the shapes) at a size where some tensor
other than a Conv/ConvTranspose output is empty (a dim ≤ 0 after Slice, Pad, Resize or a pool).
onnxruntime's ops treat empty tensors each their own way (Concat skips them, Resize refuses to
scale 0 to non-zero, ...) and shapelint does not model them.

What the generator leaves out, and why (each is a runtime-validity rule, not a size rule):
pool pads are below the kernel (onnxruntime rejects pad ≥ kernel at session creation);
AveragePool has no dilations (only from opset 19); every Conv/ConvTranspose has group 1; a Conv
or MaxPool with auto_pad=SAME_UPPER/SAME_LOWER has no dilation (onnxruntime rejects it for Conv,
"Dilation not supported for AutoPadType::SAME_UPPER", and for MaxPool it computes the SAME pads
without the dilation: outputs below ceil(i/s), "padding values must be non-negative" or
"Calculated output dimension is negative"; shapelint follows the spec there, see
tests/test_fuzz_reproducers.py); a pool with auto_pad=SAME_* has no stride above its kernel
(onnxruntime then computes the pad (ceil(i/s) − 1)·s + k − i, negative for k=1, s=2 at every even
i, and fails with "padding values must be non-negative"; shapelint says it runs).
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import multiprocessing
import os
import re
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from shapelint.analysis import POOL_OPS, contract, domain, unknowns
from shapelint.infer import infer
from shapelint.lint import analyse, lint
from shapelint.symbolic import Invalid, evaluate
from tests.onnx_models import RNG, Builder

EXAMPLES = int(os.environ.get("SHAPELINT_FUZZ_EXAMPLES", "0"))
LONG = EXAMPLES > 0
SIZES = st.integers(1, 64)
CI_EXAMPLES = 180  # fixed, derandomized: ~15-20 s on 2 cores
STATS: collections.Counter = collections.Counter()
UNKNOWN_OPS: collections.Counter = collections.Counter()  # analysis.unknowns, by op
UNREPORTED: list = []  # (spec, tensor, op): a shape not concrete, and no unknown says why


# --------------------------------------------------------------------------- the generator


def _pair(lo, hi):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


def _quad(lo, hi):
    return st.tuples(*(st.integers(lo, hi),) * 4)


@st.composite
def _conv(draw, x):
    if draw(st.booleans()):  # the common case: a size-preserving conv (k odd, stride 1, pads k//2)
        k = draw(st.sampled_from([1, 3]))
        return ("Conv", [x], dict(kernel_shape=[k, k], strides=[1, 1], dilations=[1, 1], pads=[k // 2] * 4,
                                  cout=draw(st.integers(1, 3))))
    k = draw(_pair(1, 4))
    attrs = dict(kernel_shape=list(k), strides=list(draw(_pair(1, 3))), dilations=list(draw(_pair(1, 2))))
    auto_pad = draw(st.sampled_from(["NOTSET"] * 5 + ["SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad == "NOTSET":
        attrs["pads"] = list(draw(_quad(0, 2)))
    else:
        attrs["auto_pad"] = auto_pad
        if auto_pad != "VALID":  # onnxruntime: "Dilation not supported for AutoPadType::SAME_UPPER"
            attrs["dilations"] = [1, 1]
    return ("Conv", [x], dict(attrs, cout=draw(st.integers(1, 3))))


@st.composite
def _pool(draw, x):
    op = draw(st.sampled_from(["MaxPool", "AveragePool"]))
    k = draw(_pair(1, 4))
    attrs = dict(kernel_shape=list(k), strides=list(draw(_pair(1, 3))), ceil_mode=draw(st.integers(0, 1)))
    auto_pad = draw(st.sampled_from(["NOTSET"] * 5 + ["SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad == "NOTSET":
        # onnxruntime: "Pad should be smaller than kernel"
        attrs["pads"] = [draw(st.integers(0, k[a % 2] - 1)) for a in range(4)]
    else:
        attrs["auto_pad"] = auto_pad
        if auto_pad != "VALID":  # onnxruntime: "padding values must be non-negative" when k < s
            attrs["strides"] = [min(s, k_) for s, k_ in zip(attrs["strides"], k)]
    if op == "MaxPool" and auto_pad in ("NOTSET", "VALID") and draw(st.booleans()):
        attrs["dilations"] = list(draw(_pair(1, 2)))
    return (op, [x], attrs)


@st.composite
def _convtranspose(draw, x):
    k, s, d = draw(_pair(1, 4)), draw(_pair(1, 3)), draw(_pair(1, 2))
    attrs = dict(kernel_shape=list(k), strides=list(s), dilations=list(d))
    auto_pad = draw(st.sampled_from(["NOTSET"] * 4 + ["SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad != "NOTSET":
        attrs["auto_pad"] = auto_pad
    if auto_pad == "NOTSET" or draw(st.integers(0, 9)) == 0:  # auto_pad with pads: SL001
        attrs["pads"] = list(draw(_quad(0, 3)))
    if draw(st.booleans()):
        # valid is 0 … max(s, d) − 1; one draw in ten may be out of range (SL001)
        top = [max(s[a], d[a]) - 1 for a in range(2)]
        if draw(st.integers(0, 9)) == 0:
            top = [t + 1 for t in top]
        attrs["output_padding"] = [draw(st.integers(0, top[a])) for a in range(2)]
    if draw(st.integers(0, 4)) == 0:
        attrs["output_shape"] = list(draw(_pair(1, 40)))
    return ("ConvTranspose", [x], dict(attrs, cout=draw(st.integers(1, 3))))


SCALES = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]


@st.composite
def _resize(draw, x):
    if draw(st.booleans()):
        return ("Resize", [x], dict(scales=list(draw(st.tuples(st.sampled_from(SCALES), st.sampled_from(SCALES))))))
    return ("Resize", [x], dict(sizes=list(draw(_pair(1, 40)))))


@st.composite
def _pad(draw, x):
    return ("Pad", [x], dict(pads=list(draw(_quad(-2, 3)))))  # [H_begin, W_begin, H_end, W_end]


_INDEX = st.one_of(st.integers(-6, 12), st.sampled_from([-(1 << 62), 1 << 62, (1 << 31) - 1]))


@st.composite
def _slice(draw, x):
    axes = draw(st.sampled_from([[2], [3], [2, 3], [3, 2], [-1], [-2]]))
    steps = [draw(st.sampled_from([1, 1, 1, 2, 3, -1, -2])) for _ in axes]
    return ("Slice", [x], dict(axes=axes, starts=[draw(_INDEX) for _ in axes], ends=[draw(_INDEX) for _ in axes],
                               steps=steps))


UNARY = [_conv, _pool, _convtranspose, _resize, _pad, _slice]


# ----------------------------------------------------------------- exporter idioms (PyTorch → ONNX)
# Each draws a macro op: one spec entry that :func:`build` expands into the node chain an exporter
# writes. Their shape tensors are computed at run time from Shape of a data tensor ("ref": any
# earlier tensor), so the sizes flow through value inference; none of them is a graph output.

_SMALL = st.integers(1, 8)


@st.composite
def _fixed_size(draw, sizes):
    """A fixed dim: 1, one of the sampled input sizes (so it matches some tensor at some size), or any."""
    return draw(st.one_of(st.just(1), st.sampled_from(sorted({d for hw in sizes for d in hw})), _SMALL, SIZES))


def _or_fixed(common, sizes):
    """Mostly ``common``; one draw in four a fixed size."""
    return st.integers(0, 3).flatmap(lambda k: _fixed_size(sizes) if k == 0 else common)


def _ref(x, n):
    """The tensor an idiom reads sizes from: x itself, the input (a skip), or any earlier one."""
    return st.one_of(st.just(x), st.just(0), st.integers(0, n - 1))


@st.composite
def _fpad(draw, x, n, sizes):
    """F.pad(x, [W_l, W_r, H_t, H_b]) as the TorchScript exporter writes it (see :func:`_fpad_chain`):
    constant amounts; milesial/Pytorch-UNet's ``diff // 2, diff − diff // 2`` with diff = the ref's
    size − x's size; or the pad to the next multiple of m, ceil(h / m)·m − h, through float."""
    a = dict(ext=draw(st.sampled_from(["const", "computed"])), const_node=draw(st.booleans()))
    kind = draw(st.sampled_from(["diff", "diff", "const", "multiple"]))
    if kind == "const":
        return ("FPad", [x], dict(a, kind=kind, pads=list(draw(_quad(-2, 3)))))
    a["div"] = draw(st.sampled_from(["div", "floordiv", "float_floor"]))  # how `d // 2` is exported
    if kind == "diff":
        return ("FPad", [x, draw(_ref(x, n))],
                dict(a, kind=kind, axes=draw(st.sampled_from([[2, 3], [2, 3], [2], [3]]))))
    return ("FPad", [x], dict(a, kind=kind, m=draw(st.sampled_from([2, 3, 4, 8, 16, 32])),
                              round=draw(st.sampled_from(["ceil", "ceil", "floor", "trunc"])),
                              split=draw(st.sampled_from(["end", "half"]))))


@st.composite
def _expand(draw, x, n, sizes):
    """x.expand(1, -1, ref.size(2), -1) as exported: Expand(x, Where(Equal(size, −1), ones, size));
    or a constant (a class token) expanded to a run-time size."""
    base = draw(st.sampled_from(["x", "x", "const"]))
    a = dict(base=base, style=draw(st.sampled_from(["scalar", "index"])))
    if base == "const":
        a["shape"] = [1, draw(st.integers(1, 3)), draw(st.one_of(st.just(1), _fixed_size(sizes))),
                      draw(st.one_of(st.just(1), _fixed_size(sizes)))]
    a["target"] = [draw(st.sampled_from([-1, 1, "ref"])), draw(st.sampled_from([-1, -1, -1, 1, 2, "ref"]))] + [
        draw(_or_fixed(st.sampled_from([-1, -1, "ref", "ref", 1]), sizes)) for _ in range(2)]
    ref = draw(_ref(x, n))
    return ("ExpandTo", [x, ref] if base == "x" else [ref], a)


_R2, _R3 = ["ref", 2], ["ref", 3]
# the spatial part of a Reshape target: None stands for a fixed size
_RESHAPE_SPATIAL = [[0, 0], [-1, 1], [1, -1], [0, -1], [-1, 0], [_R2, _R3], [_R2, _R3], [_R3, _R2], [-1, _R3],
                    [_R2, -1], [_R3, -1], [-1, None], [None, -1], [_R2, None], [None, None], [0, _R2]]


@st.composite
def _reshape(draw, x, n, sizes):
    """Reshape with 0 (copy the dim), −1 (infer it) and dims read from a tensor's Shape (Shape →
    Gather → Concat): the element count matches at some sizes only, and onnxruntime fails elsewhere."""
    target = [draw(st.sampled_from([0, 0, 1, ["ref", 0]])), draw(st.sampled_from([0, 0, 0, 0, 1, 2, ["ref", 1]]))]
    target += [draw(_fixed_size(sizes)) if t is None else t for t in draw(st.sampled_from(_RESHAPE_SPATIAL))]
    refs = [t for t in target if isinstance(t, list)]
    a = dict(target=target, style=draw(st.sampled_from(["scalar", "index"])))
    return ("ReshapeTo", [x, draw(_ref(x, n))] if refs else [x], a)


@st.composite
def _tokens(draw, x, n, sizes):
    """ViT style: x.flatten(2).transpose(1, 2) (+ a position embedding [1, N, C] of a fixed N,
    which broadcasts only where H·W = N or 1), then back: .transpose(1, 2).reshape(B, C, h, w)
    with h, w from a tensor's Shape (or −1)."""
    a = dict(style=draw(st.sampled_from(["scalar", "index"])),
             back=draw(st.sampled_from([[["ref", 2], ["ref", 3]], [-1, ["ref", 3]], [["ref", 2], -1], [["ref", 3], ["ref", 2]]])))
    if draw(st.booleans()):
        hw = draw(st.sampled_from(sizes))
        a["pos"] = [draw(st.sampled_from([hw[0] * hw[1], hw[0] * hw[1], 1, draw(SIZES)])), draw(st.integers(1, 3))]
    return ("Tokens", [x, draw(_ref(x, n))], a)


@st.composite
def _add_const(draw, x, n, sizes):
    """x + P, P a constant of a fixed shape (a position embedding, a bias): it broadcasts only at
    the sizes where each of its dims is 1 or the tensor's."""
    rank = draw(st.sampled_from([4, 4, 3, 2, 1]))
    dims = [1, draw(st.sampled_from([1, 1, 1, 2, 3])), draw(_or_fixed(st.just(1), sizes)),
            draw(_or_fixed(st.just(1), sizes))]
    return ("AddConst", [x], dict(shape=dims[4 - rank:]))


@st.composite
def _resize_to(draw, x, n, sizes):
    """F.interpolate(x, size=...) as exported: Resize(x, sizes=Concat(Shape(x)[:2], spatial)), the
    spatial sizes read from a tensor's Shape, or rounded through float: Cast → Div m → Ceil/Floor →
    Cast → Mul m (``math.ceil(h / m) * m``), or floor(h · s)."""
    spatial = []
    for _ in range(2):
        kind = draw(st.sampled_from(["ref", "ref", "multiple", "multiple", "scale", "const"]))
        if kind == "ref":
            spatial.append(["ref"])
        elif kind == "multiple":
            spatial.append(["multiple", draw(st.sampled_from([2, 3, 4, 8, 16])),
                            draw(st.sampled_from(["ceil", "floor", "trunc"]))])
        elif kind == "scale":
            spatial.append(["scale", draw(st.sampled_from([0.5, 1.5, 2.0, 0.75]))])
        else:
            spatial.append(["const", draw(_fixed_size(sizes))])
    a = dict(spatial=spatial, of=draw(st.sampled_from(["x", "ref"])), style=draw(st.sampled_from(["scalar", "index"])))
    return ("ResizeTo", [x, draw(_ref(x, n))], a)


IDIOMS = [_fpad, _expand, _reshape, _tokens, _add_const, _resize_to]
# SHAPELINT_FUZZ_OPS=fpad,expand,...: draw only these (for a long run on some idioms); merges stay
_BY_NAME = {g.__name__.lstrip("_"): g for g in UNARY + IDIOMS}
GENERATORS = ([_BY_NAME[n.strip()] for n in os.environ["SHAPELINT_FUZZ_OPS"].split(",")]
              if os.environ.get("SHAPELINT_FUZZ_OPS") else None)


@st.composite
def graphs(draw):
    """A graph spec: plain data (printed by hypothesis on failure, rebuilt by :func:`build`)."""
    c = draw(st.integers(1, 3))
    h = draw(st.one_of(st.just("H"), SIZES))
    w = draw(st.one_of(st.just("W"), SIZES))
    sizes = draw(st.lists(st.tuples(SIZES, SIZES), min_size=2, max_size=4, unique=True))
    fed = [(h if h != "H" else hh, w if w != "W" else ww) for hh, ww in sizes]  # what the input is fed
    n_ops = draw(st.integers(2, 10))
    ops = []
    n_tensors = 1  # tensor 0 is the input
    kinds = UNARY + IDIOMS if GENERATORS is None else GENERATORS
    for _ in range(n_ops):
        # prefer recent tensors (chains), but any earlier one can branch
        src = draw(st.one_of(st.just(n_tensors - 1), st.integers(0, n_tensors - 1)))
        if n_tensors >= 2 and draw(st.integers(0, 2)) == 0:
            other = draw(st.integers(0, n_tensors - 1))
            op = draw(st.sampled_from(["Concat", "Concat", "Add"]))
            attrs = dict(axis=draw(st.sampled_from([1] * 6 + [2, 3, -1]))) if op == "Concat" else {}
            ops.append((op, [src, other], attrs))
        else:
            gen = draw(st.sampled_from(kinds))
            ops.append(draw(gen(src, n_tensors, fed) if gen in IDIOMS else gen(src)))
        n_tensors += 1
    opset = draw(st.sampled_from([13, 17]))
    return dict(C=c, H=h, W=w, opset=opset, ops=ops, sizes=sizes)


# --------------------------------------------------------------------------- spec → model

I64_MIN = -(1 << 63)


class _Emit:
    """The node chains of the exporter idioms, on a :class:`Builder`."""

    def __init__(self, b: Builder):
        self.b = b

    def i64(self, v, node=False):
        """An int64 constant: an initializer, or (node=True) a Constant node as exporters write it."""
        arr = np.array(v, np.int64)
        if node:
            return self.b.node("Constant", [], prefix="constant", value=numpy_helper.from_array(arr))
        return self.b.const(arr, "i")

    def f32(self, v):
        return self.b.const(np.array(v, np.float32), "f")

    def dim(self, t, axis, style):
        """t.size(axis) as a 1-D [1] int64 tensor: Shape → Gather(scalar) → Unsqueeze (a traced
        ``x.size(a)``), or Shape → Gather([a])."""
        sh = self.b.node("Shape", [t])
        if style == "scalar":
            return self.unsqueeze(self.b.node("Gather", [sh, self.i64(axis)], axis=0))
        return self.b.node("Gather", [sh, self.i64([axis])], axis=0)

    def scalar_dim(self, t, axis):
        return self.b.node("Gather", [self.b.node("Shape", [t]), self.i64(axis)], axis=0)

    def unsqueeze(self, s):
        return self.b.node("Unsqueeze", [s, self.i64([0])])

    def floordiv(self, d, k, how):
        """``d // k`` for an int64 d: Div (truncates: the legacy export), Div plus torch's fix-up
        for negative quotients, or through float: Cast → Div → Floor → Cast."""
        b = self.b
        if how == "float_floor":
            q = b.node("Div", [b.node("Cast", [d], to=TensorProto.FLOAT), self.f32(k)])
            return b.node("Cast", [b.node("Floor", [q])], to=TensorProto.INT64)
        kk = self.i64(k)
        q = b.node("Div", [d, kk])
        if how == "div":
            return q
        zero = self.i64(0, node=True)
        neg = b.node("Xor", [b.node("Less", [d, zero]), b.node("Less", [kk, zero])])
        rem = b.node("Sub", [d, b.node("Mul", [q, kk])])
        fix = b.node("And", [neg, b.node("Not", [b.node("Equal", [rem, zero])])])
        return b.node("Sub", [q, b.node("Cast", [fix], to=TensorProto.INT64)])

    def rounded(self, s, m, how):
        """ceil/floor/trunc(s / m) · m for an int64 s, through float (Cast → Div → Ceil → Cast → Mul)."""
        b = self.b
        q = b.node("Div", [b.node("Cast", [s], to=TensorProto.FLOAT), self.f32(m)])
        if how != "trunc":
            q = b.node("Ceil" if how == "ceil" else "Floor", [q])
        return b.node("Mul", [b.node("Cast", [q], to=TensorProto.INT64), self.i64(m)])

    def fpad(self, x, ref, a):
        """F.pad(x, [W_l, W_r, H_t, H_b]): the list, then torch.onnx's _prepare_onnx_paddings:
        Concat(pad, ConstantOfShape(2·rank − len(pad))) → Reshape([-1, 2]) → Slice (flip axis 0:
        starts −1, ends INT64_MIN+1, step −1) → Transpose → Reshape(−1) → Cast → Pad."""
        b = self.b
        if a["kind"] == "const":
            pad = self.i64(a["pads"], node=a["const_node"])
        else:
            parts = []
            for axis in (3, 2):  # torch order: the last dim first
                if a["kind"] == "diff":
                    if axis not in a["axes"]:
                        parts += [self.i64(0, node=True)] * 2
                        continue
                    d = b.node("Sub", [self.scalar_dim(ref, axis), self.scalar_dim(x, axis)])
                    lo = self.floordiv(d, 2, a["div"])
                    parts += [lo, b.node("Sub", [d, lo])]
                else:  # to the next multiple of m (below it for floor/trunc: a crop)
                    s = self.scalar_dim(x, axis)
                    d = b.node("Sub", [self.rounded(s, a["m"], a["round"]), s])
                    if a["split"] == "end":
                        parts += [self.i64(0, node=True), d]
                    else:
                        lo = self.floordiv(d, 2, a["div"])
                        parts += [lo, b.node("Sub", [d, lo])]
            pad = b.node("Concat", [self.unsqueeze(p) for p in parts], axis=0)
        if a["ext"] == "const":
            ext = self.i64([4], node=True)
        else:  # rank · 2 − pad_len, pad_len = Shape(pad)[[0]]
            pad_len = b.node("Gather", [b.node("Shape", [pad]), self.i64([0], node=True)], axis=0)
            ext = b.node("Sub", [b.node("Mul", [self.i64(4, node=True), self.i64(2, node=True)]), pad_len])
        zeros = b.node("ConstantOfShape", [ext], value=numpy_helper.from_array(np.array([0], np.int64)))
        p = b.node("Concat", [b.node("Cast", [pad], to=TensorProto.INT64), zeros], axis=0)
        p = b.node("Reshape", [p, self.i64([-1, 2], node=True)])
        p = b.node("Slice", [p, self.i64([-1], node=True), self.i64([I64_MIN + 1], node=True), self.i64([0], node=True),
                             self.i64([-1], node=True)])
        p = b.node("Transpose", [p], perm=[1, 0])
        p = b.node("Reshape", [p, self.i64([-1], node=True)])
        p = b.node("Cast", [p], to=TensorProto.INT64)
        return b.node("Pad", [x, p, self.f32(0.0)], mode="constant")

    def size_list(self, entries, ref, style, x=None):
        """A 1-D int64 size from entries: an int (a constant), ["ref", axis] (ref.size(axis)) or
        "ref" at position k (ref.size(k)); a constant tensor when nothing is read at run time."""
        if not any(isinstance(e, (list, str)) for e in entries):
            return self.i64(entries, node=style == "scalar")
        parts = []
        for k, e in enumerate(entries):
            if e == "ref":
                parts.append(self.dim(ref, k, style))
            elif isinstance(e, list):
                parts.append(self.dim(ref, e[1], style))
            else:
                parts.append(self.i64([e], node=True))
        return self.b.node("Concat", parts, axis=0)

    def expand(self, data, ref, a):
        """torch.onnx's expand: size (stack of scalars, Reshape(−1)); ones = ConstantOfShape(Shape(size));
        Expand(data, Where(Equal(size, ones · −1), ones, size))."""
        b = self.b
        size = self.size_list(a["target"], ref, a["style"])
        if a["style"] == "scalar":
            size = b.node("Reshape", [size, self.i64([-1], node=True)])
        ones = b.node("ConstantOfShape", [b.node("Shape", [size])], value=numpy_helper.from_array(np.array([1], np.int64)))
        neg = b.node("Mul", [ones, self.i64(-1, node=True)])
        tgt = b.node("Where", [b.node("Equal", [size, neg]), ones, size])
        return b.node("Expand", [data, tgt])

    def reshape(self, x, ref, target, style):
        return self.b.node("Reshape", [x, self.size_list(target, ref, style)])

    def resize_to(self, x, ref, a):
        """F.interpolate(x, size=(h, w)): Resize(x, sizes=Concat(Shape(x)[0:2], [h, w]))."""
        b = self.b
        src = ref if a["of"] == "ref" else x
        parts = [b.node("Slice", [b.node("Shape", [x]), self.i64([0]), self.i64([2])])]
        for k, e in enumerate(a["spatial"]):
            axis = 2 + k
            if e[0] == "ref":
                parts.append(self.dim(ref, axis, a["style"]))
            elif e[0] == "const":
                parts.append(self.i64([e[1]], node=True))
            elif e[0] == "multiple":
                parts.append(self.rounded(self.dim(src, axis, a["style"]), e[1], e[2]))
            else:  # floor(h · s), as int(h * s) is traced
                f = b.node("Mul", [b.node("Cast", [self.dim(src, axis, a["style"])], to=TensorProto.FLOAT), self.f32(e[1])])
                parts.append(b.node("Cast", [b.node("Floor", [f])], to=TensorProto.INT64))
        return b.node("Resize", [x, "", "", b.node("Concat", parts, axis=0)], mode="nearest")


def _bcast_dim(a: int, t: int) -> int:
    """The broadcast of two static dims (a mismatch fails at run time: any value will do)."""
    return a if t == 1 else t if a == 1 else max(a, t)


def _build_idiom(e: _Emit, op, xs, cs, attrs, extra: list):
    """One idiom's nodes: (output name, its channel count). ``extra`` collects float intermediates
    that become graph outputs too (their shapes are compared)."""
    b = e.b
    if op == "FPad":
        return e.fpad(xs[0], xs[-1], attrs), cs[0]
    if op == "ExpandTo":
        ref, rc = xs[-1], cs[-1]
        if attrs["base"] == "const":
            data, c = b.const(RNG.standard_normal(attrs["shape"]).astype(np.float32), "tok"), attrs["shape"][1]
        else:
            data, c = xs[0], cs[0]
        t = attrs["target"][1]
        return e.expand(data, ref, attrs), _bcast_dim(c, rc if t == "ref" else 1 if t == -1 else t)
    if op == "ReshapeTo":
        t = attrs["target"][1]
        c = cs[0] if t == 0 else cs[-1] if isinstance(t, list) else t
        return e.reshape(xs[0], xs[-1], attrs["target"], attrs["style"]), c
    if op == "Tokens":
        x, ref = xs
        flat = e.reshape(x, None, [0, 0, -1], "index")
        tok = b.node("Transpose", [flat], perm=[0, 2, 1])
        extra += [flat, tok]
        c = cs[0]
        if "pos" in attrs:
            n, cp = attrs["pos"]
            tok = b.node("Add", [tok, b.const(RNG.standard_normal((1, n, cp)).astype(np.float32), "pos")])
            extra.append(tok)
            c = _bcast_dim(c, cp)
        back = b.node("Transpose", [tok], perm=[0, 2, 1])
        extra.append(back)
        return e.reshape(back, ref, [0, 0, *attrs["back"]], attrs["style"]), c
    if op == "AddConst":
        shape = attrs["shape"]
        p = b.const(RNG.standard_normal(shape).astype(np.float32), "p")
        return b.node("Add", [xs[0], p]), _bcast_dim(cs[0], shape[-3]) if len(shape) >= 3 else cs[0]
    if op == "ResizeTo":
        return e.resize_to(xs[0], xs[-1], attrs), cs[0]
    raise AssertionError(op)  # pragma: no cover




def build(spec) -> onnx.ModelProto:
    """The ONNX model of a spec, with real weights and every tensor a graph output."""
    b = Builder(spec["opset"])
    e = _Emit(b)
    names, chans, extra = ["x"], [spec["C"]], []
    i64 = lambda v: b.const(np.array(v, np.int64), "i")  # noqa: E731
    for op, srcs, attrs in spec["ops"]:
        attrs = dict(attrs)
        xs = [names[j] for j in srcs]
        cin = chans[srcs[0]]
        if op in ("Conv", "ConvTranspose"):
            cout = attrs.pop("cout")
            k = attrs["kernel_shape"]
            wshape = (cout, cin, *k) if op == "Conv" else (cin, cout, *k)
            w = b.const(RNG.standard_normal(wshape).astype(np.float32) * 0.1, "w")
            y, c = b.node(op, [xs[0], w], **attrs), cout
        elif op in ("MaxPool", "AveragePool"):
            y, c = b.node(op, xs, **attrs), cin
        elif op == "Resize":
            if "scales" in attrs:
                sc = b.const(np.array([1, 1, *attrs["scales"]], np.float32), "scales")
                y = b.node("Resize", [xs[0], "", sc], mode="nearest")
            else:
                sz = i64([1, cin, *attrs["sizes"]])
                y = b.node("Resize", [xs[0], "", "", sz], mode="nearest")
            c = cin
        elif op == "Pad":
            hb, wb, he, we = attrs["pads"]
            y, c = b.node("Pad", [xs[0], i64([0, 0, hb, wb, 0, 0, he, we])], mode="constant"), cin
        elif op == "Slice":
            y = b.node("Slice", [xs[0], i64(attrs["starts"]), i64(attrs["ends"]), i64(attrs["axes"]),
                                 i64(attrs["steps"])])
            c = cin
        elif op == "Concat":
            y = b.node("Concat", xs, axis=attrs["axis"])
            c = chans[srcs[0]] + chans[srcs[1]] if attrs["axis"] == 1 else cin
        elif op == "Add":
            y = b.node("Add", xs)
            c = max(chans[srcs[0]], chans[srcs[1]])
        else:
            y, c = _build_idiom(e, op, xs, [chans[j] for j in srcs], attrs, extra)
        names.append(y)
        chans.append(c)
    m = b.model("x", (1, spec["C"], spec["H"], spec["W"]), names[-1])
    del m.graph.output[:]
    m.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names[1:] + extra)
    return m


def _ort_outputs(model_bytes: bytes, sizes, optimize: bool = True) -> dict:
    """onnxruntime at each (h, w): {(h, w): (True, {name: shape}) or (False, message)}.
    ``optimize=False``: with its graph optimizations off (the kernels run the graph as written)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several exception types
        msg = "session: " + str(e).splitlines()[0][:300]
        if _truncated_by_onnx_inference(onnx.load_from_string(model_bytes)):
            msg = "session (onnx-infer-convtranspose-rank): " + msg
        return {hw: (False, msg) for hw in sizes}
    names = [o.name for o in sess.get_outputs()]
    c = sess.get_inputs()[0].shape[1]
    out = {}
    for hw in sizes:
        try:
            ys = sess.run(None, {"x": np.ones((1, c, *hw), np.float32)})
            out[hw] = (True, {n: tuple(y.shape) for n, y in zip(names, ys)})
        except Exception as e:
            out[hw] = (False, str(e).splitlines()[0][:300])
    return out


_POOL = None


@atexit.register
def _stop_pool():
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)


def ort_outputs(model, sizes, optimize: bool = True):
    """:func:`_ort_outputs` in a worker process: onnxruntime aborts the whole process on some
    graphs (a failed std::clamp assertion in Slice, see tests/test_fuzz_reproducers.py). Returns
    None when the worker died or hung."""
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return _POOL.submit(_ort_outputs, model.SerializeToString(), list(sizes), optimize).result(timeout=120)
    except (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError):
        _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None
        return None


# --------------------------------------------------------------------------- the comparison

# Open shapelint bugs the fuzzer found, each with a strict-xfail reproducer in
# tests/test_fuzz_reproducers.py: counted (and printed), not failed on, so the fuzzer keeps
# looking for new ones. Each is matched on onnxruntime's own error text, so nothing else hides here.
def _concat_of_empty(model, shapes) -> bool:
    """Runtime quirk: onnxruntime's Concat drops empty inputs before it compares shapes, so
    Concat([1,1,0,1], [1,1,1,1], axis=1) runs and gives [1,2,1,1] where the spec (and shapelint)
    says the non-concat axis 2 mismatches (0 vs 1)."""
    return any(n.op_type == "Concat" and any(0 in shapes.get(i, (1,)) for i in n.input) for n in model.graph.node)


def _backward_slice_to_sentinel(model) -> bool:
    """Runtime quirk: onnxruntime's Slice kernel reads an end of INT32_MAX/INT64_MAX with a
    negative step as "down to element 0" (shapelint follows the kernel), but onnx's shape
    inference, which onnxruntime runs at session creation on static dims, clamps it to n − 1
    as the spec says: Slice(starts=0, ends=INT32_MAX, steps=-1) of a static 2 is 1 for the
    kernel and 0 for the session, so a later Add with the 2 fails only at session creation."""
    values = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in model.graph.initializer}
    return any(n.op_type == "Slice" and len(n.input) >= 5
               and any(st < 0 and e in ((1 << 31) - 1, (1 << 63) - 1)
                       for st, e in zip(values.get(n.input[4], []), values.get(n.input[2], [])))
               for n in model.graph.node)


def _truncated_by_onnx_inference(model) -> bool:
    """(Run in the worker: onnx's shape inference aborts the process on some graphs.)
    Runtime quirk, not a shapelint bug: onnx's convTransposeShapeInference stops adding dims
    when an output_shape entry is below the static input size ("TODO: throw exception?"), so a
    ConvTranspose that onnxruntime's kernel runs gets a rank-2 or rank-3 shape, and a later node
    that checks its input's rank makes session creation fail."""
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in list(inferred.graph.value_info)
             + list(inferred.graph.output) if vi.type.tensor_type.HasField("shape")}
    return any(n.op_type == "ConvTranspose" and ranks.get(n.output[0], 4) < 4 for n in model.graph.node)



def _reshape_fusion_hides_failure(model, hw) -> bool:
    """Runtime quirk: onnxruntime's ReshapeFusion (a basic graph optimization) rewrites a Reshape
    target Concat(const, ..., Gather(Shape(t), i), ...) whose one dim is read from another
    tensor's Shape into a constant with −1 there, so a Reshape whose element count does not match
    runs (F.pad(x, ...).reshape(1, 1, x.size(2), 1) at H=1, W=2 gives [1, 1, 2, 1]). With the
    graph optimizations off the kernel fails, as the spec says: matched on that failure."""
    if not any(n.op_type == "Reshape" for n in model.graph.node):
        return False
    res = ort_outputs(model, [hw], optimize=False)
    return res is not None and not res[hw][0] and "ReshapeHelper" in res[hw][1]


def _shape_folding_fails(model, hw) -> bool:
    """Runtime quirk: on a static graph onnxruntime's optimizer folds Shape(t) to the shape onnx's
    shape inference gives t, which for a pool with ceil_mode=1 is not what the kernel produces
    (AveragePool k=1, s=2, ceil_mode=1 of H=2: onnx says 2 rows, the kernel gives 1, as shapelint
    does), so a Reshape to a target read from that Shape fails. With the graph optimizations off
    it runs. Matched narrowly: a Shape node, and the unoptimized session runs at this size."""
    if not any(n.op_type == "Shape" for n in model.graph.node):
        return False
    res = ort_outputs(model, [hw], optimize=False)
    return res is not None and res[hw][0]


def disagreements(spec, workdir) -> list:
    """Every difference between shapelint and onnxruntime on one spec, as readable lines (empty:
    they agree). Updates STATS."""
    model = build(spec)
    path = os.path.join(workdir, "g.onnx")
    onnx.save(model, path)
    graph, inf = analyse(path)
    c = contract(inf)
    lost = unknowns(inf)
    pool_windows_fit = domain(inf, POOL_OPS)
    unpinned = lint(path)
    invalid = [f for f in unpinned.findings if f.rule == "SL001" and f.severity == "error"]
    dynamic = [d for d in ("H", "W") if spec[d] in ("H", "W")]
    # the sizes actually fed: a fixed dim is its own size
    sizes = sorted({(h if spec["H"] == "H" else spec["H"], w if spec["W"] == "W" else spec["W"])
                    for h, w in spec["sizes"]})
    bad = []
    outputs = [o.name for o in model.graph.output]
    results = ort_outputs(model, sizes)
    STATS["graphs_with_unknowns"] += bool(lost)
    for u in lost:
        UNKNOWN_OPS[f"{u.op}: " + re.sub(r"'[^']*'", "'…'", re.sub(r"\([^()]*\)", "(…)", u.reason))[:90]] += 1
    if results is None:
        STATS["known:ort-crashed"] += 1
        STATS["graphs"] += 1
        if os.environ.get("SHAPELINT_FUZZ_LOG"):
            with open(os.environ["SHAPELINT_FUZZ_LOG"], "a") as f:
                f.write(f"ort-crashed {spec!r}\n")
        return []
    session_error = next((got for ok, got in results.values() if not ok and got.startswith("session")), "")
    known = ("onnx-infer-convtranspose-rank" if "(onnx-infer-convtranspose-rank)" in session_error else
             "ort-slice-end-sentinel" if session_error and _backward_slice_to_sentinel(model) else None)
    if known:
        STATS["known:" + known] += 1
        STATS["graphs"] += 1
        return []
    for (h, w), (ok, got) in results.items():
        env = {"H": h, "W": w}
        STATS["sizes"] += 1
        STATS["ort_ran" if ok else "ort_failed"] += 1
        where = f"at H={h}, W={w}: onnxruntime " + ("ran" if ok else f"failed: {got}")
        if ok and _concat_of_empty(model, got):
            STATS["known:ort-concat-skips-empty"] += 1
            continue
        evaluated = {name: _evaluate(inf.shape(name), env) for name in outputs}
        pinned = infer(graph, {"x": (1, spec["C"], h, w)}) if dynamic else inf
        pinned_lost = unknowns(pinned) if dynamic else lost
        # an empty data tensor (the int shape tensors of the idioms are not data: a ConstantOfShape
        # of a 0-length shape is nothing to abstain over)
        has_empty = any(isinstance(d, int) and d <= 0 for name in outputs for d in (pinned.shape(name) or ()))
        empty = [name for name in outputs if inf.producer[name].op not in ("Conv", "ConvTranspose")
                 and any(isinstance(shape, tuple) and any(d is not None and d <= 0 for d in shape)
                         for shape in (evaluated[name], _evaluate(pinned.shape(name), {})))]
        verdicts = []
        # 1. the contract (dynamic models; size-independent SL001 errors count as a predicted failure)
        if dynamic:
            pred = False if invalid else c.runs(env)
            if pred is None:
                STATS["contract_abstains"] += 1
                if lost:  # shapelint said where it lost track (analysis.unknowns): abstaining is its due
                    STATS["abstains:unknown"] += 1
                elif has_empty:  # an empty tensor meets an op whose behaviour on it was not measured
                    STATS["abstains:empty"] += 1
                else:
                    verdicts.append(f"{where}; contract.runs=None with no empty tensor and no unknown")
            elif pred is not ok:
                verdicts.append(f"{where}; contract.runs={pred}")
        # 2. lint pinned to the size: an error iff onnxruntime fails (no error where it fails is an
        # abstention when the pinned inference reports unknowns)
        res = lint(path, {"x": (1, spec["C"], h, w)}) if dynamic else unpinned
        errors = [(f.rule, f.node, f.message) for f in res.findings if f.severity == "error"]
        if errors and ok:
            verdicts.append(f"{where}; pinned lint errors: {errors}")
        elif not errors and not ok:
            if pinned_lost:
                STATS["abstains:pinned_lint_unknown"] += 1
            else:
                verdicts.append(f"{where}; pinned lint errors: none")
        if verdicts and ok and _reshape_fusion_hides_failure(model, (h, w)):
            STATS["known:ort-reshape-fusion"] += 1
            continue
        if verdicts and not ok and _shape_folding_fails(model, (h, w)):
            STATS["known:ort-shape-folding"] += 1
            continue
        if verdicts and empty:
            STATS["empty_tensor_verdicts"] += 1  # out of scope: see the module docstring
        else:
            bad += verdicts
        if not ok:
            continue
        # 3. every tensor's shape: inferred at the pinned size, always; and the symbolic shapes
        # evaluated there, wherever every pool window fits its input (below, onnxruntime's pools
        # truncate: the symbolic dims use floor, and the contract evaluates those sizes pinned).
        # Only what shapelint gives is compared: an unknown dim (None) is counted, not compared.
        symbolic_exact = not dynamic or all(env[n] in ss for n, ss in pool_windows_fit.items() if n in env)
        STATS["shapes_pinned_only"] += not symbolic_exact
        pinned_shapes = {name: _evaluate(pinned.shape(name), {}) for name in got}

        def shape_diffs(real_shapes):
            out = []
            for name, real in real_shapes.items():
                at_size = pinned_shapes[name]
                if not _agrees(at_size, real):
                    out.append(f"{where}; tensor {name} ({inf.producer[name].op}): onnxruntime {real}, shapelint "
                               f"pinned to the size {at_size}")
                elif symbolic_exact and not _agrees(evaluated[name], real):
                    shape = inf.shape(name)
                    out.append(f"{where}; tensor {name} ({inf.producer[name].op}): onnxruntime {real}, shapelint "
                               f"{evaluated[name]} = {None if shape is None else [str(d) for d in shape]}")
            return out

        for name in got:
            STATS["tensors"] += 1
            if not _partial(pinned_shapes[name]) or not _partial(evaluated[name]):
                STATS["tensors_not_concrete"] += 1
                if not (pinned_lost if not _partial(pinned_shapes[name]) else lost):
                    STATS["not_concrete_without_unknown"] += 1  # a hole in analysis.unknowns
                    UNREPORTED.append((spec, name, inf.producer[name].op))
        diffs = shape_diffs(got)
        if diffs and any(n.op_type == "Shape" for n in model.graph.node):
            # onnxruntime's Shape folding (see _shape_folding_fails): compare with the graph as written
            plain = ort_outputs(model, [(h, w)], optimize=False)
            if plain is not None and plain[(h, w)][0] and plain[(h, w)][1] != got and not shape_diffs(plain[(h, w)][1]):
                STATS["known:ort-shape-folding"] += 1
                continue
        bad += diffs
    STATS["graphs"] += 1
    return bad


def _partial(shape) -> bool:
    """Whether a shape is fully concrete."""
    return isinstance(shape, tuple) and all(d is not None for d in shape)


def _agrees(shape, real) -> bool:
    """shapelint's shape (an evaluated tuple, possibly with None dims; None: rank unknown) against
    onnxruntime's: every dim shapelint gives equals the real one."""
    if shape is None:
        return True
    if not isinstance(shape, tuple):  # Invalid(...) where onnxruntime ran
        return False
    return len(shape) == len(real) and all(d is None or d == r for d, r in zip(shape, real))


def _evaluate(shape, env):
    try:
        return None if shape is None else tuple(None if d is None else evaluate(d, env) for d in shape)
    except Invalid as e:
        return f"Invalid({e})"


def _check(spec):
    with tempfile.TemporaryDirectory(prefix="shapelint_fuzz_") as d:
        bad = disagreements(spec, d)
    assert not bad, f"spec={spec!r}\n" + "\n".join(bad[:12])


@pytest.mark.slow
@pytest.mark.runtime
def test_fuzz_differential():
    """The property over many graphs; then the run itself must not have been degenerate (graphs
    that fail at every size, or never), or it would prove nothing."""
    STATS.clear()
    UNKNOWN_OPS.clear()
    UNREPORTED.clear()
    n = EXAMPLES or CI_EXAMPLES
    run = settings(max_examples=n, derandomize=not LONG, deadline=None, database=None, print_blob=True,
                   suppress_health_check=list(HealthCheck))(given(graphs())(_check))
    if LONG and os.environ.get("SHAPELINT_FUZZ_SEED"):
        run = seed(int(os.environ["SHAPELINT_FUZZ_SEED"]))(run)
    run()
    print(f"\nfuzz_differential: {dict(STATS)}\nunknowns (analysis.unknowns, by op and reason):")
    for what, k in UNKNOWN_OPS.most_common():
        print(f"  {k:5d}  {what}")
    for spec, name, op in UNREPORTED[:3]:
        print(f"not concrete, no unknown: {name} ({op}) in {spec!r}")
    assert STATS["graphs"] >= n // 2, STATS
    assert STATS["ort_ran"] >= STATS["sizes"] // 5 and STATS["ort_failed"] >= STATS["sizes"] // 20, STATS
