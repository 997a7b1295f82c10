"""TFLite (.tflite): the loader, the shape rules and the checks, each claim confirmed by the TFLite
interpreter *without* delegates (XNNPACK, the default, truncates a mismatched concatenation
instead of failing).

Models are Keras models converted with tf.lite.TFLiteConverter, or written directly with the
flatbuffer schema where no converter would write them (tflite_models.py). Numbers are compared
with the interpreter's: the sizes that run, the shape of every tensor, the failing node and its
two sizes. An expectation is never bent to match shapelint.

The tests that convert or run models need TensorFlow (marked slow and tensorflow); the ones on
models written with the schema (loader, bad files, MediaPipe's op, lint's dispatch) never import
it: they are the fast tier's TFLite tests.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import subprocess
import sys
import time
from types import MappingProxyType

import numpy as np
import pytest

from shapelint.analysis import contract
from shapelint.checks import CHECKS
from shapelint.checks._context import CheckContext
from shapelint.errors import ModelError
from shapelint.frameworks import DIALECTS
from shapelint.frameworks.tflite import TFLITE_RULES
from shapelint.infer import infer
from shapelint.lint import findings, resolve_pins
from shapelint.loaders import tflite_loader
from shapelint.symbolic import evaluate
from tests import tflite_models as M
from tests.support import LazyModule, child_env

tf = LazyModule("tensorflow")  # imported by the first test that uses it: never in the fast tier

TFLITE_MERGES = {"CONCATENATION": "equal", **{op: "broadcast" for op in (
    "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "FLOOR_DIV", "FLOOR_MOD", "POW",
    "SELECT_V2")}}


def test_tflite_is_a_registered_dialect():
    """The TFLite rules and merges are registered once, in shapelint.frameworks."""
    d = DIALECTS["tflite"]
    assert d.shape_rules is TFLITE_RULES and d.domains == ("tflite",)
    assert d.merge_ops == TFLITE_MERGES


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tflite"))


@pytest.fixture(scope="module")
def models(tmp):
    """The converted models several tests share, converted once."""
    out = {
        "unet_dyn": M.save(M.convert(M.unet(2), (1, None, None, 3)), tmp, "unet_dyn"),
        "unet_fixed": M.save(M.convert(M.unet(2, input_shape=(64, 64, 3)), (1, 64, 64, 3)), tmp, "unet_fixed"),
        "unet_resize": M.save(M.convert(M.unet(2, up="resize"), (1, None, None, 3)), tmp, "unet_resize"),
        "misc_fixed": M.save(M.convert(M.misc((37, 45, 3)), (1, 37, 45, 3)), tmp, "misc_fixed"),
        "misc_dyn": M.save(M.convert(M.misc(), (1, None, None, 3)), tmp, "misc_dyn"),
    }
    return out


TF = [pytest.mark.slow, pytest.mark.tensorflow]


@pytest.fixture(params=["raw", pytest.param("converted", marks=TF)])
def fixed_model(request, tmp):
    """A fixed-size model: written with the schema (the fast variant, no TensorFlow), or the
    converted 64×64 U-Net."""
    if request.param == "raw":
        return M.save(M.fixed_skip_model(64), tmp, "raw_fixed64")
    return request.getfixturevalue("models")["unet_fixed"]


@pytest.fixture(params=["raw", pytest.param("converted", marks=TF)])
def sl003_model(request, tmp):
    """A model with an SL003 finding: the fixed skip connection that does not fit (65), written
    with the schema, or the converted dynamic U-Net."""
    if request.param == "raw":
        return M.save(M.fixed_skip_model(65), tmp, "raw_fixed65")
    return request.getfixturevalue("models")["unet_dyn"]


def _lint(path, pins=None):
    """load → infer → the TFLite transposed-conv checks and the merge check: (graph, inferred, findings)."""
    graph = tflite_loader.load(path)
    inf = infer(graph, resolve_pins(graph, pins or {}, path))
    ctx = CheckContext(path, graph, inf)
    found = [f for rule in ("SL001", "SL002", "SL003") for f in findings(CHECKS[rule], ctx)]
    return graph, inf, found


def _rule(findings, rule, severity=None):
    return [f for f in findings if f.rule == rule and (severity is None or f.severity == severity)]


def _x(h, w=None, c=3):
    return np.random.RandomState(h).rand(1, h, w or h, c).astype(np.float32)


def _ints(text):
    return [int(v) for v in re.findall(r"-?\d+", text)]


# --------------------------------------------------------------------------- loader


@pytest.mark.slow
@pytest.mark.tensorflow
def test_loader_reads_a_converted_unet(models):
    g = tflite_loader.load(models["unet_dyn"])
    assert g.framework == "tflite"
    assert [t.shape for t in g.inputs] == [(1, "H", "W", 3)]
    ops = [n.op for n in g.nodes]
    for op in ("CONV_2D", "MAX_POOL_2D", "TRANSPOSE_CONV", "CONCATENATION", "SHAPE", "STRIDED_SLICE", "PACK"):
        assert op in ops, f"{op} missing from {sorted(set(ops))}"
    assert all(n.domain == "tflite" for n in g.nodes)
    assert len({n.name for n in g.nodes}) == len(g.nodes)
    known = {t.name for t in g.inputs} | set(g.constants) | {o for n in g.nodes for o in n.outputs}
    assert all(i in known for n in g.nodes for i in n.inputs if i)
    conv = next(n for n in g.nodes if n.op == "CONV_2D")
    assert (conv.attr("padding"), conv.attr("stride_h"), conv.attr("dilation_w_factor")) == ("SAME", 1, 1)
    pool = next(n for n in g.nodes if n.op == "MAX_POOL_2D")
    assert (pool.attr("filter_height"), pool.attr("stride_w"), pool.attr("padding")) == (2, 2, "SAME")
    tconv = next(n for n in g.nodes if n.op == "TRANSPOSE_CONV")
    assert (tconv.attr("padding"), tconv.attr("stride_h"), tconv.attr("stride_w")) == ("SAME", 2, 2)
    assert next(n for n in g.nodes if n.op == "CONCATENATION").attr("axis") == -1


@pytest.mark.slow
@pytest.mark.tensorflow
def test_weights_are_never_decoded(models):
    """Only small constants (the shape arguments) are decoded; every 4-D weight keeps its bytes."""
    g = tflite_loader.load(models["unet_fixed"])
    decoded = []

    def recording(c):
        def load():
            decoded.append(c.name)
            return c.load()
        return dataclasses.replace(c, load=load)

    g2 = dataclasses.replace(g, constants=MappingProxyType({k: recording(c) for k, c in g.constants.items()}))
    inf = infer(g2)
    weights = [c for c in g.constants.values() if len(c.shape) == 4]
    assert weights and not any(c.name in decoded for c in weights)
    assert all(g.constants[n].size <= 64 for n in decoded)
    out = inf.shape(g.outputs[0])
    assert out == (1, 64, 64, 4)


def test_duplicate_names_are_made_unique(tmp):
    t = [("t", (1, 4, 4, 2), "float32", None, None), ("t", (1, 4, 4, 2), "float32", None, None),
         ("t", (1, 4, 4, 2), "float32", None, None)]
    ops = [("RELU", [0], [1], None, None), ("RELU", [1], [2], None, None)]
    g = tflite_loader.load(M.save(M.raw_model(t, ops, [0], [2]), tmp, "dup"))
    assert [n.outputs[0] for n in g.nodes] == ["t#2", "t#3"]
    assert [n.name for n in g.nodes] == ["t#2", "t#3"]
    assert g.inputs[0].name == "t" and g.outputs == ("t#3",)


def test_other_subgraphs_are_noted(tmp):
    t = [("x", (1, 4, 4, 2), "float32", None, None), ("y", (1, 4, 4, 2), "float32", None, None)]
    g = tflite_loader.load(M.save(M.raw_model(t, [("RELU", [0], [1], None, None)], [0], [1], extra_subgraphs=2),
                                  tmp, "subgraphs"))
    assert any("3 subgraphs" in n and "only subgraph 0" in n for n in g.notes), g.notes


def test_dynamic_dims_get_symbols(tmp):
    t = [("x", (1, 1, 1, 2), "float32", None, (-1, -1, -1, 2)), ("y", (1, 1, 1, 2), "float32", None, None)]
    g = tflite_loader.load(M.save(M.raw_model(t, [("RELU", [0], [1], None, None)], [0], [1]), tmp, "dyn"))
    assert g.inputs[0].shape == ("N", "H", "W", 2)
    two = [("a", (1, 1, 2), "float32", None, (1, -1, 2)), ("b", (1, 1, 2), "float32", None, (1, -1, 2)),
           ("c", (1, 1, 2), "float32", None, None)]
    g = tflite_loader.load(M.save(M.raw_model(two, [("ADD", [0, 1], [2], None, None)], [0, 1], [2]), tmp, "dyn2"))
    assert [t.shape for t in g.inputs] == [(1, "a[1]", 2), (1, "b[1]", 2)]


@pytest.mark.slow
@pytest.mark.tensorflow
def test_resource_variables_use_their_declared_shape(models, tmp):
    """Given the Keras model as trackable object the converter keeps resource variables
    (VAR_HANDLE → READ_VARIABLE → TRANSPOSE): their declared shape feeds the convs, and every
    tensor gets the shape it has in the frozen conversion of the same model. (Not run: such a
    model needs its variables initialised first -- invoke() fails in READ_VARIABLE.)"""
    m = M.unet(2)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def f(x):
        return m(x)

    path = M.save(tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], m).convert(), tmp,
                  "resvar")
    g, inf, findings = _lint(path)
    assert "READ_VARIABLE" in {n.op for n in g.nodes}
    _, inf_frozen, findings_frozen = _lint(models["unet_dyn"])
    for op in ("TRANSPOSE_CONV", "CONCATENATION", "CONV_2D"):
        got = [inf.shape(n.outputs[0]) for n in g.nodes if n.op == op]
        want = [inf_frozen.shape(n.outputs[0]) for n in inf_frozen.graph.nodes if n.op == op]
        assert got == want and all(None not in s for s in got), (op, got, want)
    assert [f.details.get("works") for f in _rule(findings, "SL003")] == \
        [f.details.get("works") for f in _rule(findings_frozen, "SL003")]


# --------------------------------------------------------------------------- shapes vs the interpreter


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("name,sizes", [("unet_fixed", [(64, 64)]), ("unet_dyn", [(16, 16), (24, 40), (64, 32)]),
                                        ("unet_resize", [(16, 16), (28, 36)]), ("misc_fixed", [(37, 45)]),
                                        ("misc_dyn", [(37, 45), (30, 31), (64, 64)])])
def test_every_tensor_shape_matches_the_interpreter(models, name, sizes):
    path = models[name]
    g = tflite_loader.load(path)
    inf = infer(g)
    produced = [o for n in g.nodes for o in n.outputs if o]
    for h, w in sizes:
        ok, _, got = M.run(path, _x(h, w), shapes=True)
        assert ok, got
        env = {"H": h, "W": w}
        bad, unknown = [], []
        for t in produced:
            s = inf.shape(t)
            if s is None or any(d is None for d in s):
                unknown.append(t)
                continue
            want = tuple(evaluate(d, env) for d in s)
            if t in got and got[t] != want:
                bad.append(f"{t}: shapelint {want}, interpreter {got[t]}")
        assert not unknown, f"unknown shapes: {unknown[:5]}"
        missing = [t for t in produced if "#" not in t and t not in got]
        assert not missing, f"tensors the interpreter does not name: {missing[:5]}"
        assert not bad, "\n".join(bad[:10])


# --------------------------------------------------------------------------- merges (SL003)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("name", ["unet_dyn", "unet_resize"])
def test_dynamic_unet_sizes_that_run_match_the_interpreter(models, name):
    path = models[name]
    _, inf, findings = _lint(path)
    assert _rule(findings, "SL003", "warning"), findings
    c = contract(inf)
    disagree = []
    sizes = [(h, h) for h in range(1, 41)] + [(8, 9), (12, 16), (17, 20), (32, 31)]
    for h, w in sizes:
        predicted = c.runs({"H": h, "W": w})
        ok, y, _ = M.run(path, _x(h, w))
        if predicted != ok:
            disagree.append(f"{h}×{w}: shapelint {'runs' if predicted else 'fails'}, interpreter "
                            f"{'runs' if ok else 'fails: ' + y}")
        elif not ok:
            assert "CONCATENATION" in y and "failed to prepare" in y, y
    assert not disagree, "\n".join(disagree)
    # the finding's numbers: the smallest failing size fails, the working example runs
    f = _rule(findings, "SL003", "warning")[0]
    bad, good = f.details["smallest_failing"], f.details["example_working"]
    assert not M.run(path, _x(bad))[0] and M.run(path, _x(good))[0]


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_pinned_odd_size_is_an_error_with_the_interpreters_numbers(models):
    """The dynamic U-Net at 65×65 (what a fixed-size conversion would be; the converter itself
    refuses a fixed 65: TF's shape inference rejects the Concatenate of 34 and 33)."""
    path = models["unet_dyn"]
    _, _, findings = _lint(path, {"": (1, 65, 65, 3)})
    errors = _rule(findings, "SL003", "error")
    assert errors
    first = errors[0]
    ok, msg, _ = M.run(path, _x(65))
    assert not ok and "CONCATENATION" in msg and "failed to prepare" in msg
    m = re.search(r"\((\d+) != (\d+)\)", msg)
    assert m and {int(m.group(1)), int(m.group(2))} == {int(v) for v in first.details["sizes"]}, (msg, first.details)
    assert {int(v) for v in first.details["sizes"]} == {33, 34}
    _, _, clean = _lint(path, {"": (1, 64, 64, 3)})
    assert not _rule(clean, "SL003") and M.run(path, _x(64))[0]
    with pytest.raises(ValueError):  # the converter cannot produce a fixed 65 model
        M.convert(M.unet(2), (1, 65, 65, 3))


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("size,fails", [(65, True), (64, False), (63, True), (32, False)])
def test_fixed_size_skip_connection(tmp, size, fails):
    path = M.save(M.fixed_skip_model(size), tmp, f"skip{size}")
    _, _, findings = _lint(path)
    errors = _rule(findings, "SL003", "error")
    ok, msg, _ = M.run(path, _x(size, c=4))
    assert ok == (not fails) and bool(errors) == fails, (msg, findings)
    if fails:
        m = re.search(r"\((\d+) != (\d+)\)", msg)
        assert "CONCATENATION" in msg and m
        assert {int(m.group(1)), int(m.group(2))} == {int(v) for v in errors[0].details["sizes"]}


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_xnnpack_truncates_where_the_builtin_kernels_fail(tmp):
    """Why the tests use no delegate (SEMANTICS.md): the default XNNPACK delegate runs the
    mismatched concatenation at 65 and returns a 66×66 result without an error."""
    path = M.save(M.fixed_skip_model(65), tmp, "skip65_xnn")
    ok, y, _ = M.run(path, _x(65, c=4), tf.lite.experimental.OpResolverType.AUTO)
    assert ok and y.shape == (1, 66, 66, 8), y
    assert not M.run(path, _x(65, c=4))[0]


# --------------------------------------------------------------------------- TRANSPOSE_CONV (SL001/SL002)


def _admissible(i, k, s, padding):
    low = (i - 1) * s + 1 if padding == "SAME" else (i - 1) * s + k
    return set(range(low, low + s))


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_transpose_conv_output_shape_grid(tmp):
    """Every output_shape near the admissible range, per (input, kernel, stride, padding): shapelint's
    SL001/SL002 against what the interpreter, the reference kernels and TensorFlow do."""
    cases, expect = [], []
    for i in (2, 3):
        for k in (2, 3, 4):
            for s in (2, 3):
                for padding in ("SAME", "VALID"):
                    adm = _admissible(i, k, s, padding)
                    base = M.conv_transpose(i, k, s, padding, min(adm))
                    for o in range(max(0, min(adm) - 3), max(adm) + 3):
                        for hw in ((o, o), (min(adm), o)):
                            name = f"tc_{i}_{k}_{s}_{padding}_{hw[0]}_{hw[1]}"
                            path = M.save(M.set_output_shape(base, hw), tmp, name)
                            cases.append(dict(path=path, i=i, k=k, s=s, padding=padding, cin=3, cout=2, hw=list(hw)))
                            expect.append(all(v in adm for v in hw))
    # in a child process: the optimized kernel reads past its buffer for some of these
    code = ("import json, sys; from tests import tflite_models as M; "
            "print(json.dumps(M.transpose_conv_verdicts(json.load(sys.stdin))))")
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=900, env=child_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdicts = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = []
    for c, fits, v in zip(cases, expect, verdicts):
        _, _, findings = _lint(c["path"])
        sl001, sl002 = _rule(findings, "SL001"), _rule(findings, "SL002")
        tag = f"i={c['i']} k={c['k']} s={c['s']} {c['padding']} output {c['hw']}"
        if bool(sl001) == fits:
            bad.append(f"{tag}: fits={fits} but SL001={[f.message for f in sl001]}")
        if sl001 and sl001[0].severity != "warning":
            bad.append(f"{tag}: SL001 is {sl001[0].severity}, but the interpreter runs")
        if fits and not sl002:
            bad.append(f"{tag}: no SL002 info")
        if not v["ok"]:
            bad.append(f"{tag}: the interpreter fails: {v['message']}")
        elif v["shape"][1:3] != c["hw"]:
            bad.append(f"{tag}: the interpreter gives {v['shape']}")
        if fits and not v["same_as_tf"]:
            bad.append(f"{tag}: admissible, but TFLite's values differ from TensorFlow's")
        if not fits and 0 in c["hw"]:
            if not (v["tf_ok"] and sl001 and "empty tensor" in sl001[0].message):
                bad.append(f"{tag}: an empty output, which TFLite and TensorFlow both return without an error")
        elif not fits and v["tf_ok"]:
            bad.append(f"{tag}: TensorFlow runs an output_shape shapelint calls inadmissible")
        if not fits and min(c["hw"]) >= 4 and v["same_as_reference"]:
            bad.append(f"{tag}: SL001 says the values are wrong, but they equal the reference kernel's")
    assert not bad, f"{len(bad)} disagreement(s) in {len(cases)} cases:\n" + "\n".join(bad[:15])


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_keras_output_padding_zero(tmp):
    """Keras Conv2DTranspose(k=4, s=2, "same", output_padding=0) asks for 2·i − 2 (tensorflow#50168):
    Keras itself fails at run time, the converter accepts it and TFLite runs it silently."""
    path = M.save(M.keras_conv_transpose(8, 4, 2, "same", 0), tmp, "keras_op0")
    _, _, findings = _lint(path)
    (f,) = _rule(findings, "SL001")
    assert f.severity == "warning" and f.details["output"] == "14" and f.details["admissible"] == ["15", "16"]
    assert "7×7" in f.message  # the input extent the kernel assumes: forward conv of 14 (SAME, s 2)
    ok, y, _ = M.run(path, _x(8))
    assert ok and y.shape == (1, 14, 14, 2)
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 3))
    m = keras.Model(inp, layers.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=0)(inp))
    with pytest.raises(Exception):
        m(_x(8))


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_keras_output_padding_zero_dynamic(tmp):
    path = M.save(M.keras_conv_transpose(None, 4, 2, "same", 0, dynamic=True), tmp, "keras_op0_dyn")
    _, _, findings = _lint(path)
    (f,) = _rule(findings, "SL001")
    assert f.severity == "warning" and "for every H" in f.message, f.message
    for h in (5, 8):
        ok, y, _ = M.run(path, _x(h))
        assert ok and y.shape == (1, 2 * h - 2, 2 * h - 2, 2)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_negative_output_shape_is_an_error(tmp):
    base = M.conv_transpose(2, 3, 2, "VALID", 5)
    path = M.save(M.set_output_shape(base, (-1, 5)), tmp, "tc_negative")
    _, _, findings = _lint(path)
    (f,) = _rule(findings, "SL001")
    assert f.severity == "error"
    ok, msg, _ = M.run(path, _x(2))
    assert not ok and "TRANSPOSE_CONV" in msg and "failed to prepare" in msg
    path0 = M.save(M.set_output_shape(base, (0, 5)), tmp, "tc_zero")
    (f0,) = _rule(_lint(path0)[2], "SL001")
    ok, y, _ = M.run(path0, _x(2))
    assert f0.severity == "warning" and ok and y.shape == (1, 0, 5, 2)


