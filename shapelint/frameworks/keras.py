"""Shape rules for Keras layers (IR domain "keras"), beside the ONNX ones in infer.py.

Keras's own conventions: shapes include the batch axis; ``data_format`` is ``channels_last``
unless a layer says ``channels_first``; ``padding`` is ``"valid"``, ``"same"`` (ceil(i/s), as
TF's SAME) or, for Conv1D, ``"causal"`` (left pad d·(k−1), so ceil(i/s) too); pools default
their strides to the pool size. Conv{1,2,3}DTranspose size their output with Keras's formula
(sizes.keras_conv_transpose_out), where ``output_padding=None`` and ``0`` differ. Merge layers
whose semantics equal an ONNX op's run that rule (``_alias``). The size arithmetic stays in
sizes.py.
"""

from __future__ import annotations

from . import onnx as _onnx
from .base import Dialect, TransposedAxis, alias as _alias, out as _out
from .. import sizes
from .. import values as _v
from ..symbolic import add, mul, sub





def layout(node, rank: int):
    """(channel axis, spatial axes) for a layer's data_format (channels_last by default)."""
    if (node.attr("data_format") or "channels_last") == "channels_first":
        return 1, tuple(range(2, rank))
    return rank - 1, tuple(range(1, rank - 1))


def _per_axis(v, n: int, default) -> tuple:
    """A Keras int-or-tuple argument (strides, dilation_rate, size, …) as n ints."""
    if v is None:
        return (default,) * n
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    if len(v) == 1 and n > 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"{v} does not have {n} entries")
    return v


def _window(node, x):
    """(channel axis, spatial axes, kernel, strides, dilations, padding) of a conv or pool layer,
    validated against the input rank."""
    kernel = node.attr("kernel_size") if node.attr("kernel_size") is not None else node.attr("pool_size")
    kernel = (kernel,) if isinstance(kernel, int) else tuple(kernel) if isinstance(kernel, (tuple, list)) else None
    rank = len(x)
    ch, spatial = layout(node, rank)
    n = len(spatial)
    kernel = _per_axis(kernel, n, None) if kernel is not None else None
    if n < 1 or kernel is None or any(not isinstance(k, int) or k < 1 for k in kernel):
        raise ValueError("kernel does not match the input rank")
    strides = _per_axis(node.attr("strides"), n, None)
    if strides[0] is None:  # pools: strides=None means the pool size
        strides = kernel
    dil = _per_axis(node.attr("dilation_rate"), n, 1)
    if any(s < 1 for s in strides) or any(d < 1 for d in dil):
        raise ValueError("non-positive stride or dilation")
    padding = str(node.attr("padding") or "valid").lower()
    return ch, spatial, kernel, strides, dil, padding


def _forward_spatial(i, k, s, d, padding):
    if padding in ("same", "causal"):
        return sizes.same_out(i, s)
    if padding == "valid":
        return sizes.conv_out(i, k, s, d, 0, 0)
    raise ValueError(f"padding {padding!r}")


def _conv(ctx):
    """Conv1D/2D/3D, SeparableConv1D/2D, DepthwiseConv1D/2D."""
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    ch, spatial, kernel, strides, dil, padding = _window(ctx.node, x)
    if padding == "causal" and len(spatial) != 1:
        raise ValueError("causal padding is 1-D only")
    out = list(x)
    for j, a in enumerate(spatial):
        out[a] = _forward_spatial(x[a], kernel[j], strides[j], dil[j], padding)
    if ctx.node.op.startswith("Depthwise"):
        out[ch] = mul(x[ch], ctx.attr("depth_multiplier", 1))
    else:
        out[ch] = ctx.attr("filters")
    return _out(tuple(out))


def transpose_params(node, x):
    """Per spatial axis of a Conv{1,2,3}DTranspose: dict(axis, i, k, s, d, padding, output_padding
    (None or an int), o = Keras's output size). Raises ValueError on attributes Keras rejects."""
    ch, spatial, kernel, strides, dil, padding = _window(node, x)
    if padding not in ("same", "valid"):
        raise ValueError(f"padding {padding!r}")
    op = node.attr("output_padding")
    ops = (None,) * len(spatial) if op is None else _per_axis(op, len(spatial), 0)
    axes = []
    for j, a in enumerate(spatial):
        i, k, s, d = x[a], kernel[j], strides[j], dil[j]
        axes.append(dict(axis=a, i=i, k=k, s=s, d=d, padding=padding, output_padding=ops[j],
                         o=sizes.keras_conv_transpose_out(i, k, s, d, padding, ops[j])))
    return ch, axes


