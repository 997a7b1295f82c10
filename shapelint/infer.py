"""Shape inference over the IR: every tensor's shape, and the values of small integer tensors.

Shapes are tuples of dims (``int``, symbolic ``Expr``, or ``None`` for unknown); a tensor of
unknown rank has shape ``None``. Values (``Shape`` outputs, pads, sizes, scales) are flat tuples
of dims or floats, so sizes computed at run time stay symbolic and constant subgraphs fold.
An op without a rule gives unknown outputs and a note -- never a guess; where a shape is first
lost, ``Inferred.lost`` says which node and why.

The shape rules are plain functions in one dict, ``RULES``; ``grep '"Conv"'`` finds Conv's.
Value rules are apart, in values.py (``VALUE_RULES``): ``_infer_node`` runs the shape rule, then
the value rule, which sees the output shapes the shape rule found.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Optional

from . import sizes
from .ir import Graph, Node
from .symbolic import (
    Dim,
    Expr,
    Invalid,
    Sym,
    add,
    bcast,
    ceildiv,
    floordiv,
    mul,
    sub,
    sym,
)

from .values import BIG, MAX_FLOAT_CONSTANT_ELEMENTS, MAX_VALUE_ELEMENTS, ORT_END_SENTINELS  # noqa: F401
from .values import expr_size
from .values import Rat, Unknown as _Unknown, exact_quotient, int_or_none as _int_or_none
from .values import need as _need, norm_axis as _norm_axis, range_count, slice_dim as _slice_dim


@dataclass
class Inferred:
    """What inference found: per tensor, a shape and (for small tensors) a value."""

    graph: Graph
    shapes: dict = field(default_factory=dict)  # name -> tuple | None
    values: dict = field(default_factory=dict)  # name -> tuple | None
    producer: dict = field(default_factory=dict)  # name -> Node
    notes: list = field(default_factory=list)
    unknown_ops: dict = field(default_factory=dict)  # op -> count
    symbols: dict = field(default_factory=dict)  # symbol name -> (input name, axis)
    failed: list = field(default_factory=list)  # nodes whose attributes or inputs could not be read
    memo: dict = field(default_factory=dict)  # derived data the analysis computes once (see analysis.domain)
    # where a shape was lost: node name -> (op, reason), for the first node on each path whose
    # inputs were all known but an output's shape is not
    lost: dict = field(default_factory=dict)
    why_no_value: dict = field(default_factory=dict)  # tensor name -> why its value is unknown
    tainted: set = field(default_factory=set)  # tensors whose shape is unknown because of an earlier loss

    def shape(self, name: str):
        return self.shapes.get(name) if name else None

    def value(self, name: str):
        """A small tensor's flat values; constants are decoded only here, on demand, and only
        when they can be shape arguments (integers, or a handful of floats such as scales)."""
        if not name:
            return None
        if name in self.values:
            return self.values[name]
        c = self.graph.constants.get(name)
        v = None
        if c is not None and (c.size <= MAX_VALUE_ELEMENTS and not c.dtype.startswith("float")
                              or c.size <= MAX_FLOAT_CONSTANT_ELEMENTS and len(c.shape) <= 1):
            v = c.values()
        self.values[name] = v
        return v


# ONNX attributes that are integers in every op that has them: anything else is a malformed node
INT_ATTRS = frozenset({"axis", "axes", "strides", "pads", "dilations", "kernel_shape", "output_padding",
                       "output_shape", "group", "perm", "blocksize", "keepdims", "allowzero", "split", "starts",
                       "ends", "ceil_mode", "batch_dims", "transA", "transB", "num_outputs", "noop_with_empty_axes"})


class _Ctx:
    def __init__(self, inf: Inferred, node: Node, op: Optional[str] = None):
        self.inf = inf
        self.node = node
        self.op = op or node.op  # the ONNX op whose semantics apply (other frameworks alias)
        self.opset = inf.graph.opset if inf.graph.framework == "onnx" else 18

    def shape(self, i: int):
        return self.inf.shape(self.node.input(i))

    def value(self, i: int):
        return self.inf.value(self.node.input(i))

    def has(self, i: int) -> bool:
        return bool(self.node.input(i))

    def attr(self, key, default=None):
        v = self.node.attr(key, default)
        if v is default or v is None or v.__class__ is int or key not in INT_ATTRS \
                or self.node.domain not in ("", "ai.onnx"):
            return v
        # (bool is not int here: its class is bool; map/count keep this check in C, it runs per node)
        if v.__class__ not in (tuple, list) or list(map(type, v)).count(int) != len(v):
            raise ValueError(f"attribute {key} must be integers, got {v!r}")
        return v

    def ints(self, i: int):
        """A constant or computed 1-D int input, as a tuple of dims, or None."""
        v = self.value(i)
        if v is None:
            return None
        return tuple(v)


Rule = Callable[[_Ctx], list]  # returns [(shape, value), ...] per output; shape rules leave value None


def infer(graph: Graph, pins: Optional[dict] = None) -> Inferred:
    """Infer every tensor. ``pins`` maps an input name to concrete dims that replace its own."""
    inf = Inferred(graph)
    pins = pins or {}
    for t in graph.inputs:
        shape = pins.get(t.name, t.shape)
        if shape is None:
            inf.shapes[t.name] = None
            inf.tainted.add(t.name)
            continue
        dims = []
        for axis, d in enumerate(shape):
            if isinstance(d, str):
                inf.symbols.setdefault(d, (t.name, axis))
                dims.append(sym(d))
            else:
                dims.append(d)
        inf.shapes[t.name] = tuple(dims)
        if any(d is None for d in dims):
            inf.tainted.add(t.name)  # unknown in the model itself, not lost by an op
    for name, c in graph.constants.items():
        inf.shapes[name] = c.shape
    for node in graph.nodes:
        _infer_node(inf, node)
    for op, k in sorted(inf.unknown_ops.items()):
        inf.notes.append(f"{k} node(s) of op {op} have no shape rule: their outputs are unknown")
    if inf.failed:
        inf.notes.append(f"{len(inf.failed)} node(s) whose attributes or inputs do not make sense (e.g. "
                         f"'{inf.failed[0]}'): their outputs are unknown, and nothing after them is checked")
    lost = [o for o in graph.outputs if inf.shapes.get(o) is None]
    if lost and (inf.failed or inf.unknown_ops or any(o not in inf.shapes for o in lost)):
        inf.notes.append(f"{len(lost)} of {len(graph.outputs)} graph output(s) have an unknown shape (e.g. '{lost[0]}')")
    inf.notes.extend(graph.notes)
    return inf


class Alias:
    """Another framework's op with the semantics of an op of ``domain`` ("" ONNX, "tf"): that
    op's shape and value rules run under its name. ``attrs`` stand in for attributes the other
    framework does not have."""

    def __init__(self, domain: str, op: str, attrs: Optional[dict] = None):
        self.domain, self.op, self.attrs = domain, op, dict(attrs or {})

    def resolve(self, node: Node) -> tuple:
        """(domain, op, node with the extra attributes), following aliases of aliases."""
        from dataclasses import replace

        if self.attrs:
            node = replace(node, attrs=tuple(self.attrs.items()) + tuple(node.attrs))
        target = DOMAIN_RULES[self.domain].get(self.op)
        if isinstance(target, Alias):
            return target.resolve(node)
        return self.domain, self.op, node

    def __call__(self, ctx):
        domain, op, node = self.resolve(ctx.node)
        return DOMAIN_RULES[domain][op](_Ctx(ctx.inf, node, op))


def alias(onnx_op, **attrs):
    """Another framework's op with the semantics of an ONNX op (see :class:`Alias`)."""
    return Alias("", onnx_op, attrs)


