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
from .base import Dialect, IntAttrs, TransposedAxis, TransposedChoice, TransposedIssue, alias as _alias, out as _out
from .. import limits, sizes
from .. import values as _v
from ..symbolic import PositivePred, Undecidable, add, fmt_dim, mul, solve, sub, symbols





def layout(node, rank: int):
    """(channel axis, spatial axes) for a layer's data_format (channels_last by default)."""
    if (node.attr("data_format") or "channels_last") == "channels_first":
        return 1, tuple(range(2, rank))
    return rank - 1, tuple(range(1, rank - 1))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _per_axis(v, n: int, default, what: str = "") -> tuple:
    """A Keras int-or-tuple argument (strides, dilation_rate, size, …) as n ints; ValueError when
    it is not integers (the config is hand-edited or corrupt: the layer's output is unknown)."""
    if v is None:
        return (default,) * n
    if _is_int(v):
        return (v,) * n
    if not isinstance(v, (tuple, list)) or not all(map(_is_int, v)):
        raise ValueError(f"{what or 'value'} {list(v) if isinstance(v, tuple) else v!r:.80} are not integers")
    v = tuple(v)
    if len(v) == 1 and n > 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"{v} does not have {n} entries")
    return v


def _window(node, x):
    """(channel axis, spatial axes, kernel, strides, dilations, padding) of a conv or pool layer,
    validated against the input rank."""
    kernel = raw = node.attr("kernel_size") if node.attr("kernel_size") is not None else node.attr("pool_size")
    kernel = (kernel,) if isinstance(kernel, int) else tuple(kernel) if isinstance(kernel, (tuple, list)) else None
    rank = len(x)
    ch, spatial = layout(node, rank)
    n = len(spatial)
    kernel = _per_axis(kernel, n, None) if kernel is not None else None
    if n < 1 or kernel is None or any(not isinstance(k, int) or k < 1 for k in kernel):
        raise ValueError(f"kernel_size {raw!r:.80} is not {n} positive integers (the input has rank {rank})")
    strides = _per_axis(node.attr("strides"), n, None, "strides")
    if strides[0] is None:  # pools: strides=None means the pool size
        strides = kernel
    dil = _per_axis(node.attr("dilation_rate"), n, 1, "dilation_rate")
    for what, values in (("strides", strides), ("dilation_rate", dil)):
        if any(not isinstance(v, int) or isinstance(v, bool) for v in values):
            raise ValueError(f"{what} {list(values)!r:.80} are not integers")
        if any(v < 1 for v in values):
            raise ValueError(f"{what} {list(values)!r:.80}: not positive")
    padding = str(node.attr("padding") or "valid").lower()
    return ch, spatial, kernel, strides, dil, padding


def _forward_spatial(i, k, s, d, padding):
    if padding in ("same", "causal"):
        return sizes.same_out(i, s)
    if padding == "valid":
        return sizes.tf_window_out(i, k, s, d, 0, 0)  # TF's arithmetic: Keras checks, then calls TF
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
    limits.transposed_strides(strides)
    if padding not in ("same", "valid"):
        raise ValueError(f"padding {padding!r}")
    op = node.attr("output_padding")
    ops = (None,) * len(spatial) if op is None else _per_axis(op, len(spatial), 0, "output_padding")
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
    factors = _per_axis(ctx.attr("size", 2), len(spatial), 2, "size")
    out = list(x)
    for f, a in zip(factors, spatial):
        out[a] = mul(x[a], f)
    return _out(tuple(out))


def _pairs(v, n: int) -> tuple:
    """ZeroPadding/Cropping amounts as n (begin, end) pairs: 1-D layers store one pair."""
    if _is_int(v):
        return ((v, v),) * n
    if not isinstance(v, (tuple, list)) or not all(_is_int(p) or isinstance(p, (tuple, list)) and all(map(_is_int, p))
                                                  for p in v):
        raise ValueError(f"padding/cropping {v!r:.80} is not integers or pairs of integers")
    v = tuple(v)
    if n == 1 and len(v) == 2 and all(_is_int(p) for p in v):
        return (v,)
    out = tuple((p, p) if _is_int(p) else tuple(p) for p in v)
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
    if sorted(dims) != list(range(1, len(x))):
        raise ValueError(f"dims {list(dims)!r:.80} is not a permutation of the axes 1…{len(x) - 1}")
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


