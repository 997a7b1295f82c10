"""TensorFlow SavedModels: findings confirmed by TensorFlow itself (the serving signature). Every
test but one builds a SavedModel with TensorFlow (marked slow and tensorflow)."""

import os
import subprocess
import sys

import pytest

from shapelint.analysis import contract
from shapelint.lint import analyse, lint
from tests.support import LazyModule
from tests.tf_models import keras_unet, run_signature, seed_savedmodel

tf = LazyModule("tensorflow")  # imported by the first test that uses it: never in the fast tier


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("seed")
    return {o: seed_savedmodel(root / f"seed{o}", o) for o in (4, 5, 6, 7)}


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("o, bad", [(4, True), (5, False), (6, False), (7, True)])
def test_seed_output_shape_error_iff_tensorflow_fails(seeds, o, bad):
    res = lint(seeds[o])
    errors = [f for f in res.findings if f.severity == "error"]
    ok, got = run_signature(seeds[o], (1, 2, 2, 1))
    assert ok != bad, got  # TensorFlow itself: 5 and 6 run, 4 and 7 fail
    if bad:
        (f,) = errors
        assert f.rule == "SL001" and f.op == "Conv2DBackpropInput"
        assert f"output size {o} on axis H from input 2" in f.message and "admissible {5, 6}" in f.message
        assert f.details["admissible"] == ["5", "6"]
        assert "output_shape=[1, 6, 6, 1]" in f.suggestion or "output_shape=[1, 5, 5, 1]" in f.suggestion
    else:
        assert not errors
        assert got == (1, o, o, 1)
        (info,) = [f for f in res.findings if f.rule == "SL002"]
        assert info.details["chosen"] == str(o) and info.details["admissible"] == ["5", "6"]
        assert 'Keras Conv2DTranspose(padding="valid", output_padding=None) gives 5' in info.suggestion


@pytest.mark.slow
@pytest.mark.tensorflow
def test_saved_model_pb_path_is_the_folder(seeds):
    a = [(f.rule, f.node, f.message) for f in lint(seeds[7]).findings]
    b = [(f.rule, f.node, f.message) for f in lint(os.path.join(seeds[7], "saved_model.pb")).findings]
    assert a == b and a


@pytest.fixture(scope="module")
def unet_sm(tmp_path_factory):
    path = tmp_path_factory.mktemp("unet") / "unet"
    keras_unet(depth=2).export(str(path))
    return str(path)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_keras_unet_working_sizes_equal_tensorflow(unet_sm):
    graph, inf = analyse(unet_sm)
    c = contract(inf)
    assert c.works()["H"].describe("H") == "H mod 4 = 0, H ≥ 4"
    sizes = [(h, h) for h in range(4, 30)] + [(8, 12), (12, 9), (16, 20), (17, 16), (20, 21), (24, 32)]
    wrong = []
    for h, w in sizes:
        ok, got = run_signature(unet_sm, (1, h, w, 1))
        predicted = c.runs({"N": 1, "H": h, "W": w})
        if predicted != ok:
            wrong.append((h, w, ok, predicted, got))
    assert len(sizes) >= 30 and not wrong


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_keras_unet_finding_states_sizes_and_keras_fix(unet_sm):
    res = lint(unet_sm)
    sl3 = [f for f in res.findings if f.rule == "SL003"]
    assert sl3 and all(f.severity == "warning" for f in sl3)
    outer = [f for f in sl3 if "it runs only for H mod 4 = 0, H ≥ 4" in f.message]
    assert outer and "functional" in outer[0].node and outer[0].op == "ConcatV2"
    assert "tf.shape(skip)" in outer[0].suggestion
    bad = outer[0].details["smallest_failing"]
    ok, _ = run_signature(unet_sm, (1, bad, bad, 1))
    assert not ok
    good = outer[0].details["example_working"]
    assert run_signature(unet_sm, (1, good, good, 1))[0]


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_pinned_signature_input_gives_error(unet_sm):
    res = lint(unet_sm, {"image": (1, 10, 12, 1)})
    errors = [f for f in res.findings if f.severity == "error"]
    assert errors and errors[0].rule == "SL003"
    assert not run_signature(unet_sm, (1, 10, 12, 1))[0]
    assert not [f for f in lint(unet_sm, {"image": (1, 12, 16, 1)}).findings if f.severity == "error"]