# --------------------------------------------------------------------------- MediaPipe's custom op


@pytest.mark.parametrize("size,padding,want", [(8, 1, 16), (9, 1, 17), (9, 2, 20), (1, 1, 1)])
def test_mediapipe_transpose_conv_bias(tmp, size, padding, want):
    """Output per mediapipe/util/tflite/operations/transpose_conv_bias.cc (k 4, s 2): SAME gives
    2·i for even i but 2·i − 1 for odd i; VALID s·(i − 1) + k. Not run: the interpreter has no
    kernel for this custom op."""
    path = M.save(M.mediapipe_model(size, padding=padding), tmp, f"mp_{size}_{padding}")
    g, inf, findings = _lint(path)
    (node,) = g.nodes
    assert node.op == "Convolution2DTransposeBias" and node.attr("stride_h") == 2
    assert inf.shape("y") == (1, want, want, 2)
    assert any("Convolution2DTransposeBias" in n for n in inf.notes)
    assert not _rule(findings, "SL001")
    if size > 1:
        (info,) = _rule(findings, "SL002")
        assert info.details["chosen"] == str(want)


def test_mediapipe_short_options_are_noted(tmp):
    path = M.save(M.mediapipe_model(9, custom_options=b"\x01\x00"), tmp, "mp_short")
    g, inf, _ = _lint(path)
    assert inf.shape("y") == (1, None, None, 2)
    assert any("too few" in n for n in g.notes), g.notes


