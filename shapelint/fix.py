"""``shapelint fix``: rewrite an ONNX model so that its skip connections fit at every input size.

At fixed sizes, the ConvTranspose that feeds a merge gets the ``output_padding`` (and, when that
alone cannot, symmetric ``pads``) SL003 suggests, which make its output the skip's size. Otherwise (dynamic sizes, a Resize, a ConvTranspose with
``output_shape``), the upsampled branch is cropped and then padded to the skip tensor's run-time
size -- ``Slice(u, 0, Shape(skip)[axes])`` then ``Pad`` by ``Shape(skip) − Shape(u')`` at the end
of each axis -- the standard repair (milesial/Pytorch-UNet pads, others crop), so every size the
rest of the model admits works. Weights are never read or rewritten:
the model is parsed without its external data, and external references keep pointing at the same
files. This is the output stage: it imports onnx, and runs after the checks.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Optional

from .analysis import convtranspose_fit, merge_spec
from .trace import data_input, find_upsampler, is_upsampler, lineage
from .errors import ModelError
from .frameworks import dialect
from .frameworks.onnx import convtranspose_params, default_opset
from .lint import analyse, lint
from . import sizes

MAX_ROUNDS = 64  # a fix can reveal the next merge out (an Add of two sizes has no size before)


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

    def describe(self) -> str:
        if self.convt is None:
            where = " (where that size is not 1: a skip of size 1 broadcasts)" if self.kind == "broadcast" else ""
            return (f"{self.merge}: crop and pad '{self.up}' on axes {list(self.axes)} to the run-time size of "
                    f"'{self.skip}'{where} (Shape, Gather, Slice, ScatterElements, Pad)")
        changes = ", ".join(f"{k} {list(old)} → {list(new)}" for k, (old, new) in self.attrs.items())
        grown = ", ".join(f"axis {a}: {o} → {n}" for a, o, n in self.sizes)
        return f"{self.convt}: {changes} (output {grown}, the size of '{self.skip}' at {self.merge})"


def plan(path: str) -> list:
    """A :class:`Step` per input of an SL003 merge that must be fitted to the merge's reference
    input (the one with the fewest upsampling ops on its branch: the skip), on the spatial axes
    where the two differ: never a Concat's own axis, never an axis where an elementwise input is
    1 (it broadcasts), and such an input is never the reference."""
    graph, inf = analyse(path)
    res = lint(path, select={"SL003"})
    by_name = {n.name: n for n in graph.nodes}
    out = []
    for f in res.findings:
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


def fix(path: str, dest: str | None, diff_only: bool = False) -> list:
    """Apply the plan, round by round until no merge is left to fix; returns the lines of the
    diff. Writes ``dest`` unless ``diff_only``."""
    import onnx

    steps = plan(path)  # shapelint's own reader first: a file that is not a model is a ModelError
    if not steps:
        return []
    model = onnx.load(path, load_external_data=False)
    lines: list = []
    done: set = set()
    grows = False  # a run-time crop and pad was inserted
    with tempfile.TemporaryDirectory(prefix="shapelint-fix-") as work:
        for rnd in range(MAX_ROUNDS):
            steps = [s for s in steps if (s.merge, s.up) not in done]
            if not steps:
                break
            for step in steps:
                _apply(model, step, _fresh_tag(model))
                grows = grows or step.convt is None
                done.add((step.merge, step.up))
                lines.append(step.describe())
            current = os.path.join(work, f"round{rnd}.onnx")
            onnx.save(model, current)
            steps = plan(current)
    if diff_only or not lines:
        return lines
    if grows:
        _opset_at_least(model, 11)  # Slice and Pad with their sizes as inputs
    _relocate_external(model, os.path.dirname(os.path.abspath(path)), os.path.dirname(os.path.abspath(dest)))
    tmp = dest + ".shapelint-tmp"
    try:
        onnx.save(model, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lines


def _apply(model, step: Step, tag: str) -> None:
    from onnx import helper, numpy_helper

    from .escape import name as escaped

    g = model.graph
    # the IR's names are escaped (escape.name, injective): the file's own names are found by theirs
    raw = {escaped(t): t for n in g.node for t in list(n.input) + list(n.output)}
    raw.update((escaped(t.name), t.name) for t in g.input)
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


def _opset_at_least(model, version: int) -> None:
    have = default_opset(model)
    if have is not None and have < version:
        raise ModelError("", f"the fix needs opset {version} (Slice/Pad with tensor inputs); the model has {have}")


def _relocate_external(model, src_dir: str, dst_dir: str) -> None:
    """External data stays where it is, so the fixed model must sit in the same folder: onnx
    refuses external data outside the model's own folder."""
    if src_dir == dst_dir:
        return
    if any(entry.key == "location" for t in model.graph.initializer for entry in t.external_data):
        raise ModelError(dst_dir, "the model keeps its weights as external data: write the fixed model into "
                                  f"the same folder as the original ({src_dir}), where those files are")
