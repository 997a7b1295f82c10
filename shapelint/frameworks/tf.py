"""Shape rules for TensorFlow graph ops (IR domain "tf"), beside the ONNX ones in infer.py.

Where TF's semantics equal an ONNX op's, the ONNX rule runs under that name (``_alias``); the
rest -- NHWC layouts, ``padding="SAME"``, the ``input_sizes`` tensor of Conv2DBackpropInput,
StridedSlice masks, ConcatV2's axis input -- are here. The size arithmetic itself stays in
sizes.py.
"""

from __future__ import annotations

from dataclasses import replace

from . import onnx as _onnx
from .base import Dialect, TransposedAxis, TransposedChoice, TransposedIssue, alias as _alias, out as _out
from .keras import keras_output_padding
from .. import limits, sizes
from .. import values as _v
from ..symbolic import PositivePred, SizeSet, Undecidable, add, fmt_dim, mul, solve, sub, symbols





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
    if len(pads) < 2 * (max(spatial) + 1):
        raise ValueError(f"explicit_paddings {list(pads)[:16]} do not cover the spatial axes")
    return [(pads[2 * a], pads[2 * a + 1]) for a in spatial]


def conv_attrs(node, rank: int) -> tuple:
    """A TF conv / pool / transposed conv's (channel axis, spatial axes, strides, dilations,
    padding, explicit (begin, end) pads), per spatial axis; ``node`` is a Node or a rule's ctx."""
    if rank < 3:  # (a malformed node: its outputs are unknown, and shapelint abstains there)
        raise ValueError(f"an input of rank {rank}: a conv or pool needs batch, spatial and channel axes")
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
            out[a] = sizes.tf_window_out(i, k, s, d, 0, 0)
        else:
            out[a] = sizes.tf_window_out(i, k, s, d, explicit[j][0], explicit[j][1])
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
    strides = ctx.node.attr("strides")
    limits.transposed_strides(strides if isinstance(strides, (list, tuple)) else ())
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
    return _out(tuple(out))


def _concat_v2_values(ctx, outs):
    names = [n for n in ctx.node.inputs if n]
    axis = _v.ints(ctx, ctx.node.inputs.index(names[-1]))[0]
    return _v.concat_values(ctx, outs, names[:-1], axis)


