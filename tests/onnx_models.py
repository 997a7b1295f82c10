"""Small ONNX models built with onnx.helper, with real (random) weights so onnxruntime runs them.

Used by the tests and by examples/make_examples.py.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


class Builder:
    def __init__(self, opset: int = 17):
        self.nodes = []
        self.inits = []
        self.opset = opset
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, arr, prefix="c") -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op, inputs, prefix=None, n_out=1, **attrs) -> str:
        name = self.name(prefix or op.lower())
        outs = [f"{name}_out{j}" if j else name for j in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0]

    def conv(self, x, cin, cout, k=3, s=1, p=None, **attrs):
        p = k // 2 if p is None else p
        w = self.const(RNG.standard_normal((cout, cin, k, k)).astype(np.float32) * 0.1, "w")
        b = self.const(np.zeros(cout, np.float32), "b")
        return self.node("Conv", [x, w, b], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, **attrs)

    def convt(self, x, cin, cout, k=2, s=2, pads=(0, 0, 0, 0), output_padding=None, **attrs):
        w = self.const(RNG.standard_normal((cin, cout, k, k)).astype(np.float32) * 0.1, "wt")
        if output_padding is not None:
            attrs["output_padding"] = list(output_padding)
        if pads is not None:
            attrs["pads"] = list(pads)
        return self.node("ConvTranspose", [x, w], kernel_shape=[k, k], strides=[s, s], **attrs)

    def maxpool(self, x, k=2, s=2, p=0, ceil_mode=0):
        return self.node("MaxPool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, ceil_mode=ceil_mode)

    def resize2(self, x):
        roi = self.const(np.zeros(0, np.float32), "roi")
        scales = self.const(np.array([1, 1, 2, 2], np.float32), "scales")
        return self.node("Resize", [x, roi, scales], mode="nearest")

    def spatial(self, t):
        """Shape(t)[2:4] as an int64 tensor, computed at run time."""
        sh = self.node("Shape", [t])
        return self.node("Slice", [sh, self.const(np.array([2], np.int64)), self.const(np.array([4], np.int64))])

    def crop_to(self, x, ref):
        """x[:, :, :H_ref, :W_ref] with H_ref, W_ref read from ref's shape at run time."""
        zeros = self.const(np.array([0, 0], np.int64))
        axes = self.const(np.array([2, 3], np.int64))
        return self.node("Slice", [x, zeros, self.spatial(ref), axes])

    def pad_to(self, x, ref):
        """Pad x at the end of H and W to ref's run-time size (PyTorch: F.pad(x, [0, dx, 0, dy]))."""
        diff = self.node("Sub", [self.spatial(ref), self.spatial(x)])
        zeros4 = self.const(np.array([0, 0, 0, 0, 0, 0], np.int64))
        pads = self.node("Concat", [zeros4, diff], axis=0)  # [0,0,0,0, 0,0,dy,dx] in ONNX order
        return self.node("Pad", [x, pads], mode="constant")

    def model(self, x_name, in_shape, out, out_rank=4, dtype=TensorProto.FLOAT) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "g",
            [helper.make_tensor_value_info(x_name, dtype, list(in_shape))],
            [helper.make_tensor_value_info(out, dtype, None)],
            self.inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = min(m.ir_version, 8)
        return m


