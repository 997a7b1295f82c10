"""SL003 merge-mismatch: two branches meet in a Concat or an elementwise op and their sizes
differ -- the skip connection of a U-Net, whatever upsampled the decoder branch.

Fixed sizes: both numbers. Dynamic sizes: the exact set of input sizes that pass the merge,
the smallest that fails and one that works, decided per residue class (``symbolic.solve``).
"""

from __future__ import annotations

from ..frameworks import dialect, of_graph
from ..analysis import ABSTAIN_SIZED, failing_example, axis_verdict, convtranspose_fit, domain, upstream_merges
from ..findings import Violation
from ..symbolic import Invalid, SizeSet, evaluate, sub, symbols
from ._context import CheckContext
from ..trace import branches, find_upsampler, fmt_dim, fmt_shape


def check(ctx: CheckContext):
    """One finding per merge node that fails at some input size where every merge upstream of
    it passes: at that size onnxruntime stops at this very node."""
    inf = ctx.inferred
    found = ctx.merges
    upstream = upstream_merges(inf, found)
    valid = domain(inf)  # sizes where every conv/pool output is ≥ 1
    for name, ss in (ctx.declared or {}).items():  # only the sizes the model is declared for
        valid[name] = ss if name not in valid else valid[name].intersect(ss)
    passing: list = []  # per merge: {symbol: SizeSet of sizes that pass its every axis}
    verdicts: list = []
    for m in found:
        vs = [axis_verdict(ax) for ax in m.axes]
        verdicts.append(vs)
        per_sym: dict = {}
        for v in vs:
            if v.sizes is not None:
                prev = per_sym.get(v.symbol)
                per_sym[v.symbol] = v.sizes if prev is None else prev.intersect(v.sizes)
        passing.append(per_sym)
    whole: dict = dict(valid)  # sizes at which the whole model runs, per symbol
    for per_sym in passing:
        for name, ss in per_sym.items():
            whole[name] = ss if name not in whole else whole[name].intersect(ss)
    stops = ctx.stops
    for k, m in enumerate(found):
        stop = next((stops[i] for i in m.inputs if i in stops), None)
        reach: dict = dict(valid)  # sizes that get through every merge upstream
        distinct: dict = {}  # symbol -> the different sets upstream (a deep graph repeats a few)
        for u in upstream.get(m.node.name, ()):
            for name, s in passing[u].items():
                distinct.setdefault(name, set()).add(s)
        for name, sets in distinct.items():
            for s in sets:
                reach[name] = s if name not in reach else reach[name].intersect(s)
        failing, undecided, skip = [], [], False
        for ax, v in zip(m.axes, verdicts[k]):
            if v.static_ok is None and v.sizes is None:
                undecided.append((ax, v))
            elif v.static_ok:
                continue
            elif v.sizes is not None:
                r = reach.get(v.symbol, SizeSet.everything())
                bad = r.first_outside(v.sizes)
                if bad is not None:  # else it fails only where an earlier merge already fails
                    failing.append((ax, v, r, bad))
            elif stop is not None and stop[1] == "size":
                skip = True  # onnxruntime fails at that Conv/pool first (SL004), never gets here
            else:
                failing.append((ax, v, None, None))
        if skip:
            continue
        if failing:
            # headline: an axis that fails at every size first; the other failing axes follow
            failing.sort(key=lambda f: f[1].symbol is not None)
            (ax, v, r, bad), others = failing[0], failing[1:]
            yield _finding(ctx, inf, m, ax, v, r, bad, whole.get(v.symbol), stop[0] if stop else None, others)
        else:
            for ax, v in undecided:  # only where some combination of sizes really fails
                bad = failing_example(ax)
                if bad is not None:
                    yield _undecided(ctx, m, ax, v, bad)
                    break