def _pack(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    if not names or any(s is None for s in shapes):
        return _out(None)
    rank = len(shapes[0]) + 1
    axis = _v.norm_axis(ctx.attr("axis", 0), rank)
    out = list(shapes[0])
    out.insert(axis, len(names))
    return _out(tuple(out))


def _pack_values(ctx, outs):
    """Pack (TFLite PACK): the inputs stacked along a new axis."""
    parts = [_v.val(ctx, i) for i in range(len(ctx.node.inputs)) if ctx.node.input(i)]
    out_shape = _v.concrete(outs[0])
    axis = _v.norm_axis(ctx.attr("axis", 0), len(out_shape))
    return tuple(parts[o[axis]][0][_v.ravel(o[:axis] + o[axis + 1:], parts[o[axis]][1])]
                 for o in _v.indices(out_shape))


def _shape(ctx):
    s = ctx.shape(0)
    if s is None:
        return _out(None)
    return _out((len(s),))


def _strided_picks(ctx):
    """StridedSlice's output shape and, per input axis, what it takes: (begin, step, count) or
    ("index", i) for a shrunk axis. Begin, end and shrink masks; not ellipsis or new-axis masks."""
    x = ctx.shape(0)
    b, e, st = ctx.value(1), ctx.value(2), ctx.value(3)
    if x is None or b is None or e is None or st is None:
        return None, None
    if ctx.attr("ellipsis_mask", 0) or ctx.attr("new_axis_mask", 0) or ctx.attr("offset", False):
        raise _v.Unknown("StridedSlice with an ellipsis or new-axis mask is not modelled")
    bm, em, sm = ctx.attr("begin_mask", 0), ctx.attr("end_mask", 0), ctx.attr("shrink_axis_mask", 0)
    out, picks = [], []
    for a in range(len(x)):
        n = x[a]
        if a >= len(b):
            out.append(n)
            picks.append((0, 1, n))
            continue
        step = _v.need(_v.int_or_none(st[a]), "a symbolic stride")
        if sm >> a & 1:
            i = b[a]
            if isinstance(i, int) and i < 0:
                i = add(n, i)
            picks.append(("index", i))
            continue
        lo = None if bm >> a & 1 else b[a]
        hi = None if em >> a & 1 else e[a]
        lo = lo if lo is not None else (0 if step > 0 else _v.BIG)
        hi = hi if hi is not None else (_v.BIG if step > 0 else -_v.BIG)
        size, begin = _v.slice_dim(n, lo, hi, step)
        out.append(size)
        picks.append((begin, step, size))
    return tuple(out), picks


def _strided_slice(ctx):
    """StridedSlice on shape vectors and on data, with begin/end/shrink masks."""
    out, _ = _strided_picks(ctx)
    return _out(out)


def _strided_slice_values(ctx, outs):
    v, s = _v.val(ctx, 0)
    out, picks = _strided_picks(ctx)
    if picks is None or any(not isinstance(p[1], int) if p[0] == "index" else not all(isinstance(q, int) for q in p)
                            for p in picks):
        raise _v.Unknown("the slice's begin, end or strides are not concrete")
    result = []
    for idx in _v.indices(_v.concrete(out)):
        it = iter(idx)
        src = [p[1] if p[0] == "index" else p[0] + p[1] * next(it) for p in picks]
        result.append(v[_v.ravel(src, s)])
    return tuple(result)


def _slice(ctx):
    """Slice(x, begin, size): size −1 means "to the end"."""
    x, begin, size = ctx.shape(0), ctx.value(1), ctx.value(2)
    if x is None or begin is None or size is None or len(begin) != len(x) or len(size) != len(x):
        return _out(None if x is None else (None,) * len(x))
    return _out(tuple(sub(x[a], begin[a]) if size[a] == -1 else size[a] for a in range(len(x))))


def _slice_values(ctx, outs):
    v, s = _v.val(ctx, 0)
    begin = _v.ints(ctx, 1)
    if any(b < 0 for b in begin):
        raise ValueError("Slice begins below 0")
    return _v.pick(v, s, outs[0], lambda o: tuple(b + i for b, i in zip(begin, o)))


def _pad(ctx):
    x, p = ctx.shape(0), ctx.value(1)
    if x is None or p is None:
        return _out(None if x is None else (None,) * len(x))
    return _out(tuple(add(add(x[a], p[2 * a]), p[2 * a + 1]) for a in range(len(x))))


def _reshape(ctx):
    return _onnx.reshape(ctx.as_op("Reshape"))


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
    return _out(tuple(out))


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
    return _out(out)


def _reduce(ctx):
    x, axes = ctx.shape(0), ctx.value(1)
    if x is None or axes is None:
        return _out(None)
    keep = ctx.attr("keep_dims", False)
    ax = {a + len(x) if a < 0 else a for a in axes}
    return _out(tuple(1 if k in ax else d for k, d in enumerate(x) if keep or k not in ax))


_REDUCERS = {"Sum": "ReduceSum", "Prod": "ReduceProd", "Max": "ReduceMax", "Min": "ReduceMin",
             "REDUCE_ANY": "ReduceMax"}


def _reduce_values(ctx, outs):
    v, s = _v.val(ctx, 0)
    axes = {_v.norm_axis(a, len(s)) for a in _v.ints(ctx, 1)}
    return _v.reduce_values(_REDUCERS.get(ctx.op, ctx.op), v, s, axes, bool(ctx.attr("keep_dims", False)), outs[0])


def _fused_bn(ctx):
    x = ctx.shape(0)
    c = ctx.shape(1)
    return [(x, None)] + [(c, None)] * 5


def _var_handle(ctx):
    return _out(ctx.attr("shape"))


def _identity_n(ctx):
    return [(ctx.inf.shape(n), None) for n in ctx.node.inputs if n]


def _identity_n_values(ctx, outs):
    return [ctx.inf.value(n) for n in ctx.node.inputs if n]


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


def _transpose_values(ctx, outs):
    v, s = _v.val(ctx, 0)
    return _v.transposed(v, s, _v.ints(ctx, 1), outs[0])


def _fill(ctx):
    dims = ctx.value(0)
    return _out(None if dims is None else tuple(dims))


def _fill_values(ctx, outs):
    return (_v.scalar(ctx, 1),) * len(list(_v.indices(_v.concrete(outs[0]))))


def _gather_v2(ctx):
    """GatherV2(params, indices, axis) with batch_dims 0: ONNX Gather with the axis input. With
    batch_dims b (ConvNeXt, keras.ops.take_along_axis-style layers), TF's documented shape:
    params[:axis] + indices[b:] + params[axis + 1:], the first b dims shared (b < 0 counts from
    indices' rank; axis ≥ b)."""
    b = ctx.attr("batch_dims", 0) or 0
    if not b:
        return _onnx.RULES["Gather"](_gather_ctx(ctx))
    p, i = ctx.shape(0), ctx.shape(1)
    axis = _v.ints(ctx, 2)[0] if ctx.has(2) else ctx.attr("axis", 0)
    if p is None or i is None:
        return _out(None)
    b = b + len(i) if b < 0 else b
    axis = _v.norm_axis(axis, len(p))
    if not 0 <= b <= min(len(i), axis):
        raise ValueError(f"GatherV2: batch_dims {b} with axis {axis} and indices of rank {len(i)}")
    return _out(tuple(p[:axis]) + tuple(i[b:]) + tuple(p[axis + 1:]))


def _gather_ctx(ctx):
    if ctx.attr("batch_dims", 0):
        raise _v.Unknown("Gather with batch_dims is not modelled")
    axis = _v.ints(ctx, 2)[0] if ctx.has(2) else ctx.attr("axis", 0)
    return ctx.as_op("Gather", replace(ctx.node, attrs=(("axis", axis),) + tuple(ctx.node.attrs)))


def _gather_v2_values(ctx, outs):
    return _v.gather_values(_gather_ctx(ctx), outs)


def _space_to_batch(ctx):
    """SpaceToBatchND(x, block_shape [M], paddings [M, 2]) over the M axes after the batch (how TF
    runs a dilated conv: SpaceToBatchND -> Conv2D -> BatchToSpaceND):
    out = [N·prod(block)] + [(x[1+j] + pad_begin + pad_end) / block[j]] + x[M+1:].
    TF fails at run time unless each padded size divides by its block (analysis.SHAPE_CHECKS
    states that check); here the quotient floors."""
    x, block, pads = _space_batch_args(ctx)
    if block is None:
        return _out(None if x is None else (None,) * len(x))
    out = list(x)
    for j, b in enumerate(block):
        out[1 + j] = _floor_quotient(add(add(x[1 + j], pads[2 * j]), pads[2 * j + 1]), b)
    out[0] = mul(x[0], _prod(block))
    return _out(tuple(out))


def _batch_to_space(ctx):
    """BatchToSpaceND(x, block_shape [M], crops [M, 2]): the inverse of SpaceToBatchND:
    out = [N / prod(block)] + [x[1+j]·block[j] − crop_begin − crop_end] + x[M+1:]. TF fails unless
    the batch divides by prod(block) and each output size is ≥ 0 (analysis.SHAPE_CHECKS)."""
    x, block, crops = _space_batch_args(ctx)
    if block is None:
        return _out(None if x is None else (None,) * len(x))
    out = list(x)
    for j, b in enumerate(block):
        out[1 + j] = sub(sub(mul(x[1 + j], b), crops[2 * j]), crops[2 * j + 1])
    out[0] = _floor_quotient(x[0], _prod(block))
    return _out(tuple(out))


def _floor_quotient(n, b: int):
    """n / b where TF checks at run time that b divides n (the check is analysis.SHAPE_CHECKS'):
    floored, so a fixed size that does not divide still has a shape, and the check reports it."""
    return n // b if isinstance(n, int) else _onnx.exact_div(n, b)


def _prod(block) -> int:
    n = 1
    for b in block:
        n *= b
    return n


def _space_batch_args(ctx):
    """(x shape, block_shape, flat paddings or crops) of Space/BatchToSpaceND; block None where
    a value is unknown. A block that is not a positive integer, or negative paddings or crops,
    are malformed (TF rejects them)."""
    x, block, pads = ctx.shape(0), ctx.value(1), ctx.value(2)
    if x is None or block is None or pads is None:
        return x, None, None
    if len(pads) != 2 * len(block) or not 1 <= len(block) < len(x):
        raise ValueError(f"{ctx.node.op}: block_shape {list(block)} and paddings {list(pads)} for rank {len(x)}")
    if any(not isinstance(b, int) or b < 1 for b in block):
        raise ValueError(f"{ctx.node.op}: block_shape {list(block)} must be positive integers")
    if any(isinstance(p, int) and p < 0 for p in pads):
        raise ValueError(f"{ctx.node.op}: negative paddings or crops {list(pads)}")
    return x, tuple(block), tuple(pads)


def _elementwise(ctx):
    return _onnx.elementwise(ctx.as_op("Add"))


def _binary_values(op):
    """FloorDiv / FloorMod / SquaredDifference / NotEqual of two values (floor semantics: TF's)."""

    def rule(ctx, outs):
        (a, sa), (b, sb) = _v.val(ctx, 0), _v.val(ctx, 1)
        return _v.broadcast([a, b], [sa, sb], outs[0], lambda x, y: _v.binary(op, x, y))

    return rule


def _square_values(ctx, outs):
    v, _ = _v.val(ctx, 0)
    return tuple(_v.unary("Square", x) for x in v)


def _cast_values(ctx, outs):
    """Cast to ``DstT`` (TFLite: ``out_data_type``, a TensorType code)."""
    v, _ = _v.val(ctx, 0)
    to = ctx.attr("DstT")
    if to is None:
        code = ctx.attr("out_data_type")
        to = _TFLITE_TYPES.get(code) if code is not None else None
    if to is None:
        if ctx.node.domain == "tflite":
            return v  # no options: the type is not recorded (as before, the value passes through)
        raise _v.Unknown("Cast without a destination type")
    return tuple(_v.cast(x, to) for x in v)


# TFLite TensorType codes
_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16",
                 9: "int8", 10: "float64", 12: "uint64", 15: "uint32", 16: "uint16"}


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
    "FloorDiv": _elementwise,
    "FloorMod": _elementwise,
    "Maximum": _alias("Max"),
    "Minimum": _alias("Min"),
    "SquaredDifference": _elementwise,
    **{op: _elementwise for op in ("Pow", "DivNoNan", "MulNoNan", "Xlogy", "Xdivy", "TruncateDiv")},
    "Equal": _alias("Equal"),
    "NotEqual": _elementwise,
    "Less": _alias("Less"),
    "Greater": _alias("Greater"),
    "LessEqual": _alias("LessOrEqual"),
    "GreaterEqual": _alias("GreaterOrEqual"),
    "LogicalAnd": _alias("And"),
    "LogicalOr": _alias("Or"),
    "LogicalNot": _alias("Not"),
    "SelectV2": _alias("Where"),
    "Range": _alias("Range"),
    "Size": _alias("Size"),
    "Tile": _alias("Tile"),
    "BroadcastTo": _alias("Expand"),
    "GatherV2": _gather_v2,
    "SpaceToBatchND": _space_to_batch,
    "BatchToSpaceND": _batch_to_space,
    "Neg": _alias("Neg"),
    "Abs": _alias("Abs"),
    "Floor": _alias("Floor"),
    "Ceil": _alias("Ceil"),
    "Sqrt": _alias("Sqrt"),
    "Square": _same,
    "Cast": _same,
    "Identity": _alias("Identity"),
    "ReadVariableOp": _alias("Identity"),
    "StopGradient": _alias("Identity"),
    "Placeholder": _same,
    **{op: _same for op in (
        "BiasAdd", "Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
        "LogSoftmax", "Softplus", "Softsign", "Exp", "Log", "Rsqrt",
        "Erf", "Erfc", "Gelu", "Swish", "HardSwish", "ClipByValue", "Round",
        "Reciprocal", "Inv", "Sign", "Log1p", "Expm1", "Sin", "Cos", "Tan", "Atan", "Sinh", "Cosh", "Rint",
        "IsNan", "ZerosLike", "OnesLike", "Snapshot", "PreventGradient", "CheckNumerics",
    )},
}

