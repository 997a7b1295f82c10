"""Shape inference over the IR: every tensor's shape, and the values of small integer tensors.

Shapes are tuples of dims (``int``, symbolic ``Expr``, or ``None`` for unknown); a tensor of
unknown rank has shape ``None``. Values (``Shape`` outputs, pads, sizes, scales) are flat tuples
of dims or floats, so sizes computed at run time stay symbolic and constant subgraphs fold.
An op without a rule gives unknown outputs and a note -- never a guess.

The rules are plain functions in one dict, ``RULES``; ``grep '"Conv"'`` finds Conv's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Optional

from . import sizes
from .ir import Graph, Node
from .symbolic import (
    Dim,
    Expr,
    Invalid,
    add,
    bcast,
    ceildiv,
    floordiv,
    maximum,
    minimum,
    mul,
    sub,
    sym,
)

# slice indices at or above this mean "to the end" (INT32_MAX, as exporters write it, included:
# onnxruntime reads it as the axis' size), at or below −BIG "from the start"
BIG = (1 << 31) - 1
ORT_END_SENTINELS = ((1 << 31) - 1, (1 << 63) - 1)  # slice ends onnxruntime reads as "to the end"


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
        if c is not None and (c.size <= 64 and not c.dtype.startswith("float") or c.size <= 8 and len(c.shape) <= 1):
            v = c.values()
        self.values[name] = v
        return v


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
        return self.node.attr(key, default)

    def ints(self, i: int):
        """A constant or computed 1-D int input, as a tuple of dims, or None."""
        v = self.value(i)
        if v is None:
            return None
        return tuple(v)


Rule = Callable[[_Ctx], list]  # returns [(shape, value), ...] per output


def infer(graph: Graph, pins: Optional[dict] = None) -> Inferred:
    """Infer every tensor. ``pins`` maps an input name to concrete dims that replace its own."""
    inf = Inferred(graph)
    pins = pins or {}
    for t in graph.inputs:
        shape = pins.get(t.name, t.shape)
        if shape is None:
            inf.shapes[t.name] = None
            continue
        dims = []
        for axis, d in enumerate(shape):
            if isinstance(d, str):
                inf.symbols.setdefault(d, (t.name, axis))
                dims.append(sym(d))
            else:
                dims.append(d)
        inf.shapes[t.name] = tuple(dims)
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


def _infer_node(inf: Inferred, node: Node) -> None:
    table = DOMAIN_RULES.get(node.domain or "")
    rule = table.get(node.op) if table is not None else None
    results = None
    if rule is None:
        key = node.op if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op}"
        inf.unknown_ops[key] = inf.unknown_ops.get(key, 0) + 1
    else:
        try:
            results = rule(_Ctx(inf, node))
        except (_Unknown, Invalid, ValueError, ZeroDivisionError, TypeError, IndexError, OverflowError,
                AttributeError, KeyError, RecursionError):
            results = None  # a malformed node: its outputs are unknown
            inf.failed.append(node.name)
    for j, out in enumerate(node.outputs):
        if not out:
            continue
        inf.producer[out] = node
        shape, value = (None, None)
        if results is not None and j < len(results):
            shape, value = results[j]
        inf.shapes[out] = tuple(shape) if shape is not None else None
        inf.values[out] = tuple(value) if value is not None else None


class _Unknown(Exception):
    """The rule cannot say: outputs unknown."""


def _need(x):
    if x is None:
        raise _Unknown()
    return x


# --------------------------------------------------------------------------- helpers


def _norm_axis(a: int, rank: int) -> int:
    if a < -rank or a >= rank:
        raise ValueError(f"axis {a} out of range for rank {rank}")
    return a + rank if a < 0 else a


def _numel(shape) -> Dim:
    n: Dim = 1
    for d in shape:
        n = mul(n, d)
    return n


def _int_or_none(v) -> Optional[int]:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


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


def _bcast_values(vals, shapes, out_shape, fn):
    """Elementwise fn over small flat values with numpy broadcasting."""
    if any(not all(isinstance(d, int) for d in s) for s in shapes + [out_shape]):
        return None
    n = math.prod(out_shape) if out_shape else 1
    if n > 64:
        return None
    out = []
    rank = len(out_shape)
    for flat in range(n):
        idx = []
        rem = flat
        for d in reversed(out_shape):
            idx.append(rem % d)
            rem //= d
        idx.reverse()
        args = []
        for v, s in zip(vals, shapes):
            off = 0
            stride = 1
            for k in range(len(s) - 1, -1, -1):
                j = idx[k + rank - len(s)]
                off += (0 if s[k] == 1 else j) * stride
                stride *= s[k]
            args.append(v[off])
        out.append(fn(*args))
    return tuple(out)


def _is_num(x) -> bool:
    return isinstance(x, (int, float, Expr)) and not isinstance(x, bool) or isinstance(x, bool)


def _div(a, b):
    """ONNX Div: integer division truncates; on dims (non-negative) that is floor."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, Expr) or isinstance(b, Expr):
            raise _Unknown()
        return a / b
    if isinstance(b, int) and isinstance(a, int):
        if b == 0:
            raise _Unknown()
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b > 0) else -q
    if isinstance(b, int) and b > 0:
        return floordiv(a, b)
    raise _Unknown()


