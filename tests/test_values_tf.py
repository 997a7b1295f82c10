"""Values through TF and TFLite ops against TensorFlow: the output's shape is computed from the
input's size with FloorDiv / FloorMod of negative numbers, NotEqual and SquaredDifference (ops
shapelint used to alias to ONNX Div / Equal / Sub), then Fill; shapelint's shape, evaluated at
each size, must equal what TensorFlow and the TFLite interpreter produce."""

from __future__ import annotations

import numpy as np
import pytest

from shapelint.lint import analyse
from shapelint.symbolic import evaluate
from tests.support import LazyModule

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow, pytest.mark.runtime]
tf = LazyModule("tensorflow")  # imported by the first test: collecting this module does not import it

SIZES = [1, 2, 3, 4, 5, 7, 9, 10, 11, 14, 17]


def sizes_fn(x):
    h = tf.shape(x)[1]
    a = tf.math.floordiv(h - 10, 3) + 10  # negative numerators below h = 10
    b = tf.math.floormod(h - 10, 3) + 1
    c = tf.cast(tf.math.not_equal(h, 0), tf.int32) + tf.cast(tf.math.not_equal(h - h, 0), tf.int32) + 1
    d = tf.math.squared_difference(h, 4) + 1
    e = tf.reduce_prod(tf.stack([tf.math.floordiv(-h, 4) + 10, 1]))
    return tf.zeros(tf.stack([a, b, c, d, e]))


def _env(inf, shape):
    return {name: shape[axis] for name, (_inp, axis) in inf.symbols.items()}


def _check(inf, out_name, want_fn):
    y = inf.shape(out_name)
    assert y is not None and all(d is not None for d in y), (y, inf.lost)
    for h in SIZES:
        shape = (1, h, 3, 1)
        want = want_fn(shape)
        assert tuple(evaluate(d, _env(inf, shape)) for d in y) == want, (h, [str(d) for d in y], want)


def test_tf_floordiv_floormod_notequal_squared_difference(tmp_path):
    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, 3, 1], tf.float32)])
        def __call__(self, x):
            return sizes_fn(x)

    m = M()
    path = str(tmp_path / "sm")
    tf.saved_model.save(m, path, signatures=m.__call__)
    _, inf = analyse(path)
    out = inf.graph.outputs[0]
    _check(inf, out, lambda shape: tuple(m(tf.zeros(shape)).shape))


def test_tflite_floordiv_floormod_notequal_squared_difference(tmp_path):
    from tests.tflite_models import convert, no_delegates

    data = convert(sizes_fn, (1, None, 3, 1))
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    _, inf = analyse(str(path))
    out = inf.graph.outputs[0]

    def run(shape):
        it = tf.lite.Interpreter(model_content=data, experimental_op_resolver_type=no_delegates())
        inp = it.get_input_details()[0]
        it.resize_tensor_input(inp["index"], list(shape))
        it.allocate_tensors()
        it.set_tensor(inp["index"], np.zeros(shape, np.float32))
        it.invoke()
        return tuple(it.get_tensor(it.get_output_details()[0]["index"]).shape)

    _check(inf, out, run)