# what a rule raises on a node that does not make sense (a malformed model): its outputs are unknown.
# Python's own errors (TypeError, KeyError, ...) are caught too, so that a model we did not foresee
# never gets a traceback -- except with SHAPELINT_STRICT=1 (the test suite sets it): there a bug in
# a rule fails the test instead of passing as a "malformed node".
_MALFORMED = (_Unknown, Invalid, ValueError, ZeroDivisionError, OverflowError, RecursionError)
_CAUGHT = _MALFORMED if os.environ.get("SHAPELINT_STRICT") == "1" else \
    _MALFORMED + (TypeError, IndexError, AttributeError, KeyError)


def _infer_node(inf: Inferred, node: Node) -> None:
    domain = node.domain if node.domain != "ai.onnx" else ""
    table = DOMAIN_RULES.get(domain)
    rule = table.get(node.op) if table is not None else None
    results = None
    why = None
    op, eff = node.op, node
    if isinstance(rule, Alias):
        domain, op, eff = rule.resolve(node)
        rule = DOMAIN_RULES[domain][op]
    ctx = _Ctx(inf, eff, op)
    if rule is None:
        key = node.op if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op}"
        inf.unknown_ops[key] = inf.unknown_ops.get(key, 0) + 1
        why = f"no shape rule for op {key}"
    else:
        try:
            results = rule(ctx)
        except _CAUGHT as e:
            results = None  # a malformed node: its outputs are unknown
            inf.failed.append(node.name)
            why = _message(e)
    n_out = len(node.outputs)
    if results is None:
        shapes, values, value_why = [None] * n_out, [None] * n_out, why
    else:
        shapes, given = [], []
        for j in range(n_out):
            shape, value = results[j] if j < len(results) else (None, None)
            if shape is not None:
                shape = tuple(shape)
                if _too_large(shape):
                    # a dim whose exact expression has grown past what can be followed (nested broadcasts
                    # and window paddings multiply): unknown, said so, rather than minutes of arithmetic
                    shape = tuple(None if isinstance(d, Expr) and expr_size(d) > MAX_DIM_SIZE else d for d in shape)
                    why = why or f"a dim's exact expression grew past {MAX_DIM_SIZE} terms"
            shapes.append(shape)
            given.append(value)
        values, value_why = _values(ctx, domain, op, shapes, given)
    producer, inf_shapes, inf_values = inf.producer, inf.shapes, inf.values
    complete = True
    for j, out in enumerate(node.outputs):
        if not out:
            continue
        producer[out] = node
        s = inf_shapes[out] = shapes[j]
        v = inf_values[out] = values[j]
        if s is None or not _all_known(s):
            complete = False
        elif v is None and value_why and len(s) <= 1 and all(d.__class__ is int for d in s):
            inf.why_no_value[out] = value_why  # kept for small tensors only: the ones shape arguments are
    # every tensor that is not fully known is tainted where it is made (graph inputs in infer())
    tainted = inf.tainted
    if tainted and not tainted.isdisjoint(node.inputs):
        tainted.update(o for o in node.outputs if o)
    elif not complete:
        _record_loss(inf, node, why)


