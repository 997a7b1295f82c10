"""SL001/SL002 for Keras's transposed convolutions (Conv{1,2,3}DTranspose in a ``.keras`` file).

Keras computes the output size itself (sizes.keras_conv_transpose_out) and hands it to
``tf.nn.conv_transpose`` as ``output_shape``; TensorFlow accepts it only when the forward conv
maps it back to the input size (sizes.tf_admissible). Keras's formula can leave that range:
with an even kernel, ``padding="same"`` and ``output_padding=0`` it gives (i−1)·s, one below the
smallest admissible size, and TF fails at run time (on CPU with oneDNN's "could not create a
primitive descriptor"). ``output_padding=None`` and ``0`` are different sizes (tensorflow#50168).
"""

from __future__ import annotations

from .. import sizes
from ..findings import Violation
from ..frameworks.keras import TRANSPOSED_LAYERS, transpose_params
from ..analysis import within_admissible
from ..symbolic import PositivePred, Undecidable, add, solve, sub, symbols
from ._context import CheckContext
from ..trace import fmt_dim

_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def keras_params(ctx: CheckContext, node):
    """(x shape, per-spatial-axis dicts with name, admissible low/high) or None."""
    x = ctx.shape(node.input(0))
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


def _transposed(ctx):
    for node in ctx.graph.nodes:
        if node.domain == "keras" and node.op in TRANSPOSED_LAYERS:
            got = keras_params(ctx, node)
            if got is not None:
                yield node, got[0], got[1]


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


MAX_STRIDE = 64  # larger strides are not listed size by size


def check_invalid(ctx: CheckContext):
    """SL001 (Keras): an output_padding Keras rejects, or an output size outside the sizes TF
    accepts for the input size. TF checks the size only when the output is not empty: where
    Keras's size is 0 (an even kernel, "same", output_padding=0 at input 1), TF returns an empty
    tensor instead of failing (measured)."""
    for node, x, axes in _transposed(ctx):
        if any(ax["s"] > MAX_STRIDE for ax in axes):
            continue
        empty = [a for a in axes if a["o"] == 0]  # fixed sizes only: an empty output, no TF check
        for ax in axes:
            o, low, s, p = ax["o"], ax["low"], ax["s"], ax["output_padding"]
            dil = f", dilation {ax['d']}" if ax["d"] != 1 else ""
            what = f"kernel {ax['k']}, stride {s}{dil}, padding \"{ax['padding']}\", output_padding={p}"
            if p is not None and not 0 <= p < s:
                yield Violation(
                    node.name,
                    node.op,
                    f"{node.op} '{node.name}': output_padding {p} on {ax['name']} is not in 0…{s - 1} (stride {s}): "
                    f"Keras refuses to build the layer (keras.saving.load_model raises ValueError)",
                    f"set output_padding to a value in 0…{s - 1}, or None: {_fmt_choices(ax)}",
                    (),
                    {"axis": ax["axis"], "output_padding": p, "strides": s},
                )
                break
            inside = within_admissible(o, low, s)
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
            yield Violation(
                node.name,
                node.op,
                f"{node.op} '{node.name}': Keras sizes {ax['name']} to {fmt_dim(o)} from input {ax['name']}="
                f"{fmt_dim(ax['i'])} ({what}), outside the admissible {{{ok_sizes}}}: {outcome}{cond}",
                (f"{node.op}(..., {fix}); per axis: " if fix else "") + _fmt_choices(ax),
                (),
                {"axis": ax["axis"], "output": fmt_dim(o), "input": fmt_dim(ax["i"]),
                         "output_padding": p, "admissible": [fmt_dim(add(low, j)) for j in range(s)],
                         "fix": fix},
                severity=severity,
            )
            break


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


def check_ambiguous(ctx: CheckContext):
    """SL002 (Keras), info: the admissible sizes of a stride > 1 transposed conv, the one Keras
    picks, and the output_padding that selects each."""
    for node, x, axes in _transposed(ctx):
        for ax in axes:
            if ax["s"] <= 1 or ax["s"] > MAX_STRIDE:
                continue
            if not _admissible(ax):
                break  # SL001
            options = [fmt_dim(add(ax["low"], j)) for j in range(ax["s"])]
            yield Violation(
                node.name,
                node.op,
                f"{ax['name']}: input {fmt_dim(ax['i'])} admits {ax['s']} output sizes {{{', '.join(options)}}} "
                f"(kernel {ax['k']}, padding \"{ax['padding']}\"); Keras picks {fmt_dim(ax['o'])} "
                f"(output_padding={ax['output_padding']})",
                _fmt_choices(ax),
                (),
                {"axis": ax["axis"], "input": fmt_dim(ax["i"]), "admissible": options,
                         "chosen": fmt_dim(ax["o"]), "output_padding": ax["output_padding"],
                         "choices": [[fmt_dim(size), picks] for size, picks in choices(ax)]},
                severity="info",
            )
            break
