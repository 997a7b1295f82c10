"""A window larger than its input, on TensorFlow (SavedModel), Keras (.keras) and the TFLite
interpreter (no delegates): what each runtime does there was measured (docs/soundness-and-zoo.md,
"Windows larger than their input") and is modelled as measured. At every size tried, the contract's
verdict equals the runtime's wherever it gives one, and it gives one below the window wherever the
runtime fails there (a negative size), so the sizes once dropped as "erratic" are decided; where the
runtime runs into an empty tensor it abstains, and pinned `check` says so (SL004: an error where the
runtime fails, a warning where it returns an empty tensor without an error)."""

from __future__ import annotations

import numpy as np
import pytest

from shapelint.analysis import contract
from shapelint.api import check as check_model
from shapelint.lint import analyse
from shapelint.symbolic import evaluate
from tests.support import LazyModule

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow, pytest.mark.runtime]
tf = LazyModule("tensorflow")  # imported by the first test: collecting this module does not import it
keras = LazyModule("keras")

HS = list(range(1, 13))
W = 9  # wide enough for every window: H decides


def _layers(kind, k, s, pad):
    p = pad.lower()
    return {"conv": lambda: keras.layers.Conv2D(3, k, s, padding=p),
            "depthwise": lambda: keras.layers.DepthwiseConv2D(k, s, padding=p),
            "max": lambda: keras.layers.MaxPooling2D(k, s, padding=p),
            "avg": lambda: keras.layers.AveragePooling2D(k, s, padding=p)}[kind]()


# (name, layers): one window, a window after a stride (ConvNeXt's stem: k4 s4), and EfficientNet's
# pad-then-VALID-stride-2 after another window (the pad makes an empty tensor non-empty again)
CASES = {
    "conv_k3_s1": [("conv", 3, 1, "VALID")],
    "conv_k3_s2": [("conv", 3, 2, "VALID")],
    "conv_k7_s2": [("conv", 7, 2, "VALID")],
    "stem_k4_s4": [("conv", 4, 4, "VALID")],
    "depthwise_k3_s2": [("depthwise", 3, 2, "VALID")],
    "max_k3_s2": [("max", 3, 2, "VALID")],
    "avg_k3_s1": [("avg", 3, 1, "VALID")],
    "max_then_conv": [("max", 2, 2, "VALID"), ("conv", 3, 1, "VALID")],
    "pad_after_empty": [("depthwise", 3, 2, "VALID"), ("pad",), ("conv", 3, 2, "VALID")],
}


def _model(layers):
    inp = keras.Input((None, None, 2))
    y = inp
    for spec in layers:
        y = keras.layers.ZeroPadding2D(1)(y) if spec[0] == "pad" else _layers(*spec)(y)
    return keras.Model(inp, y)


def _env(inf, shape):
    return {name: shape[axis] for name, (_inp, axis) in inf.symbols.items()}


def _compare(path, run, name):
    """(wrong, decided failures, abstentions): contract vs the runtime at H = 1…12."""
    graph, inf = analyse(path)
    c = contract(inf)
    (out,) = graph.outputs
    shape = inf.shape(out)
    wrong, failed, abstained = [], 0, 0
    for h, (ok, got) in zip(HS, run([(1, h, W, 2) for h in HS])):
        env = _env(inf, (1, h, W, 2))
        pred = c.runs(env)
        if pred is None:
            abstained += 1
            continue
        failed += not pred
        if pred != ok:
            wrong.append((name, h, ok, pred, got))
        elif ok:  # the shape: symbolic where every window fits, else as pinned check infers it
            want = tuple(evaluate(d, env) for d in shape)
            if min(want) < 1:
                pinned_graph, pinned = analyse(path, {graph.inputs[0].name: (1, h, W, 2)})
                want = pinned.shape(pinned_graph.outputs[0])
            if tuple(want) != tuple(got):
                wrong.append((name, h, ok, pred, got, want))
    return wrong, failed, abstained


def _first_window_negative(layers, h):
    """Whether the first windowed layer's output is negative at H = h (TF's trunc arithmetic)."""
    kind, k, s, pad = layers[0]
    return pad == "VALID" and int((h - k + s) / s) < 0


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("windows")
    out = {}
    for name, layers in CASES.items():
        m = _model(layers)
        m.export(str(root / f"{name}_sm"), verbose=False)
        path = str(root / f"{name}.keras")
        m.save(path)
        from tests.tflite_models import convert

        data = convert(m, (1, None, None, 2))
        (root / f"{name}.tflite").write_bytes(data)
        out[name] = {"savedmodel": str(root / f"{name}_sm"), "keras": path, "tflite": str(root / f"{name}.tflite")}
    return out


def _run_savedmodel(path):
    fn = tf.saved_model.load(path).signatures["serving_default"]
    key = list(fn.structured_input_signature[1].keys())[0]

    def run(shapes):
        res = []
        for shape in shapes:
            try:
                y = next(iter(fn(**{key: tf.constant(np.ones(shape, np.float32))}).values()))
                res.append((True, tuple(y.shape)))
            except Exception as e:  # TF raises several error types
                res.append((False, str(e)[:160]))
        return res

    return run


def _run_tflite(path):
    from tests.tflite_models import interpreter

    def run(shapes):
        res = []
        for shape in shapes:
            it = interpreter(path)
            d = it.get_input_details()[0]
            try:
                it.resize_tensor_input(d["index"], list(shape))
                it.allocate_tensors()
                it.set_tensor(d["index"], np.ones(shape, np.float32))
                it.invoke()
                res.append((True, tuple(it.get_tensor(it.get_output_details()[0]["index"]).shape)))
            except (RuntimeError, ValueError) as e:
                res.append((False, str(e)[:160]))
        return res

    return run


def _run_keras(path):
    from tests.keras_models import run_in_tf

    def run(shapes):
        return [(ok, r[0] if ok else r) for ok, r in run_in_tf([(path, s) for s in shapes])]

    return run


RUNNERS = {"savedmodel": _run_savedmodel, "keras": _run_keras, "tflite": _run_tflite}


@pytest.mark.parametrize("fmt", sorted(RUNNERS))
def test_contract_below_windows_equals_the_runtime(models, fmt):
    wrong, decided_fails = [], 0
    for name, layers in CASES.items():
        w, failed, abstained = _compare(models[name][fmt], RUNNERS[fmt](models[name][fmt]), name)
        wrong += w
        decided_fails += failed
        negative = [h for h in HS if _first_window_negative(layers, h)]
        assert failed >= len(negative), (fmt, name, failed, negative)  # failures are decided, not abstained on
    assert not wrong, wrong
    assert decided_fails >= 7  # TF and TFLite: 7 negative sizes in these models; Keras more (Conv2D at 0)


def test_pinned_check_errors_where_the_runtime_fails_and_warns_on_an_empty_output(models):
    # k3 s1 VALID on H=1: −1, every runtime fails; on H=2: 0, TF and TFLite return an empty tensor
    for fmt in ("savedmodel", "tflite"):
        path = models["conv_k3_s1"][fmt]
        fails = [f for f in check_model(path, input_shapes={"": (1, 1, W, 2)}).findings if f.rule == "SL004"]
        assert [f.severity for f in fails] == ["error"], (fmt, fails)
        empty = [f for f in check_model(path, input_shapes={"": (1, 2, W, 2)}).findings if f.rule == "SL004"]
        assert [f.severity for f in empty] == ["warning"] and "empty tensor" in empty[0].message, (fmt, empty)
        assert not [f for f in check_model(path, input_shapes={"": (1, 3, W, 2)}).findings if f.rule == "SL004"]