MAX_DIM_SIZE = 2000  # atoms in a dim's expression tree (values.expr_size); beyond, the dim is unknown


def _too_large(shape: tuple) -> bool:
    """Whether a dim's expression is past MAX_DIM_SIZE (a plain symbol times a constant, such as
    H or 2·H + 1, never is: it is not measured)."""
    for d in shape:
        if d.__class__ is Expr:
            t = d.terms
            if len(t) > 1 or t[0][0].__class__ is not Sym:
                n = d.__dict__.get("_size")  # kept on the dim, as its hash is: dims are shared widely
                if n is None:
                    n = expr_size(d)
                    object.__setattr__(d, "_size", n)
                if n > MAX_DIM_SIZE:
                    return True
    return False


# ops whose output value comes from their inputs' shapes, not values (every other op's value needs
# some input's value)
SHAPE_SOURCES = frozenset({"Shape", "Size", "Rank", "ShapeN", "SHAPE", "RANK", "SIZE"})


_NO_RULES: dict = {}


def _values(ctx, domain: str, op: str, shapes: list, given: list) -> tuple:
    """The outputs' values from the value rule (or, for rules that still give them, the shape rule)."""
    vrule = DOMAIN_VALUE_RULES.get(domain, _NO_RULES).get(op)
    if not shapes:
        return [], None  # a node without outputs
    values = [None if v is None else tuple(v) for v in given]
    if vrule is None:
        return values, None if values.count(None) < len(values) else f"no value rule for op {op}"
    if op not in SHAPE_SOURCES and values.count(None) == len(values):
        inf = ctx.inf
        first = None
        for n in ctx.node.inputs:
            if n:
                if inf.value(n) is not None:
                    break
                first = first or n
        else:
            if first is not None:
                # a data tensor (no input has a value): nothing to compute, and no exception to raise
                return values, f"input 0 ('{first}') has no known value"
    try:
        got = vrule(ctx, shapes)
    except _CAUGHT as e:
        return values, _message(e)
    if any(isinstance(x, Expr) and expr_size(x) > MAX_DIM_SIZE
           for v in (got if isinstance(got, list) else [got]) if v is not None for x in v):
        return values, f"a value's exact expression grew past {MAX_DIM_SIZE} terms"
    if not isinstance(got, list):
        got = [got]
    for j, v in enumerate(got[:len(values)]):
        if v is None:
            continue
        v = tuple(v)
        s = shapes[j]
        if len(v) > MAX_VALUE_ELEMENTS or s is None or any(not isinstance(d, int) for d in s) \
                or math.prod(s) != len(v):
            continue  # the value would not match its shape: keep nothing rather than a guess
        values[j] = v
    return values, None


def _message(e: Exception) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:200] if s else type(e).__name__


# inputs that are shape arguments: their values decide an output's shape
SHAPE_ARGS = {
    "": {"Reshape": (1,), "Expand": (1,), "Pad": (1, 3), "Slice": (1, 2, 3, 4), "Resize": (1, 2, 3),
         "Upsample": (1,), "Tile": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2), "Split": (1,),
         "Unsqueeze": (1,), "Squeeze": (1,), "OneHot": (1,), "TopK": (1,),
         **{op: (1,) for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                                "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")}},
    "tf": {"Reshape": (1,), "Pad": (1,), "PadV2": (1,), "MirrorPad": (1,), "StridedSlice": (1, 2, 3),
           "Slice": (1, 2), "Fill": (0,), "Conv2DBackpropInput": (0,), "Conv3DBackpropInputV2": (0,),
           "DepthwiseConv2dNativeBackpropInput": (0,), "ResizeBilinear": (1,), "ResizeNearestNeighbor": (1,),
           "ResizeBicubic": (1,), "ExpandDims": (1,), "Transpose": (1,), "Tile": (1,), "BroadcastTo": (1,),
           "Range": (0, 1, 2), "Mean": (1,), "Sum": (1,), "Max": (1,), "Min": (1,), "Prod": (1,)},
    "tflite": {"RESHAPE": (1,), "PAD": (1,), "PADV2": (1,), "MIRROR_PAD": (1,), "STRIDED_SLICE": (1, 2, 3),
               "SLICE": (1, 2), "FILL": (0,), "TRANSPOSE_CONV": (0,), "CONV_3D_TRANSPOSE": (0,),
               "RESIZE_BILINEAR": (1,), "RESIZE_NEAREST_NEIGHBOR": (1,), "BROADCAST_TO": (1,), "TILE": (1,),
               "RANGE": (0, 1, 2), "SPLIT": (0,), "SPLIT_V": (1, 2), "EXPAND_DIMS": (1,), "TRANSPOSE": (1,),
               "SPACE_TO_BATCH_ND": (1, 2), "BATCH_TO_SPACE_ND": (1, 2), "MEAN": (1,), "SUM": (1,),
               "REDUCE_MAX": (1,), "REDUCE_MIN": (1,), "REDUCE_PROD": (1,)},
}
DATA_DEPENDENT = {"NonZero", "Unique", "NonMaxSuppression", "Compress", "TopK", "Where", "UNIQUE", "WHERE"}


def _all_known(shape: tuple) -> bool:
    for d in shape:  # (not `None in shape`: that compares every Expr with None)
        if d is None:
            return False
    return True


