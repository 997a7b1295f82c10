"""``shapelint fix``: rewrite an ONNX model so that onnxruntime accepts its transposed
convolutions (SL001) and its skip connections fit (SL003).

SL001: a ConvTranspose whose attributes onnxruntime rejects (output_padding outside 0…s−1,
auto_pad together with pads, an output_shape it cannot reach or of the wrong length, an output
size below 1) gets the ``output_padding`` / ``pads`` / ``output_shape`` that make it valid and give
its output the size its consumers expect: the other input of the merge it feeds, else the shape
the model declares for it, else the size its own attributes state (ONNX's formula, or its
output_shape). Where that size is not determinable or not reachable, a :class:`Cannot` says why,
with the numbers. The pads at the beginning of each axis are kept where they can be: the node's
values are then the ones its attributes describe, only the end moves. This works at fixed sizes,
and at dynamic ones where the wanted size is a fixed offset of the formula's.

SL003: at fixed sizes, the ConvTranspose that feeds a merge gets the ``output_padding`` (and, when
that alone cannot, symmetric ``pads``) SL003 suggests, which make its output the skip's size.
Otherwise (dynamic sizes, a Resize, a ConvTranspose with ``output_shape``), the upsampled branch
is cropped and then padded to the skip tensor's run-time size -- ``Slice(u, 0, Shape(skip)[axes])``
then ``Pad`` by ``Shape(skip) − Shape(u')`` at the end of each axis -- the standard repair
(milesial/Pytorch-UNet pads, others crop), so every size the rest of the model admits works.

The rewritten model is linted again (:attr:`Outcome.left`: the SL001/SL003 findings that remain).
``--diff`` shows a unified diff of a text listing of the changed nodes (:func:`listing`). Weights
are never read or rewritten: the model is parsed without its external data, and external
references keep pointing at the same files. This is the output stage: it imports onnx, and runs
after the checks.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Optional

from .analysis import convtranspose_fit, merge_spec
from .trace import data_input, find_upsampler, is_upsampler, lineage
from .errors import ModelError, one_line
from .frameworks import dialect
from .frameworks.onnx import convtranspose_params, convtranspose_spatial, default_opset
from .files import write_with
from .lint import analyse, is_saved_model, lint
from .symbolic import fmt_dim, sub
from . import sizes

MAX_ROUNDS = 64  # a fix can reveal the next merge out (an Add of two sizes has no size before)
RULES = ("SL001", "SL003")  # what fix repairs, and looks for again in what it wrote


@dataclass(frozen=True)
class Step:
    """One repair at one merge: new attributes for the ConvTranspose that feeds it (fixed sizes),
    or a run-time crop and pad of the upsampled input to the skip's shape (``convt`` is None)."""

    merge: str  # merge node, as named in findings
    merge_output: str  # its first output tensor: how the node is found in the ONNX file
    up: str  # the upsampled input
    skip: str
    axes: tuple  # the axes fitted
    rank: int
    kind: str = "equal"  # the merge: "equal" (Concat) or "broadcast" (elementwise)
    convt: Optional[str] = None  # ConvTranspose node name (attribute fix)
    convt_output: Optional[str] = None
    attrs: dict = field(default_factory=dict)  # attribute name -> (old, new)
    sizes: tuple = ()  # ((axis, old size, new size), ...)

    @property
    def key(self) -> tuple:
        return "SL003", self.merge, self.up

    def describe(self) -> str:
        if self.convt is None:
            where = " (where that size is not 1: a skip of size 1 broadcasts)" if self.kind == "broadcast" else ""
            return one_line(f"{self.merge}: crop and pad '{self.up}' on axes {list(self.axes)} to the run-time size of "
                            f"'{self.skip}'{where} (Shape, Gather, Slice, ScatterElements, Pad)")
        changes = ", ".join(f"{k} {list(old)} → {list(new)}" for k, (old, new) in self.attrs.items())
        grown = ", ".join(f"axis {a}: {o} → {n}" for a, o, n in self.sizes)
        return one_line(f"{self.convt}: {changes} (output {grown}, the size of '{self.skip}' at {self.merge})")


@dataclass(frozen=True)
class Repair:
    """An SL001 repair: new attributes for a ConvTranspose that onnxruntime rejects, which make it
    valid and give its output the size its consumers expect."""

    node: str
    node_output: str  # how the node is found in the ONNX file
    attrs: dict  # attribute name -> (old, new); None: the attribute is absent / removed
    sizes: tuple  # ((output axis, old size or None, new size), ...)
    because: str  # where the new sizes come from

    @property
    def key(self) -> tuple:
        return "SL001", self.node_output

    def describe(self) -> str:
        changes = ", ".join(f"{k} {_shown(old)} → {_shown(new)}" for k, (old, new) in self.attrs.items())
        out = ", ".join(f"axis {a} stays {fmt_dim(n)}" if old is not None and sub(old, n) == 0
                        else f"axis {a}: {fmt_dim(old) if old is not None else '?'} → {fmt_dim(n)}"
                        for a, old, n in self.sizes)
        return one_line(f"{self.node}: {changes} (SL001; output {out}: {self.because})")


@dataclass(frozen=True)
class Cannot:
    """A finding fix was asked to repair and cannot, and why (with the node and the numbers)."""

    rule: str
    node: str
    reason: str

    def describe(self) -> str:
        return one_line(f"{self.node}: cannot fix {self.rule}: {self.reason}")


def _shown(v) -> str:
    if v is None:
        return "(none)"
    return str(list(v)) if isinstance(v, tuple) else str(v)


