"""shapelint against the TF-side zoo (zoo/tf/, made by scripts/make_tf_zoo.py: public Keras code as
.keras, SavedModel and .tflite, with Keras's, TensorFlow's and the TFLite interpreter's verdicts).

Verdict kinds and how they map:
- "ok": ran, every output has elements. The contract may say it runs (True) or abstain.
- "fail": the runtime raised (or its process died). The contract may say it fails (False) or abstain;
  pinned ``check`` gives an error or abstains (SL005).
- "empty": ran without an error, but an output has 0 elements (a window larger than its input gave
  an empty tensor that reached the output). That is not a failure: the contract must not say False,
  and pinned ``check`` gives no error; it says so with an SL004 warning (the dialect's
  ``empty_window``) or abstains.
Where TF_ENABLE_ONEDNN_OPTS=1 gives another verdict (``onednn_sizes``), the answer depends on the
build: it must hold for both verdicts (in practice shapelint abstains there: ``erratic_at_zero``).
An abstention is honest only where shapelint names why: an unknown op (``Contract.unknown``), or a
size below a TF-family window (``Contract.abstains``), which pinned ``check`` names as SL004/SL005.
"""

import json
import os
import random
import subprocess
import sys

import pytest

from shapelint.analysis import contract, merges
from shapelint.findings import ABSTENTION_RULES
from shapelint.lint import analyse, lint

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ZOO = os.path.join(REPO, "zoo", "tf")
with open(os.path.join(ZOO, "verdicts.json")) as _f:
    TABLE = json.load(_f)

# the fast tier: cheap files (analysis well under a second), one per format
FAST = {"vgg16.keras", "mobilenetv2.tflite"}


def _models(names):
    return [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in names]


def _kind(v) -> str:
    return v if isinstance(v, str) else v["verdict"]


def _kinds(entry, size) -> set:
    """The verdicts at ``size`` in both builds (oneDNN off, on)."""
    v = entry["sizes"][size]
    return {_kind(v), _kind(entry.get("onednn_sizes", {}).get(size, v))}


def _env(shape, axes, h, w):
    env = {d: 1 for d in shape if isinstance(d, str)}  # the batch, as measured
    env.update({shape[axes[0]]: h, shape[axes[1]]: w})
    return env


def test_zoo_covers_the_formats_and_sizes_issue_14_asks_for():
    formats = {e["format"] for e in TABLE.values()}
    assert formats == {"keras", "savedmodel", "tflite"}, formats
    assert FAST <= set(TABLE)
    for fname, e in TABLE.items():
        assert os.path.exists(os.path.join(ZOO, fname)), fname
        assert all(f"{h}x{h}" in e["sizes"] for h in range(1, 97)), fname
        assert sum(1 for s in e["sizes"] if s.split("x")[0] != s.split("x")[1]) >= 20, fname
        for size, v in {**e["sizes"], **e.get("onednn_sizes", {})}.items():
            assert v == "ok" or v["verdict"] in ("fail", "empty"), (fname, size, v)


def _compare(fname):
    """(wrong, abstained, unexplained) of the contract against the runtime at every measured size."""
    entry = TABLE[fname]
    graph, inf = analyse(os.path.join(ZOO, fname))
    shape = next(t.shape for t in graph.inputs if t.name == entry["input"])
    axes = entry["spatial_axes"]
    c = contract(inf, merges(inf))
    below = {name: set(c.abstains(name)) for name in (shape[axes[0]], shape[axes[1]])}
    wrong, abstained, unexplained = [], 0, []
    for size in entry["sizes"]:
        h, w = map(int, size.split("x"))
        got = c.runs(_env(shape, axes, h, w))
        kinds = _kinds(entry, size)
        if got is None:
            abstained += 1
            if not c.unknown and h not in below[shape[axes[0]]] and w not in below[shape[axes[1]]]:
                unexplained.append(size)
        elif got is True and kinds - {"ok", "empty"}:
            wrong.append((size, "contract: runs", kinds))
        elif got is False and kinds != {"fail"}:
            wrong.append((size, "contract: fails", kinds))
    return wrong, abstained, unexplained


@pytest.mark.parametrize("fname", _models(sorted(TABLE)))
def test_contract_equals_the_runtime_at_every_measured_size(fname):
    wrong, abstained, unexplained = _compare(fname)
    print(f"{fname}: {len(TABLE[fname]['sizes'])} sizes, {len(wrong)} disagreements, {abstained} abstentions")
    assert not wrong, wrong[:5]
    assert not unexplained, unexplained[:5]


def _pinned(entry, h, w):
    shape = [1 if not str(d).isdigit() else int(d) for d in entry["input_shape"]]
    shape[entry["spatial_axes"][0]], shape[entry["spatial_axes"][1]] = h, w
    return tuple(shape)