# values of TF's own ops (the aliased ones use the ONNX op's value rule, values.VALUE_RULES)
TF_VALUE_RULES = {
    "ConcatV2": _concat_v2_values,
    "Pack": _pack_values,
    "Shape": _v.VALUE_RULES["Shape"],
    "StridedSlice": _strided_slice_values,
    "Slice": _slice_values,
    "Reshape": _v.VALUE_RULES["Reshape"],
    "ExpandDims": _v.VALUE_RULES["Unsqueeze"],
    "Squeeze": _v.VALUE_RULES["Squeeze"],
    **{op: _reduce_values for op in ("Sum", "Prod", "Max", "Min")},
    "IdentityN": _identity_n_values,
    "Transpose": _transpose_values,
    "Fill": _fill_values,
    "GatherV2": _gather_v2_values,
    "FloorDiv": _binary_values("FloorDiv"),
    "FloorMod": _binary_values("FloorMod"),
    "SquaredDifference": _binary_values("SquaredDifference"),
    "NotEqual": _binary_values("NotEqual"),
    "Square": _square_values,
    "Cast": _cast_values,
}


# --------------------------------------------------------------------------- the dialect

TRANSPOSED = ("Conv2DBackpropInput", "Conv3DBackpropInputV2", "DepthwiseConv2dNativeBackpropInput")