def _layer_scale(ctx):
    """keras.applications' ConvNeXt ``LayerScale`` (the loader's op "LayerScale": Keras's own class): ``x * gamma``,
    gamma of shape (projection_dim,), broadcast against the last axis. Where that axis is neither
    projection_dim nor 1 the product fails or depends on a symbol: not followed (unknown)."""
    x = ctx.shape(0)
    dim = ctx.attr("projection_dim")
    if x is None or not _is_int(dim) or not x:
        return _out(None)
    if x[-1] == dim:
        return _out(tuple(x))
    if x[-1] == 1:
        return _out(tuple(x[:-1]) + (dim,))
    return _out(None)


# keras.ops called on Keras tensors in a Functional model (``x + y``): the loader names them ops.<Class>
OPS_BINARY = ("ops.Add", "ops.Subtract", "ops.Multiply")


def _ops_binary(ctx):
    """ops.Add, ops.Subtract, ops.Multiply: with two tensor operands they broadcast as the Add layer
    does (merge_ops checks them); an operand that is no tensor (a Python number or array) is not an
    input the loader keeps, so with one tensor input the result is not followed (unknown)."""
    if len([i for i in ctx.node.inputs if i]) != 2:
        return _out(None)
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None:
        return _out(None)
    return _out(_onnx.broadcast_shapes([a, b]))


# recurrent layers: how many state tensors return_state adds (h; LSTM's h and c)
RECURRENT_STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}


def _frozen(v, key, default=None):
    """``key`` of a nested config the loader froze into (key, value) pairs."""
    if isinstance(v, tuple):
        for pair in v:
            if isinstance(pair, tuple) and len(pair) == 2 and pair[0] == key:
                return pair[1]
    return default


def _recurrent_shapes(op, cfg, x) -> list:
    """LSTM / GRU / SimpleRNN on x [batch, time, features]: [batch, time, units] with
    return_sequences, else [batch, units]; return_state adds the states, [batch, units] each."""
    units = cfg("units")
    if op not in RECURRENT_STATES or not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise _v.Unknown(f"{op}: no positive integer units")
    if len(x) != 3:
        raise ValueError(f"{op}: input of rank {len(x)}, must be 3 ([batch, time, features])")
    seq = (x[0], x[1], units) if cfg("return_sequences", False) else (x[0], units)
    return [seq] + [(x[0], units)] * (RECURRENT_STATES[op] if cfg("return_state", False) else 0)


def _recurrent(ctx):
    x = ctx.shape(0)
    if x is None:
        return [(None, None)] * len(ctx.node.outputs)
    shapes = _recurrent_shapes(ctx.node.op, ctx.node.attr, x)
    return [(shapes[j] if j < len(shapes) else None, None) for j in range(len(ctx.node.outputs))]


def _bidirectional(ctx):
    """Bidirectional(LSTM/GRU/SimpleRNN), the backward layer as saved (Keras 3 always saves one)
    or a copy of the forward one: merge_mode concat (the default) adds the two widths, sum, mul
    and ave need them equal; return_state gives the forward states, then the backward ones.
    merge_mode None (two outputs) abstains."""
    x = ctx.shape(0)
    mode = ctx.attr("merge_mode", "concat")
    if mode not in ("concat", "sum", "mul", "ave"):
        raise _v.Unknown(f"Bidirectional with merge_mode {mode!r}")
    if x is None:
        return [(None, None)] * len(ctx.node.outputs)
    layers = [ctx.attr("layer"), ctx.attr("backward_layer") or ctx.attr("layer")]
    got = [_recurrent_shapes(_frozen(v, "class_name"), lambda k, d=None, v=v: _frozen(_frozen(v, "config"), k, d), x)
           for v in layers]
    (fwd, *fwd_states), (bwd, *bwd_states) = got
    if len(fwd) != len(bwd) or (mode != "concat" and fwd[-1] != bwd[-1]):
        raise ValueError("Bidirectional: the forward and backward layers do not merge")
    merged = fwd[:-1] + ((fwd[-1] + bwd[-1]) if mode == "concat" else fwd[-1],)
    shapes = [merged] + fwd_states + bwd_states
    return [(shapes[j] if j < len(shapes) else None, None) for j in range(len(ctx.node.outputs))]


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
    "LayerScale": _layer_scale,
    **{op: _ops_binary for op in OPS_BINARY},
    **{op: _recurrent for op in RECURRENT_STATES},
    "Bidirectional": _bidirectional,
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
    text = f"Keras Conv2DTranspose(padding=\"{pad}\", output_padding=None) gives {fmt_dim(none)}"
    if isinstance(p, int) and 0 <= p < ax["s"]:
        text += f", output_padding={p} gives {fmt_dim(ax['o'])}"
    return text


