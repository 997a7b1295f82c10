"""Shape rules for TensorFlow graph ops (IR domain "tf"), beside the ONNX ones in infer.py.

Where TF's semantics equal an ONNX op's, the ONNX rule runs under that name (``_alias``); the
rest -- NHWC layouts, ``padding="SAME"``, the ``input_sizes`` tensor of Conv2DBackpropInput,
StridedSlice masks, ConcatV2's axis input -- are here. The size arithmetic itself stays in
sizes.py.
"""

from __future__ import annotations

from . import infer as _i
from . import sizes
from .symbolic import add, mul, sub

_out = _i._out


_alias = _i.alias


def _layout(ctx, rank):
    """(channel axis, spatial axes) for the node's data_format."""
    fmt = ctx.attr("data_format", "NHWC") or "NHWC"
    if fmt.startswith("NC"):
        return 1, tuple(range(2, rank))
    return rank - 1, tuple(range(1, rank - 1))


def _per_spatial(vals, spatial, rank, default):
    """TF gives strides/dilations/ksize per axis of the full tensor; pick the spatial ones."""
    if not vals:
        return [default] * len(spatial)
    if len(vals) == rank:
        return [vals[a] for a in spatial]
    if len(vals) == len(spatial):
        return list(vals)
    return [vals[0]] * len(spatial)


def _explicit(ctx, spatial):
    pads = ctx.attr("explicit_paddings") or ()
    if not pads:
        return [(0, 0)] * len(spatial)
    return [(pads[2 * a], pads[2 * a + 1]) for a in spatial]


def conv_attrs(node, rank: int) -> tuple:
    """A TF conv / pool / transposed conv's (channel axis, spatial axes, strides, dilations,
    padding, explicit (begin, end) pads), per spatial axis; ``node`` is a Node or a rule's ctx."""
    ch, spatial = _layout(node, rank)
    strides = _per_spatial(node.attr("strides"), spatial, rank, 1)
    dil = _per_spatial(node.attr("dilations"), spatial, rank, 1)
    return ch, spatial, strides, dil, node.attr("padding", "VALID"), _explicit(node, spatial)


def _forward(ctx, kernel, out_channels):
    """Conv2D / Conv3D / DepthwiseConv2dNative / MaxPool / AvgPool output shape."""
    x = ctx.shape(0)
    if x is None:
        return None
    ch, spatial, strides, dil, padding, explicit = conv_attrs(ctx, len(x))
    out = list(x)
    for j, a in enumerate(spatial):
        i, k, s, d = x[a], kernel[j], strides[j], dil[j]
        if padding == "SAME":
            out[a] = sizes.same_out(i, s)
        elif padding == "VALID":
            out[a] = sizes.conv_out(i, k, s, d, 0, 0)
        else:
            out[a] = sizes.conv_out(i, k, s, d, explicit[j][0], explicit[j][1])
    out[ch] = out_channels
    return tuple(out)


def _conv(ctx):
    f = ctx.shape(1)
    x = ctx.shape(0)
    if f is None or x is None:
        return _out(None)
    kernel = f[:-2]  # HWIO / DHWIO
    out_c = f[-1] if ctx.node.op != "DepthwiseConv2dNative" else mul(f[-2], f[-1])
    return _out(_forward(ctx, kernel, out_c))