@pytest.mark.slow
@pytest.mark.tensorflow
def test_lint_does_not_import_tensorflow_and_a_real_import_still_works(seeds):
    code = (
        "import sys; from shapelint.lint import lint; r = lint(sys.argv[1]);"
        "assert [f.rule for f in r.findings if f.severity == 'error'] == ['SL001'];"
        "assert not [m for m in sys.modules if m == 'tensorflow' or m.startswith('tensorflow.')], 'tf imported';"
        "import tensorflow as tf; tf.constant(1); print('ok', tf.__version__)"
    )
    p = subprocess.run([sys.executable, "-c", code, seeds[7]], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.startswith("ok"), p.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.tensorflow
def test_a_savedmodel_lints_where_tensorflow_cannot_be_imported(seeds):
    """No extra is needed for a SavedModel: with `tensorflow` unimportable the seed's SL001 error
    is found, exit 1 (tests/test_tf_schemas.py compares whole runs without TensorFlow)."""
    code = ("import sys; sys.modules['tensorflow'] = None;"
            "from shapelint.cli import main; sys.exit(main(['check', sys.argv[1]]))")
    p = subprocess.run([sys.executable, "-c", code, seeds[7]], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "SL001 [error] invalid-convtranspose" in p.stdout and "Traceback" not in p.stderr


def test_bad_saved_model_exit_2(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "saved_model.pb").write_bytes(b"\x08\x01garbage" * 10)
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", str(d)], capture_output=True, text=True)
    assert p.returncode == 2 and str(d) in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_explain_answers_the_seed_question(seeds):
    """Why does Keras give 5×5 from a 2×2 input while output_shape=[1,6,6,1] also works?"""
    p = subprocess.run([sys.executable, "-m", "shapelint", "explain", seeds[6]], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "admissible output sizes: {5, 6}" in out
    assert "this node produces 6 (admissible)" in out
    assert 'Keras Conv2DTranspose(padding="valid") (output_padding=None): 5' in out
    assert "PyTorch ConvTranspose(padding=0, output_padding=1): 6" in out
    # and what the explanation claims, TensorFlow does
    ok5, _ = run_signature(seeds[5], (1, 2, 2, 1))
    ok6, _ = run_signature(seeds[6], (1, 2, 2, 1))
    assert ok5 and ok6
    import numpy as np

    keras_out = tf.keras.layers.Conv2DTranspose(1, 3, 2, padding="valid")(np.ones((1, 2, 2, 1), np.float32))
    assert tuple(keras_out.shape) == (1, 5, 5, 1)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_tf1_graph_without_functions(tmp_path):
    from tests.tf_models import tf1_unet_savedmodel

    path = tf1_unet_savedmodel(tmp_path / "tf1")
    graph, inf = analyse(path)
    assert inf.shape(graph.outputs[0])[1:3] != (None, None)
    c = contract(inf)
    assert c.works()["H"].describe("H") == "H mod 2 = 0, H ≥ 2"
    for h, w in [(4, 6), (5, 6), (6, 7), (8, 8), (9, 9)]:
        ok, got = run_signature(path, (1, h, w, 1), key="x")
        assert ok == c.runs({"N": 1, "H": h, "W": w}), (h, w, got)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_tf_transposed_conv_sizes_follow_tensorflows_own_check(tmp_path):
    """input_sizes 2·floor(H/2) for a k3 s2 VALID transposed conv of floor(H/2): outside the
    admissible range for every H ≥ 4 -- but TF's check truncates, so input 1 → output 2 runs."""
    from tests.tf_models import fn_savedmodel, pool_then_conv_transpose

    path = fn_savedmodel(tmp_path / "b", pool_then_conv_transpose, [1, None, None, 1])
    (f,) = [f for f in lint(path).findings if f.rule == "SL001"]
    assert f.severity == "error" and "that holds for every H analysed" in f.message
    c = contract(analyse(path)[1])
    for h in range(2, 12):
        ok, _ = run_signature(path, (1, h, h, 1))
        pred = c.runs({"N": 1, "H": h, "W": h})
        assert pred is None or pred == ok, (h, ok, pred)
        if h >= 4:
            assert pred is False and not ok
    assert run_signature(path, (1, 3, 3, 1))[0]  # input 1 → output 2: TF's truncating check accepts it
    assert not [f for f in lint(path, {"x": (1, 3, 3, 1)}).findings if f.severity == "error"]
