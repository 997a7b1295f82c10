"""SavedModels built with TensorFlow for the tests (TF is imported only by the tests)."""

import numpy as np

from tests.support import require


def seed_savedmodel(path, out_hw, padding="VALID", in_hw=2, k=3, s=2):
    """The project's seed: input 1×2×2×1, kernel 3×3, stride 2, tf.nn.conv2d_transpose with
    output_shape [1, o, o, 1]."""
    tf = require("tensorflow")

    class Seed(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.ones((k, k, 1, 1), np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, in_hw, in_hw, 1], tf.float32)])
        def __call__(self, x):
            return tf.nn.conv2d_transpose(x, self.w, [1, out_hw, out_hw, 1], strides=s, padding=padding)

    m = Seed()
    tf.saved_model.save(m, str(path), signatures=m.__call__)
    return str(path)


def fn_savedmodel(path, fn, input_shape):
    """A SavedModel of one ``tf.function`` of one float input of ``input_shape`` (None: a dynamic
    dim), saved as a ``tf.Module`` with that serving signature."""
    tf = require("tensorflow")

    class FnModule(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(list(input_shape), tf.float32)])
        def __call__(self, x):
            return fn(x)

    m = FnModule()
    tf.saved_model.save(m, str(path), signatures=m.__call__)
    return str(path)


def pool_then_conv_transpose(x):
    """max_pool 2×2 VALID, then a k3 s2 VALID conv2d_transpose back to 2·floor(H/2): its input_sizes
    are outside the admissible range for every H ≥ 4 (TensorFlow's own check truncates)."""
    tf = require("tensorflow")

    p = tf.nn.max_pool2d(x, 2, 2, "VALID")
    sp = tf.shape(p)
    return tf.nn.conv2d_transpose(p, np.ones((3, 3, 1, 1), np.float32), tf.stack([1, 2 * sp[1], 2 * sp[2], 1]), 2,
                                  "VALID")


def keras_unet(depth=2, k_up=3, pool="max", up_padding="same", output_padding=None, merge="concat", channels=2):
    """A Keras U-Net with None spatial dims (Conv2D same, pooling with padding same or valid)."""
    tf = require("tensorflow")

    L = tf.keras.layers
    inp = tf.keras.Input((None, None, 1), name="image")
    x = L.Conv2D(channels, 3, padding="same", activation="relu")(inp)
    skips = []
    for _ in range(depth):
        skips.append(x)
        x = (L.MaxPooling2D(2, padding="same") if pool == "max" else L.Conv2D(channels, 3, 2, padding="same"))(x)
        x = L.Conv2D(channels, 3, padding="same", activation="relu")(x)
    for skip in reversed(skips):
        x = L.Conv2DTranspose(channels, k_up, 2, padding=up_padding, output_padding=output_padding)(x)
        x = L.Concatenate()([skip, x]) if merge == "concat" else L.Add()([skip, x])
        x = L.Conv2D(channels, 3, padding="same")(x)
    return tf.keras.Model(inp, L.Conv2D(1, 1)(x))


def run_signature(path, shape, key=None):
    """Run a SavedModel's serving signature at ``shape``: (True, output shape) or (False, error)."""
    tf = require("tensorflow")

    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures["serving_default"]
    name = key or list(fn.structured_input_signature[1].keys())[0]
    try:
        out = fn(**{name: tf.constant(np.ones(shape, np.float32))})
        return True, tuple(next(iter(out.values())).shape)
    except Exception as e:  # TF raises several error types
        return False, str(e).strip().splitlines()[0][:200]


def tf1_unet_savedmodel(path):
    """A TF1-style SavedModel (a plain GraphDef, no function library): conv stride 2 SAME, then
    conv2d_transpose back to 2·ceil(H/2), concatenated with the input."""
    tf = require("tensorflow")

    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, None, None, 1], name="x")
        w = tf.constant(np.ones((3, 3, 1, 1), np.float32))
        e = tf.nn.conv2d(x, w, 2, "SAME")
        s = tf.shape(e)
        u = tf.nn.conv2d_transpose(e, w, tf.stack([s[0], s[1] * 2, s[2] * 2, 1]), 2, "SAME")
        y = tf.concat([x, u], axis=3, name="y")
        with v1.Session(graph=g) as sess:
            b = v1.saved_model.Builder(str(path))
            sig = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
            b.save()
    return str(path)
