"""``shapelint fix``: rewrite an ONNX model so that its skip connections fit at every input size.

For each merge SL003 reports, the upsampled branch is cropped and then padded to the skip
tensor's run-time size -- ``Slice(u, 0, Shape(skip)[axes])`` then ``Pad`` by ``Shape(skip) −
Shape(u')`` at the end of each axis -- the standard repair (milesial/Pytorch-UNet pads, others
crop), so every size the rest of the model admits works. Weights are never read or rewritten:
the model is parsed without its external data, and external references keep pointing at the same
files. This is the output stage: it imports onnx, and runs after the checks.
"""

from __future__ import annotations

import os

from .checks._trace import find_upsampler
from .errors import ModelError
from .lint import analyse, lint


def plan(path: str) -> list:
    """[(merge node, upsampled input name, skip input name, axes)] for the SL003 findings."""
    graph, inf = analyse(path)
    res = lint(path, select={"SL003"})
    out = []
    for f in res.findings:
        names = f.details.get("inputs") or []
        if len(names) != 2:
            continue
        up = [n for n in names if find_upsampler(inf, n) is not None]
        if len(up) != 1:
            continue
        skip = next(n for n in names if n != up[0])
        s_up, s_skip = inf.shape(up[0]), inf.shape(skip)
        if s_up is None or s_skip is None or len(s_up) != len(s_skip) or len(s_up) < 3:
            continue
        if any(s_up[a] != s_skip[a] for a in range(2, len(s_up))):
            out.append((f.node, up[0], skip, list(range(2, len(s_up)))))  # every spatial axis
    return out


def fix(path: str, dest: str | None, diff_only: bool = False) -> list:
    """Apply the plan; returns the lines of the diff. Writes ``dest`` unless ``diff_only``."""
    import onnx
    from onnx import helper, numpy_helper

    steps = plan(path)
    lines = []
    if not steps:
        return lines
    model = onnx.load(path, load_external_data=False)
    g = model.graph
    new_nodes: dict = {}  # merge node name -> nodes to insert before it
    for merge, up, skip, axes in steps:
        tag = f"shapelint_fit_{len(new_nodes)}"
        rank = axes[-1] + 1
        ax = numpy_helper.from_array(_i64(axes), f"{tag}_axes")
        zeros = numpy_helper.from_array(_i64([0] * len(axes)), f"{tag}_zeros")
        # Pad (opset 11) takes [begin of every axis, end of every axis]: nothing at the begins, nor at
        # the end of N and C; the missing size at the end of each spatial axis
        lead = numpy_helper.from_array(_i64([0] * (rank + 2)), f"{tag}_lead")
        g.initializer.extend([ax, zeros, lead])
        nodes = [
            helper.make_node("Shape", [skip], [f"{tag}_skip_shape"], name=f"{tag}/skip_shape"),
            helper.make_node("Gather", [f"{tag}_skip_shape", ax.name], [f"{tag}_size"], name=f"{tag}/size", axis=0),
            helper.make_node("Slice", [up, zeros.name, f"{tag}_size", ax.name], [f"{tag}_crop"], name=f"{tag}/crop"),
            helper.make_node("Shape", [f"{tag}_crop"], [f"{tag}_crop_shape"], name=f"{tag}/crop_shape"),
            helper.make_node("Gather", [f"{tag}_crop_shape", ax.name], [f"{tag}_crop_size"], name=f"{tag}/crop_size",
                             axis=0),
            helper.make_node("Sub", [f"{tag}_size", f"{tag}_crop_size"], [f"{tag}_missing"], name=f"{tag}/missing"),
            helper.make_node("Concat", [lead.name, f"{tag}_missing"], [f"{tag}_pads"], name=f"{tag}/pads", axis=0),
            helper.make_node("Pad", [f"{tag}_crop", f"{tag}_pads"], [f"{tag}_fit"], name=f"{tag}/pad"),
        ]
        new_nodes[merge] = (up, f"{tag}_fit", nodes)
        lines.append(f"{merge}: crop and pad '{up}' on axes {axes} to the run-time size of '{skip}' "
                     f"(+{len(nodes)} nodes: Shape, Gather, Slice, Shape, Gather, Sub, Concat, Pad)")
    if diff_only:
        return lines
    ordered = []
    for n in g.node:
        if n.name in new_nodes:
            up, fit, nodes = new_nodes[n.name]
            ordered.extend(nodes)
            for k, i in enumerate(n.input):
                if i == up:
                    n.input[k] = fit
        ordered.append(n)
    del g.node[:]
    g.node.extend(ordered)
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


def _i64(values):
    import numpy as np

    return np.asarray(values, dtype=np.int64)


def _opset_at_least(model, version: int) -> None:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            if imp.version < version:
                raise ModelError("", f"the fix needs opset {version} (Slice/Pad with tensor inputs); the model has "
                                     f"{imp.version}")
            return


def _relocate_external(model, src_dir: str, dst_dir: str) -> None:
    """External data stays where it is, so the fixed model must sit in the same folder: onnx
    refuses external data outside the model's own folder."""
    if src_dir == dst_dir:
        return
    if any(entry.key == "location" for t in model.graph.initializer for entry in t.external_data):
        raise ModelError(dst_dir, "the model keeps its weights as external data: write the fixed model into "
                                  f"the same folder as the original ({src_dir}), where those files are")