def _arith(op):
    def f(a, b):
        if a is None or b is None:
            return None
        if op == "Add":
            return a + b if isinstance(a, float) or isinstance(b, float) else add(a, b)
        if op == "Sub":
            return a - b if isinstance(a, float) or isinstance(b, float) else sub(a, b)
        if op == "Mul":
            return a * b if isinstance(a, float) or isinstance(b, float) else mul(a, b)
        if op == "Div":
            return _div(a, b)
        if op in ("Max", "Min"):
            if isinstance(a, float) or isinstance(b, float):
                return max(a, b) if op == "Max" else min(a, b)
            return maximum(a, b) if op == "Max" else minimum(a, b)
        if op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"):
            if isinstance(a, Expr) or isinstance(b, Expr):
                if op == "Equal" and a == b:
                    return 1
                return None
            return int({"Equal": a == b, "Less": a < b, "Greater": a > b,
                        "LessOrEqual": a <= b, "GreaterOrEqual": a >= b}[op])
        if op == "Mod":
            if isinstance(a, int) and isinstance(b, int) and b:
                return a % b
            return None
        if op == "Pow":
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                return a ** b
            return None
        return None

    return f


def _out(shape, value=None):
    return [(shape, value)]


def alias(onnx_op, **attrs):
    """Another framework's op with the semantics of an ONNX op: run that rule under its name.
    ``attrs`` stand in for ONNX attributes the other framework does not have."""
    from dataclasses import replace

    def rule(ctx):
        node = ctx.node
        if attrs:
            node = replace(node, attrs=tuple(attrs.items()) + tuple(node.attrs))
        return RULES[onnx_op](_Ctx(ctx.inf, node, onnx_op))

    return rule


# --------------------------------------------------------------------------- elementwise


def _same_as_input(ctx):
    return _out(ctx.shape(0))


def _elementwise(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    if ctx.op == "PRelu" or ctx.op in ("Clip",):
        shapes = shapes[:1] if ctx.op == "Clip" else shapes
    if any(s is None for s in shapes):
        return _out(None)
    out = _broadcast_shapes(shapes)
    value = None
    vals = [ctx.inf.value(n) for n in names]
    if ctx.op in _ARITH and all(v is not None for v in vals) and len(vals) == 2:
        value = _bcast_values(vals, shapes, out, _arith(ctx.op))
    elif ctx.op in ("Max", "Min", "Sum") and all(v is not None for v in vals):
        f = _arith("Add" if ctx.op == "Sum" else ctx.op)
        acc, acc_shape = vals[0], shapes[0]
        for v, s in zip(vals[1:], shapes[1:]):
            ns = _broadcast_shapes([acc_shape, s])
            acc = _bcast_values([acc, v], [acc_shape, s], ns, f) if acc is not None else None
            acc_shape = ns
        value = acc
    if value is not None and any(x is None for x in value):
        value = None
    return _out(out, value)


_ARITH = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Equal", "Less", "Greater", "LessOrEqual",
          "GreaterOrEqual", "Mod", "Pow"}