# --------------------------------------------------------------------------- SL001/SL002's facts
# Keras computes the output size itself (sizes.keras_conv_transpose_out) and hands it to
# ``tf.nn.conv_transpose`` as ``output_shape``; TensorFlow accepts it only when the forward conv maps
# it back to the input size (sizes.tf_admissible). Keras's formula can leave that range: with an even
# kernel, ``padding="same"`` and ``output_padding=0`` it gives (i−1)·s, one below the smallest
# admissible size, and TF fails at run time (on CPU with oneDNN's "could not create a primitive
# descriptor"). ``output_padding=None`` and ``0`` are different sizes (tensorflow#50168).

_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
MAX_STRIDE = limits.MAX_TRANSPOSED_STRIDE  # larger strides are not listed size by size


def keras_params(inf, node):
    """(x shape, per-spatial-axis dicts with name, admissible low/high) or None."""
    x = inf.shape(node.input(0))
    if x is None:
        return None
    try:
        _ch, axes = transpose_params(node, x)
    except (ValueError, TypeError):
        return None
    names = _AXIS_NAMES.get(len(axes), tuple(str(ax["axis"]) for ax in axes))
    for j, ax in enumerate(axes):
        adm = sizes.tf_admissible(ax["i"], ax["k"], ax["s"], ax["d"], ax["padding"].upper())
        ax.update(name=names[j], low=adm.low, high=adm.high)
    return x, axes


def choices(ax) -> list:
    """Per admissible size: (size, the output_paddings that select it: None and/or ints in
    0…s−1; empty when no output_padding of this kernel and padding gives it)."""
    i, k, s, d, padding = ax["i"], ax["k"], ax["s"], ax["d"], ax["padding"]
    none = sizes.keras_conv_transpose_out(i, k, s, d, padding, None)
    zero = sizes.keras_conv_transpose_out(i, k, s, d, padding, 0)
    out = []
    for j in range(s):
        size = add(ax["low"], j)
        p = sub(size, zero)
        picks = [None] if size == none else []
        if isinstance(p, int) and 0 <= p < s:
            picks.append(p)
        out.append((size, picks))
    return out


def _fmt_choices(ax) -> str:
    parts = []
    for size, picks in choices(ax):
        if not picks:
            parts.append(f"{fmt_dim(size)} (no output_padding gives it)")
        else:
            parts.append(f"output_padding={' or '.join(str(p) for p in picks)} gives {fmt_dim(size)}")
    return "; ".join(parts)


def _fix(axes, bad) -> str:
    """The output_padding tuple that keeps every admissible axis and moves the bad one(s) into
    range: None when every axis's default is admissible, else the nearest working ints."""
    picks = []
    for ax in axes:
        opts = [p for _size, ps in choices(ax) for p in ps]
        if ax in bad:
            ints = [p for p in opts if isinstance(p, int)]
            cur = ax["output_padding"] if isinstance(ax["output_padding"], int) else 0
            picks.append(min(ints, key=lambda p: abs(p - cur)) if ints else None)
        else:
            picks.append(ax["output_padding"])
    if all(p is None for p in picks):
        return "output_padding=None"
    if any(p is None for p in picks):  # Keras takes None for every axis or ints for every axis
        return ""
    return f"output_padding={tuple(picks) if len(picks) > 1 else picks[0]}"


