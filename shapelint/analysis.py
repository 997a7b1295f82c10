"""Constraints the runtime enforces, collected from the inferred graph, and the exact sets of
input sizes that satisfy them.

A :class:`Merge` is a node where tensors must agree per axis: the non-axis dims of a Concat, or
the broadcast dims of an elementwise op. Whether a merge holds is decided exactly per input
symbol (``symbolic.solve``); whether the whole model runs at a concrete size is the conjunction
of every merge at that size (:func:`model_runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .infer import Inferred
from .infer_keras import CONV_LAYERS, POOL_LAYERS
from .infer_keras import layout as keras_layout
from .infer_tf import _layout as tf_layout
from .infer_tf import conv_attrs as tf_conv_attrs
from . import sizes
from .ir import Node
from .symbolic import (
    display_name,
    BroadcastPred,
    EqualPred,
    Invalid,
    PositivePred,
    add,
    sub,
    SizeSet,
    Undecidable,
    evaluate,
    has_bcast,
    solve,
    symbols,
)

ELEMENTWISE_MERGES = frozenset({
    "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow", "And", "Or", "Xor", "Equal",
    "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Where", "PRelu", "Mod",
})


@dataclass(frozen=True)
class AxisCheck:
    axis: int  # axis of the output (right-aligned broadcast for elementwise ops)
    dims: tuple  # the dims that meet on this axis, one per input (None where absent)
    kind: str  # "equal" (Concat) or "broadcast"

    def pred(self):
        return EqualPred() if self.kind == "equal" else BroadcastPred()

    def present(self) -> tuple:
        return tuple(d for d in self.dims if d is not None)

    def holds_at(self, env) -> bool:
        try:
            vals = [evaluate(d, env) for d in self.present()]
        except Invalid:
            return False
        if self.kind == "broadcast":
            vals = [v for v in vals if v != 1]
        return len(set(vals)) <= 1


@dataclass(frozen=True)
class Merge:
    node: Node
    inputs: tuple  # tensor names
    shapes: tuple  # their shapes
    axes: tuple  # AxisCheck per axis that is not trivially satisfied


# merges of each framework: IR domain -> op -> "equal" (concatenation) or "broadcast"
MERGE_OPS = {
    "": {"Concat": "equal", **{op: "broadcast" for op in ELEMENTWISE_MERGES}},
    "tflite": {"CONCATENATION": "equal",
               **{op: "broadcast" for op in ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE",
                                              "FLOOR_DIV", "FLOOR_MOD", "POW", "SELECT_V2")}},
    "tf": {"ConcatV2": "equal", "Concat": "equal",
           **{op: "broadcast" for op in ("AddV2", "Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum",
                                          "SquaredDifference", "FloorDiv")}},
    "keras": {"Concatenate": "equal",
              **{op: "broadcast" for op in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")}},
}


def merge_spec(node, inf: Inferred):
    """(kind, input names, concat axis or None) for a merge node, else None."""
    kind = MERGE_OPS.get(node.domain if node.domain != "ai.onnx" else "", {}).get(node.op)
    if kind is None:
        return None
    names = tuple(n for n in node.inputs if n)
    if node.domain == "tf" and node.op in ("ConcatV2", "Concat"):
        # ConcatV2(values..., axis); the old Concat(axis, values...)
        axis_name, names = (names[-1], names[:-1]) if node.op == "ConcatV2" else (names[0], names[1:])
        v = inf.value(axis_name)
        return kind, names, (v[0] if v and isinstance(v[0], int) else None)
    if node.op == "Where":
        names = names[1:]  # the condition broadcasts too, but it is not a branch
    return kind, names, node.attr("axis", 0) if kind == "equal" else None


def merges(inf: Inferred) -> list:
    """Every Concat / elementwise node whose inputs might disagree, with the axes at stake."""
    out = []
    unknown: list = []
    for node in inf.graph.nodes:
        spec = merge_spec(node, inf)
        if spec is None:
            continue
        kind, names, cat_axis = spec
        shapes = tuple(inf.shape(n) for n in names)
        if len(names) < 2:
            continue
        if any(s is None for s in shapes):
            if any(s is not None and len(s) >= 3 for s in shapes):
                unknown.append(node.name)
            continue
        rank = max(len(s) for s in shapes)
        if kind == "equal":
            if any(len(s) != rank for s in shapes) or cat_axis is None:
                continue
            cat_axis = cat_axis + rank if cat_axis < 0 else cat_axis
        axes = []
        for k in range(rank):
            if kind == "equal" and k == cat_axis:
                continue
            dims = []
            for s in shapes:
                j = k - (rank - len(s))
                dims.append(s[j] if j >= 0 else None)
            present = [d for d in dims if d is not None]
            if kind == "broadcast":
                present = [d for d in present if d != 1]
            if any(d is None for d in dims if d is not None):  # pragma: no cover
                continue
            if len(present) < 2 or all(d == present[0] for d in present[1:]):
                continue
            if any(_unknown(d) for d in present):
                continue
            axes.append(AxisCheck(k, tuple(dims), kind))
        if axes:
            out.append(Merge(node, names, shapes, tuple(axes)))
    if unknown:
        note = (f"{len(unknown)} merge node(s) not checked because an input's shape is unknown "
                f"(e.g. '{unknown[0]}')")
        if note not in inf.notes:
            inf.notes.append(note)
    return out


def _unknown(d) -> bool:
    return d is None


@dataclass(frozen=True)
class AxisVerdict:
    """Where one axis of a merge holds: per symbol, the exact set of sizes (None: undecided)."""

    check: AxisCheck
    symbol: Optional[str]  # None when the dims are concrete
    sizes: Optional[SizeSet]  # sizes of ``symbol`` for which the axis agrees
    static_ok: Optional[bool]  # for concrete dims
    reason: str = ""  # why undecided


def axis_verdict(check: AxisCheck) -> AxisVerdict:
    syms = symbols(*check.present())
    if not syms:
        return AxisVerdict(check, None, None, check.holds_at({}))
    if len(syms) > 1:
        return AxisVerdict(check, None, None, None, f"depends on {', '.join(sorted(syms))} together")
    (name,) = syms
    try:
        s = solve(check.present(), check.pred(), name)
    except Undecidable as e:
        return AxisVerdict(check, name, None, None, str(e))
    return AxisVerdict(check, name, s, None)


POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})
SIZED_OPS = frozenset({"Conv", "ConvTranspose"}) | POOL_OPS
# Keras conv and pool layers, as "keras.<layer>": below a window's size TensorFlow is erratic (an
# error, a crash, an empty or a 1-pixel output, measured), so, like pools, shapelint abstains there
KERAS_SIZED = frozenset(f"keras.{op}" for op in CONV_LAYERS + POOL_LAYERS)
# TensorFlow graph ops likewise (oneDNN even returns a 2×2 output for a 3×3 VALID conv on 2×2),
# and TFLite's: shapelint abstains below a window's size
TF_SIZED = frozenset(f"tf.{op}" for op in ("Conv2D", "Conv3D", "DepthwiseConv2dNative", "MaxPool", "AvgPool",
                                           "MaxPool3D", "AvgPool3D"))
TFLITE_SIZED = frozenset(f"tflite.{op}" for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D",
                                                   "AVERAGE_POOL_2D", "CONV_3D"))
ABSTAIN_SIZED = POOL_OPS | KERAS_SIZED | TF_SIZED | TFLITE_SIZED


def _sized_key(node) -> str:
    return node.op if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op}"


def _spatial(node, shape) -> list:
    if node.domain == "keras":
        return [shape[a] for a in keras_layout(node, len(shape))[1]]
    if node.domain == "tf":
        return [shape[a] for a in tf_layout(node, len(shape))[1]]
    if node.domain == "tflite":
        return list(shape[1:-1])
    return list(shape[2:])


def domain(inf: Inferred, ops=SIZED_OPS | ABSTAIN_SIZED) -> dict:
    """Per input symbol, the sizes at which every Conv/ConvTranspose/pool output is ≥ 1.

    Below, onnxruntime fails for Conv ("Invalid input shape") and ConvTranspose, while a pool
    whose window is larger than its padded input truncates to a 1-pixel output; shapelint makes
    no claim about such sizes: findings pick their failing and working sizes inside the domain.
    """
    out: dict = {}
    for key, name, ok in _domain_entries(inf):
        if key in ops:
            out[name] = ok if name not in out else out[name].intersect(ok)
    return out


def _domain_entries(inf: Inferred) -> list:
    """(op key, symbol, sizes where the dim is ≥ 1) for every spatial output dim of a sized op,
    once per distinct triple: a deep graph repeats the same few dims thousands of times."""
    cached = inf.memo.get("domain")
    if cached is not None:
        return cached
    solved: dict = {}
    seen: set = set()
    out = []
    for node in inf.graph.nodes:
        key = _sized_key(node)
        if key not in SIZED_OPS and key not in ABSTAIN_SIZED or not node.outputs:
            continue
        shape = inf.shape(node.outputs[0])
        if shape is None:
            continue
        for d in _spatial(node, shape):
            if isinstance(d, int) or d is None:
                continue
            if d not in solved:
                syms = symbols(d)
                solved[d] = None
                if len(syms) == 1 and not has_bcast(d):  # sizes past a merge: the merge decides those
                    (name,) = syms
                    try:
                        solved[d] = (name, solve([d], PositivePred(), name))
                    except Undecidable:
                        pass
            if solved[d] is not None and (key, solved[d][0], id(solved[d][1])) not in seen:
                seen.add((key, solved[d][0], id(solved[d][1])))
                out.append((key, solved[d][0], solved[d][1]))
    inf.memo["domain"] = out
    return out


def model_runs(inf: Inferred, env: dict, found: Optional[list] = None) -> bool:
    """Whether every merge holds with the input symbols set to ``env`` (concrete sizes)."""
    for m in (found if found is not None else merges(inf)):
        for ax in m.axes:
            if not ax.holds_at(env):
                return False
    return True


def upstream_merges(inf: Inferred, found: list) -> dict:
    """For each merge node name, the indices (into ``found``) of the merges upstream of it."""
    index = {m.node.name: k for k, m in enumerate(found)}
    bits: dict = {}  # tensor -> int bitset of merges upstream (inclusive of its producer)
    out = {}
    for node in inf.graph.nodes:
        acc = 0
        for name in node.inputs:
            if name:
                acc |= bits.get(name, 0)
        if node.name in index:
            out[node.name] = acc
            acc |= 1 << index[node.name]
        for o in node.outputs:
            if o:
                bits[o] = acc
    return {name: [k for k in range(len(found)) if b >> k & 1] for name, b in out.items()}


@dataclass(frozen=True)
class Contract:
    """Per input symbol, the exact set of sizes for which every merge holds."""

    sets: dict  # symbol -> SizeSet: every merge holds
    undecided: tuple  # (merge node name, axis, reason)
    static_failures: tuple  # (merge node name, axis) failing at the fixed sizes
    domain: dict = None  # symbol -> SizeSet: every conv/pool output ≥ 1 (see domain())
    conv_domain: dict = None  # symbol -> SizeSet: every Conv/ConvTranspose output ≥ 1
    pool_domain: dict = None  # symbol -> SizeSet: every TF/Keras/TFLite conv and pool window fits
    small: dict = None  # symbol -> {size: True/False/None}: ONNX pools whose window exceeds the input
    undecided_axes: tuple = ()  # AxisCheck of each undecided merge axis: evaluated at concrete sizes
    unevaluated: dict = None  # symbol -> frozenset of sizes below a pool window not evaluated (too costly)

    def works(self) -> dict:
        """Per symbol, the sizes at which the model runs: every merge holds, inside the domain,
        and, below it, the sizes where onnxruntime's truncated pools still give a model that runs.
        Nothing, when the model fails at its fixed sizes. Sizes in ``unevaluated`` are left out
        (see :meth:`note`)."""
        out = dict(self.domain or {})
        for name, ss in self.sets.items():
            out[name] = ss if name not in out else out[name].intersect(ss)
        if self.static_failures:
            return {name: SizeSet(1, frozenset(), 1, frozenset()) for name in out}
        for name, verdicts in (self.small or {}).items():
            ss = out.get(name, SizeSet.everything())
            start = max(ss.start, max(verdicts) + 1)
            small = frozenset(x for x in range(1, start)
                              if (verdicts[x] is True if x in verdicts else x in ss))
            out[name] = SizeSet(ss.modulus, ss.residues, start, small).canonical()
        return out

    def note(self, name: str) -> str:
        """What the set of ``name`` leaves unsaid, for messages ('' when nothing)."""
        left = sorted((self.unevaluated or {}).get(name, ()))
        if not left:
            return ""
        return (f"{display_name(name)} = {left[0]}…{left[-1]}, where a pool window exceeds its input, not evaluated "
                f"({len(left)} sizes × the whole graph: too costly here); pin one with --input-shape to check it")

    def _below_window(self, name: str, x: int) -> bool:
        return x in (self.small or {}).get(name, {}) or x in (self.unevaluated or {}).get(name, ())

    def _runs_symbol(self, name: str, x: int) -> Optional[bool]:
        if self.small and x in self.small.get(name, {}):
            return self.small[name][x]
        if x in (self.unevaluated or {}).get(name, ()):
            return None
        if name in (self.pool_domain or {}) and x not in self.pool_domain[name]:
            return None
        if name in (self.conv_domain or {}) and x not in self.conv_domain[name]:
            return False
        if name in (self.domain or {}) and x not in self.domain[name]:
            return None  # an ONNX pool below its window, beyond what was evaluated
        return x in self.sets[name] if name in self.sets else True

    def runs(self, env: dict) -> Optional[bool]:
        """Predicted verdict at concrete sizes: True, False, or None where a TensorFlow, Keras or
        TFLite window would be larger than its input (their runtimes are erratic there). A Conv
        or ConvTranspose output < 1 is a failure; ONNX pools whose window exceeds the input follow
        onnxruntime (see :func:`concrete_verdict`)."""
        if self.static_failures:
            return False
        verdicts = [self._runs_symbol(name, x) for name, x in env.items()]
        for ax in self.undecided_axes:  # no set for these (several symbols at once): evaluate them
            syms = symbols(*ax.present())
            if not syms <= set(env) or any(self._below_window(n, env[n]) for n in syms):
                verdicts.append(None)  # below a pool window the symbolic dims (floor) are not onnxruntime's
            elif not ax.holds_at(env):
                verdicts.append(False)
        if False in verdicts:
            return False
        if None in verdicts:
            return None
        return True


# onnxruntime on empty tensors (a pool output of size 0), measured with 1.32: Conv, MaxPool and
# AveragePool reject an empty input; ConvTranspose follows its size formula (it fails when the
# output would be ≤ 0); these run and keep the empty axis. Anything else: shapelint abstains.
EMPTY_OK = ELEMENTWISE_MERGES | frozenset({
    "Concat", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Identity", "Clip", "BatchNormalization", "ConvTranspose"})
EMPTY_FAILS = frozenset({"Conv"}) | POOL_OPS


def _ints(dims) -> list:
    return [d for d in dims if isinstance(d, int)]


def concrete_verdict(inf: Inferred) -> Optional[bool]:
    """Whether onnxruntime runs an ONNX graph at the sizes ``inf`` was pinned to, judged on the
    axes that are concrete (the others are some other symbol's business): False when a pool
    output is negative or a Conv/pool gets an empty input (onnxruntime's "Invalid input shape",
    "out_size >= 0"), a Conv/ConvTranspose output is < 1, or a concrete merge axis disagrees;
    None when an empty tensor reaches an op whose behaviour on it was not measured."""
    at_merge = {m.node.name: m for m in merges(inf)}
    too_big = {node.name for _s, ss, node, _a in _output_shape_limits(inf) if ss is None}
    tainted: set = set()
    fails = False
    for node in inf.graph.nodes:
        outs = [o for o in node.outputs if o]
        ins = [n for n in node.inputs if n]
        if any(n in tainted for n in ins):
            tainted.update(outs)
            continue
        onnx_op = node.op if node.domain in ("", "ai.onnx") else None
        x = inf.shape(ins[0]) if ins else None
        # an empty data tensor (not a shape argument such as Resize's empty roi); data is input 0,
        # or any input of an elementwise merge / Concat
        data = ins if node.op in ELEMENTWISE_MERGES or node.op == "Concat" else ins[:1]
        empty = any(0 in _ints(inf.shape(n) or ()) for n in data)
        if onnx_op in SIZED_OPS and x is not None and len(x) > 2:
            if any(d <= 0 for d in _ints(x[2:])) and onnx_op in EMPTY_FAILS:
                fails = True
                continue
            y = inf.shape(outs[0]) if outs else None
            floor = 0 if onnx_op in POOL_OPS else 1
            if y is not None and any(d < floor for d in _ints(y[2:])):
                fails = True
                continue
        m = at_merge.get(node.name)
        if m is not None and any(not ax.holds_at({}) for ax in m.axes if not symbols(*ax.present())) \
                or node.name in too_big:  # a merge that disagrees; an output_shape no padding reaches
            fails = True
            continue
        if empty and onnx_op not in EMPTY_OK:
            tainted.update(outs)
    if fails:
        return False
    return None if tainted else True


MAX_SMALL = 256  # sizes per symbol evaluated one by one below the ONNX pools' windows
MAX_SMALL_WORK = 60_000  # node inferences in all for those (a big graph with deep pools: abstain)


def _pinned(graph, name: str, x: int) -> dict:
    return {t.name: tuple(x if d == name else d for d in t.shape)
            for t in graph.inputs if t.shape is not None and name in t.shape}


def small_verdicts(inf: Inferred, pool_sets: dict) -> dict:
    """Per symbol, onnxruntime's verdict at each size below where every ONNX pool window fits:
    the graph is inferred again with that symbol pinned, where pools truncate as onnxruntime does
    (``sizes.pool_out``), and :func:`concrete_verdict` decides. Returns (verdicts, skipped): a
    symbol whose sizes would cost more than MAX_SMALL_WORK node inferences is skipped (abstain)."""
    from .infer import infer

    out, skipped = {}, {}
    budget = MAX_SMALL_WORK
    for name, ss in sorted(pool_sets.items()):
        below = [x for x in range(1, ss.start) if x not in ss]
        cost = len(below) * max(1, len(inf.graph.nodes))
        if not below:
            continue
        if len(below) > MAX_SMALL or cost > budget:
            skipped[name] = frozenset(below)
            continue
        budget -= cost
        out[name] = {x: concrete_verdict(infer(inf.graph, _pinned(inf.graph, name, x))) for x in below}
    return out, skipped


def contract(inf: Inferred, found: Optional[list] = None) -> Contract:
    found = merges(inf) if found is None else found
    sets: dict = {}
    undecided = []
    undecided_axes = []
    static = []
    for m in found:
        for ax in m.axes:
            v = axis_verdict(ax)
            if v.symbol is None and v.static_ok is not None:
                if not v.static_ok:
                    static.append((m.node.name, ax.axis))
            elif v.sizes is None:
                undecided.append((m.node.name, ax.axis, v.reason))
                undecided_axes.append(ax)
            else:
                prev = sets.get(v.symbol)
                sets[v.symbol] = v.sizes if prev is None else prev.intersect(v.sizes)
    for node, _x, _shape, bad in too_small(inf):  # a fixed-size Conv output < 1: fails at every size
        static.append((node.name, 2 + bad[0]))
    for name, ss, node, axis in _output_shape_limits(inf):
        if ss is None:
            static.append((node.name, axis))
        else:
            sets[name] = ss if name not in sets else sets[name].intersect(ss)
    abstain = domain(inf, ABSTAIN_SIZED - POOL_OPS)
    dom = domain(inf)
    for node, _axes, ax, tv in tf_transposed(inf):  # TF rejects input_sizes outside the admissible range
        if tv.ok is False:
            static.append((node.name, ax["axis"]))
        elif tv.symbol is not None:
            prev = sets.get(tv.symbol)
            sets[tv.symbol] = tv.works if prev is None else prev.intersect(tv.works)
            for d in (abstain, dom):
                d[tv.symbol] = tv.analysed if tv.symbol not in d else d[tv.symbol].intersect(tv.analysed)
    small, skipped = small_verdicts(inf, domain(inf, POOL_OPS)) if inf.graph.framework == "onnx" else ({}, {})
    return Contract(sets, tuple(undecided), tuple(static), dom,
                    domain(inf, frozenset({"Conv", "ConvTranspose"})), abstain, small, tuple(undecided_axes),
                    skipped)


def _output_shape_limits(inf: Inferred):
    """ONNX ConvTransposes with an explicit output_shape: onnxruntime accepts o only up to
    (i−1)·s + K + s − 1 (sizes.onnx_convtranspose_max_output_shape). Yields (symbol, the sizes
    that allow it, node, axis) for a symbolic input, and (None, None, node, axis) for a fixed
    input that cannot (SL001 reports that one)."""
    from .infer import convtranspose_params

    for node in inf.graph.nodes:
        if node.op != "ConvTranspose" or node.domain not in ("", "ai.onnx") or node.attr("output_shape") is None:
            continue
        x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
        if x is None or w is None or len(x) < 3:
            continue
        try:
            p = convtranspose_params(node, x, w)
            os_ = tuple(p["output_shape"])
            if len(os_) != p["n_spatial"]:
                continue
            for a, o in enumerate(os_):
                i = x[2 + a]
                top = sizes.onnx_convtranspose_max_output_shape(i, p["kernel"][a], p["strides"][a],
                                                                p["dilations"][a], p["output_padding"][a])
                if isinstance(top, int):
                    if isinstance(o, int) and o > top:
                        yield None, None, node, 2 + a
                    continue
                syms = symbols(top)
                if len(syms) != 1 or not isinstance(o, int):
                    continue
                (name,) = syms
                yield name, solve([sub(top, o - 1)], PositivePred(), name), node, 2 + a
        except (Undecidable, ValueError, TypeError, IndexError):
            continue


def fixed_size_failures(inf: Inferred, found: list) -> dict:
    """At fixed sizes, where onnxruntime stops: tensor name -> the first failing node upstream
    (or producing it), as (node name, kind) with kind "size" (a Conv/ConvTranspose output < 1,
    a pool output < 0) or "merge" (a Concat/elementwise mismatch)."""
    failing_merges = {m.node.name for m in found
                      if any(not symbols(*ax.present()) and not ax.holds_at({}) for ax in m.axes)}
    marks: dict = {}
    for node in inf.graph.nodes:
        up = next((marks[i] for i in node.inputs if i and i in marks), None)
        own = None
        key = _sized_key(node)
        if (key in SIZED_OPS or key in ABSTAIN_SIZED) and node.outputs:
            shape = inf.shape(node.outputs[0])
            limit = 0 if key in POOL_OPS else 1
            if shape is not None and any(isinstance(d, int) and d < limit for d in _spatial(node, shape)):
                own = (node.name, "size")
                if key not in SIZED_OPS and up is None:
                    note = (f"'{node.name}' ({node.op}) gets an input smaller than its window at these sizes: the "
                            f"runtime's behaviour there is erratic (an error, or an odd output), so nothing after "
                            f"it is analysed")
                    if note not in inf.notes:
                        inf.notes.append(note)
        elif node.name in failing_merges:
            own = (node.name, "merge")
        mark = up or own
        if mark is not None:
            for o in node.outputs:
                if o:
                    marks[o] = mark
    return marks


def too_small(inf: Inferred) -> list:
    """Nodes whose output is too small at fixed sizes: Conv/ConvTranspose < 1, pools < 0."""
    out = []
    for node in inf.graph.nodes:
        if _sized_key(node) not in SIZED_OPS or not node.outputs:
            continue
        shape = inf.shape(node.outputs[0])
        x = inf.shape(node.input(0))
        limit = 0 if node.op in POOL_OPS else 1
        if shape is None or x is None:
            continue
        bad = [a for a, d in enumerate(shape[2:]) if isinstance(d, int) and d < limit]
        if bad:
            out.append((node, x, shape, bad))
    return out


# ----------------------------------------------------------- TensorFlow transposed convolutions

TF_TRANSPOSED = ("Conv2DBackpropInput", "Conv3DBackpropInputV2", "DepthwiseConv2dNativeBackpropInput")


def tf_params(inf: Inferred, node):
    """(x shape, per-spatial-axis list of dicts) for a TF transposed conv, or None."""
    x, f, out = inf.shape(node.input(2)), inf.shape(node.input(1)), inf.value(node.input(0))
    if x is None or f is None or out is None or len(out) != len(x):
        return None
    _, spatial, strides, dil, padding, explicit = tf_conv_attrs(node, len(x))
    axes = []
    for j, a in enumerate(spatial):
        pb, pe = explicit[j]
        k = f[j]
        if not isinstance(k, int):
            return None
        adm = sizes.tf_admissible(x[a], k, strides[j], dil[j], padding, pb, pe)
        axes.append(dict(axis=a, name="DHW"[-len(spatial):][j] if len(spatial) <= 3 else str(a), i=x[a], k=k,
                         s=strides[j], d=dil[j], padding=padding, pb=pb, pe=pe, o=out[a], low=adm.low,
                         high=adm.high))
    return x, axes


def tf_forward(o: int, ax: dict) -> int:
    """The input size TF's forward conv gives for an output size o, as TF computes it when it
    checks input_sizes: C division, which truncates toward zero (so o = K − s + 1 … K − 1 still
    maps to 1)."""
    if ax["padding"] == "SAME":
        return (o + ax["s"] - 1) // ax["s"]
    num = o + ax["pb"] + ax["pe"] - sizes.effective_kernel(ax["k"], ax["d"])
    q = abs(num) // ax["s"]
    return (q if num >= 0 else -q) + 1


@dataclass(frozen=True)
class TransposedVerdict:
    """Whether TF accepts a transposed conv's output size on one axis: at fixed sizes ``ok``; for a
    symbolic size, ``works`` (sizes of ``symbol`` it accepts) inside ``analysed`` (sizes where the
    output is at least the kernel's extent minus the pads; below, TF's truncating check is not
    modelled)."""

    ok: Optional[bool]
    symbol: Optional[str] = None
    works: Optional[SizeSet] = None
    analysed: Optional[SizeSet] = None


def within_admissible(o, low, s: int):
    """Where a transposed conv's output size ``o`` is one of its ``s`` admissible sizes
    low…low+s−1 (Keras, TF and TFLite checks alike): True or False when that does not depend on
    the input size; (symbol, the sizes where it is) for one symbol; None when undecided."""
    lo_d, hi_d = sub(o, low), sub(add(low, s - 1), o)
    if isinstance(lo_d, int) and isinstance(hi_d, int):
        return lo_d >= 0 and hi_d >= 0
    syms = symbols(lo_d, hi_d)
    if len(syms) != 1:
        return None
    (name,) = syms
    try:
        return name, solve([add(lo_d, 1), add(hi_d, 1)], PositivePred(), name)
    except Undecidable:
        return None


def tf_transposed_verdict(ax: dict) -> Optional[TransposedVerdict]:
    o, low, s = ax["o"], ax["low"], ax["s"]
    if isinstance(o, int) and isinstance(ax["i"], int):
        return TransposedVerdict(tf_forward(o, ax) == ax["i"])
    syms = symbols(o, ax["i"])
    if len(syms) != 1 or s > 64:
        return None
    (name,) = syms
    inside = within_admissible(o, low, s)
    if inside is None:
        return None
    if isinstance(inside, bool):  # a constant offset: in range or not, always
        works = SizeSet.everything() if inside else SizeSet(1, frozenset(), 1, frozenset())
    else:
        works = inside[1]
    try:
        analysed = SizeSet.everything()
        if ax["padding"] != "SAME":
            floor_ok = add(o, ax["pb"] + ax["pe"] - sizes.effective_kernel(ax["k"], ax["d"]) + 1)
            analysed = solve([floor_ok], PositivePred(), name)
    except Undecidable:
        return None
    return TransposedVerdict(None, name, works, analysed)


def tf_transposed(inf: Inferred):
    """(node, all axes, axis, verdict) for every TF transposed conv axis that can be decided."""
    for node in inf.graph.nodes:
        if node.domain != "tf" or node.op not in TF_TRANSPOSED:
            continue
        got = tf_params(inf, node)
        if got is None:
            continue
        for ax in got[1]:
            v = tf_transposed_verdict(ax)
            if v is not None:
                yield node, got[1], ax, v


# ----------------------------------------------------------- fitting a ConvTranspose to a size


def convtranspose_fit(inf: Inferred, up, targets: dict):
    """The pads and output_padding that make the ONNX ConvTranspose ``up`` produce ``targets``
    (output axis -> size) at fixed sizes: the output_padding alone when it reaches (0…s−1), else
    symmetric pads with an output_padding, which PyTorch can express too. Returns (pads, ops,
    output_padding alone?) or None (symbolic sizes, output_shape, auto_pad, out of reach). The
    SL003 suggestion and ``shapelint fix`` both use it."""
    from .infer import convtranspose_params

    x, w = inf.shape(up.input(0)), inf.shape(up.input(1))
    if x is None or w is None:
        return None
    p = convtranspose_params(up, x, w)
    n = p["n_spatial"]
    if p["output_shape"] is not None or p["auto_pad"] != "NOTSET":
        return None
    pads, ops = list(p["pads"]), list(p["output_padding"])
    only_op = True
    for axis, target in targets.items():
        a = axis - 2
        if not 0 <= a < n or not isinstance(x[2 + a], int) or not isinstance(target, int):
            return None
        i, k, s, d = x[2 + a], p["kernel"][a], p["strides"][a], p["dilations"][a]
        need = target - sizes.admissible(i, k, s, d, pads[a], pads[a + n]).low
        if 0 <= need < s:
            ops[a] = need
            continue
        only_op = False
        sym = _symmetric_fit(i, k, s, d, target)
        if sym is None:
            return None
        pads[a], pads[a + n] = sym[0], sym[0]
        ops[a] = sym[1]
    return tuple(pads), tuple(ops), only_op


def _symmetric_fit(i: int, k: int, s: int, d: int, target: int):
    """PyTorch-style (padding p on both sides, output_padding op < s) reaching ``target``:
    target = s·(i − 1) − 2p + d·(k − 1) + op + 1."""
    if d * (k - 1) > 4096 or s > 4096:
        return None
    for pad in range(0, d * (k - 1) + 1):
        op = target - sizes.torch_conv_transpose_out(i, k, s, pad, d, 0)
        if 0 <= op < s:
            return pad, op
    return None
