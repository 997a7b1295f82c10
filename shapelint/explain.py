"""``shapelint explain``: for one transposed convolution, its input size, the admissible output
sizes, the one it produces and why, and what each framework's convention would produce.

Reads the inferred graph like a check does; the arithmetic is sizes.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import sizes
from .checks._trace import fmt_dim
from .analysis import TF_TRANSPOSED, tf_params
from .frameworks.onnx import convtranspose_params, convtranspose_spatial
from .infer import Inferred
from .frameworks.keras import transpose_params
from .symbolic import add, mul, sub


@dataclass(frozen=True)
class Axis:
    name: str
    i: object
    k: int
    s: int
    d: int
    pb: int
    pe: int
    padding: str  # "pads" (explicit), "VALID", "SAME"
    produced: object
    why: str


KERAS_TRANSPOSED = ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
TFLITE_TRANSPOSED = ("TRANSPOSE_CONV",)


def transposed_convs(inf: Inferred) -> list:
    return [n for n in inf.graph.nodes
            if (n.op == "ConvTranspose" and n.domain in ("", "ai.onnx")) or (n.domain == "tf" and n.op in TF_TRANSPOSED)
            or (n.domain == "keras" and n.op in KERAS_TRANSPOSED) or (n.domain == "tflite" and n.op in TFLITE_TRANSPOSED)]


def _axes(inf: Inferred, node) -> list:
    out = []
    if node.domain == "keras":
        x = inf.shape(node.input(0))
        if x is None:
            return out
        _ch, axes = transpose_params(node, x)
        names = "DHW"[-len(axes):] if len(axes) <= 3 else [str(ax["axis"]) for ax in axes]
        for j, ax in enumerate(axes):
            op = ax["output_padding"]
            out.append(Axis(names[j], ax["i"], ax["k"], ax["s"], ax["d"], 0, 0, ax["padding"].upper(), ax["o"],
                            f"Keras's rule for padding=\"{ax['padding']}\", output_padding={op}"))
        return out
    if node.domain == "tflite":
        x, w, o = inf.shape(node.input(2)), inf.shape(node.input(1)), inf.value(node.input(0))
        if x is None or w is None or len(x) != 4 or len(w) != 4:
            return out
        for a, name, key in ((1, "H", "stride_h"), (2, "W", "stride_w")):
            out.append(Axis(name, x[a], w[a], node.attr(key, 1), 1, 0, 0, node.attr("padding", "VALID"),
                            o[a] if o is not None else None, "the output_shape tensor says so"))
        return out
    if node.op == "ConvTranspose":
        x, w = inf.shape(node.input(0)), inf.shape(node.input(1))
        if x is None or w is None:
            return out
        p = convtranspose_params(node, x, w)
        n = p["n_spatial"]
        try:
            produced = convtranspose_spatial(x, p)
        except (ValueError, IndexError):
            produced = (None,) * n
        for a in range(n):
            name = "DHW"[-n:][a] if n <= 3 else str(a)
            if p["output_shape"] is not None:
                why = f"output_shape={list(p['output_shape'])} says so"
            elif p["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
                why = f"auto_pad={p['auto_pad']}: min(i·s, (i−1)·s + K + output_padding)"
            else:
                why = (f"s·(i−1) + K − pads + output_padding = {p['strides'][a]}·({fmt_dim(x[2 + a])}−1) + "
                       f"{sizes.effective_kernel(p['kernel'][a], p['dilations'][a])} − {p['pads'][a] + p['pads'][a + n]}"
                       f" + {p['output_padding'][a]}")
            padding = "VALID" if p["auto_pad"] == "VALID" else ("SAME" if p["auto_pad"].startswith("SAME") else "pads")
            pb, pe = (0, 0) if padding != "pads" else (p["pads"][a], p["pads"][a + n])
            out.append(Axis(name, x[2 + a], p["kernel"][a], p["strides"][a], p["dilations"][a], pb, pe, padding,
                            produced[a], why))
        return out
    got = tf_params(inf, node)
    for ax in (got[1] if got is not None else ()):
        out.append(Axis(ax["name"], ax["i"], ax["k"], ax["s"], ax["d"], ax["pb"], ax["pe"],
                        ax["padding"] if ax["padding"] != "EXPLICIT" else "pads", ax["o"],
                        "input_sizes (output_shape) says so"))
    return out


def _admissible(ax: Axis):
    if ax.padding == "SAME":
        return sizes.Admissible(add(mul(ax.s, sub(ax.i, 1)), 1), ax.s)
    return sizes.admissible(ax.i, ax.k, ax.s, ax.d, ax.pb, ax.pe)


def explain(inf: Inferred, node) -> list:
    """Text lines; axes with the same story (H and W of a square kernel) are told once."""
    lines = [f"{node.op} '{node.name}'"]
    blocks: list = []  # (names, body lines)
    for ax in _axes(inf, node):
        body = _axis_lines(ax)
        generic = [line.replace(fmt_dim(ax.i), "i") for line in body]
        for names, other, other_generic in blocks:
            if other_generic == generic and not isinstance(ax.i, int):
                names.append(ax.name)
                break
            if other == body:
                names.append(ax.name)
                break
        else:
            blocks.append(([ax.name], body, generic))
    for names, body, _ in blocks:
        lines.append(f"  {', '.join(names)}: {body[0]}")
        lines.extend(body[1:])
    return lines


def _axis_lines(ax: Axis) -> list:
    lines = []
    if ax.s > 64:
        return [f"input {fmt_dim(ax.i)}, kernel {ax.k}, stride {ax.s}: {ax.s} admissible sizes, too many to list",
                f"    this node produces {fmt_dim(ax.produced)}: {ax.why}"]
    adm = _admissible(ax)
    K = sizes.effective_kernel(ax.k, ax.d)
    options = [fmt_dim(v) for v in adm.sizes()]
    lines.append(f"input {fmt_dim(ax.i)}, kernel {ax.k}, stride {ax.s}, dilation {ax.d}, "
                 f"padding {ax.padding if ax.padding != 'pads' else f'pads {ax.pb}+{ax.pe}'}")
    lines.append(f"    admissible output sizes: {{{', '.join(options)}}} (every o whose forward conv gives back "
                 f"{fmt_dim(ax.i)})")
    inside = ""
    if ax.produced is not None:
        d = sub(ax.produced, adm.low)
        if isinstance(d, int):
            inside = " (admissible)" if 0 <= d < ax.s else " (NOT admissible: the runtime rejects it)"
    lines.append(f"    this node produces {fmt_dim(ax.produced)}{inside}: {ax.why}")
    lines.append("    what each convention gives for this input:")
    if ax.padding == "SAME":
        lines.append(f"      ONNX auto_pad=SAME_UPPER/LOWER (onnxruntime): "
                     f"{fmt_dim(sizes.onnx_convtranspose_same_out(ax.i, ax.k, ax.s, ax.d, 0))}")
    sym_pad = ax.pb if ax.pb == ax.pe else None
    for j in range(ax.s):
        v = add(adm.low, j)
        torch = (f"PyTorch ConvTranspose(padding={sym_pad}, output_padding={j})" if sym_pad is not None
                 and ax.padding != "SAME" else f"PyTorch output_padding={j} (with matching padding)")
        lines.append(f"      ONNX output_padding={j} / {torch}: {fmt_dim(v)}")
    for pad in ("valid", "same"):
        none = sizes.keras_conv_transpose_out(ax.i, ax.k, ax.s, ax.d, pad, None)
        lines.append(f"      Keras Conv2DTranspose(padding=\"{pad}\") (output_padding=None): {fmt_dim(none)}")
        base = add(mul(ax.s, sub(ax.i, 1)), K if pad == "valid" else K - 2 * (K // 2))
        tf_low = sizes.tf_admissible(ax.i, ax.k, ax.s, ax.d, pad.upper()).low
        picks = []
        for j in range(ax.s):
            v = add(base, j)
            off = sub(v, tf_low)
            tag = "" if isinstance(off, int) and 0 <= off < ax.s else " (TF rejects)"
            picks.append(f"{j} → {fmt_dim(v)}{tag}")
        lines.append(f"        with output_padding: {', '.join(picks)}")
    lines.append(f"      TF tf.nn.conv2d_transpose(output_shape=…): any of {{{', '.join(options)}}}"
                 + ("" if ax.padding != "pads" else " (with matching explicit padding)") + "; others fail at run time")
    return lines