# --------------------------------------------------------------------------- bad files


def _expect_model_error(path, *words):
    with pytest.raises(ModelError) as e:
        tflite_loader.load(path)
    assert e.value.path == path
    for w in words:
        assert w in e.value.reason, e.value.reason
    return e.value.reason


def test_random_bytes(tmp):
    rng = random.Random(0)
    for n in (0, 3, 8, 100, 4096):
        for k in range(3):
            data = bytes(rng.randrange(256) for _ in range(n))
            _expect_model_error(M.save(data, tmp, f"random_{n}_{k}"))
            if n >= 8:
                framed = data[:4] + b"TFL3" + data[8:]
                _expect_model_error(M.save(framed, tmp, f"random_tfl3_{n}_{k}"))


def test_wrong_identifier(fixed_model, tmp):
    data = bytearray(open(fixed_model, "rb").read())
    data[4:8] = b"TFL2"
    _expect_model_error(M.save(bytes(data), tmp, "tfl2"), "file identifier")


@pytest.mark.parametrize("mapped", [False, True])
def test_truncated_at_every_eighth(fixed_model, tmp, monkeypatch, mapped):
    if mapped:  # large files are memory-mapped rather than read: the same checks apply
        monkeypatch.setattr(tflite_loader, "MAP_ABOVE", 0)
    data = open(fixed_model, "rb").read()
    for k in range(8):
        cut = len(data) * k // 8
        _expect_model_error(M.save(data[:cut], tmp, f"truncated_{k}"), "TFLite")
    assert tflite_loader.load(M.save(data, tmp, "whole")).nodes