def tf_params(inf, node):
    """(x shape, per-spatial-axis list of dicts) for a TF transposed conv, or None."""
    x, f, out = inf.shape(node.input(2)), inf.shape(node.input(1)), inf.value(node.input(0))
    if x is None or f is None or out is None or len(out) != len(x):
        return None
    _, spatial, strides, dil, padding, explicit = conv_attrs(node, len(x))
    axes = []
    for j, a in enumerate(spatial):
        pb, pe = explicit[j]
        k = f[j]
        if not isinstance(k, int):
            return None
        adm = sizes.tf_admissible(x[a], k, strides[j], dil[j], padding, pb, pe)
        axes.append(dict(axis=a, name="DHW"[-len(spatial):][j] if len(spatial) <= 3 else str(a), i=x[a], k=k,
                         s=strides[j], d=dil[j], padding=padding, pb=pb, pe=pe, o=out[a], low=adm.low,
                         high=adm.high))
    return x, axes


def tf_forward(o: int, ax: dict) -> int:
    """The input size TF's forward conv gives for an output size o, as TF computes it when it
    checks input_sizes: C division, which truncates toward zero (so o = K − s + 1 … K − 1 still
    maps to 1)."""
    if ax["padding"] == "SAME":
        return (o + ax["s"] - 1) // ax["s"]
    num = o + ax["pb"] + ax["pe"] - sizes.effective_kernel(ax["k"], ax["d"])
    q = abs(num) // ax["s"]
    return (q if num >= 0 else -q) + 1


