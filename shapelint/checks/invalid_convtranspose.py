"""SL001 invalid-convtranspose: a transposed convolution whose attributes or output size the
framework's runtime rejects -- or, where it does not check (TFLite), runs with wrong values.

One module for every framework: each dialect states what its runtime rejects and in which words
(``Dialect.transposed_rejects``: ONNX's attribute checks, TF's admissible ``input_sizes``, Keras's
own size formula, TFLite's unchecked ``output_shape``); this check asks the node's dialect.
"""

from __future__ import annotations

from ..findings import Violation
from ..frameworks import dialect
from ._context import CheckContext


def transposed_nodes(ctx: CheckContext, self_sized: bool = False):
    """(node, its dialect) for every transposed convolution, in graph order (with ``self_sized``,
    also those that size their output by their own formula)."""
    for node in ctx.graph.nodes:
        d = dialect(node)
        if node.op in d.transposed_ops or self_sized and node.op in d.self_sized_transposed_ops:
            yield node, d


def violation(node, issue) -> Violation:
    return Violation(node.name, node.op, issue.message, issue.fix, (), issue.details, issue.severity)


def check(ctx: CheckContext):
    """SL001: attributes and sizes the runtime rejects."""
    for node, d in transposed_nodes(ctx):
        if d.transposed_rejects is None:
            continue
        for issue in d.transposed_rejects(ctx.inferred, node, lambda: node.input(0) in ctx.stops):
            yield violation(node, issue)
