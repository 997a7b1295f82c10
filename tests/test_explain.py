"""shapelint explain, for each format: the seed case (2×2 input, kernel 3, stride 2, VALID)."""

import subprocess
import sys

import numpy as np
import onnx
import pytest

from tests.onnx_models import run, single_convt
from tests.support import require


def _explain(path, *args):
    p = subprocess.run([sys.executable, "-m", "shapelint", "explain", str(path), *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.runtime
def test_onnx_seed(tmp_path):
    m = single_convt(in_shape=(1, 2, 2, 2), k=3, s=2, output_padding=[1, 1])
    path = tmp_path / "seed.onnx"
    onnx.save(m, str(path))
    out = _explain(path)
    assert "admissible output sizes: {5, 6}" in out and "this node produces 6 (admissible)" in out
    assert run(m, (1, 2, 2, 2)) == (True, (1, 2, 6, 6))


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_keras_and_tflite_seed(tmp_path):
    tf = require("tensorflow")
    inp = tf.keras.Input((None, None, 1), name="image")
    m = tf.keras.Model(inp, tf.keras.layers.Conv2DTranspose(1, 3, 2, padding="valid", name="up")(inp))
    m.save(str(tmp_path / "seed.keras"))
    out = _explain(tmp_path / "seed.keras", "--input-shape", "image=1,2,2,1")
    assert "Conv2DTranspose 'up'" in out and "this node produces 5 (admissible)" in out
    assert tuple(m(np.ones((1, 2, 2, 1), np.float32)).shape) == (1, 5, 5, 1)

    @tf.function(input_signature=[tf.TensorSpec([1, 2, 2, 1], tf.float32)])
    def f(x):
        return tf.nn.conv2d_transpose(x, np.ones((3, 3, 1, 1), np.float32), [1, 6, 6, 1], 2, "VALID")

    (tmp_path / "seed.tflite").write_bytes(
        tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()]).convert())
    out = _explain(tmp_path / "seed.tflite")
    assert "TRANSPOSE_CONV" in out and "admissible output sizes: {5, 6}" in out and "this node produces 6" in out


def test_explain_needs_node_when_several(tmp_path):
    from tests.onnx_models import unet

    path = tmp_path / "u.onnx"
    onnx.save(unet(depth=2), str(path))
    p = subprocess.run([sys.executable, "-m", "shapelint", "explain", str(path)], capture_output=True, text=True)
    assert p.returncode == 2 and "pick one with --node" in p.stderr