def test_out_of_range_indices(tmp):
    x = ("x", (1, 4, 4, 2), "float32", None, None)
    y = ("y", (1, 4, 4, 2), "float32", None, None)
    cases = {
        "operator input": ([x, y], [("RELU", [7], [1], None, None)], [0], [1], "operator 0"),
        "operator output": ([x, y], [("RELU", [0], [-3], None, None)], [0], [1], "operator 0"),
        "subgraph input": ([x, y], [("RELU", [0], [1], None, None)], [5], [1], "subgraph's inputs"),
        "buffer": ([x, ("w", (2,), "float32", None, None, 40), y], [("ADD", [0, 1], [2], None, None)], [0], [2],
                   "buffer 40"),
        "two producers": ([x, y], [("RELU", [0], [1], None, None), ("RELU", [0], [1], None, None)], [0], [1],
                          "output of operators"),
        "cycle": ([x, y, ("z", (1, 4, 4, 2), "float32", None, None)],
                  [("ADD", [0, 2], [1], None, None), ("RELU", [1], [2], None, None)], [0], [2], "cycle"),
    }
    for name, (tensors, ops, ins, outs, word) in cases.items():
        _expect_model_error(M.save(M.raw_model(tensors, ops, ins, outs), tmp, name.replace(" ", "_")), word)


