"""Small Keras models saved as ``.keras`` files, and TensorFlow's own verdict on them.

Builders import Keras lazily (the tests skip without TensorFlow). ``run_in_tf`` loads a saved
model with ``keras.saving.load_model`` and calls it at each input size in a child process: TF
can kill the process at some sizes (oneDNN's SIGFPE on empty tensors), and a crash is a failure
at that size, recorded with the signal, after which the remaining sizes run in a new child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def _keras():
    os.environ.update(_ENV)
    import keras

    return keras


def unet(depth=2, stride=2, down="maxpool", k_down=2, pad_down="valid", up="convt", k_up=2, pad_up="same",
         output_padding=None, merge="concat", channels=2, k_conv=3):
    """A U-Net with None spatial dims: per level Conv2D(same) → skip, then MaxPooling2D or a
    strided Conv2D; back up with Conv2DTranspose or UpSampling2D and a Concatenate or Add."""
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
    """Conv2D → Lambda → Concatenate with the skip; the Lambda writes ``marker`` when it runs."""
    keras = _keras()
    layers = keras.layers
    x = keras.Input((None, None, 1), name="x")
    a = layers.Conv2D(2, 3, padding="same", name="conv")(x)

    def touch(t, marker=marker):
        with open(marker, "w") as f:
            f.write("the lambda ran")
        return t

    b = layers.Lambda(touch, name="lam")(a)
    c = layers.Concatenate(name="cat")([a, b])
    return keras.Model(x, c, name="with_lambda")


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


def run_in_tf(jobs) -> list:
    """For each (path, input shape): (True, [output shapes]) or (False, error text), from
    keras.saving.load_model(path)(np.ones(shape)) in child processes (one more per crash)."""
    jobs = [(str(p), [int(d) for d in shape]) for p, shape in jobs]
    out: dict = {}
    env = dict(os.environ, **_ENV)
    todo = list(range(len(jobs)))
    while todo:
        proc = subprocess.run([sys.executable, "-c", _WORKER], input=json.dumps([[k, jobs[k]] for k in todo]),
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