def plan(path: str, analysed=None, findings=None) -> list:
    """A :class:`Step` per input of an SL003 merge that must be fitted to the merge's reference
    input (the one with the fewest upsampling ops on its branch: the skip), on the spatial axes
    where the two differ: never a Concat's own axis, never an axis where an elementwise input is
    1 (it broadcasts), and such an input is never the reference. ``analysed``, ``findings``: the
    model's (graph, inferred) and findings, when the caller has them."""
    graph, inf = analysed or analyse(path)
    if findings is None:
        findings = lint(path, select={"SL003"}).findings
    by_name = {n.name: n for n in graph.nodes}
    out = []
    for f in (f for f in findings if f.rule == "SL003"):
        merge = by_name.get(f.node)
        spec = merge_spec(merge, inf) if merge is not None else None
        if spec is None:
            continue
        kind, names, cat_axis = spec
        if kind == "equal" and cat_axis is None:
            continue
        names = list(dict.fromkeys(names))
        shapes = [inf.shape(n) for n in names]
        if len(names) < 2 or any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1 \
                or len(shapes[0]) < 3:
            continue
        rank = len(shapes[0])
        axes = [a for a in range(2, rank) if kind != "equal" or a != cat_axis % rank]  # spatial (NCHW)
        broadcasts = [kind == "broadcast" and any(s[a] == 1 for a in axes) for s in shapes]
        candidates = [n for n, b in zip(names, broadcasts) if not b]
        if not candidates:
            continue
        ref = _reference(inf, candidates)
        s_ref = inf.shape(ref)
        for name, shape in zip(names, shapes):
            fit = tuple(a for a in axes if shape[a] != s_ref[a] and not (kind == "broadcast" and shape[a] == 1))
            if name == ref or not fit:
                continue
            step = Step(f.node, merge.outputs[0], name, ref, fit, rank, kind)
            out.append(_attribute_fix(inf, step, shape, s_ref) or step)
    return out


def _reference(inf, names: list) -> str:
    """Of a merge's inputs, the one whose branch (back to where all branches meet) has the fewest
    upsampling ops: the skip tensor, which the others are fitted to. Ties: the first input."""
    lines = [lineage(inf, n) for n in names]
    common = set(lines[0]).intersection(*map(set, lines[1:]))

    def ups(line):
        k = 0
        for t in line:
            if t in common:
                break
            node = inf.producer.get(t)
            k += node is not None and is_upsampler(node)
        return k

    counts = [ups(line) for line in lines]
    return names[counts.index(min(counts))]


def _attribute_fix(inf, step: Step, s_up, s_skip) -> Optional[Step]:
    """At fixed sizes, the ConvTranspose attributes SL003 suggests (analysis.convtranspose_fit:
    the output_padding alone, else symmetric pads with an output_padding); None when the sizes
    are symbolic, no such attributes reach the skip's size, or the ConvTranspose's output also
    goes elsewhere (then the crop and pad)."""
    node = find_upsampler(inf, step.up)
    if node is None or node.op not in dialect(node).transposed_ops:  # (fix reads ONNX graphs only)
        return None
    y = inf.shape(node.outputs[0])
    if y is None or len(y) != len(s_up) or any(y[a] != s_up[a] for a in step.axes):
        return None
    if not _single_path(inf, node.outputs[0], step.up):
        return None
    fit = convtranspose_fit(inf, node, {a: s_skip[a] for a in step.axes})
    if fit is None:
        return None
    pads, ops, _alone = fit
    x, w = inf.shape(node.inputs[0]), inf.shape(node.inputs[1])
    p = convtranspose_params(node, x, w)
    n = p.n_spatial
    changed = tuple((a, y[a], sizes.onnx_convtranspose_out(x[a], p.kernel[a - 2], p.strides[a - 2],
                                                           p.dilations[a - 2], pads[a - 2], pads[a - 2 + n],
                                                           ops[a - 2]))
                    for a in step.axes)
    attrs = {}
    if ops != tuple(p.output_padding):
        attrs["output_padding"] = (tuple(p.output_padding), ops)
    if pads != tuple(p.pads):
        attrs["pads"] = (tuple(p.pads), pads)
    return Step(step.merge, step.merge_output, step.up, step.skip, step.axes, step.rank, step.kind, node.name,
                node.outputs[0], attrs, changed)


def _single_path(inf, start: str, end: str) -> bool:
    """Whether every tensor from ``start`` to ``end`` (through size-preserving ops) has one consumer
    and is not a graph output: changing its size then changes nothing else."""
    uses: dict = {}
    for node in inf.graph.nodes:
        for i in set(node.inputs):
            uses[i] = uses.get(i, 0) + 1
    t = end
    while True:
        if uses.get(t, 0) != 1 or t in inf.graph.outputs:
            return False
        if t == start:
            return True
        prod = inf.producer.get(t)
        if prod is None:
            return False
        t = data_input(inf, prod)
        if t is None:
            return False


# --------------------------------------------------------------------------- SL001


