"""SL004 input-too-small: at fixed sizes, a Conv or pool whose output would be empty or negative.

onnxruntime fails at the Conv ("Invalid input shape") when its output is < 1, and at a pool when
its output is < 0; a ConvTranspose output ≤ 0 is SL001. Merges after such a node are not
reported: the runtime never reaches them.
"""

from __future__ import annotations

from ..analysis import too_small
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
        a = bad[0]
        kernel = node.attr("kernel_shape")
        if kernel is None and node.op == "Conv":
            w = ctx.shape(node.input(1))
            kernel = tuple(w[2:]) if w is not None else None
        what = "output" if node.op == "Conv" else "pooled output"
        yield Violation(
            node.name,
            node.op,
            f"{node.op} '{node.name}': {what} axis {a + 2} is {shape[a + 2]} for input {fmt_shape(x)} "
            f"(kernel {list(kernel) if kernel else '?'}, strides {list(node.attr('strides') or [])}, pads "
            f"{list(node.attr('pads') or [])}): {ctx.runtime} fails here",
            f"use a larger input (axis {a + 2} of '{node.input(0)}' must be at least the kernel's extent "
            f"minus the pads), or pad the input of '{node.name}'",
            (),
            {"axis": a + 2, "input_shape": fmt_shape(x), "output_shape": fmt_shape(shape)},
        )