def tf_transposed_verdict(ax: dict) -> "sizes.TransposedVerdict | None":
    o, low, s = ax["o"], ax["low"], ax["s"]
    if isinstance(o, int) and isinstance(ax["i"], int):
        return sizes.TransposedVerdict(tf_forward(o, ax) == ax["i"])
    syms = symbols(o, ax["i"])
    if len(syms) != 1 or s > 64:
        return None
    (name,) = syms
    inside = sizes.within_admissible(o, low, s)
    if inside is None:
        return None
    if isinstance(inside, bool):  # a constant offset: in range or not, always
        works = SizeSet.everything() if inside else SizeSet(1, frozenset(), 1, frozenset())
    else:
        works = inside[1]
    try:
        analysed = SizeSet.everything()
        if ax["padding"] != "SAME":
            floor_ok = add(o, ax["pb"] + ax["pe"] - sizes.effective_kernel(ax["k"], ax["d"]) + 1)
            analysed = solve([floor_ok], PositivePred(), name)
    except Undecidable:
        return None
    return sizes.TransposedVerdict(None, name, works, analysed)


# --------------------------------------------------------------------------- SL001/SL002's facts
# The output size is the ``input_sizes`` tensor (``output_shape`` of tf.nn.conv2d_transpose). TF
# accepts it only when the forward conv maps it back to the input size (sizes.tf_admissible);
# otherwise it fails at run time -- on CPU with oneDNN's "could not create a primitive descriptor"
# -- and graph-time shape inference does not check it.


