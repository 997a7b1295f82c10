"""ONNX: its ops' shape rules, and everything else shapelint knows about ONNX graphs (one
:class:`Dialect` record, ``DIALECT``, at the end).

The shape rules are plain functions in one dict, ``RULES``; ``grep '"Conv"'`` finds Conv's.
Value rules are apart, in values.py (``VALUE_RULES``). The size arithmetic is sizes.py's.
Helpers other dialects build on (``elementwise``, ``reshape``, ``conv_like``, ...) are public.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from types import MappingProxyType

from .. import limits, sizes
from ..ir import Graph, Node
from ..symbolic import Dim, Invalid, fmt_dim, fmt_shape, PositivePred, Undecidable, add, bcast, ceildiv, floordiv, mul, solve, sub, symbols
from ..values import VALUE_RULES, Rat, exact_quotient, range_count
from ..values import NotFollowed as _NotFollowed, Unknown as _Unknown, int_or_none as _int_or_none, need as _need, norm_axis as _norm_axis
from ..values import is_float as _is_float, slice_dim as _slice_dim
from .base import Dialect, IntAttrs, Rule, TransposedAxis, TransposedChoice, TransposedIssue, out as _out


# --------------------------------------------------------------------------- helpers


def numel(shape) -> Dim:
    n: Dim = 1
    for d in shape:
        n = mul(n, d)
    return n


def broadcast_shapes(shapes):
    rank = max(len(s) for s in shapes)
    out = []
    for k in range(rank):
        d: Dim = 1
        seen: set = set()  # a dim met again changes nothing (broadcasting is idempotent): 10,000
        for s in shapes:   # inputs of two sizes are bcast(a, b), not bcast nested 10,000 deep
            j = k - (rank - len(s))
            if j < 0:
                continue
            x = s[j]
            if x in seen:
                continue
            seen.add(x)
            if x is None or d is None:
                d = None if not (x == 1 or d == 1) else (x if d == 1 else d)
                continue
            try:
                d = bcast(d, x)
            except Invalid:
                # fixed sizes that cannot broadcast: the merge check reports it; downstream
                # continues with the first input's size so later merges are still checked
                pass
        out.append(d)
    return tuple(out)


# --------------------------------------------------------------------------- elementwise


def _same_as_input(ctx):
    return _out(ctx.shape(0))


def elementwise(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    if ctx.op == "Clip":
        shapes = shapes[:1]
    if any(s is None for s in shapes):
        return _out(None)
    return _out(broadcast_shapes(shapes))


def _where(ctx):
    shapes = [ctx.shape(i) for i in range(3)]
    if any(s is None for s in shapes):
        return _out(None)
    return _out(broadcast_shapes(shapes))


def _identity(ctx):
    outs = [(ctx.shape(0), None)]
    if len(ctx.node.outputs) > 1:  # Dropout mask
        outs.append((ctx.shape(0), None))
    return outs


# --------------------------------------------------------------------------- shape values


def _shape(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    rank = len(s)
    start = ctx.attr("start", 0)
    end = ctx.attr("end", rank)
    start = max(0, min(rank, start + rank if start < 0 else start))
    end = max(0, min(rank, end + rank if end < 0 else end))
    return _out((end - start if end > start else 0,))


def _size(ctx):
    return _out(())


def _constant_of_shape(ctx):
    v = ctx.value(0)
    if v is None:
        s = ctx.shape(0)
        return _out((None,) * s[0] if s is not None and len(s) == 1 and isinstance(s[0], int) else None)
    return _out(tuple(v))


def _gather(ctx):
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return _out(None)
    axis = _norm_axis(ctx.attr("axis", 0), len(data))
    return _out(data[:axis] + idx + data[axis + 1:])


def _gather_elements(ctx):
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return _out(idx)
    if len(data) != len(idx):
        raise ValueError(f"GatherElements: indices of rank {len(idx)} for data of rank {len(data)}")
    _norm_axis(ctx.attr("axis", 0), len(data))
    return _out(idx)


def _gather_nd(ctx):
    """GatherND: indices [..., k] pick slices data[b + k:], b = batch_dims leading dims shared."""
    data, idx = ctx.shape(0), ctx.shape(1)
    if data is None or idx is None:
        return _out(None)
    b = ctx.attr("batch_dims", 0)
    if not idx or not isinstance(idx[-1], int):
        raise _Unknown("GatherND: the last dim of the indices is not known")
    k = idx[-1]
    if b < 0 or b >= min(len(data), len(idx)) or b + k > len(data):
        raise ValueError(f"GatherND: batch_dims {b} and index depth {k} do not fit data of rank {len(data)}")
    return _out(tuple(idx[:-1]) + tuple(data[b + k:]))


def _scatter_elements(ctx):
    """ScatterElements / ScatterND keep the data's shape."""
    return _out(ctx.shape(0))


def _unsqueeze(ctx):
    s = ctx.shape(0)
    axes = ctx.attr("axes") if ctx.opset < 13 or not ctx.has(1) else ctx.ints(1)
    if s is None or axes is None:
        return _out(None)
    rank = len(s) + len(axes)
    axes = sorted(_norm_axis(_need(_int_or_none(a), "an axis is not an integer"), rank) for a in axes)
    out = list(s)
    for a in axes:
        out.insert(a, 1)
    return _out(tuple(out))


def _squeeze(ctx):
    s = ctx.shape(0)
    axes = ctx.attr("axes") if ctx.opset < 13 or not ctx.has(1) else ctx.ints(1)
    if s is None:
        return _out(None)
    if axes is None:
        if ctx.opset >= 13 and ctx.has(1):
            return _out(None)
        if any(not isinstance(d, int) for d in s):
            return _out(None)
        out = tuple(d for d in s if d != 1)
    else:
        ax = {_norm_axis(_need(_int_or_none(a), "an axis is not an integer"), len(s)) for a in axes}
        out = tuple(d for k, d in enumerate(s) if k not in ax)
    return _out(out)