def unet(depth=2, down="conv", k_down=3, pad_down=None, ceil_mode=0, up="convtranspose", k_up=2,
         up_pads=(0, 0, 0, 0), output_padding=None, merge="concat", stride=2, shape=("N", 1, "H", "W"),
         channels=2, opset=17, fit="none") -> onnx.ModelProto:
    """A U-Net: ``depth`` stride-``stride`` downsamplings, the same number of upsamplings, and a
    skip merge (Concat or Add) at every level.

    ``fit="crop"`` crops the upsampled tensor to the skip's run-time size (Shape → Slice), and
    ``fit="pad"`` pads it to the skip's size, computed from Shape at run time (the fix for
    dynamic sizes, as milesial/Pytorch-UNet does it)."""
    b = Builder(opset)
    c = channels
    x = b.conv("x", shape[1], c, k=3, s=1)
    skips = []
    for _ in range(depth):
        skips.append(x)
        if down == "conv":
            x = b.conv(x, c, c, k=k_down, s=stride, p=(k_down // 2 if pad_down is None else pad_down))
        else:
            x = b.maxpool(x, k=k_down, s=stride, p=pad_down or 0, ceil_mode=ceil_mode)
    for skip in reversed(skips):
        if up == "convtranspose":
            u = b.convt(x, c, c, k=k_up, s=stride, pads=up_pads, output_padding=output_padding)
        else:
            u = b.resize2(x)
        if fit == "crop":
            u = b.crop_to(u, skip)
        elif fit == "pad":
            u = b.pad_to(u, skip)
        if merge == "concat":
            x = b.node("Concat", [skip, u], axis=1)
            x = b.conv(x, 2 * c, c, k=1, s=1, p=0)
        else:
            x = b.node("Add", [skip, u])
    return b.model("x", shape, x)


def single_convt(in_shape=(1, 2, 4, 4), k=3, s=2, opset=17, **attrs) -> onnx.ModelProto:
    """One ConvTranspose on the input; attrs go to the node as given."""
    b = Builder(opset)
    w = b.const(RNG.standard_normal((in_shape[1], 2, k, k)).astype(np.float32) * 0.1, "w")
    y = b.node("ConvTranspose", ["x", w], kernel_shape=[k, k], strides=[s, s], **attrs)
    return b.model("x", in_shape, y)


def skip_convt(size=32, k=4, s=2, skip_k=3, skip_pad=1, second_skip=None, out_dims=None, **attrs) -> onnx.ModelProto:
    """One skip connection around a ConvTranspose whose attributes are given as they are (an SL001
    case when they are invalid): x [1, 1, size, size] → Conv k3 ('a', [1, 2, size, size]) → Conv
    k``skip_k`` s2 p``skip_pad`` → ConvTranspose k``k`` s``s`` (``attrs``: pads, output_padding,
    auto_pad, output_shape, dilations …) → Concat(a, u). ``second_skip``: a kernel size k2 for a
    second Concat of u, with Conv k2 s1 p0 of a (size − k2 + 1), a second graph output.
    ``out_dims``: the shape the graph declares for its (first) output."""
    b = Builder()
    a = b.conv("x", 1, 2, k=3, s=1)
    d = b.conv(a, 2, 2, k=skip_k, s=2, p=skip_pad)
    w = b.const(RNG.standard_normal((2, 2) + (k,) * 2).astype(np.float32) * 0.1, "wt")
    u = b.node("ConvTranspose", [d, w], prefix="up", kernel_shape=[k, k], strides=[s, s],
               **{key: (list(v) if isinstance(v, tuple) else v) for key, v in attrs.items()})
    y = b.node("Concat", [a, u], prefix="cat", axis=1)
    y2 = b.node("Concat", [b.conv(a, 2, 2, k=second_skip, s=1, p=0), u], prefix="cat", axis=1) if second_skip else None
    m = b.model("x", (1, 1, size, size), y)
    if out_dims is not None:
        m.graph.output[0].CopyFrom(helper.make_tensor_value_info(y, TensorProto.FLOAT, list(out_dims)))
    if y2 is not None:
        m.graph.output.append(helper.make_tensor_value_info(y2, TensorProto.FLOAT, None))
    return m


def run(model: onnx.ModelProto, shape) -> tuple:
    """Run in onnxruntime at ``shape``: (True, output shape) or (False, error message)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # the failure is the answer here, not a log line
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        x = RNG.standard_normal(shape).astype(np.float32)
        out = sess.run(None, {sess.get_inputs()[0].name: x})
        return True, tuple(out[0].shape)
    except Exception as e:  # onnxruntime raises several exception types
        return False, str(e).splitlines()[0][:300]