def transposed_rejects(inf, node, stopped=None) -> list:
    """SL001: input_sizes outside the sizes whose forward conv gives back the input (the first such
    axis)."""
    got = tf_params(inf, node)
    if got is None:
        return []
    for ax in got[1]:
        tv = tf_transposed_verdict(ax)
        if tv is None or tv.ok:
            continue
        o, low, s = ax["o"], ax["low"], ax["s"]
        cond = ""
        if tv.symbol is not None:
            inside = tv.works.intersect(tv.analysed)
            if tv.analysed.first_outside(tv.works) is None:
                continue  # TF accepts every size analysed
            cond = (f"; it runs only for {inside.describe(tv.symbol)}" if not inside.is_empty()
                    else f"; that holds for every {tv.symbol} analysed")
            if not tv.analysed.is_everything():
                cond += " (where the output is smaller than the kernel, TF's truncating check is not analysed)"
        ok_sizes = ", ".join(fmt_dim(add(low, j)) for j in range(s))
        where = f"{fmt_dim(o)} on axis {ax['name']} from input {fmt_dim(ax['i'])}"
        shape_fix = clamped_output_shape(inf.value(node.input(0)), got[1])
        keras = keras_output_padding(dict(ax, o=add(low, s - 1))) if keras_output_padding(ax) else ""
        return [TransposedIssue(
            f"{node.op} '{node.name}': output size {where} (kernel {ax['k']}, stride {s}, padding "
            f"{ax['padding']}) is outside the admissible {{{ok_sizes}}}: TensorFlow fails at run time "
            f"(on CPU: oneDNN \"could not create a primitive descriptor\"){cond}",
            f"ask for one of {{{ok_sizes}}}: tf.nn.conv2d_transpose(..., output_shape=[{', '.join(shape_fix)}])"
            + (f"; {keras}" if keras else ""),
            {"axis": ax["axis"], "output": fmt_dim(o), "input": fmt_dim(ax["i"]),
             "admissible": [fmt_dim(add(low, j)) for j in range(s)]},
            "error" if tv.symbol is None or tv.works.intersect(tv.analysed).is_empty() else "warning")]
    return []


def clamped_output_shape(out, axes) -> list:
    """An output-size tensor's value with every spatial axis clamped into its admissible range
    (where concrete), as text: the output_shape to ask for instead."""
    fix = [fmt_dim(v) for v in out]
    for ax in axes:
        lo = sub(ax["o"], ax["low"])
        if isinstance(lo, int):
            fix[ax["axis"]] = fmt_dim(add(ax["low"], min(max(lo, 0), ax["s"] - 1)))
    return fix


def sized_by_tensor(axes, chooser: str) -> list:
    """SL002's facts for a transposed conv sized by a tensor (TF's input_sizes, TFLite's
    output_shape): per axis, the sizes that fit and the one ``chooser`` gives."""
    return [TransposedChoice(ax["axis"], ax["name"], ax["i"], ax["s"], ax["low"], ax["o"], chooser,
                             keras_output_padding(ax) or "set output_shape to the size you want",
                             shown=f" (padding {ax['padding']})")
            for ax in axes]


def transposed_choices(inf, node) -> list:
    got = tf_params(inf, node)
    return [] if got is None else sized_by_tensor(got[1], "input_sizes picks")


def _concat_inputs(node, names: tuple) -> tuple:
    """ConcatV2(values..., axis); the old Concat(axis, values...)."""
    if node.op == "ConcatV2":
        return names[:-1], names[-1]
    if node.op == "Concat":
        return names[1:], names[0]
    return names, None


def spatial_axes(node, rank: int) -> tuple:
    return _layout(node, rank)[1]


def transposed_axes(inf, node) -> list:
    got = tf_params(inf, node)
    return [TransposedAxis(ax["name"], ax["i"], ax["k"], ax["s"], ax["d"], ax["pb"], ax["pe"],
                           ax["padding"] if ax["padding"] != "EXPLICIT" else "pads", ax["o"],
                           "input_sizes (output_shape) says so")
            for ax in (got[1] if got is not None else ())]


def crop_fix(up, axes=None, rank=None) -> str:
    """The model-code change that removes a size restriction at a merge, in TF: the upsampled
    tensor cropped where it is larger than the skip, zero-padded at the end where it is smaller,
    per spatial axis (after a "valid" pool the upsampled branch is the smaller one). The code lines
    are run by ``tests/test_keras_fit.py`` at sizes of both signs."""
    axes = tuple(axes or ()) or (1, 2)
    rank = rank or max(axes) + 2
    crop = ", ".join(f":s[{a}]" if a in axes else ":" for a in range(rank))
    pads = ", ".join(f"[0, tf.maximum(s[{a}] - t[{a}], 0)]" if a in axes else "[0, 0]" for a in range(rank))
    if up is not None and up.op.startswith("Resize"):
        also = " (a resize branch can instead be sized from the skip: tf.image.resize(u, tf.shape(skip)[1:3]))"
    else:
        also = ""
    return ("or remove the restriction in the model code: before merging, fit the upsampled tensor to the "
            "skip tensor's run-time size, per spatial axis: crop where it is larger, zero-pad at the end where "
            f"it is smaller{also}; in TF (in a Keras 3 Functional model, in a layer's call() with keras.ops: "
            "tf.shape() of a KerasTensor raises)\n"
            "    s, t = tf.shape(skip), tf.shape(u)\n"
            f"    u = u[{crop}]   # crop where u is larger\n"
            f"    u = tf.pad(u, [{pads}])   # pad where u is smaller")