def plan_sl001(path: str, model=None, analysed=None, findings=None) -> tuple:
    """(a :class:`Repair` per SL001 finding that can be repaired, a :class:`Cannot` per one that
    cannot). ``model``: the ONNX ModelProto, for the shapes it declares (read from ``path`` when
    not given); ``analysed``, ``findings`` as for :func:`plan`."""
    graph, inf = analysed or analyse(path)
    if findings is None:
        findings = lint(path, select={"SL001"}).findings
    findings = [f for f in findings if f.rule == "SL001"]
    if not findings:
        return [], []
    declared = declared_shapes(model if model is not None else _load(path))
    by_name = {n.name: n for n in graph.nodes}
    users: dict = {}
    for node in graph.nodes:
        for name in dict.fromkeys(node.inputs):
            users.setdefault(name, []).append(node)
    repairs, cannot = [], []
    for f in findings:
        node = by_name.get(f.node)
        if node is None or node.op not in dialect(node).transposed_ops:  # (fix reads ONNX graphs only)
            cannot.append(Cannot("SL001", f.node, "fix rewrites the attributes of ONNX ConvTranspose nodes only"))
            continue
        got = _sl001_repair(inf, node, users, declared)
        (repairs if isinstance(got, Repair) else cannot).append(got)
    return repairs, cannot


def declared_shapes(model) -> dict:
    """Tensor name (escaped, as the IR has it) -> the dims the ONNX model declares for it (graph
    outputs and value_info): an int where a dim is fixed, else None."""
    from .escape import name as escaped

    out = {}
    for vi in list(model.graph.value_info) + list(model.graph.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        out[escaped(vi.name)] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                                      for d in t.shape.dim)
    return out


def _expected(inf, tensor: str, rank: int, users: dict, declared: dict) -> dict:
    """Output axis -> [(size, where that size is expected, whether a merge expects it)] for the
    tensor a ConvTranspose produces: the other inputs of each merge it reaches through size-keeping
    ops (never a Concat's own axis, never an elementwise input of size 1, which broadcasts), and the
    shapes the model declares."""
    out: dict = {}
    todo, seen = [tensor], set()
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        d = declared.get(t)
        if d is not None and len(d) == rank:
            for a in range(2, rank):
                if d[a] is not None:
                    out.setdefault(a, []).append((d[a], f"the shape the model declares for '{t}'", False))
        for c in users.get(t, ()):
            spec = merge_spec(c, inf)
            if spec is not None:
                kind, names, cat_axis = spec
                if kind == "equal" and cat_axis is None:
                    continue
                for other in dict.fromkeys(names):
                    shape = inf.shape(other) if other != t else None
                    if shape is None or len(shape) != rank:
                        continue
                    for a in range(2, rank):
                        v = shape[a]
                        if v is None or (kind == "equal" and a == cat_axis % rank) or (kind == "broadcast" and v == 1):
                            continue
                        out.setdefault(a, []).append((v, f"the size of '{other}' at {c.op} '{c.name}'", True))
            elif c.op in dialect(c).pass_through and c.outputs and data_input(inf, c) == t:
                todo.append(c.outputs[0])
    return out


def _sl001_repair(inf, node, users: dict, declared: dict):
    """A :class:`Repair` for the ConvTranspose ``node``, or a :class:`Cannot` saying why not."""
    def cannot(reason):
        return Cannot("SL001", node.name, reason)

    x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
    if x is None or w is None or len(x) < 3:
        return cannot(f"the shape of its input '{node.input(0)}' is not known, so neither is the size it must produce")
    try:
        p = convtranspose_params(node, x, w)
    except ValueError as e:
        return cannot(str(e))
    n = p.n_spatial
    if any(len(v) != k for v, k in ((p.kernel, n), (p.strides, n), (p.dilations, n), (p.pads, 2 * n),
                                    (p.output_padding, n))):
        return cannot(f"its attributes do not give one value per spatial axis ({n}): kernel_shape "
                      f"{list(p.kernel)}, strides {list(p.strides)}, dilations {list(p.dilations)}, pads "
                      f"{list(p.pads)}, output_padding {list(p.output_padding)}")
    rank = len(x)
    own, own_why = _own_sizes(x, p)
    expected = _expected(inf, node.outputs[0], rank, users, declared)
    wanted = {}  # output axis -> (size, where it is expected, by a merge?), where consumers say
    clash = None  # why no one size is wanted
    for ax in range(2, 2 + n):
        seen = []  # distinct expected sizes, with where they come from
        for v, src, by_merge in expected.get(ax, ()):
            if not any(sub(v, u[0]) == 0 for u in seen):
                seen.append((v, src, by_merge))
        if len(seen) > 1 and clash is None:
            clash = (f"its consumers expect different sizes on output axis {ax}: "
                     + "; ".join(f"{fmt_dim(v)}, {src}" for v, src, _m in seen))
        elif len(seen) == 1:
            wanted[ax] = seen[0]

    def own_target(a: int):
        """The size the attributes state on spatial axis ``a``, or why none is determinable."""
        ax = 2 + a
        if isinstance(own[a], str):
            return f"output axis {ax}: {own[a]}, and no merge or declared shape after it says which size is meant"
        if p.auto_pad != "NOTSET" and node.attr("pads") is not None and p.output_shape is None:
            by_pads = sizes.onnx_convtranspose_out(x[ax], p.kernel[a], p.strides[a], p.dilations[a], p.pads[a],
                                                   p.pads[a + n], p.output_padding[a])
            if sub(by_pads, own[a]) != 0:
                return (f"on output axis {ax}, auto_pad={p.auto_pad} gives {fmt_dim(own[a])} and its pads "
                        f"{list(p.pads)} give {fmt_dim(by_pads)}; which one is meant is not determinable: no merge "
                        f"or declared shape after it says")
        return own[a]

    def attempt(use_wanted: bool):
        """(targets, why, new attributes) or the reason there are none."""
        targets, why = [], []
        for a in range(n):
            if use_wanted and 2 + a in wanted:
                targets.append(wanted[2 + a][0])
                why.append(wanted[2 + a][1])
                continue
            t = own_target(a)
            if isinstance(t, str):
                return t
            targets.append(t)
            why.append(own_why)
        new = _attributes_for(node, x, p, targets)
        return new if isinstance(new, str) else (targets, why, new)

    if clash is not None:
        # valid at the size its attributes state, and SL003's fix fits each merge; else say why not
        got = attempt(False)
        if isinstance(got, str):
            return cannot(clash)
        targets, why, new = got
        got = (targets, why + [f"{clash}: SL003's fix crops and pads at each"], new)
    else:
        got = attempt(True)
    if isinstance(got, str) and clash is None and any(by_merge for _v, _s, by_merge in wanted.values()):
        # a merge wants a size no attribute reaches (at every size): make the node valid at the size
        # its attributes state, and let SL003's fix fit the merge (a crop and pad)
        fallback = attempt(False)
        if not isinstance(fallback, str):
            targets, why, new = fallback
            ax, (v, src, _m) = next((ax, w) for ax, w in sorted(wanted.items()) if w[2])
            got = (targets, why + [f"not {fmt_dim(v)} on axis {ax}, {src}, which no attributes reach (at every "
                                   f"size): SL003's fix crops and pads there"], new)
    if isinstance(got, str):
        return cannot(got)
    targets, why, new = got
    q = convtranspose_params(_Attrs(node, new), x, w)
    made = convtranspose_spatial(x, q)
    if any(sub(g, t) != 0 for g, t in zip(made, targets)) or not _valid(q):  # (a bug of ours: say so, change nothing)
        return cannot(f"the attributes found ({new}) give {[fmt_dim(g) for g in made]}, not "
                      f"{[fmt_dim(t) for t in targets]}")
    before = inf.shape(node.outputs[0])
    olds = [before[2 + a] if before is not None and len(before) == rank else
            (own[a] if not isinstance(own[a], str) else None) for a in range(n)]
    zeros = {"pads": (0,) * (2 * n), "output_padding": (0,) * n}  # what an absent attribute means
    attrs = {k: (node.attr(k), v) for k, v in new.items()
             if node.attr(k) != v and not (node.attr(k) is None and v == zeros.get(k))}
    return Repair(node.name, node.outputs[0], attrs, tuple((2 + a, olds[a], targets[a]) for a in range(n)),
                  "; ".join(dict.fromkeys(why)))