def _record_loss(inf: Inferred, node: Node, why: Optional[str]) -> None:
    """Record in ``inf.lost`` that ``node``, whose inputs were all known, lost an output's shape,
    with the reason; its outputs are tainted."""
    inf.tainted.update(o for o in node.outputs if o)
    missing = [n for n in node.inputs if n and n not in inf.shapes]
    if why is None and missing:
        why = f"input '{missing[0]}' is made by no node of the graph"
    domain = node.domain if node.domain != "ai.onnx" else ""
    if why is None:
        for i in SHAPE_ARGS.get(domain, {}).get(node.op, ()):
            name = node.input(i)
            if name and inf.value(name) is None:
                why = f"input {i} ('{name}') has no known value: {_value_origin(inf, name)}"
                break
    if why is None:
        if node.op in DATA_DEPENDENT:
            why = f"the size of {node.op}'s output depends on the input data"
        else:
            why = f"op {node.op} gave an output of unknown shape"
    inf.lost[node.name] = (node.op if domain == "" else f"{domain}.{node.op}", why)


def _value_origin(inf: Inferred, name: str, depth: int = 0) -> str:
    """Where a tensor's value was lost: the first producer on the way back whose inputs had values."""
    p = inf.producer.get(name)
    if p is None:
        if any(t.name == name for t in inf.graph.inputs):
            return f"it is the graph input '{name}', known only at run time"
        return f"'{name}' is a constant too large to read or of a type shapelint does not read"
    why = inf.why_no_value.get(name)
    if depth < 32:
        for n in p.inputs:
            if n and inf.value(n) is None and f"('{n}') has no known value" in (why or ""):
                return _value_origin(inf, n, depth + 1)
    return f"it is computed by '{p.name}' ({p.op})" + (f": {why}" if why else "")


# --------------------------------------------------------------------------- helpers


def _numel(shape) -> Dim:
    n: Dim = 1
    for d in shape:
        n = mul(n, d)
    return n


def _broadcast_shapes(shapes):
    rank = max(len(s) for s in shapes)
    out = []
    for k in range(rank):
        d: Dim = 1
        for s in shapes:
            j = k - (rank - len(s))
            if j < 0:
                continue
            x = s[j]
            if x is None or d is None:
                d = None if not (x == 1 or d == 1) else (x if d == 1 else d)
                continue
            try:
                d = bcast(d, x)
            except Invalid:
                # fixed sizes that cannot broadcast: the merge check reports it; downstream
                # continues with the first input's size so later merges are still checked
                pass
        out.append(d)
    return tuple(out)


def _out(shape, value=None):
    return [(shape, value)]


# --------------------------------------------------------------------------- elementwise


def _same_as_input(ctx):
    return _out(ctx.shape(0))