def _where(ctx):
    shapes = [ctx.shape(i) for i in range(3)]
    if any(s is None for s in shapes):
        return _out(None)
    out = _broadcast_shapes(shapes)
    vals = [ctx.value(i) for i in range(3)]
    value = None
    if all(v is not None for v in vals):
        value = _bcast_values(vals, shapes, out, lambda c, x, y: None if isinstance(c, Expr) or c is None else (x if c else y))
        if value is not None and any(v is None for v in value):
            value = None
    return _out(out, value)


def _not(ctx):
    v = ctx.value(0)
    if v is not None and all(isinstance(x, int) for x in v):
        return _out(ctx.shape(0), tuple(int(not x) for x in v))
    return _out(ctx.shape(0))


def _cast(ctx):
    v = ctx.value(0)
    to = ctx.attr("to")
    if v is not None and to in (6, 7, 12, 13, 2, 3, 4, 5):  # integer types
        nv = []
        for x in v:
            if isinstance(x, float):
                if math.isnan(x) or math.isinf(x):
                    return _out(ctx.shape(0))
                x = int(x)  # C cast truncates
            nv.append(x)
        v = tuple(nv)
    elif v is not None and to in (1, 10, 11):
        v = tuple(float(x) if isinstance(x, int) else x for x in v)
        if any(isinstance(x, Expr) for x in v):
            v = None
    return _out(ctx.shape(0), v)


def _identity(ctx):
    outs = [(ctx.shape(0), ctx.value(0))]
    if len(ctx.node.outputs) > 1:  # Dropout mask
        outs.append((ctx.shape(0), None))
    return outs


def _unary_floor_ceil(ctx):
    v = ctx.value(0)
    if v is not None and all(isinstance(x, (int, float)) for x in v):
        f = math.floor if ctx.node.op == "Floor" else math.ceil
        v = tuple(float(f(x)) for x in v)
    elif v is not None and all(isinstance(x, (int, Expr)) for x in v):
        pass  # already integral
    else:
        v = None
    return _out(ctx.shape(0), v)


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
    v = tuple(s[start:end])
    return _out((len(v),), v if all(d is not None for d in v) else None)


def _size(ctx):
    s = ctx.shape(0)
    v = None if s is None or any(d is None for d in s) else (_numel(s),)
    return _out((), v)


def _constant_of_shape(ctx):
    v = ctx.value(0)
    if v is None:
        return _out(None)
    shape = tuple(v)
    fill = ctx.attr("value")
    fill_v = fill.values() if fill is not None else (0.0,)
    value = None
    if fill_v and all(isinstance(d, int) for d in shape) and math.prod(shape) <= 64:
        value = tuple(fill_v[:1]) * math.prod(shape)
    return _out(shape, value)


def _gather(ctx):
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return _out(None)
    axis = _norm_axis(ctx.attr("axis", 0), len(data))
    out = data[:axis] + idx + data[axis + 1:]
    value = None
    dv, iv = ctx.value(0), ctx.value(1)
    if dv is not None and iv is not None and len(data) == 1:
        n = data[0]
        picked = []
        for i in iv:
            if not isinstance(i, int) or not isinstance(n, int):
                picked = None
                break
            picked.append(dv[i + n if i < 0 else i])
        value = tuple(picked) if picked is not None else None
    return _out(out, value)


def _scatter_elements(ctx):
    """ScatterElements / ScatterND keep the data's shape; for a 1-D shape tensor (a Shape with
    some entries replaced, as ``shapelint fix`` builds) the value too."""
    data = ctx.shape(0)
    if data is None:
        return _out(None)
    value = None
    dv, iv, uv = ctx.value(0), ctx.value(1), ctx.value(2)
    if ctx.node.op == "ScatterElements" and len(data) == 1 and isinstance(data[0], int) \
            and None not in (dv, iv, uv) and len(iv) == len(uv) and ctx.attr("reduction", "none") == "none":
        out = list(dv)
        for i, u in zip(iv, uv):
            if not isinstance(i, int) or not -data[0] <= i < data[0]:
                raise ValueError("index out of range")
            out[i] = u
        value = tuple(out)
    return _out(data, value)