def _own_sizes(x, p) -> tuple:
    """(per spatial axis the output size the node's attributes state, or why they state none; how
    they state it)."""
    n = p.n_spatial
    if p.output_shape is not None:
        os_ = tuple(p.output_shape)
        if len(os_) == n + 2:  # the whole shape (N, C, spatial…) where the spatial sizes belong
            os_ = os_[2:]
        elif len(os_) != n:
            return (f"output_shape {list(p.output_shape)} has {len(os_)} entries, not {n} or {n + 2}",) * n, ""
        return tuple(o if o >= 1 else f"output_shape gives {o}" for o in os_), "its output_shape"
    out = []
    for a in range(n):
        i, k, s, d = x[2 + a], p.kernel[a], p.strides[a], p.dilations[a]
        if p.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = sizes.onnx_convtranspose_same_out(i, k, s, d, p.output_padding[a])
        else:
            pb, pe = (0, 0) if p.auto_pad == "VALID" else (p.pads[a], p.pads[a + n])
            o = sizes.onnx_convtranspose_out(i, k, s, d, pb, pe, p.output_padding[a])
        out.append(f"its attributes give {o}" if isinstance(o, int) and o < 1 else o)
    how = (f"the size auto_pad={p.auto_pad} gives" if p.auto_pad != "NOTSET"
           else "the size its attributes state, s·(i−1) + K − pads + output_padding")
    return tuple(out), how


def _attributes_for(node, x, p, targets: list):
    """The attributes (name -> value; None: remove it) that make the ConvTranspose valid and
    produce ``targets``, or why none do."""
    n = p.n_spatial
    ops = tuple(min(max(o, 0), s - 1) for o, s in zip(p.output_padding, p.strides))
    clash = p.auto_pad != "NOTSET" and node.attr("pads") is not None
    if p.output_shape is not None:  # keep the node's way of stating its size
        for a, t in enumerate(targets):
            i, k, s, d = x[2 + a], p.kernel[a], p.strides[a], p.dilations[a]
            top = sizes.onnx_convtranspose_max_output_shape(i, k, s, d, ops[a])
            if not isinstance(t, int) or not isinstance(top, int):
                return (f"output axis {2 + a} must be {fmt_dim(t)} for input {fmt_dim(i)}: an output_shape states "
                        f"fixed sizes only")
            if t > top:
                return _out_of_reach(2 + a, t, i, k, s, d, top)
        new = {"output_shape": tuple(targets), "output_padding": ops}
        if clash:
            new["pads"] = None
        return new
    if clash:  # auto_pad and pads: keep the one whose reading gives the targets, where one does
        readings = {"pads": [sizes.onnx_convtranspose_out(x[2 + a], p.kernel[a], p.strides[a], p.dilations[a],
                                                          p.pads[a], p.pads[a + n], ops[a]) for a in range(n)],
                    "auto_pad": list(_own_sizes(x, p)[0])}
        if p.output_padding == ops and all(not isinstance(v, str) and sub(v, t) == 0
                                           for v, t in zip(readings["auto_pad"], targets)):
            return {"pads": None}
        if p.output_padding == ops and all(sub(v, t) == 0 for v, t in zip(readings["pads"], targets)):
            return {"auto_pad": None}
    # explicit pads (auto_pad NOTSET): from the node's own pads, or those its auto_pad derives
    pads, new_ops = [0] * (2 * n), [0] * n
    for a, t in enumerate(targets):
        i, k, s, d = x[2 + a], p.kernel[a], p.strides[a], p.dilations[a]
        pb, pe = _current_pads(x, p, a, clash)
        total = sub(sizes.onnx_convtranspose_out(i, k, s, d, 0, 0, 0), t)  # pb + pe − op must be this
        if not isinstance(total, int):
            return (f"output axis {2 + a} must be {fmt_dim(t)} for input {fmt_dim(i)}, which is no fixed offset of "
                    f"s·(i−1) + K = {fmt_dim(sizes.onnx_convtranspose_out(i, k, s, d, 0, 0, 0))}: no pads or "
                    f"output_padding give it at every size")
        got = _solve_pads(total, pb, pe, p.output_padding[a], s)
        if got is None:
            top = sizes.onnx_convtranspose_out(i, k, s, d, 0, 0, s - 1)
            return _out_of_reach(2 + a, t, i, k, s, d, top)
        pads[a], pads[a + n], new_ops[a] = got
    new = {"pads": tuple(pads), "output_padding": tuple(new_ops)}
    if p.auto_pad != "NOTSET":
        new["auto_pad"] = None
    return new


