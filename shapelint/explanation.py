"""``shapelint explain``: for one transposed convolution, its input size, the admissible output
sizes, the one it produces and why, and what each framework's convention would produce.

Reads the inferred graph like a check does; the arithmetic is sizes.py's.
"""

from __future__ import annotations


from . import sizes
from .trace import fmt_dim
from .frameworks import TransposedAxis as Axis, dialect
from .infer import Inferred
from .symbolic import add, mul, sub


def transposed_convs(inf: Inferred) -> list:
    return [n for n in inf.graph.nodes if n.op in dialect(n).transposed_ops]


def _axes(inf: Inferred, node) -> list:
    reader = dialect(node).transposed_axes
    return reader(inf, node) if reader is not None else []


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
