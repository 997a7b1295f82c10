"""SpaceToBatchND / BatchToSpaceND (every dilated conv in a Keras-made SavedModel) and GatherV2
with batch_dims, against TensorFlow: at every size tried, the inferred output shape equals TF's
where TF runs, and the contract's verdict equals TF's (TF fails where a padded size does not divide
by the block, or a crop exceeds the size) -- the same for the TFLite interpreter's
SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND."""

from __future__ import annotations

import numpy as np
import pytest

from shapelint.analysis import contract
from shapelint.lint import analyse
from shapelint.symbolic import evaluate
from tests.support import LazyModule

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow, pytest.mark.runtime]
tf = LazyModule("tensorflow")  # imported by the first test: collecting this module does not import it
keras = LazyModule("keras")

SIZES = [(h, w) for h in range(1, 14) for w in (1, 2, 5, 6, 7)]
W32 = np.ones((3, 3, 2, 3), np.float32)


def _fns():
    f = {}
    # constant block and paddings: runs only where H + 3 divides by 2 and W + 1 by 3
    f["s2b_const"] = lambda x: tf.space_to_batch_nd(x, [2, 3], [[1, 2], [0, 1]])
    # and back, cropping: s2b -> conv VALID -> b2s with crops
    f["s2b_conv_b2s"] = lambda x: tf.batch_to_space(
        tf.nn.conv2d(tf.space_to_batch_nd(x, [2, 2], [[2, 2], [2, 3]]), W32, 1, "VALID"), [2, 2], [[1, 0], [0, 2]])
    # not a dilated conv (the TFLite converter folds those into CONV_2D): s2b -> tanh -> b2s
    f["s2b_tanh_b2s"] = lambda x: tf.batch_to_space(tf.tanh(tf.space_to_batch_nd(x, [3, 2], [[1, 1], [0, 3]])),
                                                    [3, 2], [[0, 2], [1, 1]])
    # crops larger than the size at small inputs: BatchToSpaceND fails there
    f["b2s_big_crop"] = lambda x: tf.batch_to_space(tf.space_to_batch_nd(x, [2, 1], [[0, tf.shape(x)[1] % 2], [0, 0]]),
                                                    [2, 1], [[3, 2], [1, 0]])
    # GatherV2 with batch_dims 1 along axis 2 (indices [N, 4]), as keras.ops.take_along_axis-style layers do
    f["gather_batch_dims"] = lambda x: tf.gather(
        x, tf.zeros(tf.stack([tf.shape(x)[0], 4]), tf.int32), axis=2, batch_dims=1)
    f["gather_batch_dims_neg"] = lambda x: tf.gather(
        x, tf.zeros(tf.stack([tf.shape(x)[0], 2, 3]), tf.int32), axis=-1, batch_dims=-2)
    return f


def _keras(dilation, padding, k=3):
    inp = keras.Input((None, None, 2))
    y = keras.layers.Conv2D(3, k, dilation_rate=dilation, padding=padding)(inp)
    y = keras.layers.Conv2D(3, 3, dilation_rate=(dilation, 1), padding="same")(y)
    return keras.Model(inp, y)


KERAS = {"keras_d2_same": (2, "same"), "keras_d3_same": (3, "same"), "keras_d2_valid": (2, "valid"),
         "keras_d3_valid_k2": (3, "valid", 2)}


def _save(fn, path):
    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 2], tf.float32)])
        def __call__(self, x):
            return fn(x)

    m = M()
    tf.saved_model.save(m, str(path), signatures=m.__call__)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2b")
    out = {}
    for name, fn in _fns().items():
        _save(fn, root / name)
        out[name] = str(root / name)
    for name, args in KERAS.items():
        _keras(*args).export(str(root / name), verbose=False)
        out[name] = str(root / name)
    return out


def _run(path):
    fn = tf.saved_model.load(path).signatures["serving_default"]
    key = list(fn.structured_input_signature[1].keys())[0]

    def run(shape):
        try:
            return True, tuple(next(iter(fn(**{key: tf.constant(np.ones(shape, np.float32))}).values())).shape)
        except Exception as e:  # TF raises several error types
            return False, str(e).strip().splitlines()[0][:200]

    return run


def _env(inf, shape):
    return {name: shape[axis] for name, (_inp, axis) in inf.symbols.items()}


