"""Shape rules for TFLite builtin ops (IR domain "tflite"), beside the ONNX and TF ones.

TFLite is NHWC throughout and keeps TensorFlow's conventions, so many ops reuse a rule: the
ONNX one under that op's name (``_alias``: ADD, CONCATENATION with its ``axis`` option, GATHER)
or the TF one (``_tf``: PAD, MEAN, RESIZE_BILINEAR, SHAPE -- same inputs, same option names).
What is TFLite's own is here: weights stored OHWI (CONV_2D, TRANSPOSE_CONV) or 1HW(C·M)
(DEPTHWISE_CONV_2D), pools sized by options, TRANSPOSE_CONV's output being its ``output_shape``
input, RESHAPE's target in an input or in ``new_shape``, FULLY_CONNECTED, SPACE_TO_BATCH_ND,
the values of small tensors through STRIDED_SLICE / PACK / FLOOR_MOD (the paddings a dilated
conv computes at run time), and MediaPipe's ``Convolution2DTransposeBias`` custom op.
The size arithmetic stays in sizes.py where it is shared.
"""

from __future__ import annotations

from dataclasses import replace

from . import onnx as _onnx
from . import tf as tf_dialect
from .base import Alias, Dialect, RuleContext, TransposedAxis, TransposedChoice, TransposedIssue, alias as _alias, out as _out
from .keras import keras_output_padding
from .. import limits, sizes
from .. import values as _v
from ..symbolic import add, fmt_dim, maximum, mod, mul, sub, symbols





def _tf(tf_op):
    """The TF op of that name (same inputs, same option names): its shape and value rules."""
    return Alias("tf", tf_op)


def _unknown_like(ctx, i=0):
    s = ctx.shape(i)
    return _out(None if s is None else (None,) * len(s))


def _forward_dim(i, k, s, d, padding):
    """TFLite's ComputeOutSize: SAME ceil(i/s); VALID trunc((i − K + s)/s) (sizes.tf_window_out)."""
    if not isinstance(k, int) or not isinstance(s, int) or not isinstance(d, int) or s < 1 or d < 1 or k < 1:
        raise ValueError("kernel, stride and dilation must be positive integers")
    if padding == "SAME":
        return sizes.same_out(i, s)
    if padding == "VALID":
        return sizes.tf_window_out(i, k, s, d, 0, 0)
    raise ValueError(f"padding {padding!r}")


def _conv2d(ctx):
    """CONV_2D(input NHWC, filter OHWI, bias) / DEPTHWISE_CONV_2D(input, filter 1HW(C·M), bias)."""
    x, w = ctx.shape(0), ctx.shape(1)
    if x is None or w is None or len(x) != 4 or len(w) != 4:
        return _out(None if x is None else (None,) * len(x))
    pad = ctx.attr("padding", "SAME")
    h = _forward_dim(x[1], w[1], ctx.attr("stride_h", 1), ctx.attr("dilation_h_factor", 1), pad)
    wd = _forward_dim(x[2], w[2], ctx.attr("stride_w", 1), ctx.attr("dilation_w_factor", 1), pad)
    return _out((x[0], h, wd, w[3] if ctx.node.op == "DEPTHWISE_CONV_2D" else w[0]))


def _conv3d(ctx):
    """CONV_3D(input NDHWC, filter DHWIO, bias)."""
    x, w = ctx.shape(0), ctx.shape(1)
    if x is None or w is None or len(x) != 5 or len(w) != 5:
        return _out(None if x is None else (None,) * len(x))
    pad = ctx.attr("padding", "SAME")
    out = [x[0]]
    for a, key in ((1, "d"), (2, "h"), (3, "w")):
        stride, dilation = ctx.attr(f"stride_{key}", 1), ctx.attr(f"dilation_{key}_factor", 1)
        out.append(_forward_dim(x[a], w[a - 1], stride, dilation, pad))
    return _out(tuple(out) + (w[4],))


def _pool2d(ctx):
    """MAX_POOL_2D / AVERAGE_POOL_2D / L2_POOL_2D: window and strides in Pool2DOptions."""
    x = ctx.shape(0)
    if x is None or len(x) != 4:
        return _out(None if x is None else (None,) * len(x))
    pad = ctx.attr("padding", "SAME")
    h = _forward_dim(x[1], ctx.attr("filter_height", 1), ctx.attr("stride_h", 1), 1, pad)
    w = _forward_dim(x[2], ctx.attr("filter_width", 1), ctx.attr("stride_w", 1), 1, pad)
    return _out((x[0], h, w, x[3]))