def _conv_transpose(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    ch, axes = transpose_params(ctx.node, x)
    out = list(x)
    for ax in axes:
        out[ax["axis"]] = ax["o"]
    out[ch] = ctx.attr("filters")
    return _out(tuple(out))


def _pool(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    ch, spatial, kernel, strides, dil, padding = _window(ctx.node, x)
    out = list(x)
    for j, a in enumerate(spatial):
        out[a] = _forward_spatial(x[a], kernel[j], strides[j], 1, padding)
    return _out(tuple(out))


def _global_pool(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    ch, spatial = layout(ctx.node, len(x))
    if ctx.attr("keepdims", False):
        return _out(tuple(1 if a in spatial else d for a, d in enumerate(x)))
    return _out((x[0], x[ch]))


def _upsampling(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    ch, spatial = layout(ctx.node, len(x))
    factors = _per_axis(ctx.attr("size", 2), len(spatial), 2)
    out = list(x)
    for f, a in zip(factors, spatial):
        out[a] = mul(x[a], f)
    return _out(tuple(out))


def _pairs(v, n: int) -> tuple:
    """ZeroPadding/Cropping amounts as n (begin, end) pairs: 1-D layers store one pair."""
    if isinstance(v, int):
        return ((v, v),) * n
    v = tuple(v)
    if n == 1 and len(v) == 2 and all(isinstance(p, int) for p in v):
        return (v,)
    out = tuple((p, p) if isinstance(p, int) else tuple(p) for p in v)
    if len(out) != n or any(len(p) != 2 for p in out):
        raise ValueError("padding/cropping does not match the input rank")
    return out


def _grow(key: str, sign: int):
    """ZeroPadding{1,2,3}D (``padding``, +) and Cropping{1,2,3}D (``cropping``, −): each spatial
    axis changes by the (begin, end) pair of the layer's config."""

    def rule(ctx):
        x = ctx.shape(0)
        if x is None:
            return _out(None)
        _ch, spatial = layout(ctx.node, len(x))
        out = list(x)
        for (b, e), a in zip(_pairs(ctx.attr(key, 1), len(spatial)), spatial):
            out[a] = add(x[a], sign * (b + e))
        return _out(tuple(out))

    return rule


_zero_padding = _grow("padding", +1)
_cropping = _grow("cropping", -1)


def _resizing(ctx):
    """Resizing and CenterCrop: the output is (height, width) whatever the input."""
    x = ctx.shape(0)
    if x is None or len(x) != 4:
        return _out(None)
    ch, (ha, wa) = layout(ctx.node, 4)
    out = list(x)
    out[ha], out[wa] = ctx.attr("height"), ctx.attr("width")
    return _out(tuple(out))


def _reshape(ctx):
    x = ctx.shape(0)
    target = ctx.attr("target_shape")
    if x is None or target is None:
        return _out(None)
    out = [x[0]] + [None if t == -1 else t for t in target]
    if -1 in target and all(d is not None for d in x[1:]):
        k = 1 + list(target).index(-1)
        out[k] = _onnx.exact_div(_onnx.numel(x[1:]), _onnx.numel([d for t, d in zip(target, out[1:]) if t != -1]))
    return _out(tuple(out))


def _flatten(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    return _out((x[0], _onnx.numel(x[1:])))


def _dense(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    return _out(tuple(x[:-1]) + (ctx.attr("units"),))


def _permute(ctx):
    x = ctx.shape(0)
    dims = ctx.attr("dims")
    if x is None or dims is None:
        return _out(None)
    return _out((x[0],) + tuple(x[d] for d in dims))


def _repeat_vector(ctx):
    x = ctx.shape(0)
    if x is None or len(x) != 2:
        return _out(None)
    return _out((x[0], ctx.attr("n"), x[1]))


def _embedding(ctx):
    x = ctx.shape(0)
    if x is None:
        return _out(None)
    return _out(tuple(x) + (ctx.attr("output_dim"),))


def _concatenate(ctx):
    names = [n for n in ctx.node.inputs if n]
    shapes = [ctx.inf.shape(n) for n in names]
    if not shapes or any(s is None for s in shapes):
        return _out(None)
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise _v.Unknown()
    axis = _v.norm_axis(ctx.attr("axis", -1), rank)
    out = []
    for k in range(rank):
        if k == axis:
            total = 0
            for s in shapes:
                total = add(total, s[k])
            out.append(total)
        else:  # the merge check reports when these may differ
            out.append(next((s[k] for s in shapes if s[k] is not None), None))
    return _out(tuple(out))


def _same(ctx):
    return _out(ctx.shape(0))


CONV_LAYERS = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
               "DepthwiseConv2D")
TRANSPOSED_LAYERS = ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
POOL_LAYERS = ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
               "AveragePooling3D")
# merge layers: Concatenate joins on its axis, the rest broadcast (ops.add & co. in the TF backend)
ELEMENTWISE_LAYERS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")

KERAS_RULES = {
    **{op: _conv for op in CONV_LAYERS},
    **{op: _conv_transpose for op in TRANSPOSED_LAYERS},
    **{op: _pool for op in POOL_LAYERS},
    **{op: _global_pool for op in (
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
        "GlobalMaxPooling2D", "GlobalMaxPooling3D")},
    **{op: _upsampling for op in ("UpSampling1D", "UpSampling2D", "UpSampling3D")},
    **{op: _zero_padding for op in ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")},
    **{op: _cropping for op in ("Cropping1D", "Cropping2D", "Cropping3D")},
    "Resizing": _resizing,
    "CenterCrop": _resizing,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Dense": _dense,
    "Permute": _permute,
    "RepeatVector": _repeat_vector,
    "Embedding": _embedding,
    "Concatenate": _concatenate,
    **{op: _alias("Add") for op in ELEMENTWISE_LAYERS},
    **{op: _same for op in (
        "InputLayer", "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
        "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Dropout", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
        "Rescaling", "Normalization", "Identity", "ActivityRegularization", "Masking",
    )},
}


def keras_output_padding(ax) -> str:
    """The Keras Conv2DTranspose(output_padding=…) that gives o, if one does."""
    K = sizes.effective_kernel(ax["k"], ax["d"])
    if ax["padding"] == "VALID":
        base = add(sizes.mul(ax["s"], sub(ax["i"], 1)), K)
        pad = "valid"
    elif ax["padding"] == "SAME":
        base = add(sizes.mul(ax["s"], sub(ax["i"], 1)), K - 2 * (K // 2))
        pad = "same"
    else:
        return ""
    p = sub(ax["o"], base)
    none = sizes.keras_conv_transpose_out(ax["i"], ax["k"], ax["s"], ax["d"], pad, None)
    text = f"Keras Conv2DTranspose(padding=\"{pad}\", output_padding=None) gives {_dim(none)}"
    if isinstance(p, int) and 0 <= p < ax["s"]:
        text += f", output_padding={p} gives {_dim(ax['o'])}"
    return text


def _dim(d) -> str:
    return "?" if d is None else str(d)


# --------------------------------------------------------------------------- the dialect


def transposed_axes(inf, node) -> list:
    x = inf.shape(node.input(0))
    if x is None:
        return []
    _ch, axes = transpose_params(node, x)
    names = "DHW"[-len(axes):] if len(axes) <= 3 else [str(ax["axis"]) for ax in axes]
    return [TransposedAxis(names[j], ax["i"], ax["k"], ax["s"], ax["d"], 0, 0, ax["padding"].upper(), ax["o"],
                           f"Keras's rule for padding=\"{ax['padding']}\", output_padding={ax['output_padding']}")
            for j, ax in enumerate(axes)]


def spatial_axes(node, rank: int) -> tuple:
    return layout(node, rank)[1]


def crop_fix(up) -> str:
    # tf.shape() on a KerasTensor raises in a Keras 3 Functional model: a small layer instead
    return ("or remove the restriction in the model code: crop the upsampled tensor to the skip "
            "tensor's run-time size before merging, in a small layer:\n"
            "    class CropTo(keras.layers.Layer):\n"
            "        def call(self, u, skip):\n"
            "            s = keras.ops.shape(skip)\n"
            "            return u[:, :s[1], :s[2], :]   # after Conv2DTranspose(padding=\"same\"), "
            "2·ceil(H/2) ≥ H\n"
            "    u = CropTo()(u, skip)")


DIALECT = Dialect(
    "keras", ("keras",), "TensorFlow",
    shape_rules=KERAS_RULES,
    merge_ops={"Concatenate": "equal", **{op: "broadcast" for op in ELEMENTWISE_LAYERS}},
    # below a window's size TensorFlow is erratic (an error, a crash, an empty or a 1-pixel output,
    # measured), so, like pools, shapelint abstains there
    erratic_ops=frozenset(CONV_LAYERS + POOL_LAYERS),
    spatial_axes=spatial_axes,
    transposed_ops=frozenset(TRANSPOSED_LAYERS),
    transposed_axes=transposed_axes,
    crop_fix=crop_fix,
    pass_through=frozenset({"Activation", "ReLU", "LeakyReLU", "Softmax", "Rescaling", "Normalization",
                            "LayerNormalization", "GroupNormalization", "SpatialDropout2D", "GaussianNoise", "Subtract",
                            "Multiply", "Average", "Add", "Dropout", "BatchNormalization", "Identity"}),
    upsamplers=frozenset(TRANSPOSED_LAYERS + ("UpSampling1D", "UpSampling2D", "UpSampling3D")),
)
