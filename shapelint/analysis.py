"""Constraints the runtime enforces, collected from the inferred graph, and the exact sets of
input sizes that satisfy them.

A :class:`Merge` is a node where tensors must agree per axis: the non-axis dims of a Concat, or
the broadcast dims of an elementwise op. Whether a merge holds is decided exactly per input
symbol (``symbolic.solve``); whether the whole model runs at a concrete size is the conjunction
of every merge and run-time shape check at that size (:meth:`Contract.runs`).
"""

from __future__ import annotations

from . import limits

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from .infer import CAUGHT as _CAUGHT, Inferred
from .frameworks import dialect, of_graph, op_key, op_keys
from .frameworks.tf import tf_transposed_verdict
from .frameworks.onnx import RECURRENT_GATES, recurrent_dirs
from . import sizes
from .ir import Node
from .symbolic import (
    display_name,
    Expr,
    Prod,
    Sym,
    BroadcastPred,
    EqualPred,
    Invalid,
    PositivePred,
    Dim,
    add,
    floordiv,
    mul,
    sub,
    SizeSet,
    Undecidable,
    evaluate,
    has_bcast,
    solve,
    symbols,
)

@dataclass(frozen=True)
class AxisCheck:
    axis: int  # axis of the output (right-aligned broadcast for elementwise ops)
    dims: tuple  # the dims that meet on this axis, one per input (None where absent)
    kind: str  # "equal" (Concat), "broadcast", or "positive" (every dim ≥ 1)

    def pred(self):
        return {"equal": EqualPred, "broadcast": BroadcastPred, "positive": PositivePred}[self.kind]()

    def present(self) -> tuple:
        """The dims that are there, each once (for every kind of check a repeated dim decides
        nothing new: a Concat of one tensor 100,000 times has one dim to solve), computed once."""
        got = self.__dict__.get("_present")
        if got is None:
            got = self.__dict__["_present"] = tuple(dict.fromkeys(d for d in self.dims if d is not None))
        return got

    def holds_at(self, env) -> bool:
        try:
            vals = [evaluate(d, env) for d in self.present()]
        except Invalid:
            return False
        if self.kind == "positive":
            return all(v >= 1 for v in vals)
        if self.kind == "broadcast":
            vals = [v for v in vals if v != 1]
        return len(set(vals)) <= 1


@dataclass(frozen=True)
class Merge:
    """A node where dims must agree at run time: a Concat or elementwise merge (``what`` empty),
    or another op's shape check (``what`` says which: "element count", "inner dims", ...)."""

    node: Node
    inputs: tuple  # tensor names
    shapes: tuple  # their shapes
    axes: tuple  # AxisCheck per axis that is not trivially satisfied
    what: str = ""
    says: str = ""  # what the runtime says when the check fails, where the dialect's words per op do not fit


def merge_spec(node, inf: Inferred):
    """(kind, input names, concat axis or None) for a merge node, else None."""
    d = dialect(node)
    kind = d.merge_ops.get(node.op)
    if kind is None:
        return None
    names = tuple(n for n in node.inputs if n)
    axis = node.attr("axis", 0) if kind == "equal" else None
    if axis.__class__ is not int:  # (a malformed axis: a list, a string…) the merge is not judged
        axis = None
    if d.merge_inputs is not None:  # branches apart from other inputs (a condition, an axis tensor)
        names, axis_tensor = d.merge_inputs(node, names)
        if axis_tensor is not None:
            v = inf.value(axis_tensor)
            axis = v[0] if v and isinstance(v[0], int) else None
    return kind, names, axis


def merges(inf: Inferred) -> list:
    """Every Concat / elementwise node whose inputs might disagree, with the axes at stake."""
    out = []
    unknown: list = []
    for node in inf.graph.nodes:
        spec = merge_spec(node, inf)
        if spec is None:
            continue
        kind, names, cat_axis = spec
        shapes = tuple(inf.shape(n) for n in names)
        if len(names) < 2:
            continue
        if any(s is None for s in shapes):
            if any(s is not None and len(s) >= 3 for s in shapes):
                unknown.append(node.name)
            continue
        rank = max(len(s) for s in shapes)
        if kind == "equal":
            if any(len(s) != rank for s in shapes) or cat_axis is None or not -rank <= cat_axis < rank:
                continue
            cat_axis = cat_axis + rank if cat_axis < 0 else cat_axis
        axes = []
        for k in range(rank):
            if kind == "equal" and k == cat_axis:
                continue
            dims = []
            for s in shapes:
                j = k - (rank - len(s))
                dims.append(s[j] if j >= 0 else None)
            present = [d for d in dims if d is not None]
            if kind == "broadcast":
                present = [d for d in present if d != 1]
            if any(d is None for d in dims if d is not None):  # pragma: no cover
                continue
            if len(present) < 2 or all(d == present[0] for d in present[1:]):
                continue
            if any(_unknown(d) for d in present):
                continue
            axes.append(AxisCheck(k, tuple(dims), kind))
        if axes:
            out.append(Merge(node, names, shapes, tuple(axes)))
    if len(out) > limits.MAX_MERGES:  # each costs ~1 ms and ~12 KB to judge: past the limit, abstain there
        why = (f"one of {len(out):,} merges whose inputs may disagree, over the limit of {limits.MAX_MERGES:,} "
               f"judged per model (shapelint.limits.MAX_MERGES): not judged")
        for m in out[limits.MAX_MERGES:]:
            inf.lost.setdefault(m.node.name, (m.node.op, why))
        inf.memo.pop("unknowns", None)
        out = out[:limits.MAX_MERGES]
    if unknown:
        note = (f"{len(unknown)} merge node(s) not checked because an input's shape is unknown "
                f"(e.g. '{unknown[0]}')")
        if note not in inf.notes:
            inf.notes.append(note)
    return out


def _unknown(d) -> bool:
    return d is None


# ----------------------------------------------------------- the other run-time shape checks
#
# Every check onnxruntime makes on shapes at run time, beyond the merges above, as constraints
# on dims (``Merge`` records whose ``what`` names the check). Each rule reads the inferred
# shapes and values of one node; a check it cannot state (a dim or a value unknown) is an
# unknown (see :func:`unknowns`), never a pass.


def _factors_cancel(a: list, b: list) -> tuple:
    """Two products given as lists of factors, with the factors they share removed (sizes are
    ≥ 1, so a common factor never decides an equality) and the integer parts reduced. A factor
    c·x (a single term) or a product of atoms is split first: ConvTasNet's [2·N, 1, 8·floor(L/8)]
    against [N, 2, L] is 8·floor(L/8) = L, a condition on L alone."""
    a, b = _split_factors(a), _split_factors(b)
    for x in list(a):
        if not isinstance(x, int) and x in b:
            a.remove(x)
            b.remove(x)
    ia = [x for x in a if isinstance(x, int)]
    ib = [x for x in b if isinstance(x, int)]
    ka, kb = 1, 1
    for x in ia:
        ka *= x
    for x in ib:
        kb *= x
    if ka and kb:
        g = math.gcd(ka, kb)
        ka, kb = ka // g, kb // g
    return [ka] + [x for x in a if not isinstance(x, int)], [kb] + [x for x in b if not isinstance(x, int)]