def _out_of_reach(axis: int, t, i, k: int, s: int, d: int, top) -> str:
    return (f"output axis {axis} must be {fmt_dim(t)}, but from input {fmt_dim(i)} (kernel {k}, stride {s}, "
            f"dilation {d}) a ConvTranspose onnxruntime accepts reaches at most {fmt_dim(top)}: pad its output "
            f"(Pad), or give it a larger input")


def _current_pads(x, p, a: int, clash: bool) -> tuple:
    """(begin, end) pads of axis ``a`` as the node has them: its pads (NOTSET, or beside an
    auto_pad), none (VALID), or the split onnxruntime derives for auto_pad SAME_* (the larger half
    at the end for SAME_UPPER, at the beginning for SAME_LOWER)."""
    n = p.n_spatial
    if p.auto_pad == "NOTSET" or clash:
        return p.pads[a], p.pads[a + n]
    if p.auto_pad == "VALID":
        return 0, 0
    i, k, s, d = x[2 + a], p.kernel[a], p.strides[a], p.dilations[a]
    total = sub(sizes.onnx_convtranspose_out(i, k, s, d, 0, 0, p.output_padding[a]),
                sizes.onnx_convtranspose_same_out(i, k, s, d, p.output_padding[a]))
    if not isinstance(total, int) or total < 0:
        return 0, 0
    small, large = total // 2, total - total // 2
    return (small, large) if p.auto_pad == "SAME_UPPER" else (large, small)


def _solve_pads(total: int, pb: int, pe: int, op: int, s: int):
    """(begin pad, end pad, output_padding) with begin + end − output_padding = ``total``, all pads
    ≥ 0 and 0 ≤ output_padding < s, as close to the node's (pb, pe, op) as can be: the pads alone
    kept; else the begin pad kept (the node's values then stay where its attributes put them) and
    symmetric, which PyTorch can express too; else the begin pad kept; else only a begin pad. None
    when the size is beyond the largest (total < −(s − 1))."""
    if 0 <= pb + pe - total < s:
        return pb, pe, pb + pe - total
    if 0 <= 2 * pb - total < s:
        return pb, pb, 2 * pb - total
    op2 = max(0, pb - total)
    if op2 < s:
        return pb, total - pb + op2, op2
    op2 = max(0, -total)
    if op2 < s:
        return total + op2, 0, op2
    return None


def _valid(p) -> bool:
    """What SL001 asks of the attributes fix writes: output_padding in 0…s−1, pads ≥ 0."""
    return all(0 <= o < s for o, s in zip(p.output_padding, p.strides)) and all(v >= 0 for v in p.pads)


class _Attrs:
    """A node seen with some attributes replaced (None: removed), to compute what they give."""

    def __init__(self, node, new: dict):
        self._node, self._new = node, new

    def attr(self, key: str, default=None):
        if key in self._new:
            return default if self._new[key] is None else self._new[key]
        return self._node.attr(key, default)


# --------------------------------------------------------------------------- applying the plan


@dataclass
class Outcome:
    """What :func:`run` did: the repairs (one line each), the findings it cannot repair and why,
    the SL001/SL003 findings left in the rewritten model, and the unified diff of the listing of
    the changed nodes."""

    lines: list = field(default_factory=list)
    cannot: list = field(default_factory=list)
    left: list = field(default_factory=list)
    diff: list = field(default_factory=list)
    written: bool = False

    def reasons(self) -> list:
        """One line per finding left: why fix could not repair it."""
        said = {(c.rule, c.node): c for c in self.cannot}
        out = []
        for f in self.left:
            c = said.get((f.rule, f.node))
            out.append(c.describe() if c is not None else one_line(f"{f.node}: {f.rule} left: {f.message}"))
        return out


def fix(path: str, dest: str | None, diff_only: bool = False) -> list:
    """:func:`run`, returning only the lines of the repairs made."""
    return run(path, dest, diff_only).lines