def transposed_rejects(inf, node, stopped=None) -> list:
    """SL001: an output_padding Keras rejects, or an output size outside the sizes TF accepts for
    the input size. TF checks the size only when the output is not empty: where Keras's size is 0
    (an even kernel, "same", output_padding=0 at input 1), TF returns an empty tensor instead of
    failing (measured)."""
    got = keras_params(inf, node)
    if got is None:
        return []
    axes = got[1]
    if any(ax["s"] > MAX_STRIDE for ax in axes):
        return []
    empty = [a for a in axes if a["o"] == 0]  # fixed sizes only: an empty output, no TF check
    for ax in axes:
        o, low, s, p = ax["o"], ax["low"], ax["s"], ax["output_padding"]
        dil = f", dilation {ax['d']}" if ax["d"] != 1 else ""
        what = f"kernel {ax['k']}, stride {s}{dil}, padding \"{ax['padding']}\", output_padding={p}"
        if p is not None and not 0 <= p < s:
            return [TransposedIssue(
                f"{node.op} '{node.name}': output_padding {p} on {ax['name']} is not in 0…{s - 1} (stride {s}): "
                f"Keras refuses to build the layer (keras.saving.load_model raises ValueError)",
                f"set output_padding to a value in 0…{s - 1}, or None: {_fmt_choices(ax)}",
                {"axis": ax["axis"], "output_padding": p, "strides": s})]
        inside = sizes.within_admissible(o, low, s)
        if inside is None or inside is True or isinstance(inside, tuple) and inside[1].is_everything():
            continue
        works = None if inside is False else inside[1]
        ok_sizes = ", ".join(fmt_dim(add(low, j)) for j in range(s))
        cond = "" if works is None else f"; it runs only for {works.describe(inside[0])}"
        bad = [a for a in axes if not _admissible(a)]
        fix = _fix(axes, bad)
        severity = "error" if works is None else "warning"
        outcome = ("TensorFlow's conv_transpose fails at run time (on CPU: oneDNN \"could not create a "
                   "primitive descriptor\")")
        if empty:
            severity = "warning"
            outcome = (f"{empty[0]['name']} is 0, so TensorFlow returns an empty tensor instead of failing; with a "
                       f"non-empty output, TensorFlow's conv_transpose would fail")
        else:
            nonempty = _nonempty(o)
            if nonempty is not None:
                outcome += f" for every {nonempty} (below, Keras's size is 0 and TF returns an empty tensor)"
        return [TransposedIssue(
            f"{node.op} '{node.name}': Keras sizes {ax['name']} to {fmt_dim(o)} from input {ax['name']}="
            f"{fmt_dim(ax['i'])} ({what}), outside the admissible {{{ok_sizes}}}: {outcome}{cond}",
            (f"{node.op}(..., {fix}); per axis: " if fix else "") + _fmt_choices(ax),
            {"axis": ax["axis"], "output": fmt_dim(o), "input": fmt_dim(ax["i"]),
             "output_padding": p, "admissible": [fmt_dim(add(low, j)) for j in range(s)], "fix": fix},
            severity)]
    return []


def _nonempty(o):
    """For a symbolic size o of one symbol: the description of the sizes where o ≥ 1, when that is
    not every size; else None."""
    syms = symbols(o)
    if len(syms) != 1:
        return None
    (name,) = syms
    try:
        ss = solve([o], PositivePred(), name)
    except Undecidable:
        return None
    return None if ss.is_everything() else ss.describe(name)


def _admissible(ax) -> bool:
    lo_d, hi_d = sub(ax["o"], ax["low"]), sub(add(ax["low"], ax["s"] - 1), ax["o"])
    return isinstance(lo_d, int) and isinstance(hi_d, int) and lo_d >= 0 and hi_d >= 0


def transposed_choices(inf, node) -> list:
    """SL002's facts: the size Keras picks and the output_padding that selects each admissible one."""
    got = keras_params(inf, node)
    if got is None:
        return []
    return [TransposedChoice(ax["axis"], ax["name"], ax["i"], ax["s"], ax["low"], ax["o"], "Keras picks",
                             _fmt_choices(ax), shown=f" (kernel {ax['k']}, padding \"{ax['padding']}\")",
                             after=f" (output_padding={ax['output_padding']})",
                             extra=(("output_padding", ax["output_padding"]),
                                    ("choices", [[fmt_dim(size), picks] for size, picks in choices(ax)])))
            for ax in got[1]]


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


def _fit_axes(axes, rank) -> tuple:
    """(spatial axes, rank) of the tensors at a merge, channels_last 2-D when not known."""
    axes = tuple(axes or ())
    if not axes:
        return (1, 2), 4
    return axes, rank or max(axes) + 2


