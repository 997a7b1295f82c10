"""SL001/SL002 for TensorFlow's transposed convolutions (Conv2DBackpropInput and kin).

The output size is the ``input_sizes`` tensor (``output_shape`` of tf.nn.conv2d_transpose).
TF accepts it only when the forward conv maps it back to the input size (sizes.tf_admissible);
otherwise it fails at run time -- on CPU with oneDNN's "could not create a primitive descriptor"
-- and graph-time shape inference does not check it.
"""

from __future__ import annotations

from ..findings import Violation
from ..analysis import TF_TRANSPOSED, tf_params, tf_transposed
from ..symbolic import add, sub
from ._context import CheckContext
from ..frameworks.keras import keras_output_padding
from ..trace import fmt_dim



def check_invalid(ctx: CheckContext):
    """SL001 (TF): input_sizes outside the sizes whose forward conv gives back the input."""
    done = set()
    for node, axes, ax, tv in tf_transposed(ctx.inferred):
        if node.name in done or tv.ok:
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
        done.add(node.name)
        ok_sizes = ", ".join(fmt_dim(add(low, j)) for j in range(s))
        where = f"{fmt_dim(o)} on axis {ax['name']} from input {fmt_dim(ax['i'])}"
        shape_fix = [fmt_dim(v) for v in ctx.inferred.value(node.input(0))]
        for other in axes:  # every spatial axis: its size, clamped into its admissible range
            lo_o = sub(other["o"], other["low"])
            if isinstance(lo_o, int):
                shape_fix[other["axis"]] = fmt_dim(add(other["low"], min(max(lo_o, 0), other["s"] - 1)))
        yield Violation(
            node.name,
            node.op,
            f"{node.op} '{node.name}': output size {where} (kernel {ax['k']}, stride {s}, padding "
            f"{ax['padding']}) is outside the admissible {{{ok_sizes}}}: TensorFlow fails at run time "
            f"(on CPU: oneDNN \"could not create a primitive descriptor\"){cond}",
            f"ask for one of {{{ok_sizes}}}: tf.nn.conv2d_transpose(..., output_shape=[{', '.join(shape_fix)}])"
            + (f"; {keras_output_padding(dict(ax, o=add(low, s - 1)))}" if keras_output_padding(ax) else ""),
            (),
            {"axis": ax["axis"], "output": fmt_dim(o), "input": fmt_dim(ax["i"]),
                     "admissible": [fmt_dim(add(low, j)) for j in range(s)]},
            severity="error" if tv.symbol is None or tv.works.intersect(tv.analysed).is_empty() else "warning",
        )


def check_ambiguous(ctx: CheckContext):
    """SL002 (TF), info: the admissible sizes of a stride > 1 transposed conv and the one chosen."""
    for node in ctx.graph.nodes:
        if node.domain != "tf" or node.op not in TF_TRANSPOSED:
            continue
        got = tf_params(ctx.inferred, node)
        if got is None:
            continue
        x, axes = got
        for ax in axes:
            if ax["s"] <= 1 or ax["s"] > 64:
                continue
            o, low, s = ax["o"], ax["low"], ax["s"]
            d = sub(o, low)
            if not (isinstance(d, int) and 0 <= d < s):
                break  # SL001
            yield admits(node, ax, "input_sizes picks", keras_output_padding(ax) or "set output_shape to the size you want")
            break


def admits(node, ax: dict, chooser: str, fix: str) -> Violation:
    """SL002 info for a transposed conv sized by a tensor (TF, TFLite): the admissible sizes of
    axis ``ax`` and the one ``chooser`` gives."""
    o, low, s = ax["o"], ax["low"], ax["s"]
    options = [fmt_dim(add(low, j)) for j in range(s)]
    return Violation(node.name, node.op,
                     f"{ax['name']}: input {fmt_dim(ax['i'])} admits {s} output sizes {{{', '.join(options)}}} "
                     f"(padding {ax['padding']}); {chooser} {fmt_dim(o)}", fix, (),
                     {"axis": ax["axis"], "input": fmt_dim(ax["i"]), "admissible": options, "chosen": fmt_dim(o)},
                     severity="info")
