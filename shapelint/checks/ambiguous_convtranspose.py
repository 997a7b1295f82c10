"""SL002 ambiguous-convtranspose: a transposed convolution whose output size depends on whose
reading of it you take.

A stride-s transposed convolution maps s output sizes back to the same input size; which one it
produces is a convention (PyTorch's output_padding, Keras's formula, TF's ``input_sizes``, ...).
Every framework alike, at info severity: the admissible sizes, the one chosen and how to pick
another (``Dialect.transposed_choices``). Where two readings of the node's own attributes
disagree (ONNX auto_pad=SAME with output_padding: onnx shape inference and onnxruntime), a
warning (``Dialect.transposed_disputes``), and no convention to report.
"""

from __future__ import annotations

from ..findings import Violation
from ..sizes import within_admissible
from ..symbolic import add, fmt_dim
from ._context import CheckContext
from .invalid_convtranspose import transposed_nodes, violation

MAX_LISTED = 64  # admissible sizes listed one by one up to this stride


def check(ctx: CheckContext):
    """SL002: sizes that depend on whose reading of the attributes you take."""
    for node, d in transposed_nodes(ctx, self_sized=True):
        disputes = list(d.transposed_disputes(ctx.inferred, node)) if d.transposed_disputes else []
        for issue in disputes:
            yield violation(node, issue)
        if disputes or d.transposed_choices is None:
            continue
        for ax in d.transposed_choices(ctx.inferred, node):
            if ax.s <= 1 or ax.s > MAX_LISTED:
                continue  # stride 1: one size; huge strides: not listed size by size
            if not _fits(ax):
                break  # SL001
            yield _admits(node, ax)
            break


def _fits(ax) -> bool:
    """Whether the chosen size is one of the admissible ones (for a symbolic size: at every size)."""
    if ax.inside is not None:
        return ax.inside
    inside = within_admissible(ax.o, ax.low, ax.s)
    return inside is True or isinstance(inside, tuple) and inside[1].is_everything()


def _admits(node, ax) -> Violation:
    text = ax.text or fmt_dim
    options = [add(ax.low, j) for j in range(ax.s)]
    return Violation(
        node.name, node.op,
        f"{ax.name}: input {fmt_dim(ax.i)} admits {ax.s} output sizes {{{', '.join(map(fmt_dim, options))}}}"
        f"{ax.shown}; {ax.chooser} {fmt_dim(ax.o)}{ax.after}",
        ax.fix, (),
        {"axis": ax.axis, "input": text(ax.i), "admissible": [text(v) for v in options], "chosen": text(ax.o),
         **dict(ax.extra)},
        severity="info")
