"""Shape inference over the IR: every tensor's shape, and the values of small integer tensors.

Shapes are tuples of dims (``int``, symbolic ``Expr``, or ``None`` for unknown); a tensor of
unknown rank has shape ``None``. Values (``Shape`` outputs, pads, sizes, scales) are flat tuples
of dims or floats, so sizes computed at run time stay symbolic and constant subgraphs fold.
An op without a rule gives unknown outputs and a note -- never a guess; where a shape is first
lost, ``Inferred.lost`` says which node and why.

This is the engine; what each op does is its framework's (``frameworks/``: ONNX's shape rules in
frameworks/onnx.py, ``grep '"Conv"'`` finds Conv's). ``_infer_node`` runs the node's shape rule,
then its value rule (values.py for ONNX), which sees the output shapes the shape rule found.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Optional

from . import limits
from .frameworks import Alias, Dialect, RuleContext, dialect, of_domain, of_graph, op_key
from .ir import Graph, Node
from .symbolic import (
    Expr,
    Invalid,
    Sym,
    sym,
)

from .values import MAX_FLOAT_CONSTANT_ELEMENTS, MAX_VALUE_ELEMENTS
from .values import expr_size
from .values import NotFollowed as _NotFollowed, Unknown as _Unknown


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
    # where a shape was lost: node name -> (op, reason), for the first node on each path whose
    # inputs were all known but an output's shape is not
    lost: dict = field(default_factory=dict)
    why_no_value: dict = field(default_factory=dict)  # tensor name -> why its value is unknown
    tainted: set = field(default_factory=set)  # tensors whose shape is unknown because of an earlier loss
    why_input_unknown: dict = field(default_factory=dict)  # graph input -> why its shape is not followed

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
        if c is not None and (c.size <= MAX_VALUE_ELEMENTS and not c.dtype.startswith("float")
                              or c.size <= MAX_FLOAT_CONSTANT_ELEMENTS and len(c.shape) <= 1):
            v = c.values()
        self.values[name] = v
        return v


def infer(graph: Graph, pins: Optional[dict] = None, _round: int = 0) -> Inferred:
    """Infer every tensor. ``pins`` maps an input name to concrete dims that replace its own.
    Where the dialect refines the graph from what was inferred (ONNX If with a decided condition,
    replaced by its branch), inference runs again on the refined graph: ``Inferred.graph`` is the
    graph the analysis reads."""
    inf = Inferred(graph)
    pins = pins or {}
    for t in graph.inputs:
        shape = pins.get(t.name, t.shape)
        if shape is not None and len(shape) > limits.MAX_RANK:
            inf.why_input_unknown[t.name] = (f"rank {len(shape)}, over the limit of {limits.MAX_RANK} "
                                             f"(shapelint.limits.MAX_RANK): its shape is not followed")
            shape = None
        if shape is None:
            inf.shapes[t.name] = None
            inf.tainted.add(t.name)
            continue
        dims = []
        for axis, d in enumerate(shape):
            if isinstance(d, str):
                inf.symbols.setdefault(d, (t.name, axis))
                dims.append(sym(d))
            else:
                dims.append(d)
        inf.shapes[t.name] = tuple(dims)
        if any(d is None for d in dims):
            inf.tainted.add(t.name)  # unknown in the model itself, not lost by an op
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
    refine = of_graph(graph).refine
    if refine is not None and _round < limits.MAX_IF_ROUNDS:
        refined = refine(graph, inf)
        if refined is not None:
            return infer(refined, pins, _round + 1)
    return inf


# what a rule raises on a node that does not make sense (a malformed model): its outputs are unknown.
# Python's own errors (TypeError, KeyError, ...) are caught too, so that a model we did not foresee
# never gets a traceback -- except with SHAPELINT_STRICT=1 (the test suite sets it): there a bug in
# a rule fails the test instead of passing as a "malformed node".
_MALFORMED = (_Unknown, Invalid, ValueError, ZeroDivisionError, OverflowError, RecursionError)
CAUGHT = _MALFORMED if os.environ.get("SHAPELINT_STRICT") == "1" else \
    _MALFORMED + (TypeError, IndexError, AttributeError, KeyError)


def _resolve(d: Dialect, op: str, node: Node) -> tuple:
    """(dialect, op, node) whose rules apply, following aliases (of aliases) across dialects."""
    rule = d.shape_rules.get(op)
    while isinstance(rule, Alias):
        if rule.attrs:
            node = replace(node, attrs=rule.attrs + tuple(node.attrs))
        d, op = of_domain(rule.domain), rule.op
        rule = d.shape_rules.get(op)
    return d, op, node, rule


def _infer_node(inf: Inferred, node: Node) -> None:
    own = dialect(node)
    d, op, eff, rule = _resolve(own, node.op, node)
    results = None
    why = None
    ctx = RuleContext(inf, eff, op, own.int_attrs, inf.graph.opset if own.opset is None else own.opset)
    if rule is None:
        key = op_key(node)
        inf.unknown_ops[key] = inf.unknown_ops.get(key, 0) + 1
        why = f"no shape rule for op {key}"
    else:
        try:
            results = rule(ctx)
        except CAUGHT as e:
            results = None  # a malformed node (or one not followed): its outputs are unknown
            if not isinstance(e, _NotFollowed):
                inf.failed.append(node.name)
            why = _message(e)
    n_out = len(node.outputs)
    if results is None:
        shapes, values, value_why = [None] * n_out, [None] * n_out, why
    else:
        shapes, given = [], []
        for j in range(n_out):
            shape, value = results[j] if j < len(results) else (None, None)
            if shape is not None:
                shape = tuple(shape)
                if len(shape) > limits.MAX_RANK:  # (ops over every dim of a shape cost its rank squared)
                    shape, why = None, why or f"a rank of {len(shape)}, over the limit of {limits.MAX_RANK} " \
                                              f"(shapelint.limits.MAX_RANK)"
                elif _too_large(shape):
                    # a dim whose exact expression has grown past what can be followed (nested broadcasts
                    # and window paddings multiply): unknown, said so, rather than minutes of arithmetic
                    shape = tuple(None if isinstance(d, Expr) and expr_size(d) > MAX_DIM_SIZE else d for d in shape)
                    why = why or f"a dim's exact expression grew past {MAX_DIM_SIZE} terms"
            shapes.append(shape)
            given.append(value)
        values, value_why = _values(ctx, d, op, shapes, given)
    producer, inf_shapes, inf_values = inf.producer, inf.shapes, inf.values
    complete = True
    for j, out in enumerate(node.outputs):
        if not out:
            continue
        producer[out] = node
        s = inf_shapes[out] = shapes[j]
        v = inf_values[out] = values[j]
        if s is None or not _all_known(s):
            complete = False
        elif v is None and value_why and len(s) <= 1 and all(d.__class__ is int for d in s):
            inf.why_no_value[out] = value_why  # kept for small tensors only: the ones shape arguments are
    # every tensor that is not fully known is tainted where it is made (graph inputs in infer())
    tainted = inf.tainted
    if tainted and not tainted.isdisjoint(node.inputs):
        tainted.update(o for o in node.outputs if o)
    elif not complete:
        _record_loss(inf, node, own, why)


MAX_DIM_SIZE = limits.MAX_DIM_TERMS  # atoms in a dim's expression tree (values.expr_size); beyond, unknown


def _too_large(shape: tuple) -> bool:
    """Whether a dim's expression is past MAX_DIM_SIZE (a plain symbol times a constant, such as
    H or 2·H + 1, never is: it is not measured)."""
    for d in shape:
        if d.__class__ is Expr:
            t = d.terms
            if len(t) > 1 or t[0][0].__class__ is not Sym:
                n = d.__dict__.get("_size")  # kept on the dim, as its hash is: dims are shared widely
                if n is None:
                    n = expr_size(d)
                    object.__setattr__(d, "_size", n)
                if n > MAX_DIM_SIZE:
                    return True
    return False


def _values(ctx, d: Dialect, op: str, shapes: list, given: list) -> tuple:
    """The outputs' values from the value rule (or, for rules that still give them, the shape rule)."""
    vrule = d.value_rules.get(op)
    if not shapes:
        return [], None  # a node without outputs
    values = [None if v is None else tuple(v) for v in given]
    if vrule is None:
        return values, None if values.count(None) < len(values) else f"no value rule for op {op}"
    # (a shape source's value comes from its inputs' shapes; every other op's needs an input's value)
    if op not in d.shape_sources and values.count(None) == len(values):
        inf = ctx.inf
        first = None
        for n in ctx.node.inputs:
            if n:
                if inf.value(n) is not None:
                    break
                first = first or n
        else:
            if first is not None:
                # a data tensor (no input has a value): nothing to compute, and no exception to raise
                return values, f"input 0 ('{first}') has no known value"
    try:
        got = vrule(ctx, shapes)
    except CAUGHT as e:
        return values, _message(e)
    if any(isinstance(x, Expr) and expr_size(x) > MAX_DIM_SIZE
           for v in (got if isinstance(got, list) else [got]) if v is not None for x in v):
        return values, f"a value's exact expression grew past {MAX_DIM_SIZE} terms"
    if not isinstance(got, list):
        got = [got]
    for j, v in enumerate(got[:len(values)]):
        if v is None:
            continue
        v = tuple(v)
        s = shapes[j]
        if len(v) > MAX_VALUE_ELEMENTS or s is None or any(not isinstance(d, int) for d in s) \
                or math.prod(s) != len(v):
            continue  # the value would not match its shape: keep nothing rather than a guess
        values[j] = v
    return values, None


