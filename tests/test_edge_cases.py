"""Edge cases found in review: each asserted with its numbers, failures confirmed by onnxruntime."""

import os
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from shapelint.lint import lint
from tests.onnx_models import run


def _model(nodes, inputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
                          list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _save(m, tmp_path, name="m.onnx"):
    p = tmp_path / name
    onnx.save(m, str(p))
    return str(p)


@pytest.mark.runtime
def test_fixed_axis_failure_is_an_error_beside_a_dynamic_axis(tmp_path):
    """H dynamic, W fixed at 7: W fails at every H (7 vs 6), so the finding is an error on axis 3."""
    w = numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "w")
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             helper.make_node("ConvTranspose", ["p", "w"], ["u"], kernel_shape=[2, 2], strides=[2, 2], name="up"),
             helper.make_node("Concat", ["x", "u"], ["y"], axis=1, name="cat")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", 7])], [w])
    (f,) = [f for f in lint(_save(m, tmp_path)).findings if f.rule == "SL003"]
    assert f.severity == "error" and f.details["axis"] == 3 and f.details["sizes"] == ["7", "6"]
    assert "axis 2 runs only for H mod 2 = 0, H ≥ 2" in f.message
    assert "output_padding=[0, 1]" in f.suggestion
    for h in (2, 3, 8, 9):
        assert not run(m, (1, 1, h, 7))[0]


@pytest.mark.runtime
def test_two_independent_dims_give_a_warning_with_the_condition(tmp_path):
    nodes = [helper.make_node("Concat", ["a", "b"], ["y"], axis=1, name="cat")]
    m = _model(nodes, [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 1, "H", 4]),
                       helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 1, "G", 4])])
    res = lint(_save(m, tmp_path))
    (f,) = res.findings
    assert f.rule == "SL003" and f.severity == "warning" and f.details["condition"] == "H = G"
    import onnxruntime as ort

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception):
        sess.run(None, {"a": np.ones((1, 1, 4, 4), np.float32), "b": np.ones((1, 1, 5, 4), np.float32)})


@pytest.mark.runtime
def test_skip_of_size_one_gets_a_real_fix(tmp_path):
    """Concat needs equal sizes: a skip of size 1 is a target like any other (no broadcasting)."""
    w = numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "w")
    k3 = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "k3")
    nodes = [helper.make_node("Conv", ["x", "k3"], ["d"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], name="down"),
             helper.make_node("ConvTranspose", ["d", "w"], ["u"], kernel_shape=[2, 2], strides=[2, 2], name="up"),
             helper.make_node("Concat", ["x", "u"], ["y"], axis=1, name="cat")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, 8])], [w, k3])
    (f,) = [f for f in lint(_save(m, tmp_path)).findings if f.rule == "SL003"]
    assert "set pads=[1, 0, 1, 0], output_padding=[1, 0]" in f.suggestion
    assert not run(m, (1, 1, 1, 8))[0]
    fixed = onnx.ModelProto()
    fixed.CopyFrom(m)
    node = fixed.graph.node[1]
    node.attribute.extend([helper.make_attribute("pads", [1, 0, 1, 0]), helper.make_attribute("output_padding", [1, 0])])
    assert run(fixed, (1, 1, 1, 8)) == (True, (1, 2, 1, 8))
    assert not [f for f in lint(_save(fixed, tmp_path, "fixed.onnx")).findings if f.rule == "SL003"]


def test_huge_stride_is_bounded_in_time(tmp_path):
    w = numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "w")
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["u"], kernel_shape=[2, 2], strides=[2 ** 62, 16384]),
             helper.make_node("Concat", ["u", "u"], ["y"], axis=1)]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])], [w])
    t = time.time()
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", _save(m, tmp_path)], capture_output=True, text=True,
                       timeout=60)
    assert time.time() - t < 20 and p.returncode in (0, 1) and "Traceback" not in p.stderr


def test_select_rejects_unknown_ids(tmp_path):
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", "examples", "--select", "SL999"],
                       capture_output=True, text=True, cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert p.returncode == 2 and "SL999" in p.stderr and "SL003" in p.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_special_files_are_refused(tmp_path):
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        p = subprocess.run([sys.executable, "-m", "shapelint", "check", path], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "not a regular file" in p.stderr and path in p.stderr


def test_float_attributes_never_raise(tmp_path):
    w = numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["u"], kernel_shape=[2, 2])
    node.attribute.append(helper.make_attribute("strides", [2.0, 2.0]))
    m = _model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", 4])], [w])
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", _save(m, tmp_path)], capture_output=True, text=True)
    assert p.returncode == 0 and "Traceback" not in p.stderr
    # the malformed node is named, and nothing downstream is claimed
    assert "attributes or inputs do not make sense (e.g. 'ConvTranspose_0')" in p.stdout
    assert "could not run" not in p.stdout and "SL00" not in p.stdout.replace("note", "")