def crop_fix(up, axes=None, rank=None) -> str:
    """The model-code change that removes a size restriction at a merge: a small layer that fits
    the upsampled tensor to the skip's run-time size, per spatial axis by the sign of the
    difference -- cropped where it is larger (after a strided "same" conv, 2·ceil(H/2) ≥ H),
    zero-padded at the end where it is smaller (after a "valid" pool, 2·floor(H/2) ≤ H). Keras 3
    ops only (tf.shape() on a KerasTensor raises in a Functional model); ``tests/test_keras_fit.py``
    execs this very text in Keras models with dynamic H, W and runs them at every size 1–64."""
    axes, rank = _fit_axes(axes, rank)
    crop = ", ".join(f":s[{a}]" if a in axes else ":" for a in range(rank))
    pads = ", ".join(f"[0, grow[{axes.index(a)}]]" if a in axes else "[0, 0]" for a in range(rank))
    listed = ", ".join(map(str, axes)) + ("," if len(axes) == 1 else "")
    named = f" ('{up.name}')" if up is not None else ""
    return ("or remove the restriction in the model code: before merging, fit the upsampled tensor"
            f"{named} to the skip tensor's run-time size, per spatial axis: crop where it is larger, "
            "zero-pad at the end where it is smaller, in a small layer:\n"
            "    class FitTo(keras.layers.Layer):\n"
            "        def call(self, u, skip):\n"
            "            s, t = keras.ops.shape(skip), keras.ops.shape(u)\n"
            f"            u = u[{crop}]   # crop where u is larger\n"
            f"            grow = [keras.ops.maximum(s[a] - t[a], 0) for a in ({listed})]\n"
            f"            return keras.ops.pad(u, [{pads}])   # pad where u is smaller\n"
            "    u = FitTo()(u, skip)")


def static_fit(up, tensor: str, sizes: dict, axes=None, rank=None, before: str = "the merge"):
    """At fixed sizes: the Keras layers that crop or zero-pad the upsampled tensor ``tensor`` at the
    end of each spatial axis to the skip's size (``sizes``: axis -> (its size, the skip's)), as
    statements to paste before the merge; None where no such layer exists (rank)."""
    axes, rank = _fit_axes(axes, rank)
    n = len(axes)
    if not 1 <= n <= 3 or not sizes or any(a not in axes for a in sizes):
        return None
    diff = [sizes[a][1] - sizes[a][0] if a in sizes else 0 for a in axes]
    tail = ", data_format=\"channels_first\"" if axes[0] == 2 else ""  # (channels_last: 1 …)
    out = []
    for layer, amounts in (("Cropping", [max(-d, 0) for d in diff]), ("ZeroPadding", [max(d, 0) for d in diff])):
        if not any(amounts):
            continue
        pairs = [f"(0, {v})" for v in amounts]
        arg = pairs[0] if n == 1 else f"({', '.join(pairs)})"
        out.append(f"u = keras.layers.{layer}{n}D({arg}{tail})(u)")
    grown = ", ".join(f"axis {a}: {have} → {want}" for a, (have, want) in sorted(sizes.items()))
    return f"fit '{tensor}' to the skip ({grown}) in the model code, before '{before}': " + "; ".join(out)


# A Conv2D whose output has a spatial size 0 from a non-empty input, measured with Keras 3.15 on TF 2.21
# (tests/test_tf_zoo.py::test_keras_conv2d_at_zero_fails_in_both_builds): without oneDNN, Keras's own
# check raises ("The convolution operation resulted in an empty output"); with it, TF hands back the
# conv's input unchanged (Cin channels where Cout were meant), and the model then fails only if
# something checks the channel count: the conv's bias add (Cin and Cout both > 1: "Incompatible
# shapes"), or a next layer whose input spec fixes the last axis (Conv2D, DepthwiseConv2D,
# BatchNormalization, Dense: "is incompatible with the layer"). Elsewhere (Cin = Cout, a ReLU next) it
# runs on the wrong tensor: shapelint abstains (erratic_at_zero).
CHANNEL_CHECKED = frozenset({"Conv2D", "DepthwiseConv2D", "BatchNormalization", "Dense"})