def run(path: str, dest: str | None = None, diff_only: bool = False) -> Outcome:
    """Repair SL001 (first: the sizes SL003 sees depend on it) and then SL003, round by round until
    nothing is left to repair; lint the result again for both. Writes ``dest`` unless
    ``diff_only`` (or no ``dest``) or nothing changed. A model that cannot be read raises ModelError."""
    import onnx

    _require_onnx(path)
    steps, cannot, found = _next_steps(path, None)  # shapelint's own reader first: a file that is not a model is a ModelError
    out = Outcome(cannot=list(cannot), left=found)
    if not steps:
        return out
    model = _load(path)
    weights = _take_weights(model)  # held once, here; the model keeps their names, types and dims
    original = _nodes_only(model)  # what --diff compares with: the nodes and the initializers' names
    done: set = set()
    grows = False  # a run-time crop and pad was inserted
    with tempfile.TemporaryDirectory(prefix="shapelint-fix-") as work:
        for rnd in range(MAX_ROUNDS):
            steps = [s for s in steps if s.key not in done]
            if not steps:
                break
            for step in steps:
                _apply(model, step, _fresh_tag(model))
                grows = grows or (isinstance(step, Step) and step.convt is None)
                done.add(step.key)
                out.lines.append(step.describe())
            current = os.path.join(work, f"round{rnd}.onnx")
            onnx.save(model, current)
            steps, cannot, out.left = _next_steps(current, model)
            known = {(k.rule, k.node) for k in out.cannot}
            out.cannot += [c for c in cannot if (c.rule, c.node) not in known]
    out.diff = unified_diff(original, model, os.path.basename(path))
    if diff_only or dest is None:
        return out
    if grows:
        _opset_at_least(model, 11, path)  # Slice and Pad with their sizes as inputs
    _relocate_external(model, os.path.dirname(os.path.abspath(path)), os.path.dirname(os.path.abspath(dest)))
    write_with(dest, "fixed model", lambda f: _write_model(f, model, weights))
    out.written = True
    return out


# --------------------------------------------------------------------------- weights, held once

WEIGHT_BYTES = 1 << 16  # an initializer's raw_data above this is moved out of the model while fixing


def _take_weights(model) -> list:
    """Move every large ``raw_data`` out of the model's initializers: [(index, bytes)]. The rounds
    lint the model without them (only dims are read), and :func:`_write_model` writes them back
    from here, so the weights are in memory once, never in the model and in a serialization too."""
    out = []
    for k, t in enumerate(model.graph.initializer):
        if t.HasField("raw_data"):
            data = t.raw_data
            if len(data) > WEIGHT_BYTES:
                t.ClearField("raw_data")
                out.append((k, data))
    return out


def _nodes_only(model):
    """A ModelProto with ``model``'s nodes and its initializers' names only (for --diff)."""
    import onnx

    light = onnx.ModelProto()
    light.graph.node.extend(model.graph.node)
    light.graph.initializer.extend(onnx.TensorProto(name=t.name) for t in model.graph.initializer)
    return light


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _write_model(f, model, weights: list) -> None:
    """Serialize ``model`` to ``f`` with the weights :func:`_take_weights` took put back, without a
    copy of them: the model without those initializers, then one more ``graph`` field per weight
    holding that initializer (a message field given twice is merged, and a repeated field inside
    is appended: protobuf's rule), its ``raw_data`` written straight from memory. Those
    initializers move to the end of the list; nothing else changes."""
    import onnx

    moved = {k for k, _ in weights}
    light = onnx.ModelProto()
    light.CopyFrom(model)  # (cheap: the large raw_data are out)
    keep = [t for k, t in enumerate(light.graph.initializer) if k not in moved]
    del light.graph.initializer[:]
    light.graph.initializer.extend(keep)
    f.write(light.SerializeToString())
    for k, data in weights:
        tensor = model.graph.initializer[k].SerializeToString() + b"\x4a" + _varint(len(data))  # raw_data = 9
        frag = b"\x2a" + _varint(len(tensor) + len(data)) + tensor  # GraphProto.initializer = 5
        f.write(b"\x3a" + _varint(len(frag) + len(data)))  # ModelProto.graph = 7
        f.write(frag)
        f.write(data)


def _next_steps(path: str, model) -> tuple:
    """(the repairs of the next round: SL001's, else SL003's; what cannot be repaired; the model's
    SL001/SL003 findings), from one lint of the model at ``path`` (``model``: its ModelProto, or
    None to read it when needed)."""
    analysed = analyse(path)
    found = [f for f in lint(path, select=set(RULES)).findings if f.severity != "info"]
    repairs, cannot = plan_sl001(path, model, analysed, found)
    steps = repairs or plan(path, analysed, found)
    branch = _branch_nodes(path, analysed[0])
    if branch:  # nodes of an If branch inference followed: not in the file's graph.node
        cannot = list(cannot) + [Cannot(s.key[0], n, "the node is inside an If branch; fix rewrites the nodes "
                                                     "of the main graph only: make the change in the branch by hand")
                                 for s in steps for n in _step_nodes(s) if n in branch]
        steps = [s for s in steps if not branch.intersection(_step_nodes(s))]
    return steps, cannot, found


def _step_nodes(step) -> tuple:
    return (step.node,) if isinstance(step, Repair) else tuple(n for n in (step.merge, step.convt) if n)


def _branch_nodes(path: str, graph) -> set:
    """The names of the nodes inference took from If branches (absent from the file's main graph)."""
    from .lint import load

    main = {n.name for n in load(path).nodes}
    return {n.name for n in graph.nodes} - main