def _concat(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    known = [s for s in shapes if s is not None]
    if not known or len(known) != len(shapes):
        return _out(None)
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise _Unknown("Concat of inputs of different ranks")
    axis = _norm_axis(ctx.attr("axis", 0), rank)
    out = []
    for k in range(rank):
        if k == axis:
            total: Dim = 0
            for s in shapes:
                total = add(total, s[k])
            out.append(total)
        else:
            # the non-axis dims must agree; the merge check reports when they may not
            first = next((s[k] for s in shapes if s[k] is not None), None)
            out.append(first)
    return _out(tuple(out))


def _slice_params(ctx):
    if ctx.opset < 10:
        starts, ends, axes = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes")
        steps = None
    else:
        starts, ends = ctx.ints(1), ctx.ints(2)
        axes = ctx.ints(3) if ctx.has(3) else None
        steps = ctx.ints(4) if ctx.has(4) else None
        if ctx.has(3) and axes is None or ctx.has(4) and steps is None:
            raise _Unknown("the slice's axes or steps have no known value")
    return (_need(starts, "the slice's starts have no known value"),
            _need(ends, "the slice's ends have no known value"), axes, steps)


def _slice(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    starts, ends, axes, steps = _slice_params(ctx)
    axes = axes if axes is not None else tuple(range(len(starts)))
    steps = steps if steps is not None else (1,) * len(starts)
    out = list(s)
    for a, st, en, sp in zip(axes, starts, ends, steps):
        a = _norm_axis(_need(_int_or_none(a), "a slice axis is not an integer"), len(s))
        sp = _need(_int_or_none(sp), "a slice step is not an integer")
        if out[a] is None:
            continue
        if isinstance(st, Rat) or isinstance(en, Rat) or isinstance(st, float) or isinstance(en, float):
            raise ValueError("Slice starts and ends must be integers")
        out[a], _ = _slice_dim(out[a], st, en, sp)
    return _out(tuple(out))


def _range(ctx):
    a, b, d = ctx.value(0), ctx.value(1), ctx.value(2)
    if a is None or b is None or d is None:
        return _out((None,))
    return _out((range_count(a[0], b[0], d[0]),))


def _expand(ctx):
    s, target = ctx.shape(0), ctx.value(1)
    if s is None or target is None:
        return _out(None)
    return _out(broadcast_shapes([s, tuple(target)]))


def _tile(ctx):
    s, reps = ctx.shape(0), ctx.value(1)
    if s is None or reps is None:
        return _out(None)
    return _out(tuple(mul(d, r) for d, r in zip(s, reps)))


def reshape(ctx):
    s = ctx.shape(0)
    target = ctx.value(1) if ctx.opset >= 5 else ctx.attr("shape")
    if target is None:
        t_shape = ctx.shape(1)
        if t_shape is not None and len(t_shape) == 1 and isinstance(t_shape[0], int):
            return _out((None,) * t_shape[0])
        return _out(None)
    allowzero = ctx.attr("allowzero", 0)
    out = []
    infer_at = None
    for k, t in enumerate(target):
        if t == 0 and not allowzero:
            out.append(_need(s, "Reshape copies a dim (0) of an input of unknown rank")[k]
                       if s is not None and k < len(s) else None)
        elif t == -1:
            infer_at = k
            out.append(None)
        else:
            out.append(t)
    if infer_at is not None and s is not None and all(d is not None for d in s):
        # the dims the target copies or repeats cancel first (sizes ≥ 1, as analysis's element-count
        # check assumes): torch's [seq, N, 2, 6] → [0, 0, -1] is 12 without dividing expressions
        rest, others = list(s), []
        for k, d in enumerate(out):
            if k == infer_at:
                continue
            if d is not None and not isinstance(d, int) and d in rest:
                rest.remove(d)
            else:
                others.append(d)
        known = numel(others)
        total = numel(rest)
        if known is not None:
            out[infer_at] = exact_div(total, known)
    return _out(tuple(out))


def exact_div(total: Dim, known: Dim) -> Dim:
    if isinstance(known, int) and known > 0:
        if isinstance(total, int):
            return total // known if total % known == 0 else None
        return floordiv(total, known)
    return exact_quotient(total, known)


def _flatten(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out((None, None))
    axis = ctx.attr("axis", 1)
    axis = axis + len(s) if axis < 0 else axis
    return _out((numel(s[:axis]), numel(s[axis:])))


def _transpose(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    perm = ctx.attr("perm") or tuple(reversed(range(len(s))))
    return _out(tuple(s[p] for p in perm))


def _split(ctx):
    s = ctx.shape(0)
    n_out = len(ctx.node.outputs)
    if s is None:
        return [(None, None)] * n_out
    axis = _norm_axis(ctx.attr("axis", 0), len(s))
    parts = ctx.attr("split") if ctx.opset < 13 else (ctx.ints(1) if ctx.has(1) else None)
    if ctx.opset >= 13 and ctx.has(1) and parts is None:
        return [(None, None)] * n_out
    outs = []
    if parts is None:
        n = s[axis]
        if isinstance(n, int) and n % n_out and ctx.opset < 18:
            raise _Unknown()
        size = ceildiv(n, n_out)
        for j in range(n_out):
            piece = size if j < n_out - 1 else sub(n, mul(size, n_out - 1))
            outs.append((s[:axis] + (piece,) + s[axis + 1:], None))
        return outs
    for p in parts:
        outs.append((s[:axis] + (p,) + s[axis + 1:], None))
    return outs


def _reduce(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    keep = ctx.attr("keepdims", 1)
    axes = ctx.attr("axes")
    if axes is None and len(ctx.node.inputs) > 1 and ctx.has(1):
        axes = ctx.ints(1)
        if axes is None:
            return _out(None)
    if ctx.node.op in ("ArgMax", "ArgMin"):
        axes = (ctx.attr("axis", 0),)
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return _out(s)
        axes = tuple(range(len(s)))
    ax = {_norm_axis(a, len(s)) for a in axes}
    out = tuple(1 if k in ax else d for k, d in enumerate(s) if keep or k not in ax)
    return _out(out)


def _matmul(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None:
        return _out(None)
    if len(a) == 1 and len(b) == 1:
        return _out(())
    if len(a) == 1:
        return _out(b[:-2] + (b[-1],))
    if len(b) == 1:
        return _out(a[:-1])
    batch = broadcast_shapes([a[:-2], b[:-2]]) if a[:-2] or b[:-2] else ()
    return _out(batch + (a[-2], b[-1]))


def _gemm(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None:
        return _out(None)
    m = a[1] if ctx.attr("transA", 0) else a[0]
    n = b[0] if ctx.attr("transB", 0) else b[1]
    return _out((m, n))


def _onehot(ctx):
    s, depth = ctx.shape(0), ctx.value(1)
    if s is None:
        return _out(None)
    d = _int_or_none(depth[0]) if depth else None
    axis = ctx.attr("axis", -1)
    out = list(s)
    axis = axis + len(s) + 1 if axis < 0 else axis
    out.insert(axis, d)
    return _out(tuple(out))


def _einsum(ctx):
    """Einsum: each letter's dim from the inputs that carry it (a non-1 one where they broadcast;
    that they agree is the merge check's business), ``...`` broadcast numpy-style, and the
    implicit output (no ``->``): the ellipsis, then the letters used once, alphabetically."""
    eq = (ctx.attr("equation") or "").replace(" ", "")
    names = list(ctx.node.inputs)
    shapes = [ctx.inf.shape(n) if n else None for n in names]
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(names):
        raise ValueError(f"Einsum equation {eq!r} has {len(terms)} operands for {len(names)} inputs")
    if any(s is None for s in shapes):
        return _out(None)
    letters: dict = {}
    counts: dict = {}
    ell: list = []  # the ellipsis dims of each input
    for term, s in zip(terms, shapes):
        if term.count("...") > 1 or "." in term.replace("...", ""):
            raise ValueError(f"Einsum term {term!r}")
        head, has_ell, tail = term.partition("...")
        if any(not c.isalpha() for c in head + tail):
            raise ValueError(f"Einsum term {term!r}")
        n_ell = len(s) - len(head) - len(tail)
        if n_ell < 0 or n_ell and not has_ell:
            raise ValueError(f"Einsum term {term!r} does not fit an input of rank {len(s)}")
        dims = list(s[:len(head)]) + list(s[len(s) - len(tail):] if tail else [])
        if has_ell:
            ell.append(tuple(s[len(head):len(head) + n_ell]))
        for c, d in zip(head + tail, dims):
            counts[c] = counts.get(c, 0) + 1
            prev = letters.get(c)
            if prev is None or prev == 1 and d is not None:
                letters[c] = d
    ell_dims = broadcast_shapes(ell) if ell else ()
    if not arrow:
        rhs = ("..." if ell else "") + "".join(sorted(c for c, k in counts.items() if k == 1))
    out = []
    head, has_ell, tail = rhs.partition("...")
    for c in head:
        if c not in letters:
            raise ValueError(f"Einsum output letter {c!r} is in no input")
        out.append(letters[c])
    if has_ell:
        out += list(ell_dims)
    for c in tail:
        if c not in letters:
            raise ValueError(f"Einsum output letter {c!r} is in no input")
        out.append(letters[c])
    return _out(tuple(out))


def _depth_to_space(ctx):
    s = ctx.shape(0)
    b = ctx.attr("blocksize")
    if s is None or len(s) != 4:
        return _out(None)
    n, c, h, w = s
    if ctx.node.op == "DepthToSpace":
        return _out((n, exact_div(c, b * b), mul(h, b), mul(w, b)))
    return _out((n, mul(c, b * b), exact_div(h, b), exact_div(w, b)))


# --------------------------------------------------------------------------- conv & pools


def _spatial_attrs(ctx, n_spatial: int, kernel):
    strides = ctx.attr("strides") or (1,) * n_spatial
    dil = ctx.attr("dilations") or (1,) * n_spatial
    pads = ctx.attr("pads") or (0,) * (2 * n_spatial)
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    if len(strides) != n_spatial or len(dil) != n_spatial or len(pads) != 2 * n_spatial:
        raise ValueError("attribute length does not match the spatial rank")
    if any(s < 1 for s in strides) or any(d < 1 for d in dil) or any(k < 1 for k in kernel):
        raise ValueError("non-positive stride, dilation or kernel")
    return strides, dil, pads, auto_pad


def _conv_like(ctx, kernel, channels):
    x = ctx.shape(0)
    if x is None:
        return None
    n_sp = len(x) - 2
    if n_sp < 1 or len(kernel) != n_sp:
        raise ValueError("rank")
    strides, dil, pads, auto_pad = _spatial_attrs(ctx, n_sp, kernel)
    spatial = []
    for a in range(n_sp):
        i = x[2 + a]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            spatial.append(sizes.same_out(i, strides[a]))
            continue
        if ctx.node.op == "Conv":
            fn = sizes.conv_out
        else:
            fn = sizes.pool_out_ceil if ctx.attr("ceil_mode", 0) else sizes.pool_out
        if auto_pad == "VALID":  # pads 0; onnxruntime's pools still apply ceil_mode and truncate
            spatial.append(fn(i, kernel[a], strides[a], dil[a], 0, 0))
        else:
            spatial.append(fn(i, kernel[a], strides[a], dil[a], pads[a], pads[a + n_sp]))
    return (x[0], channels) + tuple(spatial)


def _conv(ctx):
    w = ctx.shape(1)
    x = ctx.shape(0)
    if w is None or x is None:
        return _out(None if x is None else (x[0],) + (None,) * (len(x) - 1))
    if len(w) != len(x):
        raise ValueError(f"weight of rank {len(w)} for an input of rank {len(x)}")
    kernel = ctx.attr("kernel_shape") or tuple(w[2:])
    _need(all(isinstance(k, int) for k in kernel) or None)
    return _out(_conv_like(ctx, kernel, w[0]))


def _pool(ctx):
    x = ctx.shape(0)
    kernel = ctx.attr("kernel_shape")
    if x is None or kernel is None:
        return _out(None)
    if len(x) < 3:
        raise ValueError(f"input of rank {len(x)}")
    shape = _conv_like(ctx, kernel, x[1])
    return [(shape, None), (shape, None)]


def _global_pool(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    return _out(x[:2] + (1,) * (len(x) - 2))


@dataclass(frozen=True)
class ConvTransposeParams:
    """A ConvTranspose's attributes, validated, with every default filled in."""

    kernel: tuple
    strides: tuple
    dilations: tuple
    pads: tuple  # begins, then ends
    output_padding: tuple
    auto_pad: str
    output_shape: object  # tuple of spatial sizes, or None
    group: int
    n_spatial: int


def convtranspose_params(ctx_or_node, x_shape, w_shape) -> ConvTransposeParams:
    """The attributes of a ConvTranspose, validated, with every default filled in."""
    node = ctx_or_node
    n_sp = len(x_shape) - 2
    kernel = node.attr("kernel_shape") or tuple(w_shape[2:])
    strides = node.attr("strides") or (1,) * n_sp
    dil = node.attr("dilations") or (1,) * n_sp
    pads = node.attr("pads") or (0,) * (2 * n_sp)
    op = node.attr("output_padding") or (0,) * n_sp
    auto_pad = node.attr("auto_pad", "NOTSET") or "NOTSET"
    output_shape = node.attr("output_shape")
    group = node.attr("group", 1)
    for key, v in (("kernel_shape", kernel), ("strides", strides), ("dilations", dil), ("pads", pads),
                   ("output_padding", op), ("output_shape", output_shape or ()), ("group", (group,))):
        if any(not isinstance(x, int) or isinstance(x, bool) for x in v):
            raise ValueError(f"attribute {key} must be integers, got {v!r}")
    limits.transposed_strides(strides)
    return ConvTransposeParams(tuple(kernel), tuple(strides), tuple(dil), tuple(pads), tuple(op), auto_pad,
                               output_shape, group, n_sp)


def convtranspose_spatial(x_shape, p) -> tuple:
    """The output spatial dims onnxruntime produces for a ConvTranspose."""
    n = p.n_spatial
    out = []
    os_ = p.output_shape
    if os_ is not None:
        os_ = tuple(os_)
        if len(os_) != n or any(o < 1 for o in os_):
            raise ValueError("onnxruntime rejects this output_shape (SL001)")
    for a in range(n):
        i = x_shape[2 + a]
        k, s, d = p.kernel[a], p.strides[a], p.dilations[a]
        if os_ is not None:
            out.append(os_[a])
        elif p.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(sizes.onnx_convtranspose_same_out(i, k, s, d, p.output_padding[a]))
        elif p.auto_pad == "VALID":
            out.append(sizes.onnx_convtranspose_out(i, k, s, d, 0, 0, p.output_padding[a]))
        else:
            out.append(sizes.onnx_convtranspose_out(i, k, s, d, p.pads[a], p.pads[a + n],
                                                    p.output_padding[a]))
    return tuple(out)


def _convtranspose(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if x is None or w is None:
        return _out(None)
    if len(w) != len(x):
        raise ValueError(f"weight of rank {len(w)} for an input of rank {len(x)}")
    p = convtranspose_params(ctx.node, x, w)
    n = p.n_spatial
    if n < 1 or len(p.kernel) != n or len(p.strides) != n or len(p.pads) != 2 * n \
            or len(p.output_padding) != n or len(p.dilations) != n:
        raise ValueError("attribute length")
    channels = mul(w[1], p.group)
    return _out((x[0], channels) + convtranspose_spatial(x, p))


def _resize(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    op = ctx.node.op
    if op == "Upsample":
        scales = ctx.attr("scales") if ctx.opset < 9 else ctx.value(1)
        sizes_v = None
    elif ctx.opset < 11:
        scales, sizes_v = ctx.value(1), None
    else:
        scales = ctx.value(2) if ctx.has(2) else None
        sizes_v = ctx.value(3) if ctx.has(3) else None
        if ctx.has(2) and scales is None and ctx.shape(2) != (0,):
            if not ctx.has(3):
                return _out((None,) * len(x))
        if scales is not None and len(scales) == 0:
            scales = None
        if sizes_v is not None and len(sizes_v) == 0:
            sizes_v = None
    axes = ctx.attr("axes")
    rank = len(x)
    axes = tuple(_norm_axis(a, rank) for a in axes) if axes else tuple(range(rank))
    out = list(x)
    if sizes_v is not None:
        if ctx.attr("keep_aspect_ratio_policy", "stretch") not in ("stretch", None):
            return _out((None,) * rank)
        if any(isinstance(v, (float, Rat)) for v in sizes_v):  # (a float tensor: sizes must be int64;
            raise ValueError(f"sizes {list(sizes_v)[:8]!r} are not integers")  # a symbolic size is one)
        for a, v in zip(axes, sizes_v):
            out[a] = v
        return _out(tuple(out))
    if scales is None:
        return _out((None,) * rank)
    for a, sc in zip(axes, scales):
        out[a] = _scale_dim(x[a], sc)
    return _out(tuple(out))


def _scale_dim(i: Dim, scale) -> Dim:
    """onnxruntime: static_cast<int64_t>(scale · i), in float32 for the product."""
    if i is None or not isinstance(scale, (int, float)):
        return None
    f = Fraction(scale)
    if isinstance(i, int):
        import struct

        prod = struct.unpack("f", struct.pack("f", float(scale) * i))[0] if scale else 0.0
        return int(prod)
    # symbolic: exact when the float32 product of a dyadic scale is exact (powers of two)
    if f.denominator & (f.denominator - 1) == 0 and f.numerator.bit_length() <= 24:
        return floordiv(mul(i, f.numerator), f.denominator)
    return None


def _pad(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    pads = ctx.attr("pads") if ctx.opset < 11 else ctx.value(1)
    if pads is None:
        return _out((None,) * len(x))
    rank = len(x)
    axes = tuple(range(rank))
    if ctx.opset >= 18 and ctx.has(3):
        av = ctx.value(3)
        if av is None:
            return _out((None,) * rank)
        axes = tuple(_norm_axis(_need(_int_or_none(a)), rank) for a in av)
    n = len(axes)
    if len(pads) != 2 * n:
        raise ValueError(f"{len(pads)} pads for {n} axes")
    if any(_is_float(p) for p in pads):  # (pads are int64: a float tensor there is a malformed model)
        raise ValueError(f"pads {list(pads)[:8]} are not integers")
    out = list(x)
    for j, a in enumerate(axes):
        out[a] = add(add(x[a], pads[j]), pads[j + n])
    return _out(tuple(out))


def _layer_norm(ctx):
    s = ctx.shape(0)
    outs = [(s, None)]
    if s is not None and len(ctx.node.outputs) > 1:
        axis = _norm_axis(ctx.attr("axis", -1), len(s))
        stat = s[:axis] + (1,) * (len(s) - axis)
        outs += [(stat, None), (stat, None)]
    return outs


def _batchnorm(ctx):
    return [(ctx.shape(0), None)] + [(None, None)] * 4


def _nonzero_like(ctx):
    return _out(None)


# --------------------------------------------------------------------------- recurrent

# gates per ONNX recurrent op: W is [dirs, gates·hidden, input], R [dirs, gates·hidden, hidden],
# B [dirs, 2·gates·hidden]
RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_dirs(node) -> int:
    """1 or 2 (direction "bidirectional"); anything else is a malformed node."""
    direction = node.attr("direction", "forward") or "forward"
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ValueError(f"{node.op}: direction {direction!r} is not forward, reverse or bidirectional")
    return 2 if direction == "bidirectional" else 1


def _recurrent(ctx):
    """LSTM / GRU / RNN (spec, layout 0): X [seq, batch, input] -> Y [seq, dirs, batch, hidden],
    Y_h (and LSTM's Y_c) [dirs, batch, hidden]. onnxruntime 1.32 rejects layout=1 ("Batchwise
    recurrent operations (layout == 1) are not supported") and a missing hidden_size when the
    session is created: shapelint abstains there. Its run-time checks (W's input size, initial_h's
    batch, sequence_lens) are analysis.SHAPE_CHECKS'."""
    x = ctx.shape(0)
    n_out = len(ctx.node.outputs)
    if ctx.attr("layout", 0) != 0:
        raise _Unknown(f"{ctx.op} with layout={ctx.attr('layout')}: onnxruntime supports layout=0 only")
    hidden = ctx.attr("hidden_size")
    if not isinstance(hidden, int) or hidden < 1:
        raise _Unknown(f"{ctx.op} without a positive hidden_size (onnxruntime requires one)")
    dirs = recurrent_dirs(ctx.node)
    if x is None:
        return [(None, None)] * n_out
    if len(x) != 3:
        raise ValueError(f"{ctx.op}: input X of rank {len(x)}, must be 3 ([seq_length, batch_size, input_size])")
    seq, batch = x[0], x[1]
    state = (dirs, batch, hidden)
    return [((seq, dirs, batch, hidden), None)] + [(state, None)] * (n_out - 1)


# --------------------------------------------------------------------------- control flow

def _branch_taken(inf, node):
    """An If's branch (an ir.Graph) when its condition is decided, else None. onnxruntime takes
    then_branch for a non-zero condition."""
    v = inf.value(node.input(0))
    if v is None or len(v) != 1 or v[0].__class__ not in (int, float, bool):
        return None
    b = node.attr("then_branch" if v[0] else "else_branch")
    return b if isinstance(b, Graph) else None


def _if(ctx):
    """If: where the condition is decided (a constant, or computed from static ranks or from pinned
    sizes), inference follows the branch taken (``inline_decided_ifs``) and this rule is not reached.
    Otherwise the outputs are unknown, and the reason says why: shapelint does not merge the two
    branches' shapes, as the run-time checks inside them hold only in the branch taken."""
    node = ctx.node
    names = ("then_branch", "else_branch")
    unread = [k for k in names if not isinstance(node.attr(k), Graph)]
    if unread:
        raise _NotFollowed(f"its {unread[0]} was not read (shapelint reads the branches of a top-level If, "
                           f"not those of an If inside a branch)")
    v = ctx.value(0)
    cond = node.input(0)
    src = ctx.inf.producer.get(cond)
    where = f"'{cond}'" + (f", from {src.op} '{src.name}'" if src is not None else "")
    if v is None:
        raise _NotFollowed(f"its condition ({where}) has no known value")
    if len(v) != 1:
        raise _NotFollowed(f"its condition ({where}) has {len(v)} elements, not 1")
    if v[0].__class__ not in (int, float, bool):
        raise _NotFollowed(f"its condition ({where}) depends on the input sizes: an If is followed only where "
                           f"its condition is decided (pinned sizes follow it)")
    taken = names[0] if v[0] else names[1]
    raise _NotFollowed(f"its {taken} (taken) gives {len(node.attr(taken).outputs)} output(s) for the If's "
                       f"{len(node.outputs)}, defines a name the graph already has, or its condition was "
                       f"decided only after {limits.MAX_IF_ROUNDS} passes (shapelint.limits.MAX_IF_ROUNDS)")


def inline_decided_ifs(graph, inf):
    """``graph`` with every If whose condition inference decided replaced by the nodes of the
    branch taken, plus an Identity per output (branch output -> If output), so that the branch's
    ops and run-time checks are the model's; None when there is none. A branch that gives another
    number of outputs, or defines a name the graph already has, is left to the If rule (which
    abstains)."""
    taken = {}
    for node in graph.nodes:
        if node.op == "If" and node.domain in ("", "ai.onnx"):
            b = _branch_taken(inf, node)
            if b is not None and len(b.outputs) == len(node.outputs):
                taken[node.name] = b
    if not taken:
        return None
    defined = {t.name for t in graph.inputs} | set(graph.constants) | {o for n in graph.nodes for o in n.outputs}
    nodes, constants, changed = [], dict(graph.constants), False
    for node in graph.nodes:
        b = taken.get(node.name) if node.op == "If" else None
        if b is not None:
            mine = [o for n in b.nodes for o in n.outputs if o] + list(b.constants)
            if len(set(mine)) == len(mine) and not defined.intersection(mine):
                nodes.extend(b.nodes)
                constants.update(b.constants)
                nodes.extend(Node("Identity", f"{node.name}/{k}", (src,), (dst,), (), "")
                             for k, (src, dst) in enumerate(zip(b.outputs, node.outputs)) if dst)
                defined.update(mine)
                changed = True
                continue
        nodes.append(node)
    if not changed:
        return None
    return replace(graph, nodes=tuple(nodes), constants=MappingProxyType(constants))


RULES: dict[str, Rule] = {
    # convolution and pooling
    "Conv": _conv,
    "ConvTranspose": _convtranspose,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "GlobalLpPool": _global_pool,
    "Resize": _resize,
    "Upsample": _resize,
    "DepthToSpace": _depth_to_space,
    "SpaceToDepth": _depth_to_space,
    "Pad": _pad,
    # elementwise with broadcasting
    **{op: elementwise for op in (
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Equal", "Less",
        "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "BitShift", "Clip",
    )},
    "Where": _where,
    "Not": _same_as_input,
    # shape-preserving
    **{op: _same_as_input for op in (
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
        "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Exp", "Log", "Sqrt", "Abs", "Neg",
        "Reciprocal", "Sin", "Cos", "Tan", "Erf", "Sign", "Round", "IsNaN", "IsInf", "Softmax",
        "LogSoftmax", "Hardmax", "InstanceNormalization", "LRN", "LpNormalization",
        "MeanVarianceNormalization", "GroupNormalization", "CastLike", "Shrink", "Trilu",
        "RandomNormalLike", "RandomUniformLike", "Bernoulli",
    )},
    "Floor": _same_as_input,
    "Ceil": _same_as_input,
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layer_norm,
    "Identity": _identity,
    "Dropout": _identity,
    "If": _if,
    "Cast": _same_as_input,
    # shapes and their values
    "Shape": _shape,
    "Size": _size,
    "ConstantOfShape": _constant_of_shape,
    "Gather": _gather,
    "GatherElements": _gather_elements,
    "GatherND": _gather_nd,
    "Einsum": _einsum,
    "ScatterElements": _scatter_elements,
    "ScatterND": _scatter_elements,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": _concat,
    "Slice": _slice,
    "Range": _range,
    "Expand": _expand,
    "Tile": _tile,
    "Reshape": reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Split": _split,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "OneHot": _onehot,
    "NonZero": _nonzero_like,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
    **{op: _reduce for op in (
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin",
    )},
}


# --------------------------------------------------------------------------- the dialect

# attributes that are integers in every op that has them: anything else is a malformed node
INT_ATTRS = IntAttrs(
    scalars={"axis", "group", "blocksize", "keepdims", "allowzero", "ceil_mode", "batch_dims", "transA", "transB",
             "num_outputs", "noop_with_empty_axes", "hidden_size", "layout"},  # ONNX INT attributes
    lists={"axes", "strides", "pads", "dilations", "kernel_shape", "output_padding", "output_shape", "perm", "split",
           "starts", "ends"})  # ONNX INTS attributes

# inputs that are shape arguments: their values decide an output's shape
SHAPE_ARGS = {"Reshape": (1,), "Expand": (1,), "Pad": (1, 3), "Slice": (1, 2, 3, 4), "Resize": (1, 2, 3),
              "Upsample": (1,), "Tile": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2), "Split": (1,),
              "Unsqueeze": (1,), "Squeeze": (1,), "OneHot": (1,), "TopK": (1,),
              **{op: (1,) for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                                     "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")}}

ELEMENTWISE_MERGES = frozenset({
    "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow", "And", "Or", "Xor", "Equal",
    "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Where", "PRelu", "Mod",
})
POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})

# onnxruntime on empty tensors (a pool output of size 0), measured with 1.32: Conv, MaxPool and
# AveragePool reject an empty input; ConvTranspose follows its size formula (it fails when the
# output would be ≤ 0); these run and keep the empty axis. Anything else: shapelint abstains.
EMPTY_OK = ELEMENTWISE_MERGES | frozenset({
    "Concat", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Identity", "Clip", "BatchNormalization", "ConvTranspose"})
EMPTY_FAILS = frozenset({"Conv"}) | POOL_OPS


def transposed_axes(inf, node) -> list:
    x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
    if x is None or w is None:
        return []
    p = convtranspose_params(node, x, w)
    n = p.n_spatial
    try:
        produced = convtranspose_spatial(x, p)
    except (ValueError, IndexError):
        produced = (None,) * n
    out = []
    for a in range(n):
        name = "DHW"[-n:][a] if n <= 3 else str(a)
        if p.output_shape is not None:
            why = f"output_shape={list(p.output_shape)} says so"
        elif p.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            why = f"auto_pad={p.auto_pad}: min(i·s, (i−1)·s + K + output_padding)"
        else:
            why = (f"s·(i−1) + K − pads + output_padding = {p.strides[a]}·({fmt_dim(x[2 + a])}−1) + "
                   f"{sizes.effective_kernel(p.kernel[a], p.dilations[a])} − {p.pads[a] + p.pads[a + n]}"
                   f" + {p.output_padding[a]}")
        padding = "VALID" if p.auto_pad == "VALID" else ("SAME" if p.auto_pad.startswith("SAME") else "pads")
        pb, pe = (0, 0) if padding != "pads" else (p.pads[a], p.pads[a + n])
        out.append(TransposedAxis(name, x[2 + a], p.kernel[a], p.strides[a], p.dilations[a], pb, pe,
                                  padding, produced[a], why))
    return out


def default_opset(model) -> "int | None":
    """The opset of the default ONNX domain a ModelProto imports, or None."""
    for imp in model.opset_import:
        if imp.domain in DIALECT.domains:
            return imp.version
    return None


# what onnxruntime says when such a check fails, for messages (measured with onnxruntime 1.32; keyed
# by op, or "op/check" where one op fails in several ways)
RUNTIME_WORDS = {
    "Concat": "Non concat axis dimensions must match",
    "broadcast": "Attempting to broadcast an axis by a dimension other than 1",
    "Reshape": "The input tensor cannot be reshaped to the requested shape",
    "MatMul": "MatMul dimension mismatch",
    "Gemm": "GEMM: Dimension mismatch",
    "Expand": "invalid expand shape",
    "Split": "Sum of sizes in 'split' (must equal size of selected axis)",
    "Split/even split": "Input cannot be split evenly on selected axis",
    "Resize": "Scale value should be greater than 0",
    "Squeeze": "must be 1 instead of",
    "Gather": "indices element out of data bounds",
    "GatherND": "invalid index found",
    "Conv": "Input channels C is not equal to kernel channels * group",
    "DepthToSpace": "DepthToSpace requires input depth to be a multiple of (block_size * block_size)",
    "SpaceToDepth": "SpaceToDepth requires input",
    "Einsum": "Please check input shapes/equation provided",
    "Pad": "Tensor shape.Size() must be >= 0",
    **{f"{op}/{name}'s shape": f"Input {name} must have shape" for op in ("LSTM", "GRU", "RNN")
       for name in ("W", "R", "B", "initial_h", "initial_c", "P", "sequence_lens")},
    **{f"{op}/sequence_lens values": "Invalid value/s in sequence_lens" for op in ("LSTM", "GRU", "RNN")},
}


def output_shape_limits(inf, node):
    """An output_shape attribute: onnxruntime accepts o only up to (i−1)·s + K + s − 1
    (sizes.onnx_convtranspose_max_output_shape). Yields (symbol, the sizes that allow it, node,
    axis) for a symbolic input, and (None, None, node, axis) for a fixed input that cannot."""
    if node.attr("output_shape") is None:
        return
    x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
    if x is None or w is None or len(x) < 3:
        return
    try:
        p = convtranspose_params(node, x, w)
        os_ = tuple(p.output_shape)
        if len(os_) != p.n_spatial:
            return
        for a, o in enumerate(os_):
            i = x[2 + a]
            top = sizes.onnx_convtranspose_max_output_shape(i, p.kernel[a], p.strides[a],
                                                            p.dilations[a], p.output_padding[a])
            if isinstance(top, int):
                if isinstance(o, int) and o > top:
                    yield None, None, node, 2 + a
                continue
            syms = symbols(top)
            if len(syms) != 1 or not isinstance(o, int):
                continue
            (name,) = syms
            yield name, solve([sub(top, o - 1)], PositivePred(), name), node, 2 + a
    except (Undecidable, ValueError, TypeError, IndexError):
        return


def crop_fix(up, axes=None, rank=None) -> str:
    """The model-code change that removes a size restriction at a merge (PyTorch, which exports ONNX)."""
    if up is not None and up.op in ("Resize", "Upsample"):
        return (f"or size {up.op} '{up.name}' from the skip tensor at run time: "
                f"F.interpolate(x, size=skip.shape[-2:]) (ONNX: Resize sizes = Shape(skip))")
    return ("or remove the restriction in the model code: pad or crop the upsampled tensor to the "
            "skip tensor's run-time shape before merging, e.g. in PyTorch\n"
            "    dy = skip.size(2) - x.size(2); dx = skip.size(3) - x.size(3)\n"
            "    x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])")


def _merge_inputs(node, names: tuple) -> tuple:
    if node.op == "Where":
        return names[1:], None  # the condition broadcasts too, but it is not a branch
    return names, None


def _spatial_axes(node, rank: int) -> tuple:
    return tuple(range(2, rank))


# --------------------------------------------------------------------------- SL001/SL002's facts
# SL001 -- what onnxruntime rejects: output_padding ≥ stride, a negative output_padding, auto_pad
# together with pads, an output_shape above the largest size that maps back to the input, an output
# size ≤ 0. SL002 -- what implementations read differently: auto_pad SAME_* with output_padding
# (onnx shape inference says i·s + op, onnxruntime min(i·s, (i−1)·s + K + op)); output_shape beside
# pads/output_padding implying another size, or below the admissible range (runs in onnxruntime,
# rejected by TensorFlow); and every stride > 1 ConvTranspose whose size is picked by a convention
# (no explicit output_shape).

INT_LIST_ATTRS = ("kernel_shape", "strides", "dilations", "pads", "output_padding", "output_shape")


def _axis_name(a: int, n: int) -> str:
    if n == 2:
        return "HW"[a]
    if n == 3:
        return "DHW"[a]
    return f"axis {a + 2}"


def _integer_attrs(node) -> bool:
    """The size attributes hold integers (a model may store them as floats or strings)."""
    for key in INT_LIST_ATTRS:
        v = node.attr(key)
        if v is not None and (not isinstance(v, tuple) or not all(type(x) is int for x in v)):
            return False
    g = node.attr("group", 1)
    return type(g) is int


def _checked(inf, node):
    """(x shape, params) for a ConvTranspose whose attributes can be read, or None (attributes of
    the wrong type: inference noted the node, nothing to compute)."""
    if not _integer_attrs(node):
        return None
    x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
    if x is None or w is None or len(x) < 3 or len(w) != len(x):
        return None
    p = convtranspose_params(node, x, w)
    n = p.n_spatial
    if len(p.kernel) != n or len(p.strides) != n or len(p.dilations) != n \
            or len(p.pads) != 2 * n or len(p.output_padding) != n:
        return None
    return x, p


def _torch_arg(ops) -> str:
    return f"output_padding={tuple(ops) if len(ops) > 1 else ops[0]}"


def transposed_rejects(inf, node, stopped) -> list:
    """SL001: attributes and sizes onnxruntime rejects (``stopped()``: it stopped upstream already)."""
    got = _checked(inf, node)
    if got is None:
        return []
    x, p = got
    n = p.n_spatial
    ops, strides, dil = p.output_padding, p.strides, p.dilations
    base = dict(input_shape=fmt_shape(x), strides=list(strides), output_padding=list(ops),
                dilations=list(dil), kernel=list(p.kernel), pads=list(p.pads))
    bad = [a for a in range(n) if ops[a] >= strides[a] or ops[a] < 0]
    if bad:
        fixed = [min(max(o, 0), s - 1) for o, s in zip(ops, strides)]
        a = bad[0]
        return [TransposedIssue(
            f"output_padding {list(ops)} is outside 0…stride−1 = 0…{strides[a] - 1} on axis "
            f"{_axis_name(a, n)} (stride {strides[a]}, dilation {dil[a]}): onnxruntime rejects it",
            f"set output_padding to values below the stride, e.g. output_padding={fixed} "
            f"(PyTorch: nn.ConvTranspose{n}d(..., {_torch_arg(fixed)})); "
            f"a larger output needs smaller pads instead",
            base, "error")]
    if p.auto_pad != "NOTSET" and node.attr("pads") is not None:
        return [TransposedIssue(
            f"auto_pad={p.auto_pad} together with pads={list(p.pads)}: onnxruntime refuses "
            f"to create a session for a ConvTranspose with both",
            "drop one: keep pads and set auto_pad=NOTSET, or remove the pads attribute",
            base, "error")]
    os_ = p.output_shape
    if os_ is not None:
        return _output_shape_rejects(x, p, tuple(os_), base)
    # computed output sizes must be positive (unless the runtime already stopped upstream)
    if stopped():
        return []
    out = convtranspose_spatial(x, p)
    for a in range(n):
        o = out[a]
        if isinstance(o, int) and o <= 0:
            return [TransposedIssue(
                f"output {_axis_name(a, n)} = {o} ≤ 0 for input {_axis_name(a, n)}={fmt_dim(x[2 + a])} "
                f"(pads {list(p.pads)} exceed the output): onnxruntime rejects it",
                "reduce the pads so that s·(i−1) + K + output_padding − pads ≥ 1",
                dict(base, output=[fmt_dim(v) for v in out]), "error")]
    return []


def _output_shape_rejects(x, p, os_: tuple, base: dict) -> list:
    n = p.n_spatial
    if len(os_) != n:
        return [TransposedIssue(
            f"output_shape {list(os_)} has {len(os_)} element{'s' if len(os_) != 1 else ''}, "
            f"expected {n} (the spatial sizes): onnxruntime rejects it (\"incorrect size\")",
            f"give only the spatial sizes: output_shape={list(os_[-n:])}" if len(os_) > n
            else f"give all {n} spatial sizes in output_shape",
            base, "error")]
    if any(o < 1 for o in os_):
        return [TransposedIssue(
            f"output_shape {list(os_)} has a size below 1: onnxruntime rejects it",
            "give positive spatial sizes, or drop output_shape and use pads/output_padding",
            base, "error")]
    for a in range(n):
        o, i, name = os_[a], x[2 + a], _axis_name(a, n)
        k, s, d = p.kernel[a], p.strides[a], p.dilations[a]
        top = sizes.onnx_convtranspose_max_output_shape(i, k, s, d, p.output_padding[a])
        low = sizes.admissible(i, k, s, d, 0, 0).low
        if o < 1 or (isinstance(top, int) and o > top):
            fits = f"{fmt_dim(low)}…{fmt_dim(sizes.add(low, s - 1))}"
            return [TransposedIssue(
                f"output_shape {name}={o} cannot come from input {name}={fmt_dim(i)} (kernel {k}, stride {s}, "
                f"dilation {d}): onnxruntime accepts 1…{fmt_dim(top)}, and only {fits} without cropping",
                f"set output_shape {name} to one of {fits}, or make the input {name} larger",
                dict(base, output_shape=list(os_), axis=2 + a, admissible=_sizes_from(low, s)), "error")]
    return []


def _valid_output_padding(p) -> bool:
    return not any(o >= s or o < 0 for o, s in zip(p.output_padding, p.strides))


def transposed_disputes(inf, node) -> list:
    """SL002, warnings: readings of the attributes that give different sizes."""
    got = _checked(inf, node)
    if got is None or not _valid_output_padding(got[1]):
        return []  # SL001
    x, p = got
    n = p.n_spatial
    ops, strides, pads = p.output_padding, p.strides, p.pads
    spatial = [x[2 + a] for a in range(n)]
    same = _same_readings(spatial, p)
    if same is not None:
        ort, onnx_si = same
        return [TransposedIssue(
            f"auto_pad={p.auto_pad} with output_padding={list(ops)}: onnx shape inference says "
            f"{', '.join(map(fmt_dim, onnx_si))}, onnxruntime produces {', '.join(map(fmt_dim, ort))} "
            f"(onnx#4299, onnxruntime#11927)",
            "remove output_padding and state the size you want: explicit pads with auto_pad=NOTSET "
            f"(output_padding then selects among the {strides[0]} admissible sizes), or an output_shape",
            dict(onnx_shape_inference=[str(v) for v in onnx_si], onnxruntime=[str(v) for v in ort]), "warning")]
    os_ = p.output_shape
    if os_ is None:
        return []
    os_ = tuple(os_)
    if len(os_) != n or any(o < 1 for o in os_):
        return []  # SL001
    for a in range(n):
        low = sizes.admissible(spatial[a], p.kernel[a], strides[a], p.dilations[a], 0, 0).low
        if isinstance(low, int) and 1 <= os_[a] < low:
            return [TransposedIssue(
                f"output_shape {_axis_name(a, n)}={os_[a]} is below the admissible range "
                f"{low}…{low + strides[a] - 1} for input {_axis_name(a, n)}={fmt_dim(spatial[a])}: "
                f"onnxruntime crops it with derived pads, TensorFlow's conv2d_transpose rejects it",
                f"ask for a size in {low}…{low + strides[a] - 1} and crop explicitly (Slice) if a "
                f"smaller tensor is wanted",
                dict(output_shape=list(os_), axis=2 + a, admissible=_sizes_from(low, strides[a])), "warning")]
    implied = [sizes.onnx_convtranspose_out(spatial[a], p.kernel[a], strides[a], p.dilations[a],
                                            pads[a], pads[a + n], ops[a]) for a in range(n)]
    given_attrs = node.attr("pads") is not None or node.attr("output_padding") is not None
    if given_attrs and any(isinstance(v, int) and v != o for v, o in zip(implied, os_)):
        return [TransposedIssue(
            f"output_shape {list(os_)} beside pads {list(pads)} / output_padding {list(ops)} that "
            f"imply {', '.join(map(fmt_dim, implied))}: onnxruntime takes output_shape and ignores "
            f"the pads, a reader of the attributes expects {', '.join(map(fmt_dim, implied))}",
            "keep one description of the size: drop pads/output_padding when output_shape is given",
            dict(output_shape=list(os_), implied=[str(v) for v in implied]), "warning")]
    return []


def _same_readings(spatial, p):
    """auto_pad SAME_* with output_padding: (onnxruntime's sizes, onnx shape inference's) where
    they differ, else None."""
    ops = p.output_padding
    if p.auto_pad not in ("SAME_UPPER", "SAME_LOWER") or not any(ops):
        return None
    args = [(spatial[a], p.kernel[a], p.strides[a], p.dilations[a], ops[a]) for a in range(len(spatial))]
    ort = [sizes.onnx_convtranspose_same_out(*a) for a in args]
    onnx_si = [sizes.onnx_shape_inference_same_out(*a) for a in args]
    return None if ort == onnx_si else (ort, onnx_si)


def transposed_choices(inf, node) -> list:
    """SL002, info: per axis, the sizes that fit, the one the attributes pick and how to pick another
    (none when output_shape states the size, or SL001 applies)."""
    got = _checked(inf, node)
    if got is None or not _valid_output_padding(got[1]):
        return []
    x, p = got
    n = p.n_spatial
    spatial = [x[2 + a] for a in range(n)]
    if p.output_shape is not None or _same_readings(spatial, p) is not None:
        return []  # the size is stated, or disputed
    out = convtranspose_spatial(x, p)
    if any(isinstance(o, int) and o < 1 for o in out):
        return []  # SL001
    axes = []
    for a in range(n):
        s, k, d, i = p.strides[a], p.kernel[a], p.dilations[a], spatial[a]
        if s <= 1 or s > 64:
            continue  # one size, or too many to list
        K = sizes.effective_kernel(k, d)
        if p.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            # the sizes a forward SAME conv maps back to i: (i−1)·s + 1 … i·s; NOTSET with explicit
            # pads reaching (i−1)·s + j: pads total K − j, or output_padding j − K
            adm = sizes.Admissible(sizes.add(sizes.mul(s, sub(i, 1)), 1), s)
            how = f"auto_pad={p.auto_pad}"
            opts = []
            for j in range(1, s + 1):
                total, op = (K - j, 0) if j <= K else (0, j - K)
                opts.append(f"{fmt_dim(adm.sizes()[j - 1])} (auto_pad=NOTSET, pads {total - total // 2}+"
                            f"{total // 2}, output_padding={op})")
            fix = "to pick another: " + "; ".join(opts)
        else:
            pb, pe = (0, 0) if p.auto_pad == "VALID" else (p.pads[a], p.pads[a + n])
            adm = sizes.admissible(i, k, s, d, pb, pe)
            how = f"output_padding={p.output_padding[a]}"
            fix = "to pick another, set output_padding: " + ", ".join(
                f"{fmt_dim(v)} (output_padding={j})" for j, v in enumerate(adm.sizes()))
        axes.append(TransposedChoice(2 + a, _axis_name(a, n), i, s, adm.low, out[a], f"{how} picks", fix,
                                     after=" (PyTorch picks the smallest, Keras padding='same' the largest)",
                                     text=str, inside=True))
    return axes


def _sizes_from(low, s: int) -> list:
    """The ``s`` admissible sizes low … low + s − 1, as details list them (strings: dims may be
    expressions)."""
    return [fmt_dim(sizes.add(low, j)) for j in range(s)]


# ops analysis.SHAPE_CHECKS states a run-time check for (in ONNX terms: the same op)
CHECKED_OPS = ("Reshape", "MatMul", "Gemm", "Expand", "Split", "Resize", "Squeeze", "Gather", "GatherND", "Conv",
               "DepthToSpace", "SpaceToDepth", "Einsum", "Pad", "LSTM", "GRU", "RNN")

DIALECT = Dialect(
    "onnx", ("", "ai.onnx"), "onnxruntime",
    shape_rules=RULES,
    value_rules=VALUE_RULES,
    int_attrs=INT_ATTRS,
    opset=None,
    shape_args=SHAPE_ARGS,
    shape_sources=frozenset({"Shape", "Size", "Rank"}),
    data_dependent=frozenset({"NonZero", "Unique", "NonMaxSuppression", "Compress", "TopK", "Where"}),
    merge_ops={"Concat": "equal", **{op: "broadcast" for op in ELEMENTWISE_MERGES}},
    merge_inputs=_merge_inputs,
    sized_ops=frozenset({"Conv", "ConvTranspose"}),
    pool_ops=POOL_OPS,
    spatial_axes=_spatial_axes,
    transposed_ops=frozenset({"ConvTranspose"}),
    transposed_axes=transposed_axes,
    pass_through=frozenset({
        "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Gelu", "Mish",
        "Clip", "BatchNormalization", "InstanceNormalization", "Identity", "Dropout", "Cast", "Add", "Mul", "Sub",
        "Div"}),
    upsamplers=frozenset({"ConvTranspose", "Resize", "Upsample"}),
    shape_checks={op: op for op in CHECKED_OPS},
    checks_complete=True,
    contract_below_windows=True,
    empty_ok=EMPTY_OK,
    empty_fails=EMPTY_FAILS,
    runtime_words=RUNTIME_WORDS,
    crop_fix=crop_fix,
    output_shape_limits=output_shape_limits,
    transposed_rejects=transposed_rejects,
    transposed_disputes=transposed_disputes,
    transposed_choices=transposed_choices,
    refine=inline_decided_ifs,
)