def _output_shape_input(ctx):
    """TRANSPOSE_CONV(output_shape, weights OHWI, input, [bias]), CONV_3D_TRANSPOSE: the output is
    exactly the int32 ``output_shape`` tensor's value; the kernel does not check it against the
    input (SL001 does, with this dialect's transposed_rejects)."""
    limits.transposed_strides([ctx.node.attr(k, 1) for k in ("stride_h", "stride_w", "stride_d")])
    v = ctx.value(0)
    if v is not None:
        if any(isinstance(d, float) for d in v):
            return _unknown_like(ctx, 2)
        return _out(tuple(v))
    s = ctx.shape(0)
    if s is not None and len(s) == 1 and isinstance(s[0], int):
        return _out((None,) * s[0])
    return _unknown_like(ctx, 2)


def mediapipe_transpose_conv_bias_out(i, k: int, s: int, padding: str):
    """MediaPipe's Convolution2DTransposeBias (mediapipe/util/tflite/operations/
    transpose_conv_bias.cc) sizes its output itself, from the input:
    VALID o = s·(i − 1) + k;  SAME o = s·(i − 1) + k − max(0, k − 1 − (i − 1) mod s).
    With k ≥ s, SAME gives s·(i − 1) + 1 + (i − 1) mod s: for s = 2, 2·i for even i but 2·i − 1
    for odd i -- always inside TF's admissible [(i − 1)·s + 1, i·s], but not TF's i·s."""
    base = add(mul(s, sub(i, 1)), k)
    if padding == "VALID":
        return base
    if padding != "SAME":
        raise ValueError(f"padding {padding!r}")
    return sub(base, maximum(0, sub(k - 1, mod(sub(i, 1), s))))


def _mediapipe_transpose_conv_bias(ctx):
    """Convolution2DTransposeBias(input NHWC, weights OHWI, bias), options in raw custom data."""
    x, w = ctx.shape(0), ctx.shape(1)
    pad, sh, sw = ctx.attr("padding"), ctx.attr("stride_h"), ctx.attr("stride_w")
    if x is None or w is None or len(x) != 4 or len(w) != 4:
        return _out(None if x is None else (None,) * 4)
    if pad not in ("SAME", "VALID") or not isinstance(sh, int) or not isinstance(sw, int) or sh < 1 or sw < 1:
        return _out((x[0], None, None, w[0]))
    if not isinstance(w[1], int) or not isinstance(w[2], int):
        return _out((x[0], None, None, w[0]))
    return _out((x[0], mediapipe_transpose_conv_bias_out(x[1], w[1], sh, pad),
                 mediapipe_transpose_conv_bias_out(x[2], w[2], sw, pad), w[0]))


def _reshape(ctx):
    """RESHAPE(x, [shape]): the target is the shape input, else ``new_shape``; -1 is inferred and,
    unlike ONNX, a 0 is a literal 0."""
    target = ctx.value(1) if ctx.has(1) else None
    if target is None and not ctx.has(1):
        target = ctx.attr("new_shape")
    if target is None:
        t_shape = ctx.shape(1) if ctx.has(1) else None
        if t_shape is not None and len(t_shape) == 1 and isinstance(t_shape[0], int):
            return _out((None,) * t_shape[0])
        return _out(None)
    node = replace(ctx.node, attrs=(("allowzero", 1),) + tuple(ctx.node.attrs))
    return _onnx.reshape(_Given(ctx, node, "Reshape", {1: tuple(target)}))


class _Given(RuleContext):
    """A node seen with some input values given (an option standing in for an input tensor)."""

    def __init__(self, ctx, node, op, given: dict):
        super().__init__(ctx.inf, node, op, ctx.int_attrs, ctx.opset)
        self.given = given

    def value(self, i: int):
        return self.given[i] if i in self.given else super().value(i)


def _fully_connected(ctx):
    """FULLY_CONNECTED(x, weights [units, k], [bias]): (numel(x)/k, units), or x[:-1] + (units,)
    with keep_num_dims."""
    x, w = ctx.shape(0), ctx.shape(1)
    if x is None or w is None or len(w) != 2:
        return _out(None)
    if ctx.attr("keep_num_dims", False):
        return _out(tuple(x[:-1]) + (w[0],))
    if any(d is None for d in x):
        return _out((None, w[0]))
    return _out((_onnx.exact_div(_onnx.numel(x), w[1]), w[0]))