def _checks_last_axis(node, rank: int) -> bool:
    """Whether a CHANNEL_CHECKED layer's input spec fixes the last axis (as measured: channels_last
    convs, BatchNormalization over the last axis, Dense)."""
    if node.op == "BatchNormalization":
        axis = node.attr("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        return axis in (-1, rank - 1)
    return node.op == "Dense" or layout(node, rank)[0] == rank - 1


def conv_fails_at_zero(inf, node) -> str:
    """Why a Keras Conv2D whose output is 0 on a spatial axis fails in both builds, or ""."""
    if node.op != "Conv2D" or not node.outputs:
        return ""
    x, y = inf.shape(node.input(0)), inf.shape(node.outputs[0])
    if x is None or y is None or not all(_is_int(d) for d in tuple(x) + tuple(y)) or 0 in x:
        return ""
    c_axis, axes = layout(node, len(y))
    if c_axis != len(y) - 1 or not any(y[a] == 0 for a in axes):
        return ""  # channels_first: not measured
    cin, cout = x[c_axis], y[c_axis]
    if cin == cout:
        return ""
    with_onednn = ""
    if node.attr("use_bias", True) and cin != 1 and cout != 1:
        with_onednn = f"its bias add of {cout} channels to the {cin} it gets (\"Incompatible shapes\")"
    else:
        users = inf.memo.get("keras_users")
        if users is None:
            users = inf.memo["keras_users"] = {}
            for n in inf.graph.nodes:
                if n.inputs and n.inputs[0]:
                    users.setdefault(n.inputs[0], []).append(n)
        checked = [n for n in users.get(node.outputs[0], ()) if n.op in CHANNEL_CHECKED and _checks_last_axis(n, len(y))]
        if checked:
            with_onednn = (f"{checked[0].op} '{checked[0].name}', which expects {cout} channels and gets {cin} "
                           f"(\"is incompatible with the layer\")")
    if not with_onednn:
        return ""
    return ("Keras raises \"The convolution operation resulted in an empty output\"; with oneDNN "
            f"(TF_ENABLE_ONEDNN_OPTS=1) TensorFlow hands back the conv's input instead, and {with_onednn} fails")


DIALECT = Dialect(
    "keras", ("keras",), "TensorFlow",
    shape_rules=KERAS_RULES,
    int_attrs=IntAttrs(scalars={"filters", "units", "output_dim", "n", "depth_multiplier", "height", "width"},
                       lists={"target_shape", "dims"}),
    merge_ops={"Concatenate": "equal", **{op: "broadcast" for op in ELEMENTWISE_LAYERS + OPS_BINARY}},
    # a window larger than its input, measured with Keras 3.15 on TF 2.21 (docs/soundness-and-zoo.md):
    # TF's arithmetic; a negative size fails. At 0 AveragePooling2D gives an empty tensor, MaxPooling2D
    # too, or with oneDNN sometimes an AbortedError; Conv2D raises
    # a ValueError of its own without oneDNN, but with it (TF_ENABLE_ONEDNN_OPTS=1) TF hands back the
    # conv's input unchanged and the bias add fails or not by the channel count; DepthwiseConv2D
    # gives an empty tensor or its input: shapelint abstains there, and after an empty tensor. The
    # layers not measured (1-D, 3-D, separable) keep abstaining below their window.
    pool_ops=frozenset({"Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D"}),
    erratic_at_zero=frozenset({"Conv2D", "DepthwiseConv2D", "MaxPooling2D"}),
    fails_at_zero=conv_fails_at_zero,
    erratic_ops=frozenset(CONV_LAYERS + POOL_LAYERS) - {"Conv2D", "DepthwiseConv2D", "MaxPooling2D",
                                                        "AveragePooling2D"},
    contract_below_windows=True,
    empty_window="Keras does not fail here in every build: AveragePooling2D returns an empty tensor, "
                 "MaxPooling2D too (with oneDNN sometimes an AbortedError); a conv raises without oneDNN, but "
                 "with it (TF_ENABLE_ONEDNN_OPTS=1) TensorFlow hands back the conv's input unchanged; what "
                 "follows works on nothing or on the wrong tensor",
    spatial_axes=spatial_axes,
    pass_through=frozenset({"Activation", "ReLU", "LeakyReLU", "Softmax", "Rescaling", "Normalization",
                            "LayerNormalization", "GroupNormalization", "SpatialDropout2D", "GaussianNoise", "Subtract",
                            "Multiply", "Average", "Add", "Dropout", "BatchNormalization", "Identity"}),
    upsamplers=frozenset(TRANSPOSED_LAYERS + ("UpSampling1D", "UpSampling2D", "UpSampling3D")),
    crop_fix=crop_fix,
    static_fit=static_fit,
    # Conv{1,2,3}DTranspose: Keras computes the size itself and hands it to TF as output_shape
    transposed_ops=frozenset(TRANSPOSED_LAYERS),
    transposed_axes=transposed_axes,
    transposed_rejects=transposed_rejects,
    transposed_choices=transposed_choices,
)
