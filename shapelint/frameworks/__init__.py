"""Every framework shapelint reads, as one :class:`~.base.Dialect` record per module, registered
once here. Adding a framework: a loader, a dialect module, and one line in ``DIALECTS``.

Everything outside this package (inference, analysis, checks, explain, fix) asks the record of
a node (:func:`dialect`) or of a graph (:func:`of_graph`), never which framework it is.
"""

from __future__ import annotations

from . import keras, onnx, tf, tflite
from .base import Alias, Dialect, RuleContext, TransposedAxis, TransposedChoice, TransposedIssue, alias

__all__ = ["Alias", "DIALECTS", "Dialect", "RuleContext", "TransposedAxis", "TransposedChoice", "TransposedIssue", "alias", "dialect", "of_domain", "of_graph", "op_key", "op_keys"]

# framework name (Graph.framework) -> its dialect; one line per framework
DIALECTS: dict = {d.name: d for d in (onnx.DIALECT, tf.DIALECT, keras.DIALECT, tflite.DIALECT)}

_BY_DOMAIN: dict = {dom: d for d in DIALECTS.values() for dom in d.domains}
# a node of a domain no dialect knows (a custom op): no rules, no merges, nothing sized
UNKNOWN = Dialect(name="unknown", domains=(), runtime="the runtime")


def of_domain(domain: str) -> Dialect:
    return _BY_DOMAIN.get(domain, UNKNOWN)


def dialect(node) -> Dialect:
    """The dialect of a node (by its IR domain)."""
    return _BY_DOMAIN.get(node.domain, UNKNOWN)


def of_graph(graph) -> Dialect:
    return DIALECTS.get(graph.framework, UNKNOWN)


def _key(domain: str, op: str) -> str:
    return f"{domain}.{op}" if domain else op


def op_key(node) -> str:
    """The node's op as messages and registries name it: "Conv" for ONNX, "tf.Conv2D" otherwise."""
    d = _BY_DOMAIN.get(node.domain)
    return _key(d.domains[0] if d is not None else node.domain, node.op)


def op_keys(field: str) -> frozenset:
    """Every dialect's ops in one of its op-set fields (``"sized_ops"``, ...), as op_key names them."""
    return frozenset(_key(d.domains[0], op) for d in DIALECTS.values() for op in getattr(d, field))
