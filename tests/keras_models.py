"""Small Keras models saved as ``.keras`` files, and TensorFlow's own verdict on them.

Builders import Keras lazily (Keras is in the test extra: a test that builds a model fails without
it). ``run_in_tf`` loads a saved model with ``keras.saving.load_model`` and calls it at each input
size in a child process: TF can kill the process at some sizes (oneDNN's SIGFPE on empty tensors),
and a crash is a failure at that size, recorded with the signal, after which the remaining sizes
run in a new child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import child_env, require

_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def _keras():
    os.environ.update(_ENV)
    return require("keras")


def unet(depth=2, stride=2, down="maxpool", k_down=2, pad_down="valid", up="convt", k_up=2, pad_up="same",
         output_padding=None, merge="concat", channels=2, k_conv=3, fit=None):
    """A U-Net with None spatial dims: per level Conv2D(same) → skip, then MaxPooling2D or a
    strided Conv2D; back up with Conv2DTranspose or UpSampling2D and a Concatenate or Add.

    ``fit``: Python source run before each merge with ``keras``, ``u`` (the upsampled tensor) and
    ``skip`` bound, whose ``u`` then goes into the merge -- shapelint's advice, pasted as printed;
    a dict gives it per merge layer name (``cat0``, ``add1``, …)."""
    keras = _keras()
    layers = keras.layers
    x = keras.Input((None, None, 1), name="x")
    h, skips = x, []
    for lv in range(depth):
        h = layers.Conv2D(channels, k_conv, padding="same", name=f"enc{lv}")(h)
        skips.append(h)
        if down == "maxpool":
            h = layers.MaxPooling2D(k_down, strides=stride, padding=pad_down, name=f"pool{lv}")(h)
        else:
            h = layers.Conv2D(channels, k_down, strides=stride, padding=pad_down, name=f"down{lv}")(h)
    h = layers.Conv2D(channels, k_conv, padding="same", name="mid")(h)
    for lv in reversed(range(depth)):
        if up == "convt":
            h = layers.Conv2DTranspose(channels, k_up, strides=stride, padding=pad_up,
                                       output_padding=output_padding, name=f"up{lv}")(h)
        else:
            h = layers.UpSampling2D(stride, name=f"up{lv}")(h)
        join = layers.Concatenate(name=f"cat{lv}") if merge == "concat" else layers.Add(name=f"add{lv}")
        code = fit.get(join.name) if isinstance(fit, dict) else fit
        if code:
            ns = {"keras": keras, "u": h, "skip": skips[lv]}
            exec(code, ns)
            h = ns["u"]
        h = join([skips[lv], h])
        h = layers.Conv2D(channels, k_conv, padding="same", name=f"dec{lv}")(h)
    return keras.Model(x, h, name="unet")


def single_convt(shape=(None, None, 1), k=2, s=2, padding="same", output_padding=None, dilation=1, filters=1):
    keras = _keras()
    x = keras.Input(shape, name="x")
    y = keras.layers.Conv2DTranspose(filters, k, strides=s, padding=padding, output_padding=output_padding,
                                     dilation_rate=dilation, name="up")(x)
    return keras.Model(x, y, name="convt")


def lambda_model(marker: str):
    """Conv2D → Lambda → Concatenate with the skip. The Lambda is a ``lambda`` (saved as
    bytecode) that writes ``marker`` when it runs; a second Lambda wraps a named function (saved
    as a reference to it)."""
    keras = _keras()
    layers = keras.layers
    x = keras.Input((None, None, 1), name="x")
    a = layers.Conv2D(2, 3, padding="same", name="conv")(x)
    b = layers.Lambda(lambda t, m=marker: (open(m, "w").write("the lambda ran"), t)[1], name="lam")(a)
    c = layers.Lambda(_identity, name="lam_fn")(b)
    d = layers.Concatenate(name="cat")([a, c])
    return keras.Model(x, d, name="with_lambda")


def _identity(t):
    return t


def save(model, path) -> str:
    model.save(str(path))
    return str(path)


_WORKER = r"""
import json, os, sys
os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"})
import numpy as np
import keras
models = {}
for k, (path, shape) in json.loads(sys.stdin.read()):
    print(json.dumps({"start": k}), flush=True)
    try:
        if path not in models:
            models[path] = keras.saving.load_model(path)
        y = models[path](np.ones(shape, np.float32))
        ys = y if isinstance(y, (list, tuple)) else [y]
        out = {"job": k, "ok": True, "shapes": [list(t.shape) for t in ys]}
    except Exception as e:
        msg = " ".join(str(e).split())
        out = {"job": k, "ok": False, "error": type(e).__name__ + ": " + msg[:600]}
    print(json.dumps(out), flush=True)
