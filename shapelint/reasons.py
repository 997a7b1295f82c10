"""Why the contract restricts a dynamic size: the merges and ops that cause each restriction, and
the chain of stages behind it ("2 stride-2 stages: H must survive 2 divisions by 2, rounded up,
and come back").

Reads the analysis (merges, per-axis verdicts, the conv domain) and the inferred dims; it decides
nothing new, so what it says is what ``shapelint contract`` and SL003 decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import SIZED_OPS, axis_verdict, merges, spatial_dims
from .frameworks import op_key, op_keys
from .trace import data_input, is_upsampler
from .infer import Inferred
from .symbolic import PositivePred, Undecidable, Mark, evaluate_many, solve, symbols

MAX_SHOWN = 6  # restricting merges shown per symbol in text (JSON has them all)


@dataclass(frozen=True)
class Stage:
    op: str
    node: str
    before: str  # the dim on the axis, as an expression
    after: str
    kind: str  # "down", "up" or "other"
    factor: int  # stride or scale, 0 when the step is not a clean division or multiplication
    rounding: str  # "floor", "ceil" or "" (for a division)

    def line(self) -> str:
        how = f" ({self.kind} ×{self.factor})" if self.kind == "up" and self.factor else \
            f" (stride {self.factor}, rounded {'down' if self.rounding == 'floor' else 'up'})" \
            if self.kind == "down" and self.factor and self.rounding else ""
        return f"{self.op} {self.node}{how}: {self.before} → {self.after}"


@dataclass(frozen=True)
class Restriction:
    symbol: str
    node: str  # the merge (or the op whose output would be empty)
    op: str
    axis: int
    works: str  # where this merge alone holds
    sizes: tuple = ()  # (dim of input 1, dim of input 2, …) as text, with the producer's name
    stages: tuple = ()  # Stage, along the branch that changes size
    summary: str = ""
    modulus: int = 1
    tensor: str = ""  # the merge input whose branch changes size (the chain above)

    def as_json(self) -> dict:
        return {"node": self.node, "op": self.op, "axis": self.axis, "works": self.works,
                "sizes": list(self.sizes), "chain": [s.line() for s in self.stages], "summary": self.summary}


XS = range(1024, 1024 + 256)  # far above every threshold: the exact periodic regime


def _values(d, name: str, xs, memo: dict | None = None) -> dict:
    """d at each x where it is defined (a broadcast of two different sizes is not); {} when d
    has another symbol. ``memo`` is shared by calls with the same ``name`` and ``xs``."""
    out = {}
    for x, v in zip(xs, evaluate_many(d, name, xs, memo)):
        if type(v) is Mark:
            if v.missing is not None:
                return {}
            continue
        out[x] = v
    return out


def _lineage(inf: Inferred, tensor: str, limit: int = 400) -> list:
    """``trace.lineage``, remembered per tensor: the walk reuses the lineage of the first
    tensor on its way that has one (when none of it is already on the way, which is the same walk),
    and each node's data input is looked up once per analysis."""
    memo = inf.memo.setdefault("reasons.lineage", {})  # tensor -> its lineage
    hit = memo.get(tensor)
    if hit is not None:
        return hit
    step = inf.memo.setdefault("reasons.data_input", {})  # node name -> its data input
    out = [tensor]
    seen = {tensor}
    while len(out) < limit:
        known = memo.get(out[-1]) if len(out) > 1 else None
        if known is not None:
            rest = known[1:limit - len(out) + 1]
            if seen.isdisjoint(rest):
                out.extend(rest)
                break
        node = inf.producer.get(out[-1])
        if node is None:
            break
        if node.name not in step:
            step[node.name] = data_input(inf, node)
        nxt = step[node.name]
        if nxt is None or nxt in seen:
            break
        seen.add(nxt)
        out.append(nxt)
    memo[tensor] = out
    return out


def _stages(inf: Inferred, tensor: str, stop: set, axis: int, name: str) -> list:
    """The size-changing steps on ``axis`` from the common ancestor (``stop``) to ``tensor``."""
    chain = []
    for t in _lineage(inf, tensor):
        if t in stop:
            break
        node = inf.producer.get(t)
        if node is None:
            break
        src_axis = _source_axis(inf, node, t, axis)
        chain.append((node, t, axis, src_axis))
        if src_axis is None:
            break  # the axis is not followed past a rank change or a Transpose of unknown perm
        axis = src_axis
    chain.reverse()
    out = []
    steps = inf.memo.setdefault("reasons.stage", {})  # (tensor, axis, symbol) -> Stage or None
    for node, t, axis, src_axis in chain:
        key = (t, axis, name)
        if key not in steps:
            steps[key] = _stage(inf, node, t, axis, name, src_axis)
        if steps[key] is not None:
            out.append(steps[key])
    return out


