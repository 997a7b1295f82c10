"""Small TFLite models for the tests: Keras models converted with tf.lite.TFLiteConverter, models
written directly with TFLite's flatbuffer schema (what no converter emits: a fixed-size skip
connection that does not fit, a MediaPipe custom op, broken indices), and a runner for the TFLite
interpreter *without* delegates (XNNPACK hides some failures: it truncates a mismatched
concatenation where the builtin kernels fail).

TensorFlow and Keras are imported when first used (converting, running the interpreter): writing
a model with the schema needs only TensorFlow's generated schema file, loaded by path
(tests/tf_reference.py), and the flatbuffers package, so the fast tests that write models directly
never import TensorFlow. (shapelint itself reads them with its vendored copy of the readers.)
"""

from __future__ import annotations

import os
import struct

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import flatbuffers  # noqa: E402
import numpy as np  # noqa: E402

from tests import tf_reference  # noqa: E402
from tests.support import LazyModule  # noqa: E402

tf = LazyModule("tensorflow")
keras = LazyModule("keras")
layers = LazyModule("keras.layers")

S = tf_reference.tflite_schema()  # TensorFlow's generated schema, with its object API and builders


def no_delegates():
    """The builtin kernels without the default delegate (XNNPACK)."""
    return tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def reference():
    """The plain reference kernels, no delegate."""
    return tf.lite.experimental.OpResolverType.BUILTIN_REF


# --------------------------------------------------------------------------- converted models


def convert(fn, input_shape) -> bytes:
    """A Keras model or a function of one NHWC float input -> .tflite bytes (weights frozen)."""

    @tf.function(input_signature=[tf.TensorSpec(list(input_shape), tf.float32)])
    def f(x):
        return fn(x)

    # no trackable object: variables are frozen into constants, as a deployed model has them
    return tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()]).convert()


def _resize2x():
    """A Keras layer: bilinear 2× upsampling sized at run time, tf.image.resize(x, 2·shape(x)[1:3])."""

    class _Resize2x(layers.Layer):
        def call(self, x):
            return tf.image.resize(x, tf.shape(x)[1:3] * 2, "bilinear")

    return _Resize2x()