def test_single_byte_corruptions_never_escape(fixed_model, tmp):
    """Flip one byte at 300 places: the file loads and lints, or it is a ModelError -- nothing else."""
    data = open(fixed_model, "rb").read()
    rng = random.Random(1)
    other = []
    for k in range(300):
        pos = rng.randrange(len(data))
        buf = bytearray(data)
        buf[pos] ^= 1 << rng.randrange(8)
        path = M.save(bytes(buf), tmp, "flip")
        try:
            _lint(path)
        except ModelError:
            pass
        except Exception as e:  # noqa: BLE001 - the point of the test
            other.append(f"byte {pos}: {type(e).__name__}: {e}")
    assert not other, "\n".join(other[:10])


def test_cli_reports_a_bad_file_in_one_line(tmp):
    from shapelint import lint as lint_mod

    assert ".tflite" in lint_mod.MODEL_SUFFIXES, "lint.py does not dispatch .tflite"
    path = M.save(b"\x00" * 5 + b"garbage", tmp, "bad_cli")
    env = child_env()
    proc = subprocess.run([sys.executable, "-m", "shapelint", "check", path], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and path in proc.stderr


def test_lint_dispatches_tflite(sl003_model):
    from shapelint import lint as lint_mod

    assert ".tflite" in lint_mod.MODEL_SUFFIXES, "lint.py does not dispatch .tflite"
    res = lint_mod.lint(sl003_model)
    assert any(f.rule == "SL003" for f in res.findings)


def test_loading_is_fast_and_tensorflow_free(sl003_model):
    """The lint path never imports tensorflow (it reads with the vendored schema)."""
    code = ("import sys, time; t = time.time(); from shapelint.loaders import tflite_loader; "
            f"g = tflite_loader.load({sl003_model!r}); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print(time.time() - t)")
    env = child_env()
    t = time.time()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert float(proc.stdout.strip()) < 5, proc.stdout
    assert time.time() - t < 30