@pytest.mark.parametrize("name", sorted(list(_fns()) + list(KERAS)))
def test_shape_and_contract_equal_tensorflow(saved, name):
    graph, inf = analyse(saved[name])
    (out,) = graph.outputs
    shape = inf.shape(out)
    assert shape is not None and all(d is not None for d in shape), (name, shape, inf.lost)
    c = contract(inf)
    assert not c.unknown, c.unknown
    run = _run(saved[name])
    wrong, runs, fails = [], 0, 0
    for h, w in SIZES:
        x = (2, h, w, 2)
        ok, got = run(x)
        env = _env(inf, x)
        pred = c.runs(env)
        if pred is None:  # below a window (the convs of the VALID cases): TF's own business, not this op's
            continue
        runs, fails = runs + ok, fails + (not ok)
        if pred != ok or ok and tuple(evaluate(d, env) for d in shape) != got:
            wrong.append(((h, w), ok, pred, got, [str(d) for d in shape]))
    assert not wrong, wrong
    assert runs >= 10, runs
    if name in ("s2b_const", "s2b_conv_b2s", "s2b_tanh_b2s", "b2s_big_crop"):
        assert fails >= 10, fails  # the run-time checks are exercised, not only the shapes


def test_tflite_space_to_batch_and_back(tmp_path):
    """The TFLite interpreter (no delegates) on a converted s2b -> tanh -> b2s: the same shapes and the
    same failures (its SPACE_TO_BATCH_ND also requires the padded size to divide by the block)."""
    from tests.tflite_models import convert, no_delegates

    fn = _fns()["s2b_tanh_b2s"]
    data = convert(fn, (1, None, None, 2))
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    graph, inf = analyse(str(path))
    ops = {n.op for n in graph.nodes}
    assert {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} <= ops, ops
    (out,) = graph.outputs
    shape = inf.shape(out)
    c = contract(inf)
    wrong, fails = [], 0
    for h, w in SIZES:
        x = (1, h, w, 2)
        try:
            it = tf.lite.Interpreter(model_content=data, experimental_op_resolver_type=no_delegates())
            d = it.get_input_details()[0]
            it.resize_tensor_input(d["index"], list(x))
            it.allocate_tensors()
            it.set_tensor(d["index"], np.ones(x, np.float32))
            it.invoke()
            ok, got = True, tuple(it.get_tensor(it.get_output_details()[0]["index"]).shape)
        except (RuntimeError, ValueError) as e:
            ok, got = False, str(e)[:120]
        env = _env(inf, x)
        pred = c.runs(env)
        if pred is None:
            continue
        fails += not ok
        if pred != ok or ok and tuple(evaluate(d, env) for d in shape) != got:
            wrong.append(((h, w), ok, pred, got))
    assert not wrong, wrong
    assert fails >= 10


@pytest.mark.parametrize("name", ["gather_batch_dims", "gather_batch_dims_neg"])
def test_tflite_gather_with_batch_dims(tmp_path, name):
    """TFLite's GATHER with batch_dims (its options, two inputs): the interpreter's output shape."""
    from tests.tflite_models import convert, no_delegates

    data = convert(_fns()[name], (None, None, None, 2))
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    graph, inf = analyse(str(path))
    gathers = [n for n in graph.nodes if n.op == "GATHER"]
    assert gathers and all(n.attr("batch_dims") for n in gathers), [(n.op, n.attrs) for n in graph.nodes]
    (out,) = graph.outputs
    shape = inf.shape(out)
    assert shape is not None and None not in shape, (shape, inf.lost)
    for n, h, w in [(1, 3, 5), (2, 4, 6), (3, 7, 2)]:
        x = (n, h, w, 2)
        it = tf.lite.Interpreter(model_content=data, experimental_op_resolver_type=no_delegates())
        d = it.get_input_details()[0]
        it.resize_tensor_input(d["index"], list(x))
        it.allocate_tensors()
        it.set_tensor(d["index"], np.ones(x, np.float32))
        it.invoke()
        got = tuple(it.get_tensor(it.get_output_details()[0]["index"]).shape)
        assert tuple(evaluate(dim, _env(inf, x)) for dim in shape) == got, (x, [str(dim) for dim in shape], got)


def test_pinned_check_errors_exactly_where_tensorflow_fails(saved):
    """check --input-shape on s2b -> conv -> b2s: an SL006 error where TF fails, nothing where it runs."""
    from shapelint.api import check as check_model

    path = saved["s2b_conv_b2s"]
    graph, _ = analyse(path)
    run = _run(path)
    seen = set()
    for h, w in [(2, 5), (3, 5), (4, 6), (5, 6), (6, 7), (7, 7)]:
        ok, _got = run((2, h, w, 2))
        report = check_model(path, input_shapes={graph.inputs[0].name: (2, h, w, 2)})
        errors = [f.rule for f in report.findings if f.severity == "error"]
        assert (errors == []) == ok, ((h, w), ok, errors, [f.message for f in report.findings])
        assert all(r == "SL006" for r in errors)
        assert not [f for f in report.findings if f.rule == "SL005"]  # a failing size is not "not inferred"
        seen.add(ok)
    assert seen == {True, False}
