"""SL001 invalid-convtranspose and SL002 ambiguous-convtranspose: the node itself.

SL001 -- what onnxruntime rejects: output_padding ≥ stride, a negative output_padding,
auto_pad together with pads, an output_shape above the largest size that maps back to the
input, an output size ≤ 0.
SL002 -- what implementations read differently: auto_pad SAME_* with output_padding (onnx
shape inference says i·s + op, onnxruntime min(i·s, (i−1)·s + K + op)); output_shape beside
pads/output_padding implying another size, or below the admissible range (runs in
onnxruntime, rejected by TensorFlow); and, at info severity, every stride > 1 transposed conv
whose size is picked by a convention (no explicit output_shape).
"""

from __future__ import annotations

from .. import sizes
from ..findings import Violation
from ..frameworks.onnx import convtranspose_params, convtranspose_spatial
from ..symbolic import sub
from ._context import CheckContext
from ..trace import fmt_dim, fmt_shape

AXES = "HW"
MAX_LISTED = 64  # admissible sizes listed one by one up to this stride


def _axis_name(a: int, n: int) -> str:
    if n == 2:
        return "HW"[a]
    if n == 3:
        return "DHW"[a]
    return f"axis {a + 2}"


def _nodes(ctx: CheckContext):
    for node in ctx.graph.nodes:
        if node.op != "ConvTranspose" or node.domain not in ("", "ai.onnx"):
            continue
        if not _integer_attrs(node):
            continue  # attributes of the wrong type: inference noted the node, nothing to compute
        x, w = ctx.shape(node.input(0)), ctx.shape(node.input(1))
        if x is None or w is None or len(x) < 3 or len(w) != len(x):
            continue
        p = convtranspose_params(node, x, w)
        n = p["n_spatial"]
        if len(p["kernel"]) != n or len(p["strides"]) != n or len(p["dilations"]) != n \
                or len(p["pads"]) != 2 * n or len(p["output_padding"]) != n:
            continue
        yield node, x, p


INT_LIST_ATTRS = ("kernel_shape", "strides", "dilations", "pads", "output_padding", "output_shape")


def _integer_attrs(node) -> bool:
    """The size attributes hold integers (a model may store them as floats or strings)."""
    for key in INT_LIST_ATTRS:
        v = node.attr(key)
        if v is not None and (not isinstance(v, tuple) or not all(type(x) is int for x in v)):
            return False
    g = node.attr("group", 1)
    return type(g) is int


def _violation(severity, node, message, suggestion, details, chain=()) -> Violation:
    return Violation(node.name, node.op, message, suggestion, tuple(chain), details, severity)


def _torch_arg(ops) -> str:
    return f"output_padding={tuple(ops) if len(ops) > 1 else ops[0]}"


# --------------------------------------------------------------------------- SL001