def _split_factors(fs) -> list:
    """c·N·W as c, N, W where every factor is an input dim (≥ 1, so cancelling one is exact);
    anything else (floor(H/8) may be 0) stays whole."""
    out = []
    for x in fs:
        if isinstance(x, Expr) and len(x.terms) == 1 and not x.const and x.terms[0][1] > 0:
            (atom, c), = x.terms
            factors = atom.factors if isinstance(atom, Prod) else (atom,)
            if all(isinstance(f, Sym) for f in factors):
                out.append(c)
                out.extend(Expr(((f, 1),)) for f in factors)
                continue
        out.append(x)
    return out


def _product(fs) -> Dim:
    out: Dim = 1
    for f in fs:
        out = mul(out, f)
    return out


def _separate(a: list, b: list):
    """prod(a) = prod(b) as per-symbol equalities, where that is exact: the factors group by the
    one symbol each depends on (the integer factors shared out among the groups), and every
    group's ``a`` side is ≥ its ``b`` side at every size (or every one ≤), so the products, all
    ≥ 0, are equal only where each group is. Else None."""
    groups: dict = {}
    ka = kb = 1
    for side, fs in ((0, a), (1, b)):
        for f in fs:
            if isinstance(f, int):
                if side == 0:
                    ka *= f
                else:
                    kb *= f
                continue
            syms = symbols(f)
            if len(syms) != 1 or has_bcast(f):
                return None
            (key,) = syms
            groups.setdefault(key, ([], []))[side].append(f)
    if len(groups) < 2 or len(groups) > 3 or ka > 4096 or kb > 4096 or ka < 1 or kb < 1:
        return None
    names = sorted(groups)

    def shares(k: int, n: int):
        """Ways to write k as an ordered product of n positive factors."""
        if n == 1:
            yield (k,)
            return
        for d in range(1, k + 1):
            if k % d == 0:
                for rest in shares(k // d, n - 1):
                    yield (d,) + rest

    for sa in shares(ka, len(names)):
        for sb in shares(kb, len(names)):
            pairs, signs = [], set()
            for name, da, db in zip(names, sa, sb):
                pa, pb = mul(_product(groups[name][0]), da), mul(_product(groups[name][1]), db)
                try:
                    ge = solve([add(sub(pa, pb), 1)], PositivePred(), name).is_everything()
                    le = ge or solve([add(sub(pb, pa), 1)], PositivePred(), name).is_everything()
                except Undecidable:
                    return None
                if not (ge or le):
                    break
                signs.add("ge" if ge else "le")
                pairs.append((pa, pb))
            else:
                if len(signs) == 1:
                    return pairs
    return None


def _equal_products(node, inputs, shapes, a: list, b: list, what: str) -> list:
    """Merges that say prod(a) = prod(b): per symbol where the condition separates, else one."""
    a, b = _factors_cancel(a, b)
    pa, pb = _product(a), _product(b)
    if pa == pb:
        return []
    pairs = _separate(a, b) or [(pa, pb)]
    return [Merge(node, inputs, shapes, tuple(AxisCheck(k, (x, y), "equal") for k, (x, y) in enumerate(pairs)
                                              if x != y), what)]


def _known(*shapes) -> bool:
    return all(s is not None and all(d is not None for d in s) for s in shapes)


def _check_reshape(inf: Inferred, node) -> Optional[list]:
    s, out = inf.shape(node.input(0)), inf.shape(node.outputs[0]) if node.outputs else None
    if not _known(s):
        return None
    target = inf.value(node.input(1)) if inf.graph.opset >= 5 else node.attr("shape")
    if target is not None and -1 in [t for t in target if isinstance(t, int)] and all(isinstance(d, int) for d in s):
        # a fixed input: the -1 must divide exactly
        rest = [(s[k] if t == 0 and not node.attr("allowzero", 0) and k < len(s) else t)
                for k, t in enumerate(target) if t != -1]
        p = _product(rest)
        if isinstance(p, int) and p > 0 and _product(s) % p:
            return [Merge(node, (node.input(0), node.input(1)), (s, tuple(target)),
                          (AxisCheck(0, (_product(s), p * (_product(s) // p)), "equal"),), "element count")]
    if not _known(out):
        return None
    found = _equal_products(node, (node.input(0), node.input(1)), (s, out), list(s), list(out), "element count")
    if target is not None and -1 in target:  # onnxruntime: "size != 0", the dims besides the -1 not empty
        found += _axis_checks(node, (node.input(0), node.input(1)), (s, out),
                              [(k, (d,), "positive") for k, (t, d) in enumerate(zip(target, out))
                               if t != -1 and not isinstance(d, int)], "element count") or []
    return found


def _check_matmul(inf: Inferred, node) -> Optional[list]:
    a, b = inf.shape(node.input(0)), inf.shape(node.input(1))
    if a is None or b is None:
        return None
    if node.op == "Gemm":
        ka = a[0] if node.attr("transA", 0) else a[-1]
        kb = b[1] if node.attr("transB", 0) else b[0]
        dims = [(0, (ka, kb), "equal")]
    else:
        a2, b2 = (1,) + tuple(a) if len(a) == 1 else tuple(a), tuple(b) + (1,) if len(b) == 1 else tuple(b)
        dims = [(0, (a2[-1], b2[-2]), "equal")]
        ba, bb = a2[:-2], b2[:-2]
        rank = max(len(ba), len(bb))
        for k in range(rank):
            x = ba[k - rank + len(ba)] if k - rank + len(ba) >= 0 else None
            y = bb[k - rank + len(bb)] if k - rank + len(bb) >= 0 else None
            if x is not None and y is not None:
                dims.append((k + 1, (x, y), "broadcast"))
    return _axis_checks(node, (node.input(0), node.input(1)), (a, b), dims, "inner dims")


def _axis_checks(node, inputs, shapes, dims, what) -> Optional[list]:
    """A Merge of the given (axis, dims, kind) that are not settled already; None when a dim is
    unknown."""
    axes = []
    for k, ds, kind in dims:
        if any(d is None for d in ds):
            return None
        present = [d for d in ds if kind != "broadcast" or d != 1]
        if kind == "positive":
            if all(isinstance(d, int) and d >= 1 for d in ds):
                continue
        elif len(present) < 2 or all(d == present[0] for d in present[1:]):
            continue
        axes.append(AxisCheck(k, tuple(ds), kind))
    return [Merge(node, inputs, shapes, tuple(axes), what)] if axes else []


def _check_expand(inf: Inferred, node) -> Optional[list]:
    s, t = inf.shape(node.input(0)), inf.value(node.input(1))
    if s is None or t is None:
        return None
    rank = max(len(s), len(t))
    dims = []
    for k in range(rank):
        x = s[k - rank + len(s)] if k - rank + len(s) >= 0 else None
        y = t[k - rank + len(t)] if k - rank + len(t) >= 0 else None
        if x is not None and y is not None:
            dims.append((k, (x, y), "broadcast"))
    return _axis_checks(node, (node.input(0), node.input(1)), (s, tuple(t)), dims, "expanded dims")


def _check_split(inf: Inferred, node) -> Optional[list]:
    s = inf.shape(node.input(0))
    if s is None:
        return None
    axis = node.attr("axis", 0)
    if not -len(s) <= axis < len(s):
        return None
    axis %= len(s)
    parts = node.attr("split") if inf.graph.opset < 13 else (inf.value(node.input(1)) if node.input(1) else None)
    if node.input(1) and parts is None and inf.graph.opset >= 13:
        return None
    if parts is None:
        n = node.attr("num_outputs") or len([o for o in node.outputs if o])
        if node.attr("num_outputs") is not None or n <= 1:
            return []  # opset 18: the last part may be smaller
        whole = s[axis]
        if whole is None:
            return None
        # an even split: onnxruntime requires the axis to divide by the number of outputs
        return _axis_checks(node, (node.input(0),), (s,), [(axis, (whole, mul(n, floordiv(whole, n))), "equal")],
                            "even split")
    total: Dim = 0
    for p in parts:
        total = add(total, p)
    return _axis_checks(node, (node.input(0), node.input(1)), (s, tuple(parts)), [(axis, (s[axis], total), "equal")],
                        "split sizes")


def _check_resize_sizes(inf: Inferred, node) -> Optional[list]:
    """Every output dim ≥ 1 on the axes a Resize given ``sizes`` resizes: onnxruntime derives the
    scales from the sizes and rejects a scale of 0. (Given scales, an output of 0 runs: an empty
    tensor, measured; Upsample has scales only.)"""
    x, y = inf.shape(node.input(0)), inf.shape(node.outputs[0]) if node.outputs else None
    if x is None or y is None:
        return None
    if not node.input(3) or inf.shape(node.input(3)) == (0,):
        return []
    dims = [(k, (d,), "positive") for k, (d, i) in enumerate(zip(y, x)) if d != i]
    return _axis_checks(node, (node.input(0),), (x,), dims, "output size ≥ 1")


def _check_squeeze(inf: Inferred, node) -> Optional[list]:
    s = inf.shape(node.input(0))
    axes = node.attr("axes") if inf.graph.opset < 13 or not node.input(1) else inf.value(node.input(1))
    if s is None or axes is None and node.input(1):
        return None
    if axes is None:
        return []
    dims = []
    for a in axes:
        if not isinstance(a, int) or not -len(s) <= a < len(s):
            return None
        dims.append((a % len(s), (s[a % len(s)], 1), "equal"))
    return _axis_checks(node, (node.input(0),), (s,), dims, "squeezed dims are 1")


def _check_gather(inf: Inferred, node) -> Optional[list]:
    s, idx = inf.shape(node.input(0)), inf.value(node.input(1))
    if s is None:
        return None
    axis = node.attr("axis", 0)
    if not -len(s) <= axis < len(s):
        return None
    n = s[axis % len(s)]
    if idx is None:
        return None if not isinstance(n, int) else []  # runtime indices into a fixed axis: data, not shape
    ints = [i for i in idx if isinstance(i, int)]
    if len(ints) != len(idx):
        return None
    dims = []
    if ints and max(ints) >= 0:
        dims.append((axis % len(s), (sub(n, max(ints)),), "positive"))  # n > max index
    if ints and min(ints) < 0:
        dims.append((axis % len(s), (add(n, min(ints) + 1),), "positive"))  # n ≥ −min index
    return _axis_checks(node, (node.input(0), node.input(1)), (s,), dims, "indices in range")


def _check_gather_nd(inf: Inferred, node) -> Optional[list]:
    """Every index tuple within the data's dims (onnxruntime: "invalid index found"): the indices'
    values must be known (computed from shapes, as exporters of adaptive pools write them)."""
    s, ishape, idx = inf.shape(node.input(0)), inf.shape(node.input(1)), inf.value(node.input(1))
    if s is None or ishape is None or idx is None or not ishape or not isinstance(ishape[-1], int):
        return None
    b, k = node.attr("batch_dims", 0), ishape[-1]
    if k < 1 or b + k > len(s) or len(idx) % k:
        return None
    dims, seen = [], set()
    for t in range(0, len(idx), k):
        for j in range(k):
            n, i = s[b + j], idx[t + j]
            for d in (sub(n, i), add(add(n, i), 1)):  # i < n and i ≥ −n
                if (b + j, d) not in seen:
                    seen.add((b + j, d))
                    dims.append((b + j, (d,), "positive"))
    return _axis_checks(node, (node.input(0), node.input(1)), (s, ishape), dims, "indices in range")


def _check_conv_channels(inf: Inferred, node) -> Optional[list]:
    x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
    if x is None or w is None or len(x) < 2 or len(w) < 2:
        return None
    group = node.attr("group", 1)
    c = x[1]
    want = mul(w[1], group) if node.op == "Conv" else w[0]
    if c.__class__ is int and c == want:
        return []  # settled (the common case: channels are constants)
    return _axis_checks(node, (node.input(0), node.input(1)), (x, w), [(1, (c, want), "equal")], "input channels")


def _check_depth_to_space(inf: Inferred, node) -> Optional[list]:
    x, b = inf.shape(node.input(0)), node.attr("blocksize")
    if x is None or not isinstance(b, int) or b < 1 or len(x) != 4:
        return None
    if node.op == "DepthToSpace":
        checks = [(1, (x[1], mul(b * b, floordiv(x[1], b * b))), "equal")]
    else:
        checks = [(k, (x[k], mul(b, floordiv(x[k], b))), "equal") for k in (2, 3)]
    return _axis_checks(node, (node.input(0),), (x,), checks, f"divisible by the block size {b}")


def _space_batch_args(inf: Inferred, node):
    x, block, pads = inf.shape(node.input(0)), inf.value(node.input(1)), inf.value(node.input(2))
    if x is None or block is None or pads is None or len(pads) != 2 * len(block) or not 1 <= len(block) < len(x) \
            or any(not isinstance(b, int) or b < 1 for b in block):
        return None
    return x, tuple(block), tuple(pads)


def _check_space_to_batch(inf: Inferred, node) -> Optional[list]:
    """SpaceToBatchND(x, block_shape, paddings) (TF, TFLite; ONNX has none): each padded spatial
    size divides by its block (TF: "padded_shape[j]=… is not divisible by block_shape[j]=…")."""
    got = _space_batch_args(inf, node)
    if got is None:
        return None
    x, block, pads = got
    checks = []
    for j, b in enumerate(block):
        padded = add(add(x[1 + j], pads[2 * j]), pads[2 * j + 1])
        if b > 1:
            checks.append((1 + j, (padded, mul(b, floordiv(padded, b))), "equal"))
    return _axis_checks(node, (node.input(0),), (x,), checks, "padded size divisible by the block size")


def _check_batch_to_space(inf: Inferred, node) -> Optional[list]:
    """BatchToSpaceND(x, block_shape, crops): the batch divides by prod(block_shape), and each
    cropped size is ≥ 0 (TF: "Negative output dimension size caused by overly large crop")."""
    got = _space_batch_args(inf, node)
    if got is None:
        return None
    x, block, crops = got
    n = math.prod(block)
    checks = [(0, (x[0], mul(n, floordiv(x[0], n))), "equal")] if n > 1 and x[0] is not None else []
    for j, b in enumerate(block):
        size = sub(sub(mul(x[1 + j], b), crops[2 * j]), crops[2 * j + 1]) if x[1 + j] is not None else None
        if not isinstance(size, int):
            checks.append((1 + j, (add(size, 1) if size is not None else None,), "positive"))
        elif size < 0:
            checks.append((1 + j, (size + 1,), "positive"))
    return _axis_checks(node, (node.input(0),), (x,), checks, "batch divisible by the block, crops within the size")


def _check_einsum(inf: Inferred, node) -> Optional[list]:
    eq = node.attr("equation")
    if isinstance(eq, bytes):
        eq = eq.decode()
    if not isinstance(eq, str):
        return None
    lhs = eq.replace(" ", "").split("->")[0].split(",")
    names = [n for n in node.inputs if n]
    shapes = [inf.shape(n) for n in names]
    if len(lhs) != len(shapes) or any(s is None for s in shapes):
        return None
    seen: dict = {}
    for term, s in zip(lhs, shapes):
        if "..." in term:
            head, tail = term.split("...")
            letters = list(zip(head, s[:len(head)])) + list(zip(tail, s[len(s) - len(tail):] if tail else ()))
        else:
            if len(term) != len(s):
                return None
            letters = list(zip(term, s))
        for ch, d in letters:
            seen.setdefault(ch, []).append(d)
    dims = [(k, tuple(ds), "broadcast") for k, (ch, ds) in enumerate(sorted(seen.items())) if len(ds) > 1]
    return _axis_checks(node, tuple(names), tuple(shapes), dims, "subscripts agree")


def _check_pad(inf: Inferred, node) -> Optional[list]:
    y = inf.shape(node.outputs[0]) if node.outputs else None
    if y is None:
        return None
    # negative pads crop: the output must not be negative
    found = _axis_checks(node, (node.input(0),), (y,), [(k, (add(d, 1),), "positive") for k, d in enumerate(y)
                                                       if not isinstance(d, int)], "padded size ≥ 0")
    modes = _pad_mode_checks(inf, node)
    return None if found is None or modes is None else found + modes


def _pad_mode_checks(inf: Inferred, node) -> Optional[list]:
    """What onnxruntime (1.32, measured: one axis, pads 0…3 at each end, lengths 0…6, and inputs
    empty along another axis) asks of the input of an ONNX Pad that copies from it: ``reflect``: an
    axis with a pad needs length ≥ max(pad_begin, pad_end, 1) + 1 ("Pad reflect: pre-pad (2) exceeds
    maximum allowed (1)", "Pad reflect requires axis length >= 2 after slicing"), but where another
    axis is 0 only ≥ 1 ("Cannot use 'reflect' mode to pad dimension with a value of 0"); ``edge``:
    an axis with a pad is not empty ("Cannot use 'edge' mode ..."); ``wrap``: the input is not
    empty, whichever axis ("Unexpected mode of 3"). A negative pad (a crop) on such an axis, or
    another axis that may or may not be 0, is not stated (None): shapelint abstains there."""
    mode = node.attr("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("reflect", "edge", "wrap"):  # (only ONNX's Pad has this check: its dialect's shape_checks)
        return []
    x = inf.shape(node.input(0))
    pads = node.attr("pads") if node.attr("pads") is not None else inf.value(node.input(1)) if node.input(1) else None
    if x is None or pads is None or any(not isinstance(p, int) for p in pads):
        return None
    axes = list(range(len(x)))
    if node.input(3):
        av = inf.value(node.input(3))
        if av is None or any(not isinstance(a, int) for a in av):
            return None
        axes = [a % len(x) for a in av]
    n = len(axes)
    if len(pads) != 2 * n:
        return None
    dims = [(a, (d,), "positive") for a, d in enumerate(x)] if mode == "wrap" else []
    for j, a in enumerate(axes):
        pb, pe = pads[j], pads[j + n]
        if mode != "wrap" and (pb or pe):
            if pb < 0 or pe < 0:
                return None
            if mode == "edge" or any(isinstance(d, int) and d == 0 for k, d in enumerate(x) if k != a):
                dims.append((a, (x[a],), "positive"))  # an empty input: only the padded axis must not be
            elif all(_always_positive(d) for k, d in enumerate(x) if k != a):
                dims.append((a, (sub(x[a], max(pb, pe, 1)),), "positive"))
            else:
                return None  # empty or not depending on the size: the limit holds only when it is not
    what = {"reflect": "reflect padding: each padded axis, less its largest pad, ≥ 1",
            "edge": "edge padding: each padded axis ≥ 1", "wrap": "wrap padding: every axis ≥ 1"}[mode]
    found = _axis_checks(node, (node.input(0),), (x,), dims, what)
    says = {"reflect": "Pad reflect", "edge": "Cannot use 'edge' mode to pad dimension with a value of 0",
            "wrap": "Unexpected mode of 3"}[mode]
    return None if found is None else [dataclasses.replace(m, says=says) for m in found]


def _always_positive(d) -> bool:
    """Whether the dim ``d`` is ≥ 1 at every size ≥ 1 of its one symbol (or is an int ≥ 1)."""
    if isinstance(d, int):
        return d >= 1
    names = symbols(d)
    if len(names) != 1:
        return False
    try:
        return solve([d], PositivePred(), next(iter(names))).is_everything()
    except Undecidable:
        return False


def _check_recurrent(inf: Inferred, node) -> Optional[list]:
    """onnxruntime's checks on LSTM / GRU / RNN inputs (rnn_helpers, measured with 1.32): W, R, B,
    initial_h, initial_c and P of the shapes the node's hidden_size, direction and X imply
    ("Input W must have shape {1,16,4}"), sequence_lens of [batch] with values in [0, seq_length],
    and no empty batch (LSTM, GRU) or empty sequence (GRU): those abort the process. One check per
    input, named after it (RUNTIME_WORDS quotes each)."""
    x = inf.shape(node.input(0))
    gates, hidden = RECURRENT_GATES[node.op], node.attr("hidden_size")
    if x is None or len(x) != 3 or not isinstance(hidden, int):
        return None
    dirs = recurrent_dirs(node)
    seq, batch, size = x
    gh = gates * hidden
    want = {"W": (1, (dirs, gh, size)), "R": (2, (dirs, gh, hidden)), "B": (3, (dirs, 2 * gh)),
            "initial_h": (5, (dirs, batch, hidden))}
    if node.op == "LSTM":
        want.update({"initial_c": (6, (dirs, batch, hidden)), "P": (7, (dirs, 3 * hidden))})
    found = []
    for name, (i, w) in want.items():
        if not node.input(i):
            continue
        s = inf.shape(node.input(i))
        if s is None or len(s) != len(w):
            return None
        got = _axis_checks(node, (node.input(0), node.input(i)), (x, s),
                           [(k, (d, e), "equal") for k, (d, e) in enumerate(zip(s, w)) if d != e], f"{name}'s shape")
        if got is None:
            return None
        found += got
    if node.input(4):
        s, v = inf.shape(node.input(4)), inf.value(node.input(4))
        if s is None or v is None or len(s) != 1 or any(not isinstance(t, int) for t in v):
            return None  # lengths given at run time: data, not shapes
        lens = (node.input(0), node.input(4)), (x, s)
        got = _axis_checks(node, *lens, [(1, (batch, s[0]), "equal")], "sequence_lens's shape")
        values = _axis_checks(node, *lens, [(0, (add(sub(seq, max(v)), 1),), "positive"),
                                            (0, (min(v) + 1,), "positive")] if v else [], "sequence_lens values")
        if got is None or values is None:
            return None
        found += got + values
    empty = [(1, (batch,), "positive")] if node.op != "RNN" else []
    if node.op == "GRU":
        empty.append((0, (seq,), "positive"))
    got = _axis_checks(node, (node.input(0),), (x,), empty, "non-empty input")
    return None if got is None else found + got

# ONNX op -> its run-time shape check (merges are above, in each dialect's merge_ops); None from a rule: the
# check could not be stated (an unknown, see unknowns())
SHAPE_CHECKS = {
    "Reshape": _check_reshape,
    "MatMul": _check_matmul,
    "Gemm": _check_matmul,
    "Expand": _check_expand,
    "Split": _check_split,
    "Resize": _check_resize_sizes,
    "Squeeze": _check_squeeze,
    "Gather": _check_gather,
    "GatherND": _check_gather_nd,
    "Conv": _check_conv_channels,
    "DepthToSpace": _check_depth_to_space,
    "SpaceToDepth": _check_depth_to_space,
    "Einsum": _check_einsum,
    "Pad": _check_pad,
    **{op: _check_recurrent for op in RECURRENT_GATES},
    # no ONNX op: the TF family's (their dialects map their op names here)
    "SpaceToBatchND": _check_space_to_batch,
    "BatchToSpaceND": _check_batch_to_space,
}

def shape_checks(inf: Inferred) -> list:
    """Every run-time shape check of the graph's ONNX nodes other than the merges, as Merges
    whose ``what`` names it; checks already settled at the inferred dims are left out."""
    cached = inf.memo.get("shape_checks")
    if cached is not None:
        return cached
    out = [m for got in _shape_check_results(inf).values() if got for m in got if m.axes]
    inf.memo["shape_checks"] = out
    return out


def _shape_check_results(inf: Inferred) -> dict:
    """node name -> what its SHAPE_CHECKS rule gave (a list of Merges, or None: not stated), once."""
    cached = inf.memo.get("shape_check_results")
    if cached is not None:
        return cached
    out: dict = {}
    for node in inf.graph.nodes:
        rule = SHAPE_CHECKS.get(dialect(node).shape_checks.get(node.op))
        if rule is None:
            continue
        try:
            out[node.name] = rule(inf, node)
        except _CAUGHT:  # a malformed node: the check cannot be stated (a bug fails under SHAPELINT_STRICT)
            out[node.name] = None
    inf.memo["shape_check_results"] = out
    return out


@dataclass(frozen=True)
class Unknown:
    """A place where shapelint cannot tell what the runtime does: the first op that lost a shape
    on its path, or a run-time check it could not state."""

    node: str
    op: str
    reason: str

    def as_json(self) -> dict:
        return {"node": self.node, "op": self.op, "reason": self.reason}

    def text(self) -> str:
        return f"'{self.node}' ({self.op}): {self.reason}"


def _complete(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def unknowns(inf: Inferred) -> list:
    """Where inference or a run-time check stopped short, in graph order: no size may be called
    working past these. Each names the op and what was missing."""
    cached = inf.memo.get("unknowns")
    if cached is not None:
        return cached
    out: list = []
    for t in inf.graph.inputs:
        s = inf.shape(t.name)
        if not _complete(s):
            why = inf.why_input_unknown.get(t.name, "the graph input's rank or a dim has neither a size nor a name")
            out.append(Unknown(t.name, "input", why))
    lost = inf.lost
    by_name = {n.name: n for n in inf.graph.nodes}
    lost_outputs: set = set()
    for name, (op, reason) in lost.items():
        out.append(Unknown(name, op, reason))
        node = by_name.get(name)
        if node is not None:
            lost_outputs.update(o for o in node.outputs if o)
    # a shape check or merge that could not be stated, where no lost shape upstream explains it
    results = _shape_check_results(inf)
    tainted = set(lost_outputs)
    maybe_incomplete = inf.tainted  # every tensor not fully known is in it (infer taints where made)
    known = inf.shapes
    for node in inf.graph.nodes:
        ins = node.inputs
        if tainted and not tainted.isdisjoint(ins):
            tainted.update(o for o in node.outputs if o)
            continue
        if not dialect(node).checks_complete:  # its run-time checks are not modelled (yet)
            continue
        if node.name in lost:
            continue
        if node.name in results:
            if results[node.name] is None:
                out.append(Unknown(node.name, node.op, "its run-time shape check cannot be stated: an input's "
                                                       "shape or value is unknown"))
                tainted.update(o for o in node.outputs if o)
        elif (not maybe_incomplete.isdisjoint(ins) or not all(map(known.__contains__, ins))) \
                and not all(_complete(inf.shape(n)) for n in ins if n) and merge_spec(node, inf) is not None:
            out.append(Unknown(node.name, node.op, "an input's shape is unknown, so the merge is not checked"))
            tainted.update(o for o in node.outputs if o)
    # a graph output no node makes (a reference the loader could not resolve): its shape is unknown
    # with no op to blame, and the model's verdict must not pass over it
    for o in inf.graph.outputs:
        if o and o not in inf.producer and not _complete(inf.shape(o)):
            out.append(Unknown(o, "output", "the graph output is made by no node shapelint read: its shape is "
                                            "unknown"))
    order = {n.name: k for k, n in enumerate(inf.graph.nodes)}
    out.sort(key=lambda u: order.get(u.node, -1))
    inf.memo["unknowns"] = out
    return out



def failing_example(check: AxisCheck, limit: int = 64) -> Optional[dict]:
    """For a check that ties several dims together (no per-dim set): the first combination of
    sizes, each 1…limit (fewer per dim past two dims), where it fails; None when it holds at every
    one tried -- then no finding claims a failure."""
    import itertools

    names = sorted(symbols(*check.present()))
    if not names or len(names) > 4:
        return None
    per = {1: limit * limit, 2: limit, 3: 16, 4: 8}[len(names)]
    for combo in itertools.product(range(1, per + 1), repeat=len(names)):
        env = dict(zip(names, combo))
        if not check.holds_at(env):
            return env
    return None


@dataclass(frozen=True)
class AxisVerdict:
    """Where one axis of a merge holds: per symbol, the exact set of sizes (None: undecided)."""

    check: AxisCheck
    symbol: Optional[str]  # None when the dims are concrete
    sizes: Optional[SizeSet]  # sizes of ``symbol`` for which the axis agrees
    static_ok: Optional[bool]  # for concrete dims
    reason: str = ""  # why undecided


@lru_cache(maxsize=1 << 16)
def axis_verdict(check: AxisCheck) -> AxisVerdict:
    syms = symbols(*check.present())
    if not syms:
        return AxisVerdict(check, None, None, check.holds_at({}))
    if len(syms) > 1:
        return AxisVerdict(check, None, None, None, f"depends on {', '.join(sorted(syms))} together")
    (name,) = syms
    try:
        s = solve(check.present(), check.pred(), name)
    except Undecidable as e:
        return AxisVerdict(check, name, None, None, str(e))
    return AxisVerdict(check, name, s, None)


# windowed ops, keyed as frameworks.op_key names them: below the window the runtime fails (sized:
# ONNX Conv/ConvTranspose, Keras Conv2D), truncates (ONNX pools; the TF family's 2-D windows: negative
# fails, 0 is an empty tensor, measured) or was not measured (the TF family's 3-D windows, erratic_ops), where
# shapelint abstains
POOL_OPS = op_keys("pool_ops")
SIZED_OPS = op_keys("sized_ops") | POOL_OPS
ABSTAIN_SIZED = POOL_OPS | op_keys("erratic_ops")


def _sized_key(node) -> str:
    return op_key(node)


def spatial_dims(node, shape) -> list:
    return [shape[a] for a in dialect(node).spatial_axes(node, len(shape))]


def domain(inf: Inferred, ops=SIZED_OPS | ABSTAIN_SIZED) -> dict:
    """Per input symbol, the sizes at which every Conv/ConvTranspose/pool output is ≥ 1.

    Below, onnxruntime fails for Conv ("Invalid input shape") and ConvTranspose, while a pool
    whose window is larger than its padded input truncates to a 1-pixel output; shapelint makes
    no claim about such sizes: findings pick their failing and working sizes inside the domain.
    """
    out: dict = {}
    for key, name, ok in _domain_entries(inf):
        if key in ops:
            out[name] = ok if name not in out else out[name].intersect(ok)
    return out


def _domain_entries(inf: Inferred) -> list:
    """(op key, symbol, sizes where the dim is ≥ 1) for every spatial output dim of a sized op,
    once per distinct triple: a deep graph repeats the same few dims thousands of times."""
    cached = inf.memo.get("domain")
    if cached is not None:
        return cached
    solved: dict = {}
    seen: set = set()
    out = []
    for node in inf.graph.nodes:
        key = _sized_key(node)
        if key not in SIZED_OPS and key not in ABSTAIN_SIZED or not node.outputs:
            continue
        shape = inf.shape(node.outputs[0])
        if shape is None:
            continue
        for d in spatial_dims(node, shape):
            if isinstance(d, int) or d is None:
                continue
            if d not in solved:
                syms = symbols(d)
                solved[d] = None
                if len(syms) == 1 and not has_bcast(d):  # sizes past a merge: the merge decides those
                    (name,) = syms
                    try:
                        solved[d] = (name, solve([d], PositivePred(), name))
                    except Undecidable:
                        pass
            if solved[d] is not None and (key, solved[d][0], id(solved[d][1])) not in seen:
                seen.add((key, solved[d][0], id(solved[d][1])))
                out.append((key, solved[d][0], solved[d][1]))
    inf.memo["domain"] = out
    return out


def upstream_merges(inf: Inferred, found: list) -> dict:
    """For each merge node name, the indices (into ``found``) of the merges upstream of it."""
    index = {m.node.name: k for k, m in enumerate(found)}
    bits: dict = {}  # tensor -> int bitset of merges upstream (inclusive of its producer)
    out = {}
    for node in inf.graph.nodes:
        acc = 0
        for name in node.inputs:
            if name:
                acc |= bits.get(name, 0)
        if node.name in index:
            out[node.name] = acc
            acc |= 1 << index[node.name]
        for o in node.outputs:
            if o:
                bits[o] = acc
    return {name: [k for k in range(len(found)) if b >> k & 1] for name, b in out.items()}


@dataclass(frozen=True)
class Contract:
    """Per input symbol, the exact set of sizes for which every merge holds."""

    sets: dict  # symbol -> SizeSet: every merge holds
    undecided: tuple  # (merge node name, axis, reason)
    static_failures: tuple  # (merge node name, axis) failing at the fixed sizes
    domain: dict = None  # symbol -> SizeSet: every conv/pool output ≥ 1 (see domain())
    conv_domain: dict = None  # symbol -> SizeSet: every Conv/ConvTranspose output ≥ 1
    pool_domain: dict = None  # symbol -> SizeSet: every TF/Keras/TFLite conv and pool window fits
    small: dict = None  # symbol -> {size: True/False/None}: ONNX pools whose window exceeds the input
    undecided_axes: tuple = ()  # AxisCheck of each undecided merge axis: evaluated at concrete sizes
    unevaluated: dict = None  # symbol -> frozenset of sizes below a pool window not evaluated (too costly)
    unknown: tuple = ()  # Unknown: where inference stopped short; no size is said to run past them

    def joint(self) -> dict:
        """symbol -> the undecided checks that tie it to another dim (H·W = 36): per-symbol sets
        say nothing about those; they are evaluated at concrete sizes only."""
        out: dict = {}
        for ax in self.undecided_axes:
            syms = symbols(*ax.present())
            if len(syms) > 1:
                for name in syms:
                    out.setdefault(name, []).append(ax)
        return out

    def proven(self) -> bool:
        """Whether a size outside every failing set is known to run (no unknown anywhere)."""
        return not self.unknown

    def works(self) -> dict:
        """Per symbol, the sizes at which the model runs: every merge holds, inside the domain,
        and, below it, the sizes where onnxruntime's truncated pools still give a model that runs.
        Nothing, when the model fails at its fixed sizes. Sizes in ``unevaluated`` are left out
        (see :meth:`note`)."""
        out = dict(self.domain or {})
        for name, ss in self.sets.items():
            out[name] = ss if name not in out else out[name].intersect(ss)
        if self.static_failures:
            return {name: SizeSet(1, frozenset(), 1, frozenset()) for name in out}
        for name, verdicts in (self.small or {}).items():
            ss = out.get(name, SizeSet.everything())
            start = max(ss.start, max(verdicts) + 1)
            small = frozenset(x for x in range(1, start)
                              if (verdicts[x] is True if x in verdicts else x in ss))
            out[name] = SizeSet(ss.modulus, ss.residues, start, small).canonical()
        return out

    def note(self, name: str) -> str:
        """What the set of ``name`` leaves unsaid, for messages ('' when nothing)."""
        left = sorted((self.unevaluated or {}).get(name, ()))
        if not left:
            return ""
        return (f"{display_name(name)} = {left[0]}…{left[-1]}, where a pool window exceeds its input, not evaluated "
                f"({len(left)} sizes × the whole graph: too costly here); pin one with --input-shape to check it")

    def abstains(self, name: str) -> list:
        """The sizes of ``name`` at which :meth:`runs` abstains whatever the other dims are: below a
        TensorFlow, Keras or TFLite window where no measurement says what the runtime does, or an ONNX pool's
        window where that was not evaluated. Listed up to one period past the largest threshold of
        the dim's sets: from there on the verdict repeats, so these are all of them unless the
        last period has some too (which would recur)."""
        sets = [d[name] for d in (self.domain, self.conv_domain, self.pool_domain, self.sets) if d and name in d]
        period = math.lcm(*(ss.modulus for ss in sets)) if sets else 1
        top = max([ss.start for ss in sets] + [x + 1 for x in (self.small or {}).get(name, {})]
                  + [x + 1 for x in (self.unevaluated or {}).get(name, ())] + [1])
        return [x for x in range(1, top + period) if self._runs_symbol(name, x) is None]

    def _below_window(self, name: str, x: int) -> bool:
        return x in (self.small or {}).get(name, {}) or x in (self.unevaluated or {}).get(name, ())

    def _runs_symbol(self, name: str, x: int) -> Optional[bool]:
        if self.small and x in self.small.get(name, {}):
            return self.small[name][x]
        if x in (self.unevaluated or {}).get(name, ()):
            return None
        if name in (self.pool_domain or {}) and x not in self.pool_domain[name]:
            return None
        if name in (self.conv_domain or {}) and x not in self.conv_domain[name]:
            return False
        if name in (self.domain or {}) and x not in self.domain[name]:
            return None  # an ONNX pool below its window, beyond what was evaluated
        return x in self.sets[name] if name in self.sets else True

    def runs(self, env: dict) -> Optional[bool]:
        """Predicted verdict at concrete sizes: True, False, or None where a TensorFlow, Keras or
        TFLite window not measured (3-D) would be larger than its input, or an empty tensor reaches an op. A Conv
        or ConvTranspose output < 1 is a failure; ONNX pools whose window exceeds the input follow
        onnxruntime (see :func:`concrete_verdict`)."""
        if self.static_failures:
            return False
        verdicts = [self._runs_symbol(name, x) for name, x in env.items()]
        for ax in self.undecided_axes:  # no set for these (several symbols at once): evaluate them
            syms = symbols(*ax.present())
            if not syms <= set(env) or any(self._below_window(n, env[n]) for n in syms):
                verdicts.append(None)  # below a pool window the symbolic dims (floor) are not onnxruntime's
            elif not ax.holds_at(env):
                verdicts.append(False)
        if False in verdicts:
            return False
        if None in verdicts or self.unknown:
            return None  # abstain: something on the way was not inferred (see ``unknown``)
        return True


def _ints(dims) -> list:
    return [d for d in dims if isinstance(d, int)]


def concrete_verdict(inf: Inferred) -> Optional[bool]:
    """Whether onnxruntime runs an ONNX graph at the sizes ``inf`` was pinned to, judged on the
    axes that are concrete (the others are some other symbol's business): False when a pool
    output is negative or a Conv/pool gets an empty input (onnxruntime's "Invalid input shape",
    "out_size >= 0"), a Conv/ConvTranspose output is < 1, or a concrete merge axis disagrees;
    None when an empty tensor reaches an op whose behaviour on it was not measured."""
    at_merge: dict = {}  # by node (its id: a malformed graph may give a thousand nodes one name)
    for m in merges(inf) + shape_checks(inf):
        at_merge.setdefault(id(m.node), []).append(m)
    too_big = {node.name for _s, ss, node, _a in _output_shape_limits(inf) if ss is None}
    tainted: set = set()
    fails = False
    for node in inf.graph.nodes:
        outs = [o for o in node.outputs if o]
        ins = [n for n in node.inputs if n]
        if any(n in tainted for n in ins):
            tainted.update(outs)
            continue
        d = dialect(node)
        x = inf.shape(ins[0]) if ins else None
        # an empty data tensor (not a shape argument such as Resize's empty roi); data is input 0,
        # or any input of an elementwise merge / Concat
        data = ins if node.op in d.merge_ops else ins[:1]
        empty = any(0 in _ints(inf.shape(n) or ()) for n in data)
        if empty and node.op not in d.empty_ok and node.op not in d.empty_fails:
            tainted.update(outs)  # what the runtime does on an empty tensor here was not measured
            continue
        if (node.op in d.sized_ops or node.op in d.pool_ops) and x is not None and len(x) > 2:
            if any(v <= 0 for v in _ints(spatial_dims(node, x))) and node.op in d.empty_fails:
                fails = True
                continue
            y = inf.shape(outs[0]) if outs else None
            floor = 0 if node.op in d.pool_ops else 1
            if y is not None and any(v < floor for v in _ints(spatial_dims(node, y))):
                fails = True
                continue
            if y is not None and d.fails_at_zero is not None and 0 in _ints(spatial_dims(node, y)) \
                    and d.fails_at_zero(inf, node):
                fails = True  # fails in every build measured
                continue
            if y is not None and node.op in d.erratic_at_zero and 0 in _ints(spatial_dims(node, y)):
                tainted.update(outs)  # the runtime's result here depends on its build
                continue
        if any(not ax.holds_at({}) for m in at_merge.get(id(node), ()) for ax in m.axes
               if not symbols(*ax.present())) or node.name in too_big:  # a merge that disagrees; an output_shape no padding reaches
            fails = True
            continue
        if empty and node.op not in d.empty_ok:
            tainted.update(outs)
    if fails:
        return False
    return None if tainted else True


MAX_SMALL = limits.MAX_SMALL_SIZES  # sizes per symbol evaluated one by one below the pools' windows
MAX_SMALL_WORK = limits.MAX_SMALL_WORK  # node inferences in all for those (a big graph with deep pools: abstain)
SMALL_WORK_INPUTS = 4  # a node's inputs past this many count as one node inference each (a 100k-input Concat)


def _pinned(graph, name: str, x: int) -> dict:
    return {t.name: tuple(x if d == name else d for d in t.shape)
            for t in graph.inputs if t.shape is not None and name in t.shape}


def small_verdicts(inf: Inferred, pool_sets: dict) -> dict:
    """Per symbol, onnxruntime's verdict at each size below where every ONNX pool window fits:
    the graph is inferred again with that symbol pinned, where pools truncate as onnxruntime does
    (``sizes.pool_out``), and :func:`concrete_verdict` decides. Returns (verdicts, skipped): a
    symbol whose sizes would cost more than MAX_SMALL_WORK node inferences is skipped (abstain)."""
    from .infer import infer

    out, skipped = {}, {}
    budget = MAX_SMALL_WORK
    per_inference = max(1, len(inf.graph.nodes) + sum(max(0, len(n.inputs) - SMALL_WORK_INPUTS)
                                                       for n in inf.graph.nodes))
    for name, ss in sorted(pool_sets.items()):
        below = [x for x in range(1, ss.start) if x not in ss]
        cost = len(below) * per_inference
        if not below:
            continue
        if len(below) > MAX_SMALL or cost > budget:
            skipped[name] = frozenset(below)
            continue
        budget -= cost
        out[name] = {x: concrete_verdict(infer(inf.graph, _pinned(inf.graph, name, x))) for x in below}
    return out, skipped


def contract(inf: Inferred, found: Optional[list] = None) -> Contract:
    """Every merge, every other run-time shape check and every sized op, solved per symbol."""
    found = (merges(inf) if found is None else list(found)) + shape_checks(inf)
    sets: dict = {}
    undecided = []
    undecided_axes = []
    static = []
    for m in found:
        for ax in m.axes:
            v = axis_verdict(ax)
            if v.symbol is None and v.static_ok is not None:
                if not v.static_ok:
                    static.append((m.node.name, ax.axis))
            elif v.sizes is None:
                undecided.append((m.node.name, ax.axis, v.reason))
                undecided_axes.append(ax)
            else:
                prev = sets.get(v.symbol)
                sets[v.symbol] = v.sizes if prev is None else prev.intersect(v.sizes)
    for node, _x, _shape, bad in too_small(inf):  # a fixed-size Conv output < 1: fails at every size
        static.append((node.name, bad[0]))
    for name, ss, node, axis in _output_shape_limits(inf):
        if ss is None:
            static.append((node.name, axis))
        else:
            sets[name] = ss if name not in sets else sets[name].intersect(ss)
    abstain = domain(inf, ABSTAIN_SIZED - POOL_OPS)
    dom = domain(inf)
    for node, _axes, ax, tv in tf_transposed(inf):  # TF rejects input_sizes outside the admissible range
        if tv.ok is False:
            static.append((node.name, ax["axis"]))
        elif tv.symbol is not None:
            prev = sets.get(tv.symbol)
            sets[tv.symbol] = tv.works if prev is None else prev.intersect(tv.works)
            for d in (abstain, dom):
                d[tv.symbol] = tv.analysed if tv.symbol not in d else d[tv.symbol].intersect(tv.analysed)
    small, skipped = small_verdicts(inf, domain(inf, POOL_OPS)) if of_graph(inf.graph).contract_below_windows \
        else ({}, {})
    return Contract(sets, tuple(undecided), tuple(static), dom,
                    domain(inf, op_keys("sized_ops")), abstain, small, tuple(undecided_axes),
                    skipped, tuple(unknowns(inf)))


def _output_shape_limits(inf: Inferred):
    """Transposed convolutions with an explicit output size the runtime bounds (ONNX's output_shape:
    onnxruntime accepts o only up to (i−1)·s + K + s − 1). Yields (symbol, the sizes that allow it,
    node, axis) for a symbolic input, and (None, None, node, axis) for a fixed input that cannot
    (SL001 reports that one)."""
    for node in inf.graph.nodes:
        limits = dialect(node).output_shape_limits
        if limits is not None and node.op in dialect(node).transposed_ops:
            yield from limits(inf, node)


def fixed_size_failures(inf: Inferred, found: list) -> dict:
    """At fixed sizes, where onnxruntime stops: tensor name -> the first failing node upstream
    (or producing it), as (node name, kind) with kind "size" (a Conv/ConvTranspose output < 1,
    a pool output < 0) or "merge" (a Concat/elementwise mismatch)."""
    failing_merges = {m.node.name for m in found
                      if any(not symbols(*ax.present()) and not ax.holds_at({}) for ax in m.axes)}
    marks: dict = {}
    for node in inf.graph.nodes:
        up = next((marks[i] for i in node.inputs if i and i in marks), None)
        own = None
        key = _sized_key(node)
        if (key in SIZED_OPS or key in ABSTAIN_SIZED) and node.outputs:
            shape = inf.shape(node.outputs[0])
            limit = 0 if key in POOL_OPS else 1
            if shape is not None and any(isinstance(d, int) and d < limit for d in spatial_dims(node, shape)):
                own = (node.name, "size")
                if key not in SIZED_OPS and up is None:
                    note = (f"'{node.name}' ({node.op}) gets an input smaller than its window at these sizes: the "
                            f"runtime's behaviour there was not measured, so nothing after "
                            f"it is analysed")
                    if note not in inf.notes:
                        inf.notes.append(note)
        elif node.name in failing_merges:
            own = (node.name, "merge")
        mark = up or own
        if mark is not None:
            for o in node.outputs:
                if o:
                    marks[o] = mark
    return marks


def too_small(inf: Inferred) -> list:
    """Nodes whose output is too small at fixed sizes: (node, input shape, output shape, the
    spatial axes below the limit): Conv/ConvTranspose (sized_ops) < 1, pools < 0 -- the TF
    family's windows are pools in this sense: a negative size fails, 0 is an empty tensor."""
    cached = inf.memo.get("too_small")
    if cached is not None:
        return cached
    out = inf.memo["too_small"] = []
    for node in inf.graph.nodes:
        if _sized_key(node) not in SIZED_OPS or not node.outputs:
            continue
        shape = inf.shape(node.outputs[0])
        x = inf.shape(node.input(0))
        limit = 0 if _sized_key(node) in POOL_OPS else 1
        if shape is None or x is None:
            continue
        d = dialect(node)
        bad = [a for a in d.spatial_axes(node, len(shape)) if isinstance(shape[a], int) and shape[a] < limit]
        if not bad and limit == 0 and d.fails_at_zero is not None and d.fails_at_zero(inf, node):
            bad = [a for a in d.spatial_axes(node, len(shape)) if shape[a] == 0]  # fails at 0 too
        if bad:
            out.append((node, x, shape, bad))
    return out


def empty_windows(inf: Inferred) -> list:
    """At fixed sizes, windowed ops (pool_ops) of a dialect whose runtime runs them into an empty
    tensor without an error (``empty_window``): (node, input shape, output shape, the spatial axes
    that are 0), where the input is not empty already."""
    out = []
    for node in inf.graph.nodes:
        d = dialect(node)
        if not d.empty_window or node.op not in d.pool_ops or not node.outputs:
            continue
        shape, x = inf.shape(node.outputs[0]), inf.shape(node.input(0))
        if shape is None or x is None or 0 in x:
            continue
        axes = d.spatial_axes(node, len(shape))
        if any(isinstance(shape[a], int) and shape[a] < 0 for a in axes):
            continue  # fails: too_small
        zero = [a for a in axes if shape[a] == 0]
        if zero and not (d.fails_at_zero is not None and d.fails_at_zero(inf, node)):  # else: too_small
            out.append((node, x, shape, zero))
    return out


# ----------------------------------------------------------- transposed convolutions sized by a tensor


def tf_transposed(inf: Inferred):
    """(node, all axes, axis, verdict) for every TF transposed conv axis that can be decided."""
    for node in inf.graph.nodes:
        d = dialect(node)
        if d.output_size_input is None or node.op not in d.transposed_ops:
            continue
        got = d.output_size_input(inf, node)
        if got is None:
            continue
        for ax in got[1]:
            v = tf_transposed_verdict(ax)
            if v is not None:
                yield node, got[1], ax, v


# ----------------------------------------------------------- fitting a ConvTranspose to a size


def convtranspose_fit(inf: Inferred, up, targets: dict):
    """The pads and output_padding that make the ONNX ConvTranspose ``up`` produce ``targets``
    (output axis -> size) at fixed sizes: the output_padding alone when it reaches (0…s−1), else
    symmetric pads with an output_padding, which PyTorch can express too. Returns (pads, ops,
    output_padding alone?) or None (symbolic sizes, output_shape, auto_pad, out of reach). The
    SL003 suggestion and ``shapelint fix`` both use it."""
    from .frameworks.onnx import convtranspose_params

    x, w = inf.shape(up.input(0)), inf.shape(up.input(1))
    if x is None or w is None:
        return None
    p = convtranspose_params(up, x, w)
    n = p.n_spatial
    if p.output_shape is not None or p.auto_pad != "NOTSET":
        return None
    pads, ops = list(p.pads), list(p.output_padding)
    only_op = True
    for axis, target in targets.items():
        a = axis - 2
        if not 0 <= a < n or not isinstance(x[2 + a], int) or not isinstance(target, int):
            return None
        i, k, s, d = x[2 + a], p.kernel[a], p.strides[a], p.dilations[a]
        need = target - sizes.admissible(i, k, s, d, pads[a], pads[a + n]).low
        if 0 <= need < s:
            ops[a] = need
            continue
        only_op = False
        sym = _symmetric_fit(i, k, s, d, target)
        if sym is None:
            return None
        pads[a], pads[a + n] = sym[0], sym[0]
        ops[a] = sym[1]
    return tuple(pads), tuple(ops), only_op


def _symmetric_fit(i: int, k: int, s: int, d: int, target: int):
    """PyTorch-style (padding p on both sides, output_padding op < s) reaching ``target``:
    target = s·(i − 1) − 2p + d·(k − 1) + op + 1."""
    if d * (k - 1) > 4096 or s > 4096:
        return None
    for pad in range(0, d * (k - 1) + 1):
        op = target - sizes.torch_conv_transpose_out(i, k, s, pad, d, 0)
        if 0 <= op < s:
            return pad, op
    return None
