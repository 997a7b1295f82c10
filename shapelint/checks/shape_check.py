"""SL006 shape-check: a run-time shape check other than a merge fails at some or every size.

onnxruntime checks shapes in many ops besides Concat and the elementwise merges (SL003): a
Reshape's element count, MatMul's inner dims, Expand's broadcast, Split's sizes, a Resize's
output size, Squeeze's axes, Gather's constant indices, an Einsum's subscripts. Fixed sizes: the
two numbers and onnxruntime's words. Dynamic sizes: the exact set of input sizes that pass, the
smallest that fails and one that works, or the condition when it ties several dims together.
"""

from __future__ import annotations

from ..frameworks import dialect
from ..analysis import axis_verdict, domain, failing_example, shape_checks
from ..findings import Violation
from ..symbolic import Invalid, SizeSet, evaluate
from ._context import CheckContext
from ..trace import fmt_dim, fmt_shape


def _condition(ax) -> str:
    dims = [fmt_dim(d) for d in ax.dims]
    if ax.kind == "positive":
        return " and ".join(f"{d} ≥ 1" for d in dims)
    if ax.kind == "broadcast":
        return " = ".join(dims) + " (or one of them is 1)"
    return " = ".join(dims)


def _count(shape) -> str:
    n = 1
    for d in shape:
        if not isinstance(d, int):
            return "·".join(fmt_dim(x) for x in shape)
        n *= d
    return str(n)


def _at(ax, env) -> str:
    try:
        vals = [evaluate(d, env) for d in ax.dims]
    except Invalid:
        return "an earlier op already fails"
    if ax.kind == "positive":
        return ", ".join(str(v) for v in vals)
    return " vs ".join(str(v) for v in vals)


def check(ctx: CheckContext):
    inf = ctx.inferred
    valid = domain(inf)
    for m in ctx.merges:  # sizes where a merge fails stop there (SL003), before any check after it
        for ax in m.axes:
            v = axis_verdict(ax)
            if v.sizes is not None:
                valid[v.symbol] = v.sizes if v.symbol not in valid else valid[v.symbol].intersect(v.sizes)
    for name, ss in (ctx.declared or {}).items():
        valid[name] = ss if name not in valid else valid[name].intersect(ss)
    stops = ctx.stops
    for m in shape_checks(inf):
        if any(i in stops for i in m.inputs if i):
            continue  # the runtime stops before this node (reported there)
        node = m.node
        words = dialect(node).runtime_words
        says = m.says or words.get(f"{node.op}/{m.what}", words.get(node.op))
        words = f" (onnxruntime: \"{says}\")" if says else ""
        shapes = ", ".join(f"'{n}' {fmt_shape(s)}" for n, s in zip(m.inputs, m.shapes))
        for ax in m.axes:
            v = axis_verdict(ax)
            details = {"axis": ax.axis, "check": m.what, "sizes": [fmt_dim(d) for d in ax.dims],
                       "condition": _condition(ax)}
            if v.symbol is None and v.static_ok is not None:
                if v.static_ok:
                    continue
                holds = (f"{_count(m.shapes[0])} elements become {_count(m.shapes[1])}"
                         if m.what == "element count" else f"{_condition(ax)} must hold, but it is {_at(ax, {})}")
                yield Violation(
                    node.name,
                    node.op,
                    f"{node.op} '{node.name}': {m.what}: {holds} for {shapes}; {ctx.runtime} fails "
                              f"here{words}",
                    _fix(m),
                    (),
                    details,
                )
                break
            if v.sizes is None:
                bad = failing_example(ax)
                if bad is None:
                    continue  # holds at every combination tried: no failure to claim
                at = ", ".join(f"{k}={x}" for k, x in bad.items())
                yield Violation(
                    node.name,
                    node.op,
                    f"{node.op} '{node.name}': {m.what} holds only where {_condition(ax)}, which ties "
                              f"several dims together ({v.reason}); {ctx.runtime} fails where it does not (e.g. "
                              f"{at}: {_at(ax, bad)}){words}",
                    _fix(m),
                    (),
                    {**details, "reason": v.reason, "failing_example": bad},
                    severity="warning",
                )
                break
            reach = valid.get(v.symbol, SizeSet.everything())
            bad = reach.first_outside(v.sizes)
            if bad is None:
                continue
            s = v.sizes.intersect(reach)
            good = s.tail_minimum() or s.minimum()
            sev = "error" if s.is_empty() else "warning"
            cond = f"no {v.symbol} passes it" if s.is_empty() else f"it holds only for {s.describe(v.symbol)}"
            msg = (f"{node.op} '{node.name}': {m.what} must hold, {_condition(ax)}; {cond} (e.g. {v.symbol}={bad}: "
                   f"{_at(ax, {v.symbol: bad})}" + (f"; {v.symbol}={good} works)" if good is not None else ")")
                   + f"{words}")
            origin = inf.symbols.get(v.symbol)
            details.update({"symbol": v.symbol, "input": origin[0] if origin else None,
                            "input_axis": origin[1] if origin else None, "works": s.describe(v.symbol),
                            "modulus": s.modulus, "residues": sorted(s.residues), "smallest_failing": bad,
                            "example_working": good})
            yield Violation(
                node.name,
                node.op,
                msg,
                _fix(m),
                (),
                details,
                severity=sev,
            )


FIXES = {
    "Reshape": "compute the target shape from the input's run-time shape (e.g. x.flatten(1) or x.view(n, -1)) "
               "instead of constants, or pad the input to a size the constant shape divides",
    "MatMul": "make the inner dims agree: the last dim of A must equal the second-to-last of B",
    "Gemm": "make the inner dims agree",
    "Expand": "expand only axes of size 1, to a shape taken from the tensor it must match",
    "Split": "split into sizes computed from the input's run-time shape",
    "Resize": "make sure the resized size is ≥ 1: use a larger input, or size the Resize from a tensor's shape",
    "Squeeze": "squeeze only axes that are 1 at every size, or reshape explicitly",
    "Gather": "index only positions that exist at every input size the model is used at",
}


def _fix(m) -> str:
    return FIXES.get(m.node.op, "make the sizes agree at every input size the model is used at, or document the "
                                "input sizes it supports (shapelint contract prints them)")