def _elementwise(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    if ctx.op == "Clip":
        shapes = shapes[:1]
    if any(s is None for s in shapes):
        return _out(None)
    return _out(_broadcast_shapes(shapes))


def _where(ctx):
    shapes = [ctx.shape(i) for i in range(3)]
    if any(s is None for s in shapes):
        return _out(None)
    return _out(_broadcast_shapes(shapes))


def _identity(ctx):
    outs = [(ctx.shape(0), None)]
    if len(ctx.node.outputs) > 1:  # Dropout mask
        outs.append((ctx.shape(0), None))
    return outs


# --------------------------------------------------------------------------- shape values


def _shape(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    rank = len(s)
    start = ctx.attr("start", 0)
    end = ctx.attr("end", rank)
    start = max(0, min(rank, start + rank if start < 0 else start))
    end = max(0, min(rank, end + rank if end < 0 else end))
    return _out((end - start if end > start else 0,))


def _size(ctx):
    return _out(())


def _constant_of_shape(ctx):
    v = ctx.value(0)
    if v is None:
        s = ctx.shape(0)
        return _out((None,) * s[0] if s is not None and len(s) == 1 and isinstance(s[0], int) else None)
    return _out(tuple(v))


def _gather(ctx):
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return _out(None)
    axis = _norm_axis(ctx.attr("axis", 0), len(data))
    return _out(data[:axis] + idx + data[axis + 1:])


def _gather_elements(ctx):
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return _out(idx)
    if len(data) != len(idx):
        raise ValueError(f"GatherElements: indices of rank {len(idx)} for data of rank {len(data)}")
    _norm_axis(ctx.attr("axis", 0), len(data))
    return _out(idx)


def _gather_nd(ctx):
    """GatherND: indices [..., k] pick slices data[b + k:], b = batch_dims leading dims shared."""
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return _out(None)
    b = ctx.attr("batch_dims", 0)
    if not idx or not isinstance(idx[-1], int):
        raise _Unknown("GatherND: the last dim of the indices is not known")
    k = idx[-1]
    if b < 0 or b >= min(len(data), len(idx)) or b + k > len(data):
        raise ValueError(f"GatherND: batch_dims {b} and index depth {k} do not fit data of rank {len(data)}")
    return _out(tuple(idx[:-1]) + tuple(data[b + k:]))


def _scatter_elements(ctx):
    """ScatterElements / ScatterND keep the data's shape."""
    return _out(ctx.shape(0))


def _unsqueeze(ctx):
    s = ctx.shape(0)
    axes = ctx.attr("axes") if ctx.opset < 13 or not ctx.has(1) else ctx.ints(1)
    if s is None or axes is None:
        return _out(None)
    rank = len(s) + len(axes)
    axes = sorted(_norm_axis(_need(_int_or_none(a), "an axis is not an integer"), rank) for a in axes)
    out = list(s)
    for a in axes:
        out.insert(a, 1)
    return _out(tuple(out))


def _squeeze(ctx):
    s = ctx.shape(0)
    axes = ctx.attr("axes") if ctx.opset < 13 or not ctx.has(1) else ctx.ints(1)
    if s is None:
        return _out(None)
    if axes is None:
        if ctx.opset >= 13 and ctx.has(1):
            return _out(None)
        if any(not isinstance(d, int) for d in s):
            return _out(None)
        out = tuple(d for d in s if d != 1)
    else:
        ax = {_norm_axis(_need(_int_or_none(a), "an axis is not an integer"), len(s)) for a in axes}
        out = tuple(d for k, d in enumerate(s) if k not in ax)
    return _out(out)


def _concat(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    known = [s for s in shapes if s is not None]
    if not known or len(known) != len(shapes):
        return _out(None)
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise _Unknown("Concat of inputs of different ranks")
    axis = _norm_axis(ctx.attr("axis", 0), rank)
    out = []
    for k in range(rank):
        if k == axis:
            total: Dim = 0
            for s in shapes:
                total = add(total, s[k])
            out.append(total)
        else:
            # the non-axis dims must agree; the merge check reports when they may not
            first = next((s[k] for s in shapes if s[k] is not None), None)
            out.append(first)
    return _out(tuple(out))


def _slice_params(ctx):
    if ctx.opset < 10:
        starts, ends, axes = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes")
        steps = None
    else:
        starts, ends = ctx.ints(1), ctx.ints(2)
        axes = ctx.ints(3) if ctx.has(3) else None
        steps = ctx.ints(4) if ctx.has(4) else None
        if ctx.has(3) and axes is None or ctx.has(4) and steps is None:
            raise _Unknown("the slice's axes or steps have no known value")
    return (_need(starts, "the slice's starts have no known value"),
            _need(ends, "the slice's ends have no known value"), axes, steps)


def _slice(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    starts, ends, axes, steps = _slice_params(ctx)
    axes = axes if axes is not None else tuple(range(len(starts)))
    steps = steps if steps is not None else (1,) * len(starts)
    out = list(s)
    for a, st, en, sp in zip(axes, starts, ends, steps):
        a = _norm_axis(_need(_int_or_none(a), "a slice axis is not an integer"), len(s))
        sp = _need(_int_or_none(sp), "a slice step is not an integer")
        if out[a] is None:
            continue
        if isinstance(st, Rat) or isinstance(en, Rat) or isinstance(st, float) or isinstance(en, float):
            raise ValueError("Slice starts and ends must be integers")
        out[a], _ = _slice_dim(out[a], st, en, sp)
    return _out(tuple(out))


def _range(ctx):
    a, b, d = ctx.value(0), ctx.value(1), ctx.value(2)
    if a is None or b is None or d is None:
        return _out((None,))
    return _out((range_count(a[0], b[0], d[0]),))


def _expand(ctx):
    s, target = ctx.shape(0), ctx.value(1)
    if s is None or target is None:
        return _out(None)
    return _out(_broadcast_shapes([s, tuple(target)]))


def _tile(ctx):
    s, reps = ctx.shape(0), ctx.value(1)
    if s is None or reps is None:
        return _out(None)
    return _out(tuple(mul(d, r) for d, r in zip(s, reps)))


def _reshape(ctx):
    s = ctx.shape(0)
    target = ctx.value(1) if ctx.opset >= 5 else ctx.attr("shape")
    if target is None:
        t_shape = ctx.shape(1)
        if t_shape is not None and len(t_shape) == 1 and isinstance(t_shape[0], int):
            return _out((None,) * t_shape[0])
        return _out(None)
    allowzero = ctx.attr("allowzero", 0)
    out = []
    infer_at = None
    for k, t in enumerate(target):
        if t == 0 and not allowzero:
            out.append(_need(s, "Reshape copies a dim (0) of an input of unknown rank")[k]
                       if s is not None and k < len(s) else None)
        elif t == -1:
            infer_at = k
            out.append(None)
        else:
            out.append(t)
    if infer_at is not None and s is not None and all(d is not None for d in s):
        known = _numel([d for k, d in enumerate(out) if k != infer_at])
        total = _numel(s)
        if known is not None:
            out[infer_at] = _exact_div(total, known)
    return _out(tuple(out))


def _exact_div(total: Dim, known: Dim) -> Dim:
    if isinstance(known, int) and known > 0:
        if isinstance(total, int):
            return total // known if total % known == 0 else None
        return floordiv(total, known)
    return exact_quotient(total, known)


def _flatten(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out((None, None))
    axis = ctx.attr("axis", 1)
    axis = axis + len(s) if axis < 0 else axis
    return _out((_numel(s[:axis]), _numel(s[axis:])))


def _transpose(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    perm = ctx.attr("perm") or tuple(reversed(range(len(s))))
    return _out(tuple(s[p] for p in perm))


def _split(ctx):
    s = ctx.shape(0)
    n_out = len(ctx.node.outputs)
    if s is None:
        return [(None, None)] * n_out
    axis = _norm_axis(ctx.attr("axis", 0), len(s))
    parts = ctx.attr("split") if ctx.opset < 13 else (ctx.ints(1) if ctx.has(1) else None)
    if ctx.opset >= 13 and ctx.has(1) and parts is None:
        return [(None, None)] * n_out
    outs = []
    if parts is None:
        n = s[axis]
        if isinstance(n, int) and n % n_out and ctx.opset < 18:
            raise _Unknown()
        size = ceildiv(n, n_out)
        for j in range(n_out):
            piece = size if j < n_out - 1 else sub(n, mul(size, n_out - 1))
            outs.append((s[:axis] + (piece,) + s[axis + 1:], None))
        return outs
    for p in parts:
        outs.append((s[:axis] + (p,) + s[axis + 1:], None))
    return outs


def _reduce(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    keep = ctx.attr("keepdims", 1)
    axes = ctx.attr("axes")
    if axes is None and len(ctx.node.inputs) > 1 and ctx.has(1):
        axes = ctx.ints(1)
        if axes is None:
            return _out(None)
    if ctx.node.op in ("ArgMax", "ArgMin"):
        axes = (ctx.attr("axis", 0),)
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return _out(s)
        axes = tuple(range(len(s)))
    ax = {_norm_axis(a, len(s)) for a in axes}
    out = tuple(1 if k in ax else d for k, d in enumerate(s) if keep or k not in ax)
    return _out(out)


def _matmul(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None:
        return _out(None)
    if len(a) == 1 and len(b) == 1:
        return _out(())
    if len(a) == 1:
        return _out(b[:-2] + (b[-1],))
    if len(b) == 1:
        return _out(a[:-1])
    batch = _broadcast_shapes([a[:-2], b[:-2]]) if a[:-2] or b[:-2] else ()
    return _out(batch + (a[-2], b[-1]))


def _gemm(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None:
        return _out(None)
    m = a[1] if ctx.attr("transA", 0) else a[0]
    n = b[0] if ctx.attr("transB", 0) else b[1]
    return _out((m, n))


def _onehot(ctx):
    s, depth = ctx.shape(0), ctx.value(1)
    if s is None:
        return _out(None)
    d = _int_or_none(depth[0]) if depth else None
    axis = ctx.attr("axis", -1)
    out = list(s)
    axis = axis + len(s) + 1 if axis < 0 else axis
    out.insert(axis, d)
    return _out(tuple(out))


def _einsum(ctx):
    """Einsum: each letter's dim from the inputs that carry it (a non-1 one where they broadcast;
    that they agree is the merge check's business), ``...`` broadcast numpy-style, and the
    implicit output (no ``->``): the ellipsis, then the letters used once, alphabetically."""
    eq = (ctx.attr("equation") or "").replace(" ", "")
    names = list(ctx.node.inputs)
    shapes = [ctx.inf.shape(n) if n else None for n in names]
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(names):
        raise ValueError(f"Einsum equation {eq!r} has {len(terms)} operands for {len(names)} inputs")
    if any(s is None for s in shapes):
        return _out(None)
    letters: dict = {}
    counts: dict = {}
    ell: list = []  # the ellipsis dims of each input
    for term, s in zip(terms, shapes):
        if term.count("...") > 1 or "." in term.replace("...", ""):
            raise ValueError(f"Einsum term {term!r}")
        head, has_ell, tail = term.partition("...")
        if any(not c.isalpha() for c in head + tail):
            raise ValueError(f"Einsum term {term!r}")
        n_ell = len(s) - len(head) - len(tail)
        if n_ell < 0 or n_ell and not has_ell:
            raise ValueError(f"Einsum term {term!r} does not fit an input of rank {len(s)}")
        dims = list(s[:len(head)]) + list(s[len(s) - len(tail):] if tail else [])
        if has_ell:
            ell.append(tuple(s[len(head):len(head) + n_ell]))
        for c, d in zip(head + tail, dims):
            counts[c] = counts.get(c, 0) + 1
            prev = letters.get(c)
            if prev is None or prev == 1 and d is not None:
                letters[c] = d
    ell_dims = _broadcast_shapes(ell) if ell else ()
    if not arrow:
        rhs = ("..." if ell else "") + "".join(sorted(c for c, k in counts.items() if k == 1))
    out = []
    head, has_ell, tail = rhs.partition("...")
    for c in head:
        if c not in letters:
            raise ValueError(f"Einsum output letter {c!r} is in no input")
        out.append(letters[c])
    if has_ell:
        out += list(ell_dims)
    for c in tail:
        if c not in letters:
            raise ValueError(f"Einsum output letter {c!r} is in no input")
        out.append(letters[c])
    return _out(tuple(out))


def _depth_to_space(ctx):
    s = ctx.shape(0)
    b = ctx.attr("blocksize")
    if s is None or len(s) != 4:
        return _out(None)
    n, c, h, w = s
    if ctx.node.op == "DepthToSpace":
        return _out((n, _exact_div(c, b * b), mul(h, b), mul(w, b)))
    return _out((n, mul(c, b * b), _exact_div(h, b), _exact_div(w, b)))


# --------------------------------------------------------------------------- conv & pools


def _spatial_attrs(ctx, n_spatial: int, kernel):
    strides = ctx.attr("strides") or (1,) * n_spatial
    dil = ctx.attr("dilations") or (1,) * n_spatial
    pads = ctx.attr("pads") or (0,) * (2 * n_spatial)
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    if len(strides) != n_spatial or len(dil) != n_spatial or len(pads) != 2 * n_spatial:
        raise ValueError("attribute length does not match the spatial rank")
    if any(s < 1 for s in strides) or any(d < 1 for d in dil) or any(k < 1 for k in kernel):
        raise ValueError("non-positive stride, dilation or kernel")
    return strides, dil, pads, auto_pad


def _conv_like(ctx, kernel, channels):
    x = ctx.shape(0)
    if x is None:
        return None
    n_sp = len(x) - 2
    if n_sp < 1 or len(kernel) != n_sp:
        raise ValueError("rank")
    strides, dil, pads, auto_pad = _spatial_attrs(ctx, n_sp, kernel)
    spatial = []
    for a in range(n_sp):
        i = x[2 + a]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            spatial.append(sizes.same_out(i, strides[a]))
            continue
        if ctx.node.op == "Conv":
            fn = sizes.conv_out
        else:
            fn = sizes.pool_out_ceil if ctx.attr("ceil_mode", 0) else sizes.pool_out
        if auto_pad == "VALID":  # pads 0; onnxruntime's pools still apply ceil_mode and truncate
            spatial.append(fn(i, kernel[a], strides[a], dil[a], 0, 0))
        else:
            spatial.append(fn(i, kernel[a], strides[a], dil[a], pads[a], pads[a + n_sp]))
    return (x[0], channels) + tuple(spatial)


def _conv(ctx):
    w = ctx.shape(1)
    x = ctx.shape(0)
    if w is None or x is None:
        return _out(None if x is None else (x[0],) + (None,) * (len(x) - 1))
    kernel = ctx.attr("kernel_shape") or tuple(w[2:])
    _need(all(isinstance(k, int) for k in kernel) or None)
    return _out(_conv_like(ctx, kernel, w[0]))


def _pool(ctx):
    x = ctx.shape(0)
    kernel = ctx.attr("kernel_shape")
    if x is None or kernel is None:
        return _out(None)
    shape = _conv_like(ctx, kernel, x[1])
    return [(shape, None), (shape, None)]


def _global_pool(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    return _out(x[:2] + (1,) * (len(x) - 2))


def convtranspose_params(ctx_or_node, x_shape, w_shape):
    """The attributes of a ConvTranspose, validated, with every default filled in."""
    node = ctx_or_node
    n_sp = len(x_shape) - 2
    kernel = node.attr("kernel_shape") or tuple(w_shape[2:])
    strides = node.attr("strides") or (1,) * n_sp
    dil = node.attr("dilations") or (1,) * n_sp
    pads = node.attr("pads") or (0,) * (2 * n_sp)
    op = node.attr("output_padding") or (0,) * n_sp
    auto_pad = node.attr("auto_pad", "NOTSET") or "NOTSET"
    output_shape = node.attr("output_shape")
    group = node.attr("group", 1)
    for key, v in (("kernel_shape", kernel), ("strides", strides), ("dilations", dil), ("pads", pads),
                   ("output_padding", op), ("output_shape", output_shape or ()), ("group", (group,))):
        if any(not isinstance(x, int) or isinstance(x, bool) for x in v):
            raise ValueError(f"attribute {key} must be integers, got {v!r}")
    return dict(kernel=tuple(kernel), strides=tuple(strides), dilations=tuple(dil), pads=tuple(pads),
                output_padding=tuple(op), auto_pad=auto_pad, output_shape=output_shape, group=group,
                n_spatial=n_sp)


def convtranspose_spatial(x_shape, p) -> tuple:
    """The output spatial dims onnxruntime produces for a ConvTranspose."""
    n = p["n_spatial"]
    out = []
    os_ = p["output_shape"]
    if os_ is not None:
        os_ = tuple(os_)
        if len(os_) != n or any(o < 1 for o in os_):
            raise ValueError("onnxruntime rejects this output_shape (SL001)")
    for a in range(n):
        i = x_shape[2 + a]
        k, s, d = p["kernel"][a], p["strides"][a], p["dilations"][a]
        if os_ is not None:
            out.append(os_[a])
        elif p["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
            out.append(sizes.onnx_convtranspose_same_out(i, k, s, d, p["output_padding"][a]))
        elif p["auto_pad"] == "VALID":
            out.append(sizes.onnx_convtranspose_out(i, k, s, d, 0, 0, p["output_padding"][a]))
        else:
            out.append(sizes.onnx_convtranspose_out(i, k, s, d, p["pads"][a], p["pads"][a + n],
                                                    p["output_padding"][a]))
    return tuple(out)


def _convtranspose(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if x is None or w is None:
        return _out(None)
    p = convtranspose_params(ctx.node, x, w)
    n = p["n_spatial"]
    if n < 1 or len(p["kernel"]) != n or len(p["strides"]) != n or len(p["pads"]) != 2 * n \
            or len(p["output_padding"]) != n or len(p["dilations"]) != n:
        raise ValueError("attribute length")
    channels = mul(w[1], p["group"])
    return _out((x[0], channels) + convtranspose_spatial(x, p))


def _resize(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    op = ctx.node.op
    if op == "Upsample":
        scales = ctx.attr("scales") if ctx.opset < 9 else ctx.value(1)
        sizes_v = None
    elif ctx.opset < 11:
        scales, sizes_v = ctx.value(1), None
    else:
        scales = ctx.value(2) if ctx.has(2) else None
        sizes_v = ctx.value(3) if ctx.has(3) else None
        if ctx.has(2) and scales is None and ctx.shape(2) != (0,):
            if not ctx.has(3):
                return _out((None,) * len(x))
        if scales is not None and len(scales) == 0:
            scales = None
        if sizes_v is not None and len(sizes_v) == 0:
            sizes_v = None
    axes = ctx.attr("axes")
    rank = len(x)
    axes = tuple(_norm_axis(a, rank) for a in axes) if axes else tuple(range(rank))
    out = list(x)
    if sizes_v is not None:
        if ctx.attr("keep_aspect_ratio_policy", "stretch") not in ("stretch", None):
            return _out((None,) * rank)
        for a, v in zip(axes, sizes_v):
            out[a] = v
        return _out(tuple(out))
    if scales is None:
        return _out((None,) * rank)
    for a, sc in zip(axes, scales):
        out[a] = _scale_dim(x[a], sc)
    return _out(tuple(out))


def _scale_dim(i: Dim, scale) -> Dim:
    """onnxruntime: static_cast<int64_t>(scale · i), in float32 for the product."""
    if i is None or not isinstance(scale, (int, float)):
        return None
    f = Fraction(scale)
    if isinstance(i, int):
        import struct

        prod = struct.unpack("f", struct.pack("f", float(scale) * i))[0] if scale else 0.0
        return int(prod)
    # symbolic: exact when the float32 product of a dyadic scale is exact (powers of two)
    if f.denominator & (f.denominator - 1) == 0 and f.numerator.bit_length() <= 24:
        return floordiv(mul(i, f.numerator), f.denominator)
    return None


def _pad(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    pads = ctx.attr("pads") if ctx.opset < 11 else ctx.value(1)
    if pads is None:
        return _out((None,) * len(x))
    rank = len(x)
    axes = tuple(range(rank))
    if ctx.opset >= 18 and ctx.has(3):
        av = ctx.value(3)
        if av is None:
            return _out((None,) * rank)
        axes = tuple(_norm_axis(_need(_int_or_none(a)), rank) for a in av)
    n = len(axes)
    out = list(x)
    for j, a in enumerate(axes):
        out[a] = add(add(x[a], pads[j]), pads[j + n])
    return _out(tuple(out))


def _layer_norm(ctx):
    s = ctx.shape(0)
    outs = [(s, None)]
    if s is not None and len(ctx.node.outputs) > 1:
        axis = _norm_axis(ctx.attr("axis", -1), len(s))
        stat = s[:axis] + (1,) * (len(s) - axis)
        outs += [(stat, None), (stat, None)]
    return outs


def _batchnorm(ctx):
    return [(ctx.shape(0), None)] + [(None, None)] * 4


def _nonzero_like(ctx):
    return _out(None)


RULES: dict[str, Rule] = {
    # convolution and pooling
    "Conv": _conv,
    "ConvTranspose": _convtranspose,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "GlobalLpPool": _global_pool,
    "Resize": _resize,
    "Upsample": _resize,
    "DepthToSpace": _depth_to_space,
    "SpaceToDepth": _depth_to_space,
    "Pad": _pad,
    # elementwise with broadcasting
    **{op: _elementwise for op in (
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Equal", "Less",
        "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "BitShift", "Clip",
    )},
    "Where": _where,
    "Not": _same_as_input,
    # shape-preserving
    **{op: _same_as_input for op in (
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
        "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Exp", "Log", "Sqrt", "Abs", "Neg",
        "Reciprocal", "Sin", "Cos", "Tan", "Erf", "Sign", "Round", "IsNaN", "IsInf", "Softmax",
        "LogSoftmax", "Hardmax", "InstanceNormalization", "LRN", "LpNormalization",
        "MeanVarianceNormalization", "GroupNormalization", "CastLike", "Shrink", "Trilu",
    )},
    "Floor": _same_as_input,
    "Ceil": _same_as_input,
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layer_norm,
    "Identity": _identity,
    "Dropout": _identity,
    "Cast": _same_as_input,
    # shapes and their values
    "Shape": _shape,
    "Size": _size,
    "ConstantOfShape": _constant_of_shape,
    "Gather": _gather,
    "GatherElements": _gather_elements,
    "GatherND": _gather_nd,
    "Einsum": _einsum,
    "ScatterElements": _scatter_elements,
    "ScatterND": _scatter_elements,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": _concat,
    "Slice": _slice,
    "Range": _range,
    "Expand": _expand,
    "Tile": _tile,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Split": _split,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "OneHot": _onehot,
    "NonZero": _nonzero_like,
    **{op: _reduce for op in (
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin",
    )},
}


from .infer_keras import KERAS_RULES  # noqa: E402
from .infer_tf import TF_RULES, TF_VALUE_RULES  # noqa: E402  (it builds on the helpers above)
from .infer_tflite import TFLITE_RULES, TFLITE_VALUE_RULES  # noqa: E402  (it builds on both)
from .values import VALUE_RULES  # noqa: E402

# rules per IR domain: "" is ONNX, "tf" TensorFlow graphs, "tflite" TFLite flatbuffers, "keras" Keras layers
DOMAIN_RULES: dict = {"": RULES, "ai.onnx": RULES, "tf": TF_RULES, "tflite": TFLITE_RULES, "keras": KERAS_RULES}
# value rules per IR domain (values.py for ONNX; the other dialects beside their shape rules)
DOMAIN_VALUE_RULES: dict = {"": VALUE_RULES, "ai.onnx": VALUE_RULES, "tf": TF_VALUE_RULES,
                            "tflite": TFLITE_VALUE_RULES, "keras": {}}
