"""TF graph ops in SavedModels: the shape shapelint infers equals TensorFlow's output, at several
sizes, for dynamic H and W (NHWC and NCHW, VALID/SAME/EXPLICIT, 3-D, depthwise, resizes, pads)."""

import numpy as np
import pytest

from shapelint.lint import analyse
from shapelint.symbolic import evaluate
from tests.support import LazyModule
from tests.tf_models import run_signature

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow, pytest.mark.runtime]
tf = LazyModule("tensorflow")  # imported by the first test: collecting this module does not import it

W33 = np.ones((3, 3, 2, 4), np.float32)


def _fns():
    f = {}
    f["conv_same_s2"] = lambda x: tf.nn.conv2d(x, W33, 2, "SAME")
    f["conv_valid_s3_d"] = lambda x: tf.nn.conv2d(x, W33, [1, 3, 2, 1], "VALID")
    f["conv_dilated"] = lambda x: tf.nn.conv2d(x, W33, 1, "VALID", dilations=2)
    f["conv_explicit"] = lambda x: tf.nn.conv2d(x, W33, 2, [[0, 0], [1, 2], [0, 1], [0, 0]])
    f["depthwise"] = lambda x: tf.nn.depthwise_conv2d(x, np.ones((3, 3, 2, 3), np.float32), [1, 2, 2, 1], "SAME")
    f["maxpool_valid"] = lambda x: tf.nn.max_pool2d(x, 3, 2, "VALID")
    f["avgpool_same"] = lambda x: tf.nn.avg_pool2d(x, 2, 2, "SAME")
    f["resize_bilinear_x2"] = lambda x: tf.compat.v1.image.resize_bilinear(x, tf.shape(x)[1:3] * 2)
    f["resize_nearest_fixed"] = lambda x: tf.compat.v1.image.resize_nearest_neighbor(x, [7, 9])
    f["mirror_pad"] = lambda x: tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], mode="REFLECT")
    f["strided_slice_crop"] = lambda x: x[:, 1:-1, ::2, :]
    f["transpose_conv_keras_style"] = lambda x: tf.nn.conv2d_transpose(
        x, np.ones((3, 3, 4, 2), np.float32), tf.stack([tf.shape(x)[0], tf.shape(x)[1] * 2, tf.shape(x)[2] * 2, 4]),
        2, "SAME")
    f["concat_channels"] = lambda x: tf.concat([x, tf.nn.relu(x)], axis=-1)
    f["reshape_flatten"] = lambda x: tf.reshape(x, [tf.shape(x)[0], -1])
    f["mean_keepdims"] = lambda x: tf.reduce_mean(x, [1, 2], keepdims=True)
    f["erfc_after_conv"] = lambda x: tf.math.erfc(tf.nn.conv2d(x, W33, 2, "SAME"))  # ConvNeXt-style GELU
    # ops of exported models' normalisation and loss-free arithmetic: broadcasting and unary
    f["pow_div_no_nan"] = lambda x: tf.math.divide_no_nan(tf.pow(x, tf.ones([1, 1, 1, 2])), x[:, :1, :, :] + 1.0)
    f["unary_chain"] = lambda x: tf.math.log1p(tf.math.reciprocal(tf.sign(x) + 2.0)) + tf.zeros_like(tf.sin(x))
    return f


FNS = _fns()
SIZES = [(5, 7), (8, 8), (9, 6), (16, 13)]  # every output non-empty


def _module(fn):
    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 2], tf.float32)])
        def __call__(self, x):
            return fn(x)

    return M()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfops")
    out = {}
    for name, fn in FNS.items():
        m = _module(fn)
        path = root / name
        tf.saved_model.save(m, str(path), signatures=m.__call__)
        out[name] = str(path)
    return out


@pytest.mark.parametrize("name", sorted(FNS))
def test_inferred_shape_equals_tensorflow(saved, name):
    graph, inf = analyse(saved[name])
    (out,) = graph.outputs
    shape = inf.shape(out)
    assert shape is not None and all(d is not None for d in shape), (name, shape, inf.notes)
    for h, w in SIZES:
        ok, got = run_signature(saved[name], (1, h, w, 2))
        assert ok, (name, got)
        want = tuple(evaluate(d, {"N": 1, "H": h, "W": w}) for d in shape)
        assert want == got, (name, (h, w), [str(d) for d in shape])