def _source_axis(inf: Inferred, node, t: str, axis: int):
    """The axis of ``node``'s data input that ``axis`` of ``t`` comes from: the same one, or through
    a Transpose its perm's; None after a rank change or where the perm is unknown."""
    shape = inf.shape(t)
    data = data_input(inf, node)
    src = inf.shape(data) if data else None
    if shape is None or src is None or len(src) != len(shape) or not (-len(shape) <= axis < len(shape)):
        return None
    axis %= len(shape)
    if node.op not in ("Transpose", "TRANSPOSE"):
        return axis
    perm = node.attr("perm")
    if perm is None:  # TF and TFLite: an input; ONNX without the attribute: the axes reversed
        perm = inf.value(node.input(1)) if node.input(1) else tuple(reversed(range(len(shape))))
    if perm is None or len(perm) != len(shape) or not isinstance(perm[axis], int):
        return None
    return perm[axis] % len(shape)


def _stage(inf: Inferred, node, t: str, axis: int, name: str, src_axis=None):
    """The step ``node`` makes on ``axis`` to produce ``t`` (from ``src_axis`` of its data input, the
    same axis unless a Transpose moved it), or None when it keeps the size."""
    shape = inf.shape(t)
    data = data_input(inf, node)
    src = inf.shape(data) if data else None
    if src_axis is None or shape is None or src is None or not (-len(shape) <= axis < len(shape)) \
            or len(src) != len(shape):
        return None
    a, b = src[src_axis], shape[axis]
    if a == b:
        return None
    memo = inf.memo.setdefault(("reasons.values", name), {})
    da, db = _values(a, name, XS, memo), _values(b, name, XS, memo)
    both = [x for x in da if x in db]
    va, vb = [da[x] for x in both], [db[x] for x in both]
    kind, factor, rounding = "other", 0, ""
    if va and vb and va != vb and all(y > 0 for y in vb):  # equal where defined: a broadcast
        if is_upsampler(node) or vb[0] > va[0]:
            kind = "up"
            f = round(vb[-1] / va[-1]) if va[-1] else 0
            factor = f if f > 1 and all(abs(y - f * x) < f for x, y in zip(va, vb)) else 0
        else:
            kind = "down"
            f = round(va[-1] / vb[-1])
            if f > 1 and all(y == x // f for x, y in zip(va, vb)):
                factor, rounding = f, "floor"
            elif f > 1 and all(y == -(-x // f) for x, y in zip(va, vb)):
                factor, rounding = f, "ceil"
            elif f > 1:
                factor = f
    return Stage(node.op, node.name, str(a), str(b), kind, factor, rounding)


def _summary(name: str, stages: list) -> str:
    downs = [s for s in stages if s.kind == "down"]
    ups = [s for s in stages if s.kind == "up"]
    if not downs or any(not s.factor for s in downs):
        return ""
    factors = sorted({s.factor for s in downs})
    rounds = sorted({s.rounding for s in downs if s.rounding})
    n = len(downs)
    stride = f"stride-{factors[0]}" if len(factors) == 1 else "strided (" + ", ".join(str(s.factor) for s in downs) + ")"
    by = f"by {factors[0]}" if len(factors) == 1 else "by " + ", ".join(str(s.factor) for s in downs)
    rounding = {("floor",): ", rounded down", ("ceil",): ", rounded up"}.get(tuple(rounds), "")
    back = (", and come back" if rounding else " and come back") if ups else ""
    return (f"{n} {stride} stage{'s' if n > 1 else ''}: {name} must survive {n} division{'s' if n > 1 else ''} "
            f"{by}{rounding}{back}")


def restrictions(inf: Inferred, found=None, works: dict = None) -> dict:
    """Per symbol, the :class:`Restriction` of every merge axis that does not hold for every size,
    and of the Conv whose output becomes empty first (the lower bound) -- unless ``works`` (the
    contract's sets) has a size below it: a pool truncating in front of that Conv keeps it fed."""
    found = merges(inf) if found is None else found
    out: dict = {}
    for m in found:
        for ax in m.axes:
            v = axis_verdict(ax)
            if v.symbol is None or v.sizes is None or v.sizes.is_everything():
                continue
            ancestors = [set(_lineage(inf, n)) for n in m.inputs]
            common = set.intersection(*ancestors) if ancestors else set()
            sizes, best, via = [], [], ""
            for n, d in zip(m.inputs, ax.dims):
                if d is None:
                    continue
                prod = inf.producer.get(n)
                sizes.append(f"{d} ('{prod.name if prod else n}')")
                if m.what:  # a shape check's dims are counts or values, not one tensor's axis: no stages
                    continue
                st = _stages(inf, n, common, ax.axis, v.symbol)
                if len(st) > len(best):
                    best, via = st, n
            out.setdefault(v.symbol, []).append(Restriction(
                v.symbol, m.node.name, m.node.op, ax.axis, v.sizes.describe(v.symbol), tuple(sizes), tuple(best),
                _summary(v.symbol, best), v.sizes.canonical().modulus, via))
    for name, (low, r) in _lower_bounds(inf).items():
        ss = (works or {}).get(name)
        if ss is None or not any(x in ss for x in range(1, low)):
            out.setdefault(name, []).append(r)
    for rs in out.values():
        rs.sort(key=lambda r: (-r.modulus, r.op in SIZED_OPS))
    return out


def headline(inf: Inferred, rs: list) -> str:
    """The whole chain behind a symbol's modulus, from the model's input: of the restricting
    merges, the one whose changing branch has the most downsampling stages from the input."""
    inputs = {t.name for t in inf.graph.inputs}
    best = ""
    best_n = 0
    for r in rs:
        if r.axis < 0 or not r.tensor:
            continue
        stages = _stages(inf, r.tensor, inputs, r.axis, r.symbol)
        n = sum(s.kind == "down" for s in stages)
        text = _summary(r.symbol, stages)
        if text and n > best_n:
            best, best_n = text, n
    return best


_FAILING_SIZED = op_keys("sized_ops")  # below their window the runtime fails (not pools: they truncate)


def _lower_bounds(inf: Inferred) -> dict:
    """Per symbol, the Conv/ConvTranspose whose output needs the largest input to be ≥ 1 (below,
    onnxruntime fails there; pools truncate instead, and the contract follows them)."""
    best: dict = {}
    lows: dict = {}  # id(d) -> (d, symbol, minimum or None): a deep graph repeats the same dims
    for node in inf.graph.nodes:
        if op_key(node) not in _FAILING_SIZED or not node.outputs:
            continue
        shape = inf.shape(node.outputs[0])
        if shape is None:
            continue
        for d in spatial_dims(node, shape):
            hit = lows.get(id(d))
            if hit is None or hit[0] is not d:
                hit = lows[id(d)] = (d,) + _low(d)
            _d, name, low = hit
            if name is None:
                continue
            if low is not None and low > 1 and (name not in best or low > best[name][0]):
                best[name] = (low, node, d)
    return {name: (low, Restriction(name, node.name, node.op, -1, f"{name} ≥ {low}", (f"{d} ('{node.name}')",), (),
                                    f"below {name} = {low} the output of {node.op} '{node.name}' ({d}) is empty"))
            for name, (low, node, d) in best.items()}


def _low(d) -> tuple:
    """(symbol, smallest size from which d ≥ 1) for a dim in one symbol, (None, None) else."""
    syms = symbols(d)
    if len(syms) != 1:
        return None, None
    (name,) = syms
    try:
        return name, solve([d], PositivePred(), name).minimum()
    except Undecidable:
        return None, None


def render(inf: Inferred, rs: list, limit: int = MAX_SHOWN) -> list:
    """Indented lines for the text output of ``shapelint contract``."""
    head = headline(inf, rs)
    lines = [f"  {head}"] if head else []
    for r in rs[:limit]:
        if r.axis < 0:
            lines.append(f"  because {r.summary}")
            continue
        lines.append(f"  because {r.op} '{r.node}' axis {r.axis} holds only for {r.works}: "
                     + " vs ".join(r.sizes))
        if r.summary:
            lines.append(f"    {r.summary}")
        lines.extend(f"    | {s.line()}" for s in r.stages)
    if len(rs) > limit:
        lines.append(f"  … and {len(rs) - limit} more (--format json lists them all)")
    return lines


def joint(inf: Inferred, found=None) -> list:
    """Merge axes where two or more input sizes meet (H of one branch against W of another): the
    sizes constrain each other, and no per-size set describes that."""
    out = []
    for m in (merges(inf) if found is None else found):
        for ax in m.axes:
            syms = symbols(*ax.present())
            if len(syms) < 2:
                continue
            sizes = []
            for n, d in zip(m.inputs, ax.dims):
                if d is not None:
                    prod = inf.producer.get(n)
                    sizes.append(f"{d} ('{prod.name if prod else n}')")
            how = "be equal" if ax.kind == "equal" else "be equal (or 1)"
            out.append({"node": m.node.name, "op": m.node.op, "axis": ax.axis, "symbols": sorted(syms),
                        "sizes": sizes, "text": f"{' and '.join(sorted(syms))} constrain each other at "
                                                f"{m.node.op} '{m.node.name}' axis {ax.axis}: "
                                                f"{' vs '.join(sizes)} must {how}"})
    return out