# inputs that are shape arguments: their values decide an output's shape
SHAPE_ARGS = {"Reshape": (1,), "Pad": (1,), "PadV2": (1,), "MirrorPad": (1,), "StridedSlice": (1, 2, 3),
              "Slice": (1, 2), "Fill": (0,), "Conv2DBackpropInput": (0,), "Conv3DBackpropInputV2": (0,),
              "DepthwiseConv2dNativeBackpropInput": (0,), "ResizeBilinear": (1,), "ResizeNearestNeighbor": (1,),
              "ResizeBicubic": (1,), "ExpandDims": (1,), "Transpose": (1,), "Tile": (1,), "BroadcastTo": (1,),
              "Range": (0, 1, 2), "Mean": (1,), "Sum": (1,), "Max": (1,), "Min": (1,), "Prod": (1,),
              "SpaceToBatchND": (1, 2), "BatchToSpaceND": (1, 2)}

DIALECT = Dialect(
    "tensorflow", ("tf",), "TensorFlow",
    shape_rules=TF_RULES,
    value_rules=TF_VALUE_RULES,
    shape_args=SHAPE_ARGS,
    shape_sources=frozenset({"Shape", "Size", "Rank", "ShapeN"}),
    data_dependent=frozenset({"Unique", "Where"}),
    merge_ops={"ConcatV2": "equal", "Concat": "equal",
               **{op: "broadcast" for op in ("AddV2", "Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum",
                                              "SquaredDifference", "FloorDiv", "Pow", "DivNoNan", "MulNoNan",
                                              "Xlogy", "Xdivy", "TruncateDiv")}},
    merge_inputs=_concat_inputs,
    # a window larger than its (padded) input, measured with TF 2.21 on CPU (docs/soundness-and-zoo.md):
    # the size is trunc((i + pads − K + s) / s) (sizes.tf_window_out); negative fails ("Computed output
    # size would be negative"); at 0 AvgPool gives an empty tensor; the convs too without oneDNN but
    # their input unchanged with it (TF_ENABLE_ONEDNN_OPTS=1), and MaxPool with oneDNN an empty tensor
    # or an AbortedError, so shapelint abstains there, and after an empty tensor (what each later op
    # does with it was not measured). The 3-D ops were not measured: abstain below them.
    pool_ops=frozenset({"Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool"}),
    erratic_at_zero=frozenset({"Conv2D", "DepthwiseConv2dNative", "MaxPool"}),
    erratic_ops=frozenset({"Conv3D", "MaxPool3D", "AvgPool3D"}),
    contract_below_windows=True,
    empty_window="TensorFlow may not fail here: AvgPool returns an empty tensor; a conv an empty tensor "
                 "without oneDNN and its input unchanged with it (TF_ENABLE_ONEDNN_OPTS=1); MaxPool with "
                 "oneDNN an empty tensor or an AbortedError; what follows works on nothing or on the wrong "
                 "tensor",
    spatial_axes=spatial_axes,
    transposed_ops=frozenset(TRANSPOSED),
    output_size_input=tf_params,
    transposed_axes=transposed_axes,
    transposed_rejects=transposed_rejects,
    transposed_choices=transposed_choices,
    crop_fix=crop_fix,
    pass_through=frozenset({"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Identity", "Cast", "Add", "Mul",
                            "Sub", "BiasAdd", "Relu6", "AddV2"}),
    upsamplers=frozenset({"Conv2DBackpropInput", "Conv3DBackpropInputV2", "ResizeBilinear", "ResizeNearestNeighbor",
                          "ResizeBicubic"}),
    data_input={op: 2 for op in TRANSPOSED},
    weight_ops=frozenset({"VarHandleOp", "ReadVariableOp"}),
    # run-time checks TF makes that analysis.SHAPE_CHECKS states (not all of TF's: checks_complete
    # stays False)
    shape_checks={"SpaceToBatchND": "SpaceToBatchND", "BatchToSpaceND": "BatchToSpaceND"},
)