def check_invalid(ctx: CheckContext):
    """SL001: attributes and sizes onnxruntime rejects."""
    for node, x, p in _nodes(ctx):
        n = p["n_spatial"]
        ops, strides, dil = p["output_padding"], p["strides"], p["dilations"]
        base = dict(input_shape=fmt_shape(x), strides=list(strides), output_padding=list(ops),
                    dilations=list(dil), kernel=list(p["kernel"]), pads=list(p["pads"]))
        bad = [a for a in range(n) if ops[a] >= strides[a] or ops[a] < 0]
        if bad:
            fixed = [min(max(o, 0), s - 1) for o, s in zip(ops, strides)]
            a = bad[0]
            yield _violation(
                "error", node,
                f"output_padding {list(ops)} is outside 0…stride−1 = 0…{strides[a] - 1} on axis "
                f"{_axis_name(a, n)} (stride {strides[a]}, dilation {dil[a]}): onnxruntime rejects it",
                f"set output_padding to values below the stride, e.g. output_padding={fixed} "
                f"(PyTorch: nn.ConvTranspose{n}d(..., {_torch_arg(fixed)})); "
                f"a larger output needs smaller pads instead",
                base,
            )
            continue
        if p["auto_pad"] != "NOTSET" and node.attr("pads") is not None:
            yield _violation(
                "error", node,
                f"auto_pad={p['auto_pad']} together with pads={list(p['pads'])}: onnxruntime refuses "
                f"to create a session for a ConvTranspose with both",
                "drop one: keep pads and set auto_pad=NOTSET, or remove the pads attribute",
                base,
            )
            continue
        os_ = p["output_shape"]
        if os_ is not None:
            os_ = tuple(os_)
            if len(os_) != n:
                yield _violation(
                    "error", node,
                    f"output_shape {list(os_)} has {len(os_)} element{'s' if len(os_) != 1 else ''}, "
                    f"expected {n} (the spatial sizes): onnxruntime rejects it (\"incorrect size\")",
                    f"give only the spatial sizes: output_shape={list(os_[-n:])}" if len(os_) > n
                    else f"give all {n} spatial sizes in output_shape",
                    base,
                )
                continue
            if any(o < 1 for o in os_):
                yield _violation(
                    "error", node,
                    f"output_shape {list(os_)} has a size below 1: onnxruntime rejects it",
                    "give positive spatial sizes, or drop output_shape and use pads/output_padding",
                    base,
                )
                continue
            for a in range(n):
                o = os_[a]
                i = x[2 + a]
                k, s, d = p["kernel"][a], strides[a], dil[a]
                top = sizes.onnx_convtranspose_max_output_shape(i, k, s, d, ops[a])
                low = sizes.admissible(i, k, s, d, 0, 0).low
                if o < 1 or (isinstance(top, int) and o > top):
                    rng = f"1…{fmt_dim(top)}"
                    yield _violation(
                        "error", node,
                        f"output_shape {_axis_name(a, n)}={o} cannot come from input {_axis_name(a, n)}="
                        f"{fmt_dim(i)} (kernel {k}, stride {s}, dilation {d}): onnxruntime accepts "
                        f"{rng}, and only {fmt_dim(low)}…{fmt_dim(sizes.add(low, s - 1))} without "
                        f"cropping",
                        f"set output_shape {_axis_name(a, n)} to one of {fmt_dim(low)}…"
                        f"{fmt_dim(sizes.add(low, s - 1))}, or make the input {_axis_name(a, n)} larger",
                        dict(base, output_shape=list(os_), axis=a, admissible=[low, low + s - 1]
                             if isinstance(low, int) else None),
                    )
                    break
            continue
        # computed output sizes must be positive (unless the runtime already stopped upstream)
        if node.input(0) in ctx.stops:
            continue
        out = convtranspose_spatial(x, p)
        for a in range(n):
            o = out[a]
            if isinstance(o, int) and o <= 0:
                yield _violation(
                    "error", node,
                    f"output {_axis_name(a, n)} = {o} ≤ 0 for input {_axis_name(a, n)}={fmt_dim(x[2 + a])} "
                    f"(pads {list(p['pads'])} exceed the output): onnxruntime rejects it",
                    "reduce the pads so that s·(i−1) + K + output_padding − pads ≥ 1",
                    dict(base, output=[fmt_dim(v) for v in out]),
                )
                break


# --------------------------------------------------------------------------- SL002