def _load(path: str):
    """The ModelProto, parsed from a memory map of the file (its bytes are not read into memory
    beside the parsed model), without its external data."""
    import mmap

    import onnx

    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise ModelError(path, "empty file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                model = onnx.ModelProto()
                view = memoryview(mm)
                try:
                    model.ParseFromString(view)
                finally:
                    view.release()
        return model
    except ModelError:
        raise
    except Exception as e:  # shapelint's reader took it, onnx does not
        raise ModelError(path, f"onnx cannot read it: {type(e).__name__}: {str(e)[:200]}")


def _require_onnx(path: str) -> None:
    if is_saved_model(path) or path.lower().endswith((".keras", ".tflite")):
        raise ModelError(path, "shapelint fix rewrites ONNX models only; for this format, make the change the "
                               "finding's fix names in the model code")


def _apply(model, step, tag: str) -> None:
    from onnx import helper, numpy_helper

    from .escape import name as escaped

    g = model.graph
    # the IR's names are escaped (escape.name, injective): the file's own names are found by theirs
    raw = {escaped(t): t for n in g.node for t in list(n.input) + list(n.output)}
    raw.update((escaped(t.name), t.name) for t in g.input)
    if isinstance(step, Repair):
        node = next(n for n in g.node if n.output and n.output[0] == raw.get(step.node_output))
        for name, (_old, new) in step.attrs.items():
            keep = [a for a in node.attribute if a.name != name]
            if new is not None:
                keep.append(helper.make_attribute(name, list(new) if isinstance(new, tuple) else new))
            del node.attribute[:]
            node.attribute.extend(keep)
        return
    if step.convt is not None:
        node = next(n for n in g.node if n.output and n.output[0] == raw.get(step.convt_output))
        for name, (_old, new) in step.attrs.items():
            keep = [a for a in node.attribute if a.name != name]
            del node.attribute[:]
            node.attribute.extend(keep + [helper.make_attribute(name, list(new))])
        return
    axes, rank = list(step.axes), step.rank
    ax = numpy_helper.from_array(_i64(axes), f"{tag}_axes")
    zeros = numpy_helper.from_array(_i64([0] * len(axes)), f"{tag}_zeros")
    # Pad (opset 11) takes [begin of every axis, end of every axis]: nothing at the begins; at the
    # ends, the skip's size minus the cropped one on the fitted axes (scattered into the cropped
    # tensor's own shape, so every other axis gets 0)
    begins = numpy_helper.from_array(_i64([0] * rank), f"{tag}_begins")
    g.initializer.extend([ax, zeros, begins])
    up, skip = raw.get(step.up, step.up), raw.get(step.skip, step.skip)
    nodes = [
        helper.make_node("Shape", [skip], [f"{tag}_skip_shape"], name=f"{tag}/skip_shape"),
        helper.make_node("Gather", [f"{tag}_skip_shape", ax.name],
                         [f"{tag}_size" if step.kind == "equal" else f"{tag}_skip_size"], name=f"{tag}/size", axis=0),
    ]
    if step.kind == "broadcast":
        # where the skip's size is 1 it broadcasts, and the original ran: keep the upsampled size
        # there. target = s + (u − s)·max(0, 2 − s), which is u for s = 1 and s for s ≥ 2
        two, zero = (numpy_helper.from_array(_i64([v] * len(axes)), f"{tag}_{n}") for v, n in ((2, "two"), (0, "zero")))
        g.initializer.extend([two, zero])
        nodes += [
            helper.make_node("Shape", [up], [f"{tag}_up_shape"], name=f"{tag}/up_shape"),
            helper.make_node("Gather", [f"{tag}_up_shape", ax.name], [f"{tag}_up_size"], name=f"{tag}/up_size", axis=0),
            helper.make_node("Sub", [two.name, f"{tag}_skip_size"], [f"{tag}_2ms"], name=f"{tag}/two_minus_skip"),
            helper.make_node("Max", [zero.name, f"{tag}_2ms"], [f"{tag}_is1"], name=f"{tag}/skip_is_1"),
            helper.make_node("Sub", [f"{tag}_up_size", f"{tag}_skip_size"], [f"{tag}_ums"], name=f"{tag}/up_minus_skip"),
            helper.make_node("Mul", [f"{tag}_ums", f"{tag}_is1"], [f"{tag}_keep"], name=f"{tag}/keep"),
            helper.make_node("Add", [f"{tag}_skip_size", f"{tag}_keep"], [f"{tag}_size"], name=f"{tag}/target_size"),
        ]
    nodes += [
        helper.make_node("Slice", [up, zeros.name, f"{tag}_size", ax.name], [f"{tag}_crop"], name=f"{tag}/crop"),
        helper.make_node("Shape", [f"{tag}_crop"], [f"{tag}_crop_shape"], name=f"{tag}/crop_shape"),
        helper.make_node("ScatterElements", [f"{tag}_crop_shape", ax.name, f"{tag}_size"], [f"{tag}_target"],
                         name=f"{tag}/target", axis=0),
        helper.make_node("Sub", [f"{tag}_target", f"{tag}_crop_shape"], [f"{tag}_missing"], name=f"{tag}/missing"),
        helper.make_node("Concat", [begins.name, f"{tag}_missing"], [f"{tag}_pads"], name=f"{tag}/pads", axis=0),
        helper.make_node("Pad", [f"{tag}_crop", f"{tag}_pads"], [f"{tag}_fit"], name=f"{tag}/pad"),
    ]
    ordered = []
    for n in g.node:
        if n.output and n.output[0] == raw.get(step.merge_output):
            ordered.extend(nodes)
            for k, i in enumerate(n.input):
                if i == up:
                    n.input[k] = f"{tag}_fit"
        ordered.append(n)
    del g.node[:]
    g.node.extend(ordered)


def _fresh_tag(model) -> str:
    """A prefix no name in the model starts with (a model fixed before keeps its earlier ones)."""
    g = model.graph
    taken = {n.name for n in g.node} | {o for n in g.node for o in n.output} | {t.name for t in g.initializer}
    k = 0
    while any(name.startswith(f"shapelint_fit_{k}_") or name.startswith(f"shapelint_fit_{k}/") for name in taken):
        k += 1
    return f"shapelint_fit_{k}"


def _i64(values):
    import numpy as np

    return np.asarray(values, dtype=np.int64)


def _opset_at_least(model, version: int, path: str) -> None:
    have = default_opset(model)
    if have is not None and have < version:
        raise ModelError(path, f"the fix needs opset {version} (Slice/Pad with tensor inputs); the model has {have}")


def _relocate_external(model, src_dir: str, dst_dir: str) -> None:
    """External data stays where it is, so the fixed model must sit in the same folder: onnx
    refuses external data outside the model's own folder."""
    if src_dir == dst_dir:
        return
    if any(entry.key == "location" for t in model.graph.initializer for entry in t.external_data):
        raise ModelError(dst_dir, "the model keeps its weights as external data: write the fixed model into "
                                  f"the same folder as the original ({src_dir}), where those files are")


# --------------------------------------------------------------------------- --diff


def unified_diff(before, after, name: str) -> list:
    """The unified diff (``--- a/NAME``, ``+++ b/NAME``) from the listing of the nodes that differ
    between two ModelProtos as they are in ``before`` to their listing in ``after``
    (:func:`changed_listings`)."""
    import difflib

    old, new = changed_listings(before, after)
    label = _escaped(name)
    return list(difflib.unified_diff(old, new, f"a/{label}", f"b/{label}", lineterm=""))


def changed_listings(before, after) -> tuple:
    """(the listing of the nodes of ``before`` that ``after`` changes or removes, the listing of
    those in ``after`` and of the nodes and initializers it adds), each in graph order."""
    def blocks(model):
        return [(_node_key(n, k), node_lines(n)) for k, n in enumerate(model.graph.node)]

    old, new = blocks(before), blocks(after)
    old_map, new_map = dict(old), dict(new)
    changed = {k for k, lines in new if old_map.get(k) != lines} | {k for k in old_map if k not in new_map}
    inits = {t.name for t in before.graph.initializer}
    added = [initializer_line(t) for t in after.graph.initializer if t.name not in inits]
    return ([line for k, lines in old if k in changed for line in lines],
            [line for k, lines in new if k in changed for line in lines] + added)


def listing(model) -> list:
    """Every node of a ModelProto, as :func:`node_lines` lists it."""
    return [line for n in model.graph.node for line in node_lines(n)]


def node_lines(node) -> list:
    """A node as text, one line for the node and one per attribute (sorted by name), every name
    quoted and escaped: ``node "up3" ConvTranspose("x", "w") -> "y"`` then
    ``    output_padding = [0, 0]``."""
    op = f"{node.domain}::{node.op_type}" if node.domain else node.op_type  # as the file has it
    head = (f"node {_escaped(node.name, quote=True)} {_escaped(op)}("
            + ", ".join(_escaped(i, quote=True) for i in node.input) + ") -> "
            + ", ".join(_escaped(o, quote=True) for o in node.output))
    return [head] + [f"    {_escaped(a.name)} = {_attr_text(a)}" for a in sorted(node.attribute, key=lambda a: a.name)]


def initializer_line(t) -> str:
    """An initializer: its name, dtype, dims and, when small, its values."""
    import onnx
    from onnx import numpy_helper

    dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name if t.data_type else "undefined"
    text = f"initializer {_escaped(t.name, quote=True)} {dtype}{list(t.dims)}"
    if not t.external_data and _numel(t.dims) <= 16:
        text += f" = {numpy_helper.to_array(t).tolist()}"
    return text


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _attr_text(a) -> str:
    from onnx import AttributeProto

    kind = a.type
    if kind == AttributeProto.INT:
        return str(a.i)
    if kind == AttributeProto.FLOAT:
        return repr(a.f)
    if kind == AttributeProto.STRING:
        return _escaped(a.s.decode("utf-8", "backslashreplace"), quote=True)
    if kind == AttributeProto.INTS:
        return str(list(a.ints))
    if kind == AttributeProto.FLOATS:
        return str(list(a.floats))
    if kind == AttributeProto.STRINGS:
        return "[" + ", ".join(_escaped(v.decode("utf-8", "backslashreplace"), quote=True) for v in a.strings) + "]"
    if kind == AttributeProto.TENSOR:
        return initializer_line(a.t).split(" ", 2)[2]  # dtype, dims, values
    if kind == AttributeProto.GRAPH:
        return f"graph {_escaped(a.g.name, quote=True)} ({len(a.g.node)} nodes)"
    return f"<{AttributeProto.AttributeType.Name(kind).lower()}>"


def _node_key(node, index: int):
    """How a node is recognised before and after: its first output (fix never renames one)."""
    return ("output", node.output[0]) if node.output and node.output[0] else ("index", index)


def _escaped(text: str, quote: bool = False) -> str:
    """``text`` as escape.name shows a name (every character that is not printable, and the
    backslash, escaped: a listing line is one line and shows what the name is), in double quotes
    with its own quotes escaped when ``quote``."""
    from .escape import name

    body = name(text)
    return '"' + body.replace('"', '\\"') + '"' if quote else body
