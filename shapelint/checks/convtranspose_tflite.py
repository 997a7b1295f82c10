"""SL001/SL002 for TFLite's transposed convolutions: TRANSPOSE_CONV and MediaPipe's
Convolution2DTransposeBias custom op.

TRANSPOSE_CONV(output_shape, weights OHWI, input, [bias]) sizes its output to the int32
``output_shape`` as given. The sizes that fit are TF's (sizes.tf_admissible: the forward conv of
the output gives back the input), but TFLite does not check: measured with TF 2.21's interpreter
without delegates, every size >= 0 runs and returns a tensor of the requested size. Its kernel
(transpose_conv.cc, then Col2im) derives the input extent from the output -- forward(o), what a
forward conv of ``o`` gives -- instead of reading it, so for an inadmissible ``o`` the values are
wrong: columns misaligned when the widths differ, input rows dropped when forward(o) is smaller,
and reads past the end of its buffer (garbage) when it is larger. Only a negative size fails
("BytesRequired number of elements overflowed", TRANSPOSE_CONV failed to prepare). So an
inadmissible size is a warning that says what happens, a negative one an error.
"""

from __future__ import annotations

from .. import sizes
from ..findings import Violation
from ..frameworks.tflite import mediapipe_transpose_conv_bias_out
from ..analysis import within_admissible
from ..symbolic import PositivePred, Undecidable, add, solve, sub, symbols
from ._context import CheckContext
from ..trace import fmt_dim
from ..frameworks.keras import keras_output_padding
from .convtranspose_tf import admits

DOMAIN = "tflite"
TRANSPOSE_CONV = "TRANSPOSE_CONV"
MEDIAPIPE = "Convolution2DTransposeBias"
_AXES = ((1, "H", "stride_h"), (2, "W", "stride_w"))
MAX_STRIDE = 64  # beyond, a stride is a corrupt option, not a model: the checks skip the node


def _forward(o: int, k: int, s: int, padding: str) -> int:
    """TFLite's ComputeOutSize, C integer division: the input extent its kernel assumes."""
    if padding == "SAME":
        return (o + s - 1) // s
    n = o + s - k
    return (abs(n) // s) * (1 if n >= 0 else -1)


def tflite_params(ctx: CheckContext, node):
    """(x shape, output_shape value, per-axis dicts) for a TRANSPOSE_CONV, or None."""
    x, w, out = ctx.shape(node.input(2)), ctx.shape(node.input(1)), ctx.inferred.value(node.input(0))
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


def _shape_fix(out, axes) -> list:
    """output_shape with every spatial axis clamped into its admissible range (where concrete)."""
    fix = [fmt_dim(v) for v in out]
    for ax in axes:
        lo = sub(ax["o"], ax["low"])
        if isinstance(lo, int):
            fix[ax["axis"]] = fmt_dim(add(ax["low"], min(max(lo, 0), ax["s"] - 1)))
    return fix


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


def check_invalid(ctx: CheckContext):
    """SL001 (TFLite): a TRANSPOSE_CONV output_shape outside the sizes whose forward conv gives back the
    input (a warning: TFLite runs with wrong values), or negative (an error: it fails to prepare)."""
    for node in ctx.graph.nodes:
        if node.domain != DOMAIN or node.op != TRANSPOSE_CONV:
            continue
        got = tflite_params(ctx, node)
        if got is None:
            continue
        x, out, axes = got
        negative = [a for a, v in enumerate(out) if isinstance(v, int) and v < 0]
        if negative:
            a = negative[0]
            yield Violation(
                node.name,
                node.op,
                f"{node.op} '{node.name}': output_shape {[fmt_dim(v) for v in out]} has the negative dim "
                f"{out[a]} at axis {a}: the TFLite interpreter fails to prepare it (\"BytesRequired number of "
                f"elements overflowed\")",
                f"give output_shape=[{', '.join(_shape_fix(out, axes))}]",
                (),
                {"axis": a, "output": fmt_dim(out[a])},
            )
            continue
        bad = []
        for ax in axes:
            inside = within_admissible(ax["o"], ax["low"], ax["s"])
            if inside is False:
                bad.append((ax, None))
            elif isinstance(inside, tuple) and not inside[1].is_everything():
                bad.append((ax, inside))
        if not bad:
            continue
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
        yield Violation(
            node.name,
            node.op,
            f"{node.op} '{node.name}': {where} is outside the admissible {{{ok_sizes}}}{cond}. {what}{tf_too}",
            f"ask for one of {{{ok_sizes}}}: "
            f"tf.nn.conv2d_transpose(..., output_shape=[{', '.join(_shape_fix(out, axes))}])"
            + (f"; {keras}" if keras else ""),
            (),
            {"axis": ax["axis"], "output": fmt_dim(ax["o"]), "input": fmt_dim(ax["i"]),
                     "admissible": [fmt_dim(add(ax["low"], j)) for j in range(ax["s"])],
                     "runs": True, "works": None if sym is None else sym[1].describe(sym[0])},
            severity="warning",
        )


def check_ambiguous(ctx: CheckContext):
    """SL002 (TFLite), info: the admissible sizes of a stride > 1 transposed conv and the one chosen --
    by output_shape (TRANSPOSE_CONV) or by MediaPipe's own formula (Convolution2DTransposeBias)."""
    for node in ctx.graph.nodes:
        if node.domain != DOMAIN:
            continue
        if node.op == TRANSPOSE_CONV:
            got = tflite_params(ctx, node)
            if got is None:
                continue
            axes = got[2]
            chooser = "output_shape picks"
        elif node.op == MEDIAPIPE:
            axes = _mediapipe_axes(ctx, node)
            if axes is None:
                continue
            chooser = "MediaPipe's kernel picks s·(i−1) + k − max(0, k − 1 − (i−1) mod s) ="
        else:
            continue
        for ax in axes:
            if ax["s"] <= 1:
                continue
            o, low, s = ax["o"], ax["low"], ax["s"]
            d = sub(o, low)
            if not (isinstance(d, int) and 0 <= d < s) and not _always_inside(o, low, s):
                break  # SL001
            yield admits(node, ax, chooser,
                         (keras_output_padding(ax) or "set output_shape to the size you want")
                         if node.op == TRANSPOSE_CONV else "crop or pad the result to the size the next layer needs")
            break


def _always_inside(o, low, s) -> bool:
    """Whether a symbolic o lies in [low, low + s − 1] for every size of its one symbol."""
    lo_d, hi_d = sub(o, low), sub(add(low, s - 1), o)
    syms = symbols(lo_d, hi_d)
    if len(syms) != 1:
        return False
    (name,) = syms
    try:
        return solve([add(lo_d, 1), add(hi_d, 1)], PositivePred(), name).is_everything()
    except Undecidable:
        return False


def _mediapipe_axes(ctx, node):
    x, w = ctx.shape(node.input(0)), ctx.shape(node.input(1))
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