def _sample(entry, fname, n=6):
    """n sizes: the failing and empty ones first (half), then ok ones, seeded by the file name."""
    rng = random.Random(fname)
    sizes = sorted(entry["sizes"])
    odd = [s for s in sizes if _kinds(entry, s) != {"ok"}]
    ok = [s for s in sizes if _kinds(entry, s) == {"ok"}]
    pick = rng.sample(odd, min(len(odd), n // 2))
    return pick + rng.sample(ok, min(len(ok), n - len(pick)))


@pytest.mark.slow
@pytest.mark.parametrize("fname", sorted(TABLE))
def test_pinned_check_errors_exactly_where_the_runtime_fails(fname):
    entry = TABLE[fname]
    for size in _sample(entry, fname):
        h, w = map(int, size.split("x"))
        res = lint(os.path.join(ZOO, fname), {entry["input"]: _pinned(entry, h, w)})
        errors = [f for f in res.findings if f.severity == "error"]
        # an SL004 warning says the runtime may run a window into an empty tensor (or, by build, fail)
        abstains = [f for f in res.findings
                    if f.rule in ABSTENTION_RULES or (f.rule == "SL004" and f.severity == "warning")]
        kinds = _kinds(entry, size)
        if errors:
            assert kinds == {"fail"}, (fname, size, kinds, errors[0].message)
        elif kinds == {"fail"}:
            assert abstains, (fname, size, "no error, no abstention", [f.rule for f in res.findings])
        out = entry["output_shapes"].get(size)
        if out is not None and kinds == {"ok"} and not abstains:  # the output shape, as the runtime gave it
            graph, inf = analyse(os.path.join(ZOO, fname), {entry["input"]: _pinned(entry, h, w)})
            got = inf.shape(graph.outputs[0])
            assert got is None or list(got) == out, (fname, size, got, out)
        if "empty" in kinds and not errors:
            assert abstains or any(f.rule == "SL004" for f in res.findings), (fname, size, res.findings[:2])


EVERYWHERE = [f for f, e in sorted(TABLE.items()) if all(_kinds(e, s) == {"ok"} for s in e["sizes"])]


@pytest.mark.parametrize("fname", _models(EVERYWHERE))
def test_no_warning_or_error_on_models_that_run_at_every_size(fname):
    res = lint(os.path.join(ZOO, fname))
    assert not [f for f in res.findings if f.severity in ("error", "warning")], res.findings[:2]


SOMEWHERE = [f for f, e in sorted(TABLE.items()) if any(_kinds(e, s) == {"ok"} for s in e["sizes"])]


@pytest.mark.parametrize("fname", _models(SOMEWHERE))
def test_no_error_unpinned_on_models_that_run_at_some_size(fname):
    """No model here runs at 1×1, so the test above may have nothing to check; unpinned (dynamic H
    and W), a model that runs at some measured size gets no error: its restrictions are warnings
    with the sizes that work."""
    res = lint(os.path.join(ZOO, fname))
    assert not [f for f in res.findings if f.severity == "error"], res.findings[:2]


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("fname", ["mobilenetv2.keras", "inceptionv3.keras", "vgg16.tflite"])
def test_stored_verdicts_are_reproducible(fname, tmp_path):
    """Rebuild the model with its recorded ``build`` call (seed 0, random weights), save it in its
    format, and run the runtime (scripts/make_tf_zoo.py's own child processes, oneDNN as the suite
    sets it) at a few sizes: the verdicts are the stored ones."""
    entry = TABLE[fname]
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")
    sizes = _sample(entry, fname, n=4)
    code = f"""
import json, os, sys
sys.path.insert(0, {os.path.join(REPO, 'scripts')!r})
import keras, tensorflow as tf
import make_tf_zoo as z
keras.utils.set_random_seed(0)
model = eval({entry['build']!r}, z._namespace())
fmt = {entry['format']!r}
path = os.path.join({str(tmp_path)!r}, 'm' + z.EXT[fmt])
if fmt == 'keras':
    model.save(path)
else:
    model.export(os.path.join({str(tmp_path)!r}, 'sm'), format='tf_saved_model', verbose=False)
    if fmt == 'tflite':
        open(path, 'wb').write(tf.lite.TFLiteConverter.from_saved_model(os.path.join({str(tmp_path)!r}, 'sm')).convert())
    else:
        path = os.path.join({str(tmp_path)!r}, 'sm')
got = z.measure(fmt, path, {[list(map(int, s.split('x'))) for s in sizes]!r}, {onednn})
print(json.dumps({{k: r['v'] for k, r in got.items()}}))
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    want = entry["onednn_sizes"] if onednn == "1" else {}
    for size in sizes:
        expect = want.get(size, entry["sizes"][size])
        assert _kind(got[size]) == _kind(expect), (size, got[size], expect)


def test_keras_inceptionv3_pinned_below_its_window_is_an_error_where_keras_fails():
    """Issue 14's case: InceptionV3 as .keras at 74×74 fails in Keras in both builds (a Conv2D's output
    is 0: Keras's own ValueError; with oneDNN the next BatchNormalization gets the wrong channel
    count), so pinned check gives an SL004 error; at 19×19 Keras returns an empty output without an
    error (a MaxPooling2D's output is 0 first), so only the warning."""
    path = os.path.join(ZOO, "inceptionv3.keras")
    res = lint(path, {"input_layer": (1, 74, 74, 3)})
    errors = [f for f in res.findings if f.severity == "error"]
    assert [f.rule for f in errors] == ["SL004"] and "BatchNormalization" in errors[0].message, res.findings[:2]
    assert _kinds(TABLE["inceptionv3.keras"], "74x74") == {"fail"}
    res = lint(path, {"input_layer": (1, 19, 19, 3)})
    assert not [f for f in res.findings if f.severity == "error"], res.findings[:2]
    assert any(f.rule == "SL004" and f.severity == "warning" for f in res.findings)


# a Conv2D whose output is 0 (input 1×2×9×3, kernel 3, valid), then what may check its channels
_AT_ZERO = {
    "bias_8": "[L.Conv2D(8, 3)]",
    "bias_3": "[L.Conv2D(3, 3)]",
    "bias_1": "[L.Conv2D(1, 3)]",
    "nobias_bn_8": "[L.Conv2D(8, 3, use_bias=False), L.BatchNormalization()]",
    "nobias_bn_3": "[L.Conv2D(3, 3, use_bias=False), L.BatchNormalization()]",
    "nobias_conv_8": "[L.Conv2D(8, 3, use_bias=False), L.Conv2D(4, 1)]",
    "nobias_dw_8": "[L.Conv2D(8, 3, use_bias=False), L.DepthwiseConv2D(1)]",
    "nobias_dense_8": "[L.Conv2D(8, 3, use_bias=False), L.Dense(4)]",
    "nobias_relu_8": "[L.Conv2D(8, 3, use_bias=False), L.ReLU()]",
}
_AT_ZERO_RUN = """
import json, os, sys
import numpy as np, keras
L = keras.layers
out = {}
for name, layers in json.loads(sys.argv[2]).items():
    keras.utils.set_random_seed(0)
    x = keras.Input((None, None, 3), name="x"); y = x
    for layer in eval(layers):
        y = layer(y)
    m = keras.Model(x, y)
    m.save(os.path.join(sys.argv[1], name + ".keras"))
    try:
        r = m(np.ones((1, 2, 9, 3), "float32"))
        out[name] = "empty" if 0 in r.shape else "ok"
    except Exception as e:
        out[name] = "fail: " + type(e).__name__
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_keras_conv2d_at_zero_fails_in_both_builds(tmp_path):
    """keras.DIALECT.fails_at_zero, measured: pinned check gives an error exactly where Keras fails
    both without and with oneDNN, and no error where either build runs."""
    got = {}
    for onednn in ("0", "1"):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS=onednn)
        p = subprocess.run([sys.executable, "-c", _AT_ZERO_RUN, str(tmp_path), json.dumps(_AT_ZERO)],
                           capture_output=True, text=True, env=env, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        got[onednn] = json.loads(p.stdout.strip().splitlines()[-1])
    assert all(v.startswith("fail") for v in got["0"].values()), got["0"]  # Keras's own ValueError
    both = {n for n in _AT_ZERO if got["1"][n].startswith("fail")}
    assert both == {"bias_8", "nobias_bn_8", "nobias_conv_8", "nobias_dw_8", "nobias_dense_8"}, got["1"]
    for name in _AT_ZERO:
        res = lint(str(tmp_path / f"{name}.keras"), {"x": (1, 2, 9, 3)})
        errors = [f for f in res.findings if f.severity == "error"]
        assert bool(errors) == (name in both), (name, got["1"][name], res.findings[:2])


@pytest.mark.slow
def test_keras_layerscale_and_two_tensor_ops_are_followed_a_number_operand_is_not():
    """ConvNeXt's LayerScale and ``x + y`` of two Keras tensors (ops.Add) have shape rules: the model
    is fully inferred; MobileNetV3's ``x + 3.0`` (the number is not kept as an input by the loader)
    stays an abstention that names the op."""
    _g, inf = analyse(os.path.join(ZOO, "convnexttiny.keras"))
    assert not contract(inf, merges(inf)).unknown
    _g, inf = analyse(os.path.join(ZOO, "mobilenetv3small.keras"))
    unknown = contract(inf, merges(inf)).unknown
    assert unknown and "ops.Add" in unknown[0].text(), unknown[:1]