def _undecided(ctx, m, ax, v, bad: dict) -> Violation:
    """Sizes computed differently on the two branches, in a way shapelint cannot solve exactly
    (several input dims at once, or too many residue classes): the condition, not a set."""
    present = [(j, d) for j, d in enumerate(ax.dims) if d is not None and not (ax.kind == "broadcast" and d == 1)]
    (j1, a), (j2, b) = present[0], next(((j, d) for j, d in present[1:] if d != present[0][1]), present[1])
    cond = f"{fmt_dim(a)} = {fmt_dim(b)}" + (" (or one of them is 1)" if ax.kind == "broadcast" else "")
    node = m.node
    return Violation(
        node.name,
        node.op,
        f"{node.op} '{node.name}': axis {ax.axis} is {fmt_dim(a)} for '{m.inputs[j1]}' but {fmt_dim(b)} for "
        f"'{m.inputs[j2]}'; they agree only where {cond}, which shapelint does not solve here ({v.reason}); "
        f"e.g. {', '.join(f'{k}={x}' for k, x in bad.items())} fails",
        "check the sizes you use with --input-shape, or make both branches derive their size from the same "
        "tensor (crop or pad one to the other's run-time shape)",
        branches(ctx.inferred, m.inputs[j1], m.inputs[j2], ax.axis - (max(len(s) for s in m.shapes) - len(m.shapes[j1]))),
        {"axis": ax.axis, "sizes": [fmt_dim(a), fmt_dim(b)], "condition": cond, "reason": v.reason,
         "failing_example": bad},
        severity="warning",
    )


def _sides(m, ax, env):
    """The two inputs that disagree on this axis at ``env`` (a failing size)."""
    idx = [j for j, d in enumerate(ax.dims) if d is not None and not (ax.kind == "broadcast" and d == 1)]

    done: dict = {}

    def val(j):
        d = ax.dims[j]
        if id(d) not in done:  # each distinct dim evaluated once (a Concat of one tensor 100,000 times)
            try:
                done[id(d)] = evaluate(d, env)
            except Invalid:
                done[id(d)] = None
        return done[id(d)]

    vals = {j: val(j) for j in idx}
    if ax.kind == "broadcast":
        idx = [j for j in idx if vals[j] != 1] or idx
    first = idx[0]
    other = next((j for j in idx[1:] if vals[j] != vals[first] or vals[j] is None), idx[-1])
    return first, other


def _shapes(shapes) -> list:
    """Each input's shape as text, each distinct shape formatted once (a Concat of one tensor
    100,000 times)."""
    done: dict = {}
    return [done[id(s)] if id(s) in done else done.setdefault(id(s), fmt_shape(s)) for s in shapes]


