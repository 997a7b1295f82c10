"""SL004 input-too-small: at fixed sizes, a Conv or pool whose output would be empty or negative.

onnxruntime fails at the Conv ("Invalid input shape") when its output is < 1, and at a pool when
its output is < 0; a ConvTranspose output ≤ 0 is SL001. The TF family's 2-D windows fail below 0
and give an empty tensor at 0 without an error: a warning, in the words of the node's dialect
(``empty_window``), except where the dialect knows it fails in every build (``fails_at_zero``: a Keras
Conv2D whose channel count is checked after it): an error. Merges after such a node are not reported: the runtime never
reaches them.
"""

from __future__ import annotations

from ..analysis import empty_windows, too_small
from ..frameworks import dialect
from ..findings import Violation
from ._context import CheckContext
from ..trace import fmt_shape


def check(ctx: CheckContext):
    stops = ctx.stops
    for node, x, shape, bad in too_small(ctx.inferred):
        if node.op == "ConvTranspose":
            continue  # SL001 reports it with the attribute to change
        if any(i in stops for i in node.inputs if i):
            continue  # the runtime stops before this node
        a = bad[0]  # the spatial axis, as the node's dialect lays them out
        kernel = node.attr("kernel_shape")
        if kernel is None and node.op == "Conv":
            w = ctx.shape(node.input(1))
            kernel = tuple(w[2:]) if w is not None else None
        what = "pooled output" if "pool" in node.op.lower() else "output"
        attrs = (f" (kernel {list(kernel)}, strides {list(node.attr('strides') or [])}, pads "
                 f"{list(node.attr('pads') or [])})") if kernel else ""
        why = dialect(node).fails_at_zero(ctx.inferred, node) if shape[a] == 0 and dialect(node).fails_at_zero else ""
        yield Violation(
            node.name,
            node.op,
            f"{node.op} '{node.name}': {what} axis {a} is {shape[a]} for input {fmt_shape(x)}{attrs}: "
            + (f"{ctx.runtime} fails here: {why}" if why else f"{ctx.runtime} fails here"),
            f"use a larger input (axis {a} of '{node.input(0)}' must be at least the kernel's extent "
            f"minus the pads), or pad the input of '{node.name}'",
            (),
            {"axis": a, "input_shape": fmt_shape(x), "output_shape": fmt_shape(shape)},
        )
    # a window larger than its input by less than the stride: 0, which the TF family runs silently
    for node, x, shape, zero in empty_windows(ctx.inferred):
        if any(i in stops for i in node.inputs if i):
            continue
        a = zero[0]
        yield Violation(
            node.name,
            node.op,
            f"{node.op} '{node.name}': output axis {a} is 0 for input {fmt_shape(x)} (its window is larger than "
            f"the input): {dialect(node).empty_window}",
            f"use a larger input (axis {a} of '{node.input(0)}' must be at least the window's extent), or pad "
            f"the input of '{node.name}'",
            (),
            {"axis": a, "input_shape": fmt_shape(x), "output_shape": fmt_shape(shape)},
            "warning",
        )