def _unsqueeze(ctx):
    s = ctx.shape(0)
    axes = ctx.attr("axes") if ctx.opset < 13 or not ctx.has(1) else ctx.ints(1)
    if s is None or axes is None:
        return _out(None)
    rank = len(s) + len(axes)
    axes = sorted(_norm_axis(_need(_int_or_none(a)), rank) for a in axes)
    out = list(s)
    for a in axes:
        out.insert(a, 1)
    return _out(tuple(out), ctx.value(0))


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
        ax = {_norm_axis(_need(_int_or_none(a)), len(s)) for a in axes}
        out = tuple(d for k, d in enumerate(s) if k not in ax)
    return _out(out, ctx.value(0))


def _concat(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    known = [s for s in shapes if s is not None]
    if not known or len(known) != len(shapes):
        return _out(None)
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise _Unknown()
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
    vals = [ctx.inf.value(n) for n in names]
    value = None
    if rank == 1 and all(v is not None for v in vals):
        value = tuple(x for v in vals for x in v)
    return _out(tuple(out), value)


def _slice_params(ctx):
    if ctx.opset < 10:
        starts, ends, axes = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes")
        steps = None
    else:
        starts, ends = ctx.ints(1), ctx.ints(2)
        axes = ctx.ints(3) if ctx.has(3) else None
        steps = ctx.ints(4) if ctx.has(4) else None
        if ctx.has(3) and axes is None or ctx.has(4) and steps is None:
            raise _Unknown()
    return _need(starts), _need(ends), axes, steps


def _slice_dim(n: Dim, start, end, step: int):
    """Size and start index of one sliced axis, ONNX clamping rules, exact for symbolic n."""
    if step == 0:
        raise ValueError("slice step 0")
    if step > 0:
        s = _clamp_index(n, start, 0, n)
        e = _clamp_index(n, end, 0, n)
        size = maximum(0, ceildiv(sub(e, s), step)) if step > 1 else maximum(0, sub(e, s))
    else:  # the start clamps to [0, n − 1], the end to [−1, n − 1] (so a start below 0 still takes element 0)
        s = _clamp_index(n, start, 0, sub(n, 1))
        # onnxruntime reads an end of INT32_MAX or INT64_MAX as "to the end in the step's
        # direction", so backwards it slices down to element 0 (the spec would clamp it to n − 1)
        e = -1 if isinstance(end, int) and end in ORT_END_SENTINELS else _clamp_index(n, end, -1, sub(n, 1))
        # never more than n: the clamps above cannot make an empty axis (n = 0) stay empty
        size = minimum(n, maximum(0, ceildiv(sub(s, e), -step)))
    return size, s


def _clamp_index(n: Dim, i, lo, hi):
    if isinstance(i, int):
        if i >= BIG:
            return hi
        if i <= -BIG:
            return lo
        if i < 0:
            return maximum(lo, add(n, i))
        return minimum(hi, i) if not (isinstance(hi, int)) else min(hi, i)
    # a symbolic index (computed from a Shape): non-negative by construction in exporters
    return minimum(hi, maximum(lo, i))


def _slice(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    starts, ends, axes, steps = _slice_params(ctx)
    axes = axes if axes is not None else tuple(range(len(starts)))
    steps = steps if steps is not None else (1,) * len(starts)
    out = list(s)
    ranges = {}
    for a, st, en, sp in zip(axes, starts, ends, steps):
        a = _norm_axis(_need(_int_or_none(a)), len(s))
        sp = _need(_int_or_none(sp))
        if out[a] is None:
            continue
        size, begin = _slice_dim(out[a], st, en, sp)
        out[a] = size
        ranges[a] = (begin, sp)
    value = None
    v = ctx.value(0)
    if v is not None and len(s) == 1 and isinstance(s[0], int) and 0 in ranges:
        begin, sp = ranges[0]
        if isinstance(begin, int) and isinstance(out[0], int):
            value = tuple(v[begin + sp * j] for j in range(out[0]))
    return _out(tuple(out), value)


def _range(ctx):
    a, b, d = ctx.value(0), ctx.value(1), ctx.value(2)
    if a is None or b is None or d is None:
        return _out((None,))
    a, b, d = a[0], b[0], d[0]
    if isinstance(d, Expr) or d == 0:
        return _out((None,))
    if isinstance(a, float) or isinstance(b, float) or isinstance(d, float):
        if isinstance(a, Expr) or isinstance(b, Expr):
            return _out((None,))
        n = max(0, math.ceil((b - a) / d))
        return _out((n,))
    if isinstance(d, int) and d > 0:
        n = maximum(0, ceildiv(sub(b, a), d))
    else:
        n = maximum(0, ceildiv(sub(a, b), -d))
    value = None
    if isinstance(n, int) and isinstance(a, int) and n <= 64:
        value = tuple(a + d * j for j in range(n))
    return _out((n,), value)


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
            out.append(_need(s)[k] if s is not None and k < len(s) else None)
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
    value = ctx.value(0)
    return _out(tuple(out), value)


def _exact_div(total: Dim, known: Dim) -> Dim:
    if isinstance(known, int) and known > 0:
        if isinstance(total, int):
            return total // known if total % known == 0 else None
        return floordiv(total, known)
    if known == total:
        return 1
    if isinstance(total, Expr) and isinstance(known, Expr):
        # cancel a common product factor when total = known · rest
        from .symbolic import Prod

        if len(known.terms) == 1 and known.const == 0 and total.const == 0:
            (ka, kc), = known.terms
            kf = ka.factors if isinstance(ka, Prod) else (ka,)
            rest_terms = {}
            for ta, tc in total.terms:
                tf = list(ta.factors if isinstance(ta, Prod) else (ta,))
                for f in kf:
                    if f in tf:
                        tf.remove(f)
                    else:
                        return None
                if tc % kc:
                    return None
                rest = 1
                for f in tf:
                    from .symbolic import atom_expr

                    rest = mul(rest, atom_expr(f))
                rest_terms[len(rest_terms)] = mul(rest, tc // kc)
            out: Dim = 0
            for v in rest_terms.values():
                out = add(out, v)
            return out
    return None


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
    value = None
    idx, onoff = ctx.value(0), ctx.value(2)
    if len(s) == 1 and axis == 1 and isinstance(d, int) and idx is not None and onoff is not None \
            and all(isinstance(i, int) for i in idx) and len(onoff) == 2 and len(idx) * d <= 64:
        off, on = onoff
        value = tuple(on if (i + d if i < 0 else i) == j else off for i in idx for j in range(d))
    return _out(tuple(out), value)


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
    if i is None or isinstance(scale, Expr) or scale is None:
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
    "Not": _not,
    # shape-preserving
    **{op: _same_as_input for op in (
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
        "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Exp", "Log", "Sqrt", "Abs", "Neg",
        "Reciprocal", "Sin", "Cos", "Tan", "Erf", "Sign", "Round", "IsNaN", "IsInf", "Softmax",
        "LogSoftmax", "Hardmax", "InstanceNormalization", "LRN", "LpNormalization",
        "MeanVarianceNormalization", "GroupNormalization", "CastLike", "Shrink", "Trilu",
    )},
    "Floor": _unary_floor_ceil,
    "Ceil": _unary_floor_ceil,
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layer_norm,
    "Identity": _identity,
    "Dropout": _identity,
    "Cast": _cast,
    # shapes and their values
    "Shape": _shape,
    "Size": _size,
    "ConstantOfShape": _constant_of_shape,
    "Gather": _gather,
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
from .infer_tf import TF_RULES  # noqa: E402  (it builds on the helpers above)
from .infer_tflite import TFLITE_RULES  # noqa: E402  (it builds on both)

# rules per IR domain: "" is ONNX, "tf" TensorFlow graphs, "tflite" TFLite flatbuffers, "keras" Keras layers
DOMAIN_RULES: dict = {"": RULES, "ai.onnx": RULES, "tf": TF_RULES, "tflite": TFLITE_RULES, "keras": KERAS_RULES}