"""


_BUILD_WORKER = r"""
import json, os, sys
os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"})
import numpy as np
from tests import keras_models
models = {}
for k, (kw, shape) in json.loads(sys.stdin.read()):
    print(json.dumps({"start": k}), flush=True)
    try:
        key = json.dumps(kw, sort_keys=True)
        if key not in models:
            models[key] = keras_models.unet(**kw)
        y = models[key](np.ones(shape, np.float32))
        out = {"job": k, "ok": True, "shapes": [list(y.shape)]}
    except Exception as e:
        msg = " ".join(str(e).split())
        out = {"job": k, "ok": False, "error": type(e).__name__ + ": " + msg[:600]}
    print(json.dumps(out), flush=True)
"""


def run_in_tf(jobs) -> list:
    """For each (path, input shape): (True, [output shapes]) or (False, error text), from
    keras.saving.load_model(path)(np.ones(shape)) in child processes (one more per crash)."""
    return _run_jobs(_WORKER, [(str(p), [int(d) for d in shape]) for p, shape in jobs])


def run_built_unet(jobs) -> list:
    """For each (unet keyword arguments, input shape): as run_in_tf, with the model built by
    ``unet(**kwargs)`` in the child (once per distinct kwargs) instead of loaded from a file, so
    that ``fit`` code runs in it as pasted."""
    return _run_jobs(_BUILD_WORKER, [(kw, [int(d) for d in shape]) for kw, shape in jobs])


def _run_jobs(worker: str, jobs: list) -> list:
    out: dict = {}
    env = child_env(**_ENV)
    todo = list(range(len(jobs)))
    while todo:
        proc = subprocess.run([sys.executable, "-c", worker], input=json.dumps([[k, jobs[k]] for k in todo]),
                              capture_output=True, text=True, env=env, timeout=1800)
        started = None
        for line in proc.stdout.splitlines():
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if "start" in rec:
                started = rec["start"]
            else:
                shapes = [tuple(s) for s in rec.get("shapes", ())]
                out[rec["job"]] = (True, shapes) if rec["ok"] else (False, rec["error"])
                started = None
        if started is not None and started not in out:
            out[started] = (False, f"TensorFlow killed the process (exit {proc.returncode})")
        elif proc.returncode != 0 and not any(k in out for k in todo):
            raise RuntimeError(f"the Keras worker failed: {proc.stderr[-3000:]}")
        todo = [k for k in todo if k not in out]
    return [out[k] for k in range(len(jobs))]


def tf_sweep(path, sizes, channels: int = 1) -> dict:
    """{(h, w): (ok, output shape | error text)} for inputs (1, h, w, channels)."""
    keys = [tuple(s) if isinstance(s, (tuple, list)) else (s, s) for s in sizes]
    res = run_in_tf([(path, (1, h, w, channels)) for h, w in keys])
    return {k: (ok, r[0] if ok else r) for k, (ok, r) in zip(keys, res)}


# --------------------------------------------------------------------------- layer zoos
# Each zoo is a model whose outputs are every layer's output, so one run in TF gives the real
# shape of each; the tests compare them with the shapes shapelint infers from config.json.


def zoo_2d():
    """Layers on a (None, None, 3) image: every rule for 2-D spatial sizes."""
    keras = _keras()
    L = keras.layers
    x = keras.Input((None, None, 3), name="img")
    specs = [
        L.Conv2D(4, 3, strides=2, padding="valid", name="conv_s2_valid"),
        L.Conv2D(4, 3, strides=2, padding="same", name="conv_s2_same"),
        L.Conv2D(4, 3, dilation_rate=2, padding="valid", name="conv_d2_valid"),
        L.Conv2D(4, (3, 5), strides=(2, 3), padding="valid", name="conv_rect"),
        L.SeparableConv2D(4, 3, strides=2, padding="same", name="sepconv"),
        L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid", name="dwconv"),
        L.MaxPooling2D(3, strides=2, padding="valid", name="maxpool_valid"),
        L.MaxPooling2D(3, strides=2, padding="same", name="maxpool_same"),
        L.AveragePooling2D((2, 3), padding="same", name="avgpool_same"),
        L.AveragePooling2D(3, name="avgpool_default_strides"),
        L.Conv2DTranspose(2, 3, strides=2, padding="same", name="ct_k3_s2_same"),
        L.Conv2DTranspose(2, 3, strides=2, padding="valid", name="ct_k3_s2_valid"),
        L.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=1, name="ct_k2_s2_same_op1"),
        L.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, name="ct_k3_s2_same_op1"),
        L.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=0, name="ct_k3_s2_same_op0"),
        L.Conv2DTranspose(2, 1, strides=2, padding="valid", name="ct_k1_s2_valid"),
        L.Conv2DTranspose(2, 2, strides=3, padding="valid", name="ct_k2_s3_valid"),
        L.Conv2DTranspose(2, 2, strides=3, padding="same", output_padding=2, name="ct_k2_s3_same_op2"),
        L.Conv2DTranspose(2, 4, strides=2, padding="valid", output_padding=1, name="ct_k4_s2_valid_op1"),
        L.Conv2DTranspose(2, 3, strides=(2, 3), padding="same", output_padding=(1, 0), name="ct_rect"),
        L.Conv2DTranspose(2, 3, dilation_rate=2, padding="valid", name="ct_d2_valid"),
        L.Conv2DTranspose(2, 2, dilation_rate=2, padding="same", name="ct_d2_same"),
        L.UpSampling2D((2, 3), name="upsample"),
        L.UpSampling2D(2, interpolation="bilinear", name="upsample_bilinear"),
        L.ZeroPadding2D(((1, 2), (3, 4)), name="zeropad"),
        L.Cropping2D(((1, 0), (2, 1)), name="crop"),
        L.Resizing(7, 9, name="resize"),
        L.CenterCrop(5, 6, name="centercrop"),
        L.GlobalAveragePooling2D(name="gap"),
        L.GlobalMaxPooling2D(keepdims=True, name="gmp_keep"),
        L.BatchNormalization(name="bn"),
        L.Activation("relu", name="act"),
        L.ReLU(name="relu"),
        L.LeakyReLU(name="leaky"),
        L.Dropout(0.5, name="dropout"),
        L.Rescaling(1 / 255, name="rescale"),
        L.Softmax(name="softmax"),
        L.Dense(5, name="dense_on_image"),
    ]
    outs = [layer(x) for layer in specs]
    return keras.Model(x, outs, name="zoo_2d")


def zoo_1d():
    keras = _keras()
    L = keras.layers
    x = keras.Input((None, 3), name="seq")
    specs = [
        L.Conv1D(4, 3, strides=2, padding="causal", name="conv_causal"),
        L.Conv1D(4, 3, strides=2, padding="valid", name="conv_valid"),
        L.Conv1D(4, 5, padding="same", dilation_rate=2, name="conv_same_d2"),
        L.SeparableConv1D(4, 3, strides=2, padding="same", name="sepconv"),
        L.DepthwiseConv1D(3, strides=2, depth_multiplier=3, name="dwconv"),
        L.Conv1DTranspose(2, 3, strides=2, padding="same", name="ct_same"),
        L.Conv1DTranspose(2, 4, strides=3, padding="valid", output_padding=2, name="ct_valid_op2"),
        L.MaxPooling1D(2, name="maxpool"),
        L.AveragePooling1D(3, strides=2, padding="same", name="avgpool_same"),
        L.UpSampling1D(3, name="upsample"),
        L.ZeroPadding1D((2, 1), name="zeropad"),
        L.Cropping1D((1, 2), name="crop"),
        L.GlobalAveragePooling1D(name="gap"),
    ]
    return keras.Model(x, [layer(x) for layer in specs], name="zoo_1d")


def zoo_3d():
    keras = _keras()
    L = keras.layers
    x = keras.Input((None, None, None, 2), name="vol")
    specs = [
        L.Conv3D(3, 3, strides=2, padding="same", name="conv_same"),
        L.Conv3D(3, 2, strides=(1, 2, 3), padding="valid", name="conv_valid"),
        L.Conv3DTranspose(2, 2, strides=2, padding="same", output_padding=1, name="ct_k2_op1"),
        L.Conv3DTranspose(2, 3, strides=2, padding="valid", name="ct_valid"),
        L.MaxPooling3D(2, name="maxpool"),
        L.AveragePooling3D(2, strides=1, padding="same", name="avgpool"),
        L.UpSampling3D((1, 2, 3), name="upsample"),
        L.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), name="zeropad"),
        L.Cropping3D(((1, 0), (0, 1), (1, 1)), name="crop"),
        L.GlobalMaxPooling3D(name="gmp"),
    ]
    return keras.Model(x, [layer(x) for layer in specs], name="zoo_3d")


def zoo_fixed():
    """Layers that need fixed sizes, and the merges."""
    keras = _keras()
    L = keras.layers
    x = keras.Input((6, 8, 3), name="img")
    flat = L.Flatten(name="flatten")(x)
    outs = [
        flat,
        L.Dense(5, name="dense")(flat),
        L.RepeatVector(2, name="repeat")(flat),
        L.Reshape((-1, 3), name="reshape_infer")(x),
        L.Reshape((4, 12, 3), name="reshape")(x),
        L.Permute((2, 1, 3), name="permute")(x),
        L.Concatenate(axis=1, name="cat_axis1")([x, x]),
        L.Concatenate(name="cat_last")([x, x]),
        L.Add(name="add")([x, x]),
        L.Subtract(name="sub")([x, x]),
        L.Multiply(name="mul")([x, x]),
        L.Average(name="avg")([x, x]),
        L.Maximum(name="max")([x, x]),
        L.Minimum(name="min")([x, x]),
    ]
    return keras.Model(x, outs, name="zoo_fixed")


def nested():
    """A Functional model called twice inside a Functional model, then a nested Sequential."""
    keras = _keras()
    L = keras.layers
    inner_in = keras.Input((None, None, 2), name="inner_in")
    inner = keras.Model(inner_in, L.Conv2D(2, 3, name="inner_conv")(inner_in), name="inner")
    seq = keras.Sequential([keras.Input((None, None, 2)), L.MaxPooling2D(2, name="seq_pool"),
                            L.Conv2D(2, 1, name="seq_conv")], name="seq")
    x = keras.Input((None, None, 2), name="x")
    a = inner(x)
    b = inner(a)
    c = seq(b)
    shared = L.Conv2D(2, 3, padding="same", name="shared")
    d = shared(shared(c))
    return keras.Model(x, [a, b, c, d], name="outer")


def sequential():
    keras = _keras()
    L = keras.layers
    return keras.Sequential([keras.Input((32, 30, 3)), L.Conv2D(4, 3, name="c"), L.MaxPooling2D(name="p"),
                             L.Flatten(name="f"), L.Dense(3, name="d")], name="seqnet")