def check_ambiguous(ctx: CheckContext):
    """SL002: sizes that depend on whose reading of the attributes you take."""
    for node, x, p in _nodes(ctx):
        n = p["n_spatial"]
        ops, strides, dil, pads = p["output_padding"], p["strides"], p["dilations"], p["pads"]
        if any(o >= s or o < 0 for o, s in zip(ops, strides)):
            continue  # SL001
        spatial = [x[2 + a] for a in range(n)]
        if p["auto_pad"] in ("SAME_UPPER", "SAME_LOWER") and any(ops):
            ort = [sizes.onnx_convtranspose_same_out(spatial[a], p["kernel"][a], strides[a], dil[a], ops[a])
                   for a in range(n)]
            onnx_si = [sizes.onnx_shape_inference_same_out(spatial[a], p["kernel"][a], strides[a], dil[a], ops[a])
                       for a in range(n)]
            if ort != onnx_si:
                yield _violation(
                    "warning", node,
                    f"auto_pad={p['auto_pad']} with output_padding={list(ops)}: onnx shape inference says "
                    f"{', '.join(map(fmt_dim, onnx_si))}, onnxruntime produces {', '.join(map(fmt_dim, ort))} "
                    f"(onnx#4299, onnxruntime#11927)",
                    "remove output_padding and state the size you want: explicit pads with auto_pad=NOTSET "
                    f"(output_padding then selects among the {strides[0]} admissible sizes), or an output_shape",
                    dict(onnx_shape_inference=[str(v) for v in onnx_si], onnxruntime=[str(v) for v in ort]),
                )
                continue
        os_ = p["output_shape"]
        if os_ is not None:
            os_ = tuple(os_)
            if len(os_) != n or any(o < 1 for o in os_):
                continue  # SL001
            implied = []
            for a in range(n):
                implied.append(sizes.onnx_convtranspose_out(spatial[a], p["kernel"][a], strides[a], dil[a],
                                                            pads[a], pads[a + n], ops[a]))
            given_attrs = node.attr("pads") is not None or node.attr("output_padding") is not None
            below = []
            for a in range(n):
                low = sizes.admissible(spatial[a], p["kernel"][a], strides[a], dil[a], 0, 0).low
                if isinstance(low, int) and 1 <= os_[a] < low:
                    below.append((a, low))
            if below:
                a, low = below[0]
                yield _violation(
                    "warning", node,
                    f"output_shape {_axis_name(a, n)}={os_[a]} is below the admissible range "
                    f"{low}…{low + strides[a] - 1} for input {_axis_name(a, n)}={fmt_dim(spatial[a])}: "
                    f"onnxruntime crops it with derived pads, TensorFlow's conv2d_transpose rejects it",
                    f"ask for a size in {low}…{low + strides[a] - 1} and crop explicitly (Slice) if a "
                    f"smaller tensor is wanted",
                    dict(output_shape=list(os_), admissible=[low, low + strides[a] - 1]),
                )
                continue
            if given_attrs and any(isinstance(v, int) and v != o for v, o in zip(implied, os_)):
                yield _violation(
                    "warning", node,
                    f"output_shape {list(os_)} beside pads {list(pads)} / output_padding {list(ops)} that "
                    f"imply {', '.join(map(fmt_dim, implied))}: onnxruntime takes output_shape and ignores "
                    f"the pads, a reader of the attributes expects {', '.join(map(fmt_dim, implied))}",
                    "keep one description of the size: drop pads/output_padding when output_shape is given",
                    dict(output_shape=list(os_), implied=[str(v) for v in implied]),
                )
            continue
        # the size is left to a convention: name the admissible set and the choice
        out = convtranspose_spatial(x, p)
        if any(isinstance(o, int) and o < 1 for o in out):
            continue  # SL001
        for a in range(n):
            s = strides[a]
            if s <= 1 or s > MAX_LISTED:
                continue  # stride 1: one size; huge strides: SL002 lists sizes, not ranges
            k, d = p["kernel"][a], dil[a]
            K = sizes.effective_kernel(k, d)
            i = spatial[a]
            same = p["auto_pad"] in ("SAME_UPPER", "SAME_LOWER")
            if same:
                # the sizes a forward SAME conv maps back to i: (i−1)·s + 1 … i·s
                adm = sizes.Admissible(sizes.add(sizes.mul(s, sub(i, 1)), 1), s)
                how = f"auto_pad={p['auto_pad']}"
            else:
                pb, pe = (0, 0) if p["auto_pad"] == "VALID" else (pads[a], pads[a + n])
                adm = sizes.admissible(i, k, s, d, pb, pe)
                how = f"output_padding={ops[a]}"
            chosen = out[a]
            if same:
                # NOTSET with explicit pads reaching (i−1)·s + j: pads total K − j, or output_padding j − K
                opts = []
                for j in range(1, s + 1):
                    total, op = (K - j, 0) if j <= K else (0, j - K)
                    opts.append(f"{fmt_dim(adm.sizes()[j - 1])} (auto_pad=NOTSET, pads {total - total // 2}+"
                                f"{total // 2}, output_padding={op})")
                suggestion = "to pick another: " + "; ".join(opts)
            else:
                suggestion = "to pick another, set output_padding: " + ", ".join(
                    f"{fmt_dim(v)} (output_padding={j})" for j, v in enumerate(adm.sizes()))
            yield _violation(
                "info", node,
                f"{_axis_name(a, n)}: input {fmt_dim(i)} admits {s} output sizes {{{', '.join(map(fmt_dim, adm.sizes()))}}}; "
                f"{how} picks {fmt_dim(chosen)} (PyTorch picks the smallest, Keras padding='same' the largest)",
                suggestion,
                dict(axis=a, input=str(i), admissible=[str(v) for v in adm.sizes()], chosen=str(chosen)),
            )
            break