def _finding(ctx, inf, m, ax, v, reach, bad, whole=None, stopped_at=None, others=()):
    node = m.node
    bad_env = {} if v.symbol is None else {v.symbol: bad}
    j1, j2 = _sides(m, ax, bad_env)
    a_name, b_name = m.inputs[j1], m.inputs[j2]
    a, b = ax.dims[j1], ax.dims[j2]
    rank = len(m.shapes[j1])
    axis_in_a = ax.axis - (max(len(s) for s in m.shapes) - rank)
    what = "non-concat axis" if ax.kind == "equal" else "broadcast axis"
    chain = branches(inf, a_name, b_name, axis_in_a)
    up_a, up_b = find_upsampler(inf, a_name), find_upsampler(inf, b_name)
    up, up_side, skip_dim, up_dim = (up_a, a_name, b, a) if up_a is not None else (up_b, b_name, a, b)
    details = {
        "axis": ax.axis,
        "inputs": list(m.inputs),
        "shapes": _shapes(m.shapes),
        "sizes": [fmt_dim(a), fmt_dim(b)],
    }
    if v.symbol is None:
        # fixed sizes
        av, bv = evaluate(a, {}), evaluate(b, {})
        says = dialect(node).runtime_words.get("Concat" if ax.kind == "equal" else "broadcast")
        where_fails = (f"{ctx.runtime} stops earlier, at '{stopped_at}', and fails here once that is fixed"
                       if stopped_at else f"{ctx.runtime} fails here" + (f" (\"{says}\")" if says else ""))
        message = (f"{node.op} '{node.name}': {what} {ax.axis} is {av} for '{a_name}' {fmt_shape(m.shapes[j1])} "
                   f"but {bv} for '{b_name}' {fmt_shape(m.shapes[j2])}; {where_fails}")
        targets = _static_targets(m, up_side)
        suggestion = _static_fix(inf, up, up_side, targets, node)
        message += _also(others, details)
        return Violation(node.name, node.op, message, suggestion, chain, details)
    name = v.symbol
    s = v.sizes.intersect(reach)  # the sizes that get through this merge
    origin = inf.symbols.get(name)
    where = f"input '{origin[0]}' axis {origin[1]} ({name})" if origin else name
    # a working example where the whole model runs, when there is one
    runs_all = s.intersect(whole) if whole is not None else s
    pick = runs_all if not runs_all.is_empty() else s
    good = pick.tail_minimum() or pick.minimum()
    if s.is_empty():
        sev = "error"
        cond = f"no {name} gets through"
    else:
        sev = "warning"
        cond = f"it runs only for {s.describe(name)}"
    message = (f"{node.op} '{node.name}': {what} {ax.axis} is {fmt_dim(a)} for '{a_name}' but {fmt_dim(b)} for "
               f"'{b_name}'; {cond}")
    if bad is not None:
        env = {name: bad}
        try:
            at_bad = f"{evaluate(a, env)} vs {evaluate(b, env)}"
        except Invalid:  # an earlier merge on this branch already fails there
            at_bad = "an earlier merge on this branch already fails"
        message += f" (e.g. {name}={bad}: {at_bad}"
        message += f"; {name}={good} works)" if good is not None else ")"
    details.update({
        "symbol": name,
        "input": origin[0] if origin else None,
        "input_axis": origin[1] if origin else None,
        "works": s.describe(name),
        "modulus": s.modulus,
        "residues": sorted(s.residues),
        "min": good,
        "smallest_failing": bad,
        "example_working": good,
    })
    # the other axes' contracts go on the contract line
    extra = [ov.sizes.intersect(oreach).describe(ov.symbol) for _ax, ov, oreach, _bad in others
             if ov.symbol is not None and ov.symbol != name]
    suggestion = _dynamic_fix(inf, up, up_side, skip_dim, up_dim, name, s, where, extra)
    pools = domain(inf, ABSTAIN_SIZED).get(name)
    if pools is not None and (pools.minimum() or 1) > 1:
        if of_graph(ctx.graph).contract_below_windows:  # the whole-model contract follows the runtime there
            message += (f" (from {name}={pools.minimum()} on, where every window fits its input; below, the "
                        f"whole-model line counts the sizes where {ctx.runtime} runs)")
        else:
            message += (f" (below {name}={pools.minimum()} a window exceeds its input, where the runtime truncates "
                        f"or behaves erratically; shapelint does not analyse those sizes)")
    message += _also(others, details)
    return Violation(node.name, node.op, message, suggestion, chain, details, severity=sev)


def _also(others, details) -> str:
    """The other failing axes of the same merge, in the message and in details["also"]."""
    text, extra = "", []
    for ax, v, reach, _bad in others:
        if v.symbol is None:
            vals = [fmt_dim(d) for d in ax.present()]
            text += f"; axis {ax.axis} differs too ({' vs '.join(vals)})"
            extra.append({"axis": ax.axis, "sizes": vals})
        else:
            ss = v.sizes.intersect(reach)
            text += f"; axis {ax.axis} runs only for {ss.describe(v.symbol)}"
            extra.append({"axis": ax.axis, "symbol": v.symbol, "works": ss.describe(v.symbol),
                          "modulus": ss.modulus, "residues": sorted(ss.residues)})
    if extra:
        details["also"] = extra
    return text


def _static_targets(m, up_side) -> dict:
    """For each axis where the merge fails at fixed sizes: the size of the other (skip) input."""
    j_up = m.inputs.index(up_side)
    out = {}
    for ax in m.axes:
        if symbols(*ax.present()) or ax.holds_at({}):
            continue
        others = [d for j, d in enumerate(ax.dims)
                  if j != j_up and d is not None and (ax.kind == "equal" or d != 1)]
        if others and isinstance(others[0], int):
            out[ax.axis] = others[0]
    return out