def _message(e: Exception) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:200] if s else type(e).__name__


def _all_known(shape: tuple) -> bool:
    for d in shape:  # (not `None in shape`: that compares every Expr with None)
        if d is None:
            return False
    return True


def _record_loss(inf: Inferred, node: Node, own: Dialect, why: Optional[str]) -> None:
    """Record in ``inf.lost`` that ``node``, whose inputs were all known, lost an output's shape,
    with the reason; its outputs are tainted."""
    inf.tainted.update(o for o in node.outputs if o)
    missing = [n for n in node.inputs if n and n not in inf.shapes]
    if why is None and missing:
        why = f"input '{missing[0]}' is made by no node of the graph"
    if why is None:
        for i in own.shape_args.get(node.op, ()):
            name = node.input(i)
            if name and inf.value(name) is None:
                why = f"input {i} ('{name}') has no known value: {_value_origin(inf, name)}"
                break
    if why is None:
        if node.op in own.data_dependent:
            why = f"the size of {node.op}'s output depends on the input data"
        else:
            why = f"op {node.op} gave an output of unknown shape"
    inf.lost[node.name] = (op_key(node), why)


def _value_origin(inf: Inferred, name: str, depth: int = 0) -> str:
    """Where a tensor's value was lost: the first producer on the way back whose inputs had values."""
    p = inf.producer.get(name)
    if p is None:
        if any(t.name == name for t in inf.graph.inputs):
            return f"it is the graph input '{name}', known only at run time"
        return f"'{name}' is a constant too large to read or of a type shapelint does not read"
    why = inf.why_no_value.get(name)
    if depth < 32:
        for n in p.inputs:
            if n and inf.value(n) is None and f"('{n}') has no known value" in (why or ""):
                return _value_origin(inf, n, depth + 1)
    return f"it is computed by '{p.name}' ({p.op})" + (f": {why}" if why else "")