def _pool(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    rank = len(x)
    ch, spatial = _layout(ctx, rank)
    kernel = _per_spatial(ctx.attr("ksize"), spatial, rank, 1)
    return _out(_forward(ctx, kernel, x[ch]))


def _backprop_input(ctx):
    """Conv2DBackpropInput(input_sizes, filter, out_backprop): the output is input_sizes."""
    sizes_v = ctx.value(0)
    x = ctx.shape(2)
    if sizes_v is None:
        rank = len(x) if x is not None else None
        return _out(None if rank is None else (None,) * rank)
    return _out(tuple(sizes_v))


def _backprop_input_v2(ctx):
    return _backprop_input(ctx)


def _concat_v2(ctx):
    names = [n for n in ctx.node.inputs if n]
    axis_v = ctx.inf.value(names[-1])
    shapes = [ctx.inf.shape(n) for n in names[:-1]]
    if axis_v is None or any(s is None for s in shapes):
        return _out(None)
    rank = len(shapes[0])
    axis = axis_v[0] + rank if axis_v[0] < 0 else axis_v[0]
    out = list(shapes[0])
    total = 0
    for s in shapes:
        total = add(total, s[axis])
    out[axis] = total
    value = None
    vals = [ctx.inf.value(n) for n in names[:-1]]
    if rank == 1 and all(v is not None for v in vals):
        value = tuple(x for v in vals for x in v)
    return _out(tuple(out), value)


def _pack(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    if any(s is None for s in shapes):
        return _out(None)
    axis = ctx.attr("axis", 0)
    rank = len(shapes[0]) + 1
    axis = axis + rank if axis < 0 else axis
    out = list(shapes[0])
    out.insert(axis, len(names))
    value = None
    vals = [ctx.inf.value(n) for n in names]
    if rank == 1 and all(v is not None and len(v) == 1 for v in vals):
        value = tuple(v[0] for v in vals)
    return _out(tuple(out), value)


def _shape(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    return _out((len(s),), tuple(s) if all(d is not None for d in s) else None)


def _strided_slice(ctx):
    """StridedSlice on shape vectors and on data, with begin/end/ellipsis/new-axis/shrink masks."""
    x = ctx.shape(0)
    b, e, st = ctx.value(1), ctx.value(2), ctx.value(3)
    if x is None or b is None or e is None or st is None:
        return _out(None)
    if ctx.attr("ellipsis_mask", 0) or ctx.attr("new_axis_mask", 0):
        raise _i._Unknown()
    bm, em, sm = ctx.attr("begin_mask", 0), ctx.attr("end_mask", 0), ctx.attr("shrink_axis_mask", 0)
    out = []
    ranges = []
    for a in range(len(x)):
        n = x[a]
        if a >= len(b):
            out.append(n)
            ranges.append(None)
            continue
        step = st[a]
        start = None if bm >> a & 1 else b[a]
        stop = None if em >> a & 1 else e[a]
        if sm >> a & 1:
            idx = b[a]
            ranges.append(("index", idx))
            continue
        lo = start if start is not None else (0 if step > 0 else _i.BIG)
        hi = stop if stop is not None else (_i.BIG if step > 0 else -_i.BIG)
        size, begin = _i._slice_dim(n, lo, hi, step)
        out.append(size)
        ranges.append(("range", begin, step, size))
    value = None
    v = ctx.value(0)
    if v is not None and len(x) == 1 and isinstance(x[0], int) and ranges and ranges[0] is not None:
        r = ranges[0]
        if r[0] == "index":
            idx = r[1] + x[0] if r[1] < 0 else r[1]
            value = (v[idx],)
        elif isinstance(r[1], int) and isinstance(r[3], int):
            value = tuple(v[r[1] + r[2] * j] for j in range(r[3]))
    return _out(tuple(out), value)


def _slice(ctx):
    x, begin, size = ctx.shape(0), ctx.value(1), ctx.value(2)
    if x is None or begin is None or size is None:
        return _out(None if x is None else (None,) * len(x))
    out = tuple(sub(x[a], begin[a]) if size[a] == -1 else size[a] for a in range(len(x)))
    return _out(out)


def _pad(ctx):
    x, p = ctx.shape(0), ctx.value(1)
    if x is None or p is None:
        return _out(None if x is None else (None,) * len(x))
    return _out(tuple(add(add(x[a], p[2 * a]), p[2 * a + 1]) for a in range(len(x))))


def _reshape(ctx):
    return _i._reshape(_i._Ctx(ctx.inf, ctx.node, "Reshape"))


def _resize(ctx):
    """ResizeBilinear / ResizeNearestNeighbor (NHWC): size = [new_height, new_width]."""
    x, size = ctx.shape(0), ctx.value(1)
    if x is None or len(x) != 4:
        return _out(None)
    if size is None:
        return _out((x[0], None, None, x[3]))
    return _out((x[0], size[0], size[1], x[3]))


def _expand_dims(ctx):
    x, axis = ctx.shape(0), ctx.value(1)
    if x is None or axis is None:
        return _out(None)
    a = axis[0] + len(x) + 1 if axis[0] < 0 else axis[0]
    out = list(x)
    out.insert(a, 1)
    return _out(tuple(out), ctx.value(0))


def _squeeze(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    dims = ctx.attr("squeeze_dims") or ()
    if not dims:
        out = tuple(d for d in x if d != 1)
    else:
        ax = {d + len(x) if d < 0 else d for d in dims}
        out = tuple(d for k, d in enumerate(x) if k not in ax)
    return _out(out, ctx.value(0))


def _reduce(ctx):
    x, axes = ctx.shape(0), ctx.value(1)
    if x is None or axes is None:
        return _out(None)
    keep = ctx.attr("keep_dims", False)
    ax = {a + len(x) if a < 0 else a for a in axes}
    return _out(tuple(1 if k in ax else d for k, d in enumerate(x) if keep or k not in ax))


def _fused_bn(ctx):
    x = ctx.shape(0)
    c = ctx.shape(1)
    return [(x, None)] + [(c, None)] * 5


def _var_handle(ctx):
    return _out(ctx.attr("shape"))


def _identity_n(ctx):
    return [(ctx.inf.shape(n), ctx.inf.value(n)) for n in ctx.node.inputs if n]


def _matmul(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None:
        return _out(None)
    m = a[-1] if ctx.attr("transpose_a", False) else a[-2]
    n = b[-2] if ctx.attr("transpose_b", False) else b[-1]
    return _out(a[:-2] + (m, n))


def _transpose(ctx):
    x, perm = ctx.shape(0), ctx.value(1)
    if x is None or perm is None:
        return _out(None)
    return _out(tuple(x[p] for p in perm))


def _fill(ctx):
    dims = ctx.value(0)
    return _out(None if dims is None else tuple(dims))


def _same(ctx):
    return _out(ctx.shape(0))


TF_RULES = {
    "Conv2D": _conv,
    "Conv3D": _conv,
    "DepthwiseConv2dNative": _conv,
    "Conv2DBackpropInput": _backprop_input,
    "Conv3DBackpropInputV2": _backprop_input_v2,
    "DepthwiseConv2dNativeBackpropInput": _backprop_input,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "MaxPool3D": _pool,
    "AvgPool3D": _pool,
    "ConcatV2": _concat_v2,
    "Pack": _pack,
    "Shape": _shape,
    "StridedSlice": _strided_slice,
    "Slice": _slice,
    "Pad": _pad,
    "PadV2": _pad,
    "MirrorPad": _pad,
    "Reshape": _reshape,
    "ResizeBilinear": _resize,
    "ResizeNearestNeighbor": _resize,
    "ResizeBicubic": _resize,
    "ExpandDims": _expand_dims,
    "Squeeze": _squeeze,
    "Mean": _reduce,
    "Sum": _reduce,
    "Max": _reduce,
    "Min": _reduce,
    "Prod": _reduce,
    "FusedBatchNorm": _fused_bn,
    "FusedBatchNormV3": _fused_bn,
    "VarHandleOp": _var_handle,
    "IdentityN": _identity_n,
    "MatMul": _matmul,
    "BatchMatMulV2": _matmul,
    "Transpose": _transpose,
    "Fill": _fill,
    # same semantics as the ONNX op of that name
    "AddV2": _alias("Add"),
    "Add": _alias("Add"),
    "Sub": _alias("Sub"),
    "Mul": _alias("Mul"),
    "RealDiv": _alias("Div"),
    "FloorDiv": _alias("Div"),
    "Maximum": _alias("Max"),
    "Minimum": _alias("Min"),
    "SquaredDifference": _alias("Sub"),
    "Cast": _alias("Identity"),
    "Identity": _alias("Identity"),
    "ReadVariableOp": _alias("Identity"),
    "StopGradient": _alias("Identity"),
    "Placeholder": _same,
    **{op: _same for op in (
        "BiasAdd", "Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
        "LogSoftmax", "Softplus", "Softsign", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Neg", "Abs",
        "Erf", "Gelu", "Swish", "HardSwish", "ClipByValue", "Floor", "Ceil", "Round",
    )},
}