def _batch_matmul(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return _out(None)
    m = a[-1] if ctx.attr("adj_x", False) else a[-2]
    n = b[-2] if ctx.attr("adj_y", False) else b[-1]
    batch = _onnx.broadcast_shapes([a[:-2], b[:-2]]) if a[:-2] or b[:-2] else ()
    return _out(tuple(batch) + (m, n))


def _split(ctx):
    """SPLIT(axis, x) into num_splits equal parts."""
    axis, x = ctx.value(0), ctx.shape(1)
    n = len(ctx.node.outputs)
    if axis is None or x is None:
        return [(None, None)] * n
    a = _v.norm_axis(axis[0], len(x))
    part = _onnx.exact_div(x[a], n) if x[a] is not None else None
    return [(tuple(x[:a]) + (part,) + tuple(x[a + 1:]), None)] * n


def _split_v(ctx):
    """SPLIT_V(x, size_splits, axis); one size may be -1 (the rest)."""
    x, parts, axis = ctx.shape(0), ctx.value(1), ctx.value(2)
    n = len(ctx.node.outputs)
    if x is None or parts is None or axis is None or len(parts) != n:
        return [(None, None)] * n
    a = _v.norm_axis(axis[0], len(x))
    parts = list(parts)
    if -1 in parts:
        rest = x[a]
        for p in parts:
            if p != -1:
                rest = sub(rest, p)
        parts[parts.index(-1)] = rest
    return [(tuple(x[:a]) + (p,) + tuple(x[a + 1:]), None) for p in parts]


def _unpack(ctx):
    x = ctx.shape(0)
    n = len(ctx.node.outputs)
    if x is None:
        return [(None, None)] * n
    a = _v.norm_axis(ctx.attr("axis", 0), len(x))
    return [(tuple(x[:a]) + tuple(x[a + 1:]), None)] * n


def _arg_minmax(ctx):
    x, axis = ctx.shape(0), ctx.value(1)
    if x is None or axis is None:
        return _out(None)
    a = _v.norm_axis(axis[0], len(x))
    return _out(tuple(x[:a]) + tuple(x[a + 1:]))


def _space_depth(ctx):
    """SPACE_TO_DEPTH / DEPTH_TO_SPACE, NHWC."""
    x, b = ctx.shape(0), ctx.attr("block_size")
    if x is None or len(x) != 4 or not isinstance(b, int) or b < 1:
        return _out(None)
    n, h, w, c = x
    if ctx.node.op == "DEPTH_TO_SPACE":
        return _out((n, mul(h, b), mul(w, b), _onnx.exact_div(c, b * b)))
    return _out((n, _onnx.exact_div(h, b), _onnx.exact_div(w, b), mul(c, b * b)))


def _gather(ctx):
    """GATHER(params, indices) with ``axis`` and ``batch_dims`` options: TF's GatherV2."""
    if ctx.attr("batch_dims", 0):
        return tf_dialect.TF_RULES["GatherV2"](ctx)
    return _alias("Gather")(ctx)


def _gather_values(ctx, outs):
    return _v.VALUE_RULES["Gather"](ctx.as_op("Gather"), outs)


def _declared(ctx):
    """READ_VARIABLE: the variable's shape as the file declares it (the loader's attribute)."""
    return _out(ctx.attr("declared_shape"))


def _resource(ctx):
    """VAR_HANDLE: a scalar resource handle."""
    return _out(())


def _same(ctx):
    return _out(ctx.shape(0), None)


TFLITE_RULES = {
    # convolutions and pools (NHWC)
    "CONV_2D": _conv2d,
    "DEPTHWISE_CONV_2D": _conv2d,
    "CONV_3D": _conv3d,
    "TRANSPOSE_CONV": _output_shape_input,
    "CONV_3D_TRANSPOSE": _output_shape_input,
    "Convolution2DTransposeBias": _mediapipe_transpose_conv_bias,
    "MAX_POOL_2D": _pool2d,
    "AVERAGE_POOL_2D": _pool2d,
    "L2_POOL_2D": _pool2d,
    "RESIZE_BILINEAR": _tf("ResizeBilinear"),
    "RESIZE_NEAREST_NEIGHBOR": _tf("ResizeNearestNeighbor"),
    "SPACE_TO_DEPTH": _space_depth,
    "SPACE_TO_BATCH_ND": _tf("SpaceToBatchND"),
    "BATCH_TO_SPACE_ND": _tf("BatchToSpaceND"),
    "DEPTH_TO_SPACE": _space_depth,
    "PAD": _tf("Pad"),
    "PADV2": _tf("Pad"),
    "MIRROR_PAD": _tf("Pad"),
    # merges and other elementwise ops with broadcasting
    "CONCATENATION": _alias("Concat"),
    "ADD": _alias("Add"),
    "SUB": _alias("Sub"),
    "MUL": _alias("Mul"),
    "DIV": _alias("Div"),
    "FLOOR_DIV": _tf("FloorDiv"),
    "FLOOR_MOD": _tf("FloorMod"),
    "POW": _alias("Pow"),
    "MAXIMUM": _alias("Max"),
    "MINIMUM": _alias("Min"),
    "SQUARED_DIFFERENCE": _tf("SquaredDifference"),
    "EQUAL": _alias("Equal"),
    "LESS": _alias("Less"),
    "GREATER": _alias("Greater"),
    "LESS_EQUAL": _alias("LessOrEqual"),
    "GREATER_EQUAL": _alias("GreaterOrEqual"),
    "NOT_EQUAL": _tf("NotEqual"),
    "LOGICAL_AND": _alias("And"),
    "LOGICAL_OR": _alias("Or"),
    "SELECT": _alias("Where"),
    "SELECT_V2": _alias("Where"),
    "ADD_N": _alias("Sum"),
    # shapes and their values
    "SHAPE": _tf("Shape"),
    "STRIDED_SLICE": _tf("StridedSlice"),
    "SLICE": _tf("Slice"),
    "PACK": _tf("Pack"),
    "UNPACK": _unpack,
    "RESHAPE": _reshape,
    "SQUEEZE": _tf("Squeeze"),
    "EXPAND_DIMS": _tf("ExpandDims"),
    "TRANSPOSE": _tf("Transpose"),
    "FILL": _tf("Fill"),
    "BROADCAST_TO": _alias("Expand"),
    "TILE": _alias("Tile"),
    "RANGE": _alias("Range"),
    "GATHER": _gather,
    "SPLIT": _split,
    "SPLIT_V": _split_v,
    "CAST": _tf("Cast"),
    "VAR_HANDLE": _resource,
    "READ_VARIABLE": _declared,
    # reductions and matmuls
    "MEAN": _tf("Mean"),
    "SUM": _tf("Sum"),
    "REDUCE_MAX": _tf("Max"),
    "REDUCE_MIN": _tf("Min"),
    "REDUCE_PROD": _tf("Prod"),
    "REDUCE_ANY": _tf("Max"),
    "ARG_MAX": _arg_minmax,
    "ARG_MIN": _arg_minmax,
    "FULLY_CONNECTED": _fully_connected,
    "BATCH_MATMUL": _batch_matmul,
    # shape-preserving
    **{op: _same for op in (
        "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "PRELU", "LOGISTIC", "TANH",
        "HARD_SWISH", "ELU", "GELU", "EXP", "LOG", "RSQRT", "SIN", "COS", "ROUND", "SOFTMAX", "LOG_SOFTMAX", "L2_NORMALIZATION",
        "LOCAL_RESPONSE_NORMALIZATION", "DEQUANTIZE", "QUANTIZE", "FAKE_QUANT", "ZEROS_LIKE", "ONES_LIKE",
        "REVERSE_V2", "CUMSUM",
    )},
    "SQRT": _alias("Sqrt"),
    "NEG": _alias("Neg"),
    "ABS": _alias("Abs"),
    "FLOOR": _alias("Floor"),
    "CEIL": _alias("Ceil"),
    "SIGN": _alias("Sign"),
    "LOGICAL_NOT": _alias("Not"),
    "SQUARE": _tf("Square"),
}

# values of TFLite's own ops (aliased ones use the ONNX or TF op's value rule)
TFLITE_VALUE_RULES = {
    "RESHAPE": _v.VALUE_RULES["Reshape"],
    "GATHER": _gather_values,
}


# --------------------------------------------------------------------------- SL001/SL002's facts
# TRANSPOSE_CONV(output_shape, weights OHWI, input, [bias]) sizes its output to the int32
# ``output_shape`` as given. The sizes that fit are TF's (sizes.tf_admissible: the forward conv of the
# output gives back the input), but TFLite does not check: measured with TF 2.21's interpreter without
# delegates, every size >= 0 runs and returns a tensor of the requested size. Its kernel
# (transpose_conv.cc, then Col2im) derives the input extent from the output -- forward(o), what a
# forward conv of ``o`` gives -- instead of reading it, so for an inadmissible ``o`` the values are
# wrong: columns misaligned when the widths differ, input rows dropped when forward(o) is smaller, and
# reads past the end of its buffer (garbage) when it is larger. Only a negative size fails
# ("BytesRequired number of elements overflowed", TRANSPOSE_CONV failed to prepare). So an
# inadmissible size is a warning that says what happens, a negative one an error. MediaPipe's
# Convolution2DTransposeBias sizes its output itself (mediapipe_transpose_conv_bias_out).

_AXES = ((1, "H", "stride_h"), (2, "W", "stride_w"))
MAX_STRIDE = limits.MAX_TRANSPOSED_STRIDE  # beyond, a stride is a corrupt option, not a model: the checks skip the node


def _forward(o: int, k: int, s: int, padding: str) -> int:
    """TFLite's ComputeOutSize, C integer division: the input extent its kernel assumes."""
    if padding == "SAME":
        return (o + s - 1) // s
    n = o + s - k
    return (abs(n) // s) * (1 if n >= 0 else -1)


def tflite_params(inf, node):
    """(x shape, output_shape value, per-axis dicts) for a TRANSPOSE_CONV, or None."""
    x, w, out = inf.shape(node.input(2)), inf.shape(node.input(1)), inf.value(node.input(0))
    padding = node.attr("padding")
    if x is None or w is None or out is None or len(x) != 4 or len(w) != 4 or len(out) != 4 \
            or padding not in ("SAME", "VALID"):
        return None
    axes = []
    for a, name, key in _AXES:
        k, s = w[a], node.attr(key, 1)
        if not isinstance(k, int) or not isinstance(s, int) or k < 1 or not 1 <= s <= MAX_STRIDE or out[a] is None:
            return None
        adm = sizes.tf_admissible(x[a], k, s, 1, padding)
        axes.append(dict(axis=a, name=name, i=x[a], k=k, s=s, d=1, padding=padding, o=out[a], low=adm.low,
                         high=adm.high))
    return x, out, axes


def _what_tflite_does(x, out, axes) -> str:
    """At concrete sizes: what the interpreter (no delegate) does with an inadmissible output_shape."""
    try:
        fwd = [_forward(ax["o"], ax["k"], ax["s"], ax["padding"]) for ax in axes]
        ins = [int(ax["i"]) for ax in axes]
    except (TypeError, ValueError):
        return ("TFLite does not check it: the interpreter runs and returns the requested size, but its kernel "
                "takes the input's extent from output_shape, so the values are wrong")
    if min(fwd) <= 0:
        effect = "it uses none of the input, so the output is the bias alone"
    elif fwd[0] * fwd[1] > ins[0] * ins[1]:
        effect = "it reads past the end of its buffer, so the output holds garbage"
    elif fwd[1] != ins[1]:
        effect = "the input's columns are misaligned, so the values are wrong"
    else:
        effect = f"the input's last {ins[0] - fwd[0]} row(s) are ignored"
    return (f"TFLite does not check it: the interpreter runs and returns the requested "
            f"{fmt_dim(out[1])}×{fmt_dim(out[2])}, but its kernel works as if the input were {fwd[0]}×{fwd[1]} "
            f"(what a forward conv of {fmt_dim(out[1])}×{fmt_dim(out[2])} gives), not {ins[0]}×{ins[1]}: {effect}")


def transposed_rejects(inf, node, stopped=None) -> list:
    """SL001: a TRANSPOSE_CONV output_shape outside the sizes whose forward conv gives back the input
    (a warning: TFLite runs with wrong values), or negative (an error: it fails to prepare)."""
    got = tflite_params(inf, node)
    if got is None:
        return []
    x, out, axes = got
    negative = [a for a, v in enumerate(out) if isinstance(v, int) and v < 0]
    if negative:
        a = negative[0]
        return [TransposedIssue(
            f"{node.op} '{node.name}': output_shape {[fmt_dim(v) for v in out]} has the negative dim "
            f"{out[a]} at axis {a}: the TFLite interpreter fails to prepare it (\"BytesRequired number of "
            f"elements overflowed\")",
            f"give output_shape=[{', '.join(tf_dialect.clamped_output_shape(out, axes))}]",
            {"axis": a, "output": fmt_dim(out[a])})]
    bad = []
    for ax in axes:
        inside = sizes.within_admissible(ax["o"], ax["low"], ax["s"])
        if inside is False:
            bad.append((ax, None))
        elif isinstance(inside, tuple) and not inside[1].is_everything():
            bad.append((ax, inside))
    if not bad:
        return []
    ax, sym = bad[0]
    ok_sizes = ", ".join(fmt_dim(add(ax["low"], j)) for j in range(ax["s"]))
    where = (f"output_shape {ax['name']}={fmt_dim(ax['o'])} for input {ax['name']}={fmt_dim(ax['i'])} "
             f"(kernel {ax['k']}, stride {ax['s']}, padding {ax['padding']})")
    tf_too = "; TensorFlow rejects the same size at run time"
    if any(v == 0 for v in out[1:3]):
        what = ("TFLite (and TensorFlow) return an empty tensor without an error, and every op after it "
                "works on nothing")
        cond, tf_too = "", ""
    elif sym is None:
        what = _what_tflite_does(x, out, axes)
        every = sorted(symbols(ax["o"], ax["i"]))
        cond = f" for every {', '.join(every)}" if every else ""
    else:
        name, ok = sym
        what = ("TFLite does not check it: the interpreter runs and returns the requested size, but its "
                "kernel takes the input's extent from output_shape, so the values are wrong")
        cond = (f"; it fits only for {ok.describe(name)}" if not ok.is_empty() else f"; it fits for no {name}")
    keras = keras_output_padding(dict(ax, o=add(ax["low"], ax["s"] - 1)))
    return [TransposedIssue(
        f"{node.op} '{node.name}': {where} is outside the admissible {{{ok_sizes}}}{cond}. {what}{tf_too}",
        f"ask for one of {{{ok_sizes}}}: "
        f"tf.nn.conv2d_transpose(..., output_shape=[{', '.join(tf_dialect.clamped_output_shape(out, axes))}])"
        + (f"; {keras}" if keras else ""),
        {"axis": ax["axis"], "output": fmt_dim(ax["o"]), "input": fmt_dim(ax["i"]),
         "admissible": [fmt_dim(add(ax["low"], j)) for j in range(ax["s"])],
         "runs": True, "works": None if sym is None else sym[1].describe(sym[0])},
        "warning")]


MEDIAPIPE_CHOOSER = "MediaPipe's kernel picks s·(i−1) + k − max(0, k − 1 − (i−1) mod s) ="


def transposed_choices(inf, node) -> list:
    """SL002's facts: the size output_shape (TRANSPOSE_CONV) or MediaPipe's own formula
    (Convolution2DTransposeBias) picks among the admissible ones."""
    if node.op == "Convolution2DTransposeBias":
        axes = _mediapipe_axes(inf, node)
        return [] if axes is None else [
            TransposedChoice(ax["axis"], ax["name"], ax["i"], ax["s"], ax["low"], ax["o"], MEDIAPIPE_CHOOSER,
                             "crop or pad the result to the size the next layer needs",
                             shown=f" (padding {ax['padding']})") for ax in axes]
    got = tflite_params(inf, node)
    return [] if got is None else tf_dialect.sized_by_tensor(got[2], "output_shape picks")


def _mediapipe_axes(inf, node):
    x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
    padding = node.attr("padding")
    if x is None or w is None or len(x) != 4 or len(w) != 4 or padding not in ("SAME", "VALID"):
        return None
    axes = []
    for a, name, key in _AXES:
        k, s = w[a], node.attr(key)
        if not isinstance(k, int) or not isinstance(s, int) or k < 1 or not 1 <= s <= MAX_STRIDE or x[a] is None:
            return None
        o = mediapipe_transpose_conv_bias_out(x[a], k, s, padding)
        low = sizes.tf_admissible(x[a], k, s, 1, padding).low
        axes.append(dict(axis=a, name=name, i=x[a], k=k, s=s, d=1, padding=padding, o=o, low=low))
    return axes


# --------------------------------------------------------------------------- the dialect


def transposed_axes(inf, node) -> list:
    """TRANSPOSE_CONV(output_shape, weights OHWI, input): the output_shape tensor sizes it."""
    x, w, o = inf.shape(node.input(2)), inf.shape(node.input(1)), inf.value(node.input(0))
    if x is None or w is None or len(x) != 4 or len(w) != 4:
        return []
    return [TransposedAxis(name, x[a], w[a], node.attr(key, 1), 1, 0, 0, node.attr("padding", "VALID"),
                           o[a] if o is not None else None, "the output_shape tensor says so")
            for a, name, key in ((1, "H", "stride_h"), (2, "W", "stride_w"))]


def spatial_axes(node, rank: int) -> tuple:
    return tuple(range(1, rank - 1))  # NHWC / NDHWC


# inputs that are shape arguments: their values decide an output's shape
SHAPE_ARGS = {"RESHAPE": (1,), "PAD": (1,), "PADV2": (1,), "MIRROR_PAD": (1,), "STRIDED_SLICE": (1, 2, 3),
              "SLICE": (1, 2), "FILL": (0,), "TRANSPOSE_CONV": (0,), "CONV_3D_TRANSPOSE": (0,),
              "RESIZE_BILINEAR": (1,), "RESIZE_NEAREST_NEIGHBOR": (1,), "BROADCAST_TO": (1,), "TILE": (1,),
              "RANGE": (0, 1, 2), "SPLIT": (0,), "SPLIT_V": (1, 2), "EXPAND_DIMS": (1,), "TRANSPOSE": (1,),
              "SPACE_TO_BATCH_ND": (1, 2), "BATCH_TO_SPACE_ND": (1, 2), "MEAN": (1,), "SUM": (1,),
              "REDUCE_MAX": (1,), "REDUCE_MIN": (1,), "REDUCE_PROD": (1,)}

DIALECT = Dialect(
    "tflite", ("tflite",), "the TFLite interpreter (its default XNNPACK delegate may instead truncate silently)",
    shape_rules=TFLITE_RULES,
    value_rules=TFLITE_VALUE_RULES,
    shape_args=SHAPE_ARGS,
    shape_sources=frozenset({"SHAPE", "RANK", "SIZE"}),
    data_dependent=frozenset({"UNIQUE", "WHERE"}),
    merge_ops={"CONCATENATION": "equal",
               **{op: "broadcast" for op in ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE",
                                              "FLOOR_DIV", "FLOOR_MOD", "POW", "SELECT_V2")}},
    # a window larger than its input, measured with the interpreter without delegates: TF's
    # arithmetic (sizes.tf_window_out); a negative size fails to allocate ("BytesRequired number of
    # elements overflowed"), 0 gives an empty tensor without an error (SL004 warns), after which
    # shapelint abstains. CONV_3D was not measured: abstain below it.
    pool_ops=frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"}),
    erratic_ops=frozenset({"CONV_3D"}),
    contract_below_windows=True,
    empty_window="the TFLite interpreter returns an empty tensor here without an error, and every op after it "
                 "works on nothing",
    spatial_axes=spatial_axes,
    transposed_ops=frozenset({"TRANSPOSE_CONV"}),
    transposed_axes=transposed_axes,
    self_sized_transposed_ops=frozenset({"Convolution2DTransposeBias"}),
    transposed_rejects=transposed_rejects,
    transposed_choices=transposed_choices,
    crop_fix=tf_dialect.crop_fix,  # a TFLite model is converted from TF/Keras code
    pass_through=frozenset({"RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "PRELU", "LOGISTIC", "TANH", "HARD_SWISH",
                            "ELU", "GELU", "ADD", "SUB", "MUL", "DIV", "QUANTIZE", "DEQUANTIZE"}),
    upsamplers=frozenset({"TRANSPOSE_CONV", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
                          "Convolution2DTransposeBias"}),
    data_input={"TRANSPOSE_CONV": 2, "CONV_3D_TRANSPOSE": 2},
    weight_ops=frozenset({"VAR_HANDLE", "READ_VARIABLE"}),
    # run-time checks the interpreter makes that analysis.SHAPE_CHECKS states (TF's, same inputs)
    shape_checks={"SPACE_TO_BATCH_ND": "SpaceToBatchND", "BATCH_TO_SPACE_ND": "BatchToSpaceND"},
)