def _layout(inf, up, up_side, merge_node) -> tuple:
    """(spatial axes, rank) of the upsampled tensor at a merge, as its framework lays it out."""
    shape = inf.shape(up_side)
    rank = len(shape) if shape is not None else None
    node = up if up is not None else merge_node
    if node is None or not rank:
        return (), rank
    return tuple(dialect(node).spatial_axes(node, rank)), rank


def _static_fix(inf, up, up_side, targets: dict, merge_node) -> str:
    """``targets``: merge axis -> the size the upsampled branch must have (the skip's)."""
    where = ", ".join(f"axis {a} → {t}" for a, t in sorted(targets.items()))
    crop = f"crop/pad '{up_side}' ({where}) with Slice/Pad before '{merge_node.name}'"
    fit = dialect(merge_node).static_fit
    shape = inf.shape(up_side)
    if fit is not None and shape is not None and all(isinstance(shape[a], int) for a in targets if a < len(shape)):
        axes, rank = _layout(inf, up, up_side, merge_node)
        said = fit(up, up_side, {a: (shape[a], t) for a, t in targets.items() if a < len(shape)}, axes=axes, rank=rank,
                   before=merge_node.name)
        crop = said or crop
    if up is not None and up.op == "ConvTranspose" and all(isinstance(t, int) for t in targets.values()):
        fix = _convtranspose_fix(inf, up, targets)
        if fix is not None:
            return f"{fix}; or {crop}"
    if up is not None and up.op in ("Resize", "Upsample"):
        return (f"{up.op} '{up.name}': give `sizes` taken from the skip tensor's shape instead of scales "
                f"(PyTorch: F.interpolate(x, size=skip.shape[-2:])) so that {where}; or {crop}")
    return f"{crop}, or change the op that produces it"


def _convtranspose_fix(inf, up, targets: dict):
    """The ONNX attributes and PyTorch arguments that make ``up`` produce ``targets`` (see
    analysis.convtranspose_fit, which ``shapelint fix`` applies)."""
    fit = convtranspose_fit(inf, up, targets)
    if fit is None:
        return None
    pads, ops, only_op = fit
    n = len(ops)
    torch_pad = tuple((pads[a] if pads[a] == pads[a + n] else None) for a in range(n))
    t = (lambda v: v[0] if n == 1 else tuple(v))
    torch = f"nn.ConvTranspose{n}d(..., output_padding={t(ops)})"
    if not only_op or any(pads):
        torch = (f"nn.ConvTranspose{n}d(..., padding={t(torch_pad)}, output_padding={t(ops)})"
                 if None not in torch_pad else "PyTorch cannot express asymmetric pads; crop instead")
    onnx_attrs = f"output_padding={list(ops)}" if only_op else f"pads={list(pads)}, output_padding={list(ops)}"
    return f"ConvTranspose '{up.name}': set {onnx_attrs} (ONNX attributes); {torch} in PyTorch"


def _dynamic_fix(inf, up, up_side, skip_dim, up_dim, name, s, where, extra=()) -> str:
    """What to change for a merge that holds only for some sizes; ``extra``: the other axes'
    contracts, for the contract line."""
    lines = []
    # a constant difference can be fixed statically for every size
    diff = sub(skip_dim, up_dim)
    if isinstance(diff, int) and up is not None and up.op == "ConvTranspose":
        lines.append(f"the branches differ by a constant {diff}: adjust ConvTranspose '{up.name}' "
                     f"(output_padding or pads) by {diff} on this axis")
    else:
        if up is not None and up.op == "ConvTranspose":
            lines.append(f"no fixed output_padding of ConvTranspose '{up.name}' works for every {name}: the size it "
                         f"must reach depends on {name} modulo {s.modulus}")
        lines.append(f"document or validate the input-size contract: {where}: "
                     + "; ".join([s.describe(name), *extra])
                     if not s.is_empty() else f"no size of {where} passes this merge: change the model")
        crop = of_graph(inf.graph).crop_fix
        if crop is not None:
            axes, rank = _layout(inf, up, up_side, up)
            lines.append(crop(up, axes=axes, rank=rank))
    return "\n".join(lines)
