"""Shape inference against onnxruntime: for small graphs across opsets and op variants, the
shape shapelint infers (symbolically, then evaluated at the size) equals the runtime's output."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from shapelint.lint import analyse
from shapelint.symbolic import evaluate
from tests.onnx_models import RNG, run


def _model(nodes, inits, opset, in_shape=("N", 2, "H", "W")):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7 if opset < 15 else 8
    return m


def i64(*v):
    return np.array(v, np.int64)


def f32(*v):
    return np.array(v, np.float32)


W3 = RNG.standard_normal((2, 2, 3, 3)).astype(np.float32)
N = helper.make_node
CASES = {
    "upsample_opset7_attr": _model([N("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 2.0])], {}, 7),
    "upsample_opset9_input": _model([N("Upsample", ["x", "s"], ["y"])], {"s": f32(1, 1, 2, 2)}, 9),
    "resize_opset10": _model([N("Resize", ["x", "s"], ["y"])], {"s": f32(1, 1, 2, 2)}, 10),
    "resize_opset11_scales": _model([N("Resize", ["x", "roi", "s"], ["y"])], {"roi": f32(), "s": f32(1, 1, 0.5, 0.5)}, 11),
    "resize_opset13_sizes_from_shape": _model([
        N("Shape", ["x"], ["sh"]), N("Mul", ["sh", "two"], ["sz"]),
        N("Resize", ["x", "", "", "sz"], ["y"])], {"two": i64(1, 1, 2, 3)}, 13),
    "resize_opset18_axes": _model([N("Resize", ["x", "", "s"], ["y"], axes=[2, 3])], {"s": f32(2, 4)}, 18),
    "slice_opset9_attrs": _model([N("Slice", ["x"], ["y"], starts=[1, 0], ends=[-1, 1000], axes=[2, 3])], {}, 9),
    "slice_opset13_negative_step": _model([N("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
                                          {"st": i64(-1), "en": i64(-1000), "ax": i64(3), "sp": i64(-2)}, 13),
    "pad_opset2_attrs": _model([N("Pad", ["x"], ["y"], pads=[0, 0, 1, 2, 0, 0, 3, 4])], {}, 2),
    "pad_opset13_input": _model([N("Pad", ["x", "p"], ["y"])], {"p": i64(0, 0, 1, 0, 0, 0, 0, 5)}, 13),
    "squeeze_unsqueeze_opset11": _model([N("Unsqueeze", ["x"], ["u"], axes=[0]), N("Squeeze", ["u"], ["y"], axes=[0])], {}, 11),
    "squeeze_unsqueeze_opset13": _model([N("Unsqueeze", ["x", "a"], ["u"]), N("Squeeze", ["u", "a"], ["y"])], {"a": i64(0)}, 13),
    "maxpool_ceil_mode": _model([N("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)], {}, 12),
    "maxpool_ceil_mode_last_window_dropped": _model([N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)], {}, 12),
    "avgpool_same_upper": _model([N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[3, 3], auto_pad="SAME_UPPER")], {}, 11),
    "conv_dilated_strided": _model([N("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 3], dilations=[2, 1], pads=[1, 0, 2, 1])], {"w": W3}, 13),
    "convtranspose_same_lower_op": _model([N("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER", output_padding=[1, 1])], {"w": W3}, 13),
    "convtranspose_k1_s3_same": _model([N("ConvTranspose", ["x", "w1"], ["y"], kernel_shape=[1, 1], strides=[3, 3], auto_pad="SAME_UPPER")], {"w1": RNG.standard_normal((2, 2, 1, 1)).astype(np.float32)}, 13),
    "convtranspose_dilated": _model([N("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2], dilations=[2, 2], pads=[1, 2, 0, 1], output_padding=[1, 0])], {"w": W3}, 13),
    "reshape_flatten_from_shape": _model([
        N("Shape", ["x"], ["sh"]), N("Gather", ["sh", "i0"], ["n"]), N("Unsqueeze", ["n", "ax0"], ["n1"]),
        N("Concat", ["n1", "m1"], ["tgt"], axis=0), N("Reshape", ["x", "tgt"], ["f"]),
        N("Reshape", ["f", "sh"], ["y"])], {"i0": np.array(0, np.int64), "ax0": i64(0), "m1": i64(-1)}, 13),
    "crop_to_half_from_shape": _model([
        N("Shape", ["x"], ["sh"]), N("Slice", ["sh", "s2", "s4"], ["hw"]), N("Div", ["hw", "two"], ["half"]),
        N("Slice", ["x", "z2", "half", "ax"], ["y"])], {"s2": i64(2), "s4": i64(4), "two": i64(2), "z2": i64(0, 0), "ax": i64(2, 3)}, 13),
    "concat_split_transpose": _model([
        N("Concat", ["x", "x"], ["c"], axis=2), N("Split", ["c", "sp"], ["a", "b"], axis=2),
        N("Transpose", ["a"], ["y"], perm=[0, 1, 3, 2])], {"sp": i64(1, -1 + 1)}, 13),
    "global_pool_matmul": _model([N("GlobalAveragePool", ["x"], ["g"]), N("Flatten", ["g"], ["f"]),
                                  N("MatMul", ["f", "mm"], ["y"])], {"mm": RNG.standard_normal((2, 5)).astype(np.float32)}, 13),
}
# Split with computed sizes needs the split to be consistent; use halves instead
CASES["concat_split_transpose"] = _model([
    N("Concat", ["x", "x"], ["c"], axis=2), N("Split", ["c"], ["a", "b"], axis=2),
    N("Transpose", ["a"], ["y"], perm=[0, 1, 3, 2])], {}, 13)

SIZES = [(1, 2, 5, 7), (2, 2, 8, 8), (1, 2, 9, 4), (1, 2, 16, 13)]


@pytest.mark.runtime
@pytest.mark.parametrize("name", sorted(CASES))
def test_inferred_shape_equals_onnxruntime(name, tmp_path):
    path = tmp_path / f"{name}.onnx"
    onnx.save(CASES[name], str(path))
    graph, inf = analyse(str(path))
    y = inf.shape("y")
    assert y is not None and all(d is not None for d in y), (name, y)
    for shape in SIZES:
        ok, got = run(CASES[name], shape)
        assert ok, (name, shape, got)
        env = {"N": shape[0], "H": shape[2], "W": shape[3]}
        want = tuple(evaluate(d, env) for d in y)
        assert want == got, (name, shape, [str(d) for d in y])