def unet(depth=2, up="convt", input_shape=(None, None, 3), ch=4, seed=0):
    """A Keras U-Net: per level a conv, a "same" 2×2 max pool; the decoder upsamples by 2
    (Conv2DTranspose k2 s2 "same", or a bilinear resize) and concatenates the skip tensor."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape)
    x, skips = inp, []
    for _ in range(depth):
        x = layers.Conv2D(ch, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(ch, 3, padding="same")(x)
    for d in reversed(range(depth)):
        x = layers.Conv2DTranspose(ch, 2, strides=2, padding="same")(x) if up == "convt" else _resize2x()(x)
        x = layers.Concatenate()([x, skips[d]])
        x = layers.Conv2D(ch, 3, padding="same")(x)
    return keras.Model(inp, x)


def keras_conv_transpose(i, k, s, padding, output_padding, cin=3, cout=2, dynamic=False) -> bytes:
    """One Keras Conv2DTranspose on an i×i (or, dynamic, H×W) input."""
    keras.utils.set_random_seed(0)
    shape = (None, None, cin) if dynamic else (i, i, cin)
    inp = keras.Input(shape)
    y = layers.Conv2DTranspose(cout, k, strides=s, padding=padding, output_padding=output_padding)(inp)
    return convert(keras.Model(inp, y), (1,) + shape)


def tf_conv_transpose_weights(k, cin=3, cout=2, seed=0):
    return np.random.RandomState(seed).randn(k, k, cout, cin).astype(np.float32)  # HWOI


def conv_transpose(i, k, s, padding, o, cin=3, cout=2) -> bytes:
    """tf.nn.conv2d_transpose with an explicit output_shape [1, o, o, cout] -- any o converts."""
    w = tf.constant(tf_conv_transpose_weights(k, cin, cout))

    def fn(x):
        return tf.nn.conv2d_transpose(x, w, output_shape=[1, o, o, cout], strides=s, padding=padding)

    return convert(fn, (1, i, i, cin))


def set_output_shape(model: bytes, hw) -> bytes:
    """A copy of ``model`` whose first TRANSPOSE_CONV asks for output_shape[1:3] = hw (the int32
    constant patched in place, so the rest of the file stays byte for byte the same)."""
    buf = bytearray(model)
    m = S.Model.GetRootAs(buf, 0)
    g = m.Subgraphs(0)
    for j in range(g.OperatorsLength()):
        op = g.Operators(j)
        code = m.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != S.BuiltinOperator.TRANSPOSE_CONV:
            continue
        b = m.Buffers(g.Tensors(op.Inputs(0)).Buffer())
        if b.DataLength() != 16:
            raise ValueError("the TRANSPOSE_CONV output_shape is not a stored int32[4] constant")
        start = b._tab.Vector(b._tab.Offset(4))
        vals = list(struct.unpack_from("<4i", buf, start))
        vals[1], vals[2] = hw
        struct.pack_into("<4i", buf, start, *vals)
        return bytes(buf)
    raise ValueError("no TRANSPOSE_CONV in the model")


# --------------------------------------------------------------------------- written directly


_TYPES = {"float32": S.TensorType.FLOAT32, "int32": S.TensorType.INT32}


def raw_model(tensors, operators, inputs, outputs, extra_subgraphs=0) -> bytes:
    """A .tflite written with the schema's object API.

    ``tensors``: list of (name, shape, dtype, data or None, shape_signature or None[, buffer
    index to write instead of the data's]);
    ``operators``: list of (op name or ("CUSTOM", code), inputs, outputs, options object or
    None, custom options bytes or None). Indices are written as given, even invalid ones."""
    model = S.ModelT()
    model.version = 3
    model.buffers = [S.BufferT()]  # buffer 0: the empty sentinel
    codes: list = []
    sub = S.SubGraphT()
    sub.name = "main"
    sub.tensors = []
    for name, shape, dtype, data, sig, *buffer in tensors:
        t = S.TensorT()
        t.name = name
        t.shape = list(shape)
        if sig is not None:
            t.shapeSignature = list(sig)
        t.type = _TYPES[dtype]
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = list(np.asarray(data, dtype=dtype).tobytes())
            model.buffers.append(b)
            t.buffer = len(model.buffers) - 1
        if buffer:
            t.buffer = buffer[0]
        sub.tensors.append(t)
    sub.operators = []
    for op, ins, outs, options, custom in operators:
        key = op if isinstance(op, tuple) else (op, None)
        if key not in codes:
            codes.append(key)
        o = S.OperatorT()
        o.opcodeIndex = codes.index(key)
        o.inputs, o.outputs = list(ins), list(outs)
        if options is not None:
            o.builtinOptionsType = getattr(S.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        if custom is not None:
            o.customOptions = list(custom)
        sub.operators.append(o)
    sub.inputs, sub.outputs = list(inputs), list(outputs)
    model.subgraphs = [sub]
    for k in range(extra_subgraphs):
        extra = S.SubGraphT()
        extra.name = f"body{k + 1}"
        extra.tensors, extra.operators, extra.inputs, extra.outputs = [], [], [], []
        model.subgraphs.append(extra)
    model.operatorCodes = []
    for name, custom in codes:
        c = S.OperatorCodeT()
        if name == "CUSTOM":
            c.builtinCode = S.BuiltinOperator.CUSTOM
            c.deprecatedBuiltinCode = S.BuiltinOperator.CUSTOM
            c.customCode = custom
        else:
            code = getattr(S.BuiltinOperator, name)
            c.builtinCode = code
            c.deprecatedBuiltinCode = min(code, 127)
        c.version = 1
        model.operatorCodes.append(c)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def options(cls_name, **fields):
    """A builtin options object, e.g. options("Pool2DOptions", padding=S.Padding.SAME, strideW=2)."""
    obj = getattr(S, cls_name + "T")()
    for k, v in fields.items():
        if not hasattr(obj, k):
            raise AttributeError(f"{cls_name} has no field {k}")
        setattr(obj, k, v)
    return obj


def fixed_skip_model(size=65, ch=4, seed=0) -> bytes:
    """What a converter never writes: a fixed-size U-Net level whose skip connection does not
    fit -- x [1, s, s, C] → MAX_POOL_2D 2×2 "same" (ceil(s/2)) → TRANSPOSE_CONV k2 s2 "same" to
    2·ceil(s/2) → CONCATENATION with x: 66 vs 65 at s = 65."""
    rng = np.random.RandomState(seed)
    h = -(-size // 2)
    tensors = [
        ("x", (1, size, size, ch), "float32", None, None),
        ("pooled", (1, h, h, ch), "float32", None, None),
        ("up_shape", (4,), "int32", np.array([1, 2 * h, 2 * h, ch], np.int32), None),
        ("up_w", (ch, 2, 2, ch), "float32", rng.randn(ch, 2, 2, ch).astype(np.float32), None),
        ("up", (1, 2 * h, 2 * h, ch), "float32", None, None),
        ("cat", (1, 2 * h, 2 * h, 2 * ch), "float32", None, None),
    ]
    ops = [
        ("MAX_POOL_2D", [0], [1], options("Pool2DOptions", padding=S.Padding.SAME, strideW=2, strideH=2,
                                          filterWidth=2, filterHeight=2), None),
        ("TRANSPOSE_CONV", [2, 3, 1], [4], options("TransposeConvOptions", padding=S.Padding.SAME, strideW=2,
                                                   strideH=2), None),
        ("CONCATENATION", [4, 0], [5], options("ConcatenationOptions", axis=3), None),
    ]
    return raw_model(tensors, ops, [0], [5])


def mediapipe_model(size=9, k=4, s=2, padding=1, ch=3, custom_options=None) -> bytes:
    """MediaPipe's Convolution2DTransposeBias(input, weights OHWI, bias) custom op; its options are
    a raw TfLiteTransposeConvParams {padding (1 SAME, 2 VALID), stride_w, stride_h}."""
    rng = np.random.RandomState(0)
    raw = struct.pack("<iii", padding, s, s) if custom_options is None else custom_options
    tensors = [
        ("x", (1, size, size, ch), "float32", None, None),
        ("w", (2, k, k, ch), "float32", rng.randn(2, k, k, ch).astype(np.float32), None),
        ("b", (2,), "float32", np.zeros(2, np.float32), None),
        ("y", (1, 1, 1, 2), "float32", None, None),
    ]
    ops = [(("CUSTOM", "Convolution2DTransposeBias"), [0, 1, 2], [3], None, raw)]
    return raw_model(tensors, ops, [0], [3])


# --------------------------------------------------------------------------- the interpreter


def save(data: bytes, folder: str, name: str) -> str:
    path = os.path.join(folder, name if name.endswith(".tflite") else name + ".tflite")
    with open(path, "wb") as f:
        f.write(data)
    return path


def interpreter(model, resolver=None, preserve=False):
    """A TFLite interpreter on a path or bytes, without delegates unless ``resolver`` says otherwise."""
    resolver = no_delegates() if resolver is None else resolver
    kw = dict(model_path=model) if isinstance(model, str) else dict(model_content=bytes(model))
    return tf.lite.Interpreter(**kw, experimental_op_resolver_type=resolver,
                               experimental_preserve_all_tensors=preserve)


def run(model, x, resolver=None, shapes=False):
    """Run at input ``x`` (resizing a dynamic input): (True, output, {tensor: shape} if ``shapes``)
    or (False, the interpreter's message, None)."""
    try:
        it = interpreter(model, resolver, preserve=shapes)
        inp = it.get_input_details()[0]
        if tuple(inp["shape"]) != x.shape:
            it.resize_tensor_input(inp["index"], list(x.shape))
        it.allocate_tensors()
        it.set_tensor(inp["index"], x)
        it.invoke()
        y = it.get_tensor(it.get_output_details()[0]["index"])
        got = {d["name"]: tuple(int(v) for v in d["shape"]) for d in it.get_tensor_details()} if shapes else None
        return True, y, got
    except (RuntimeError, ValueError) as e:
        return False, " ".join(str(e).split())[:400], None


def transpose_conv_verdicts(cases) -> list:
    """For each TRANSPOSE_CONV model (dicts with path, i, k, s, padding, cin, cout, hw): what the
    interpreter without delegates does, what the reference kernels do, and what TensorFlow's own
    conv2d_transpose does at the same output size. Meant to run in a child process: an output_shape
    that does not fit makes the optimized kernel read past its buffer."""
    out = []
    for c in cases:
        x = np.random.RandomState(1).randn(1, c["i"], c["i"], c["cin"]).astype(np.float32)
        ok, y, _ = run(c["path"], x)
        ref_ok, ref, _ = run(c["path"], x, reference())
        w = tf_conv_transpose_weights(c["k"], c["cin"], c["cout"])
        try:
            t = tf.nn.conv2d_transpose(x, w, [1, c["hw"][0], c["hw"][1], c["cout"]], c["s"], c["padding"]).numpy()
            tf_ok, tf_msg = True, ""
        except Exception as e:  # TF fails at run time (oneDNN: "could not create a primitive descriptor")
            t, tf_ok, tf_msg = None, False, " ".join(str(e).split())[:200]
        out.append(dict(
            ok=ok, message="" if ok else y, shape=list(y.shape) if ok else None,
            same_as_reference=bool(ok and ref_ok and y.shape == ref.shape and np.allclose(y, ref, atol=1e-4)),
            tf_ok=tf_ok, tf_message=tf_msg,
            same_as_tf=bool(ok and tf_ok and y.shape == t.shape and np.allclose(y, t, atol=1e-4)),
        ))
    return out


def misc(input_shape=(None, None, 3), seed=0):
    """Many TFLite ops in one model, for the shape tables: strided VALID and dilated convs,
    depthwise conv, pads, pools, a crop (STRIDED_SLICE), nearest upsampling, an elementwise merge,
    a global mean, a dense layer, a reshape and a softmax."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape)
    x = layers.Conv2D(4, 3, strides=2, padding="valid", activation="relu6")(inp)
    x = layers.ZeroPadding2D(((1, 2), (0, 1)))(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    y = layers.Conv2D(8, 3, dilation_rate=2, padding="same")(x)
    x = layers.Add()([x, y])
    x = layers.AveragePooling2D(3, strides=2, padding="valid")(x)
    x = layers.Cropping2D(((1, 0), (0, 1)))(x)
    x = layers.UpSampling2D(2, interpolation="nearest")(x) if None not in input_shape[:2] else x
    x = layers.Conv2D(4, 1)(x)
    g = layers.GlobalAveragePooling2D()(x)
    g = layers.Dense(6)(g)
    g = layers.Reshape((2, 3))(g)
    return keras.Model(inp, layers.Softmax()(g))
