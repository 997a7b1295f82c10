"""Run-time shape checks beyond merges (SL006) and abstaining out loud (SL005), each confirmed
with onnxruntime: where the contract says a size runs, it runs; where it says fails, it fails,
with the words the ONNX dialect's RUNTIME_WORDS quotes; where something is not inferred, the contract abstains."""

import numpy as np
import pytest

from shapelint.analysis import contract, merges
from shapelint.frameworks.onnx import RUNTIME_WORDS
from shapelint.lint import analyse, lint
from tests import onnx_models as om


def _save(model, tmp_path, name="m.onnx"):
    import onnx

    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


def _run_full(model, shape):
    """onnxruntime at ``shape``: (True, None) or (False, its whole error message)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    try:
        sess.run(None, {"x": np.zeros(shape, np.float32)})
        return True, None
    except Exception as e:  # onnxruntime raises several exception types
        return False, str(e)


def _i64(b, values):
    return b.const(np.array(values, np.int64))


def window_reshape():
    """Swin-style window partition: x[N,2,H,W] → [N,2,H/4,4,W/4,4] with sizes computed from Shape
    by integer division: the element count holds only where 4 divides H and W."""
    b = om.Builder()
    sh = b.node("Shape", ["x"])
    hw = b.node("Slice", [sh, _i64(b, [2]), _i64(b, [4])])
    q = b.node("Div", [hw, _i64(b, [4, 4])])
    qh = b.node("Slice", [q, _i64(b, [0]), _i64(b, [1])])
    qw = b.node("Slice", [q, _i64(b, [1]), _i64(b, [2])])
    four = _i64(b, [4])
    target = b.node("Concat", [_i64(b, [0, 2]), qh, four, qw, four], axis=0)
    y = b.node("Reshape", ["x", target])
    return b.model("x", ("N", 2, "H", "W"), y)


def fixed_reshape():
    """A Reshape to a constant shape traced at 8×8: runs at H·W = 64 only."""
    b = om.Builder()
    y = b.node("Reshape", ["x", _i64(b, [1, 2, 64])])
    return b.model("x", (1, 2, "H", "W"), y, out_rank=3)


def pos_embedding():
    """Tokens of a 4×4 patch embedding plus a constant position embedding of 9 tokens (traced at
    12×12): runs only where floor(H/4)·floor(W/4) = 9."""
    b = om.Builder()
    p = b.conv("x", 1, 2, k=4, s=4, p=0)
    t = b.node("Reshape", [p, _i64(b, [0, 2, -1])])
    y = b.node("Add", [t, b.const(np.zeros((1, 2, 9), np.float32))])
    return b.model("x", (1, 1, "H", "W"), y, out_rank=3)


def matmul_tokens():
    """x[1,2,H,W] flattened to [1, 2, H·W] times a [12, 3] matrix traced at H·W = 12."""
    b = om.Builder()
    t = b.node("Reshape", ["x", _i64(b, [1, 2, -1])])
    y = b.node("MatMul", [t, b.const(np.ones((12, 3), np.float32))])
    return b.model("x", (1, 2, "H", "W"), y, out_rank=3)


def data_dependent_resize():
    """A Resize whose sizes come from tensor data: nothing after it can be vouched for."""
    b = om.Builder()
    m = b.node("ReduceMax", ["x"], keepdims=0)
    n = b.node("Cast", [b.node("Abs", [m])], to=7)
    sizes = b.node("Concat", [_i64(b, [1, 1]), b.node("Reshape", [n, _i64(b, [1])]),
                              b.node("Reshape", [n, _i64(b, [1])])], axis=0)
    y = b.node("Resize", ["x", "", "", sizes], mode="nearest")
    return b.model("x", (1, 1, "H", "W"), y)


def resize_to_quarter():
    """F.interpolate(x, size=(H // 4, W // 4)): below 4 the size is 0, which onnxruntime rejects
    ("Scale value should be greater than 0"); with scales instead it would run, empty."""
    b = om.Builder()
    sh = b.node("Shape", ["x"])
    hw = b.node("Div", [b.node("Slice", [sh, _i64(b, [2]), _i64(b, [4])]), _i64(b, [4, 4])])
    sizes = b.node("Concat", [_i64(b, [1, 1]), hw], axis=0)
    y = b.node("Resize", ["x", "", "", sizes], mode="nearest")
    return b.model("x", (1, 1, "H", "W"), y)


MODELS = {"resize_to_quarter": resize_to_quarter, "window_reshape": window_reshape, "fixed_reshape": fixed_reshape, "pos_embedding": pos_embedding,
          "matmul_tokens": matmul_tokens}


@pytest.mark.runtime
@pytest.mark.parametrize("name", list(MODELS))
def test_contract_equals_onnxruntime_at_every_size(name, tmp_path):
    model = MODELS[name]()
    path = _save(model, tmp_path)
    _g, inf = analyse(path)
    c = contract(inf, merges(inf))
    assert not c.unknown, c.unknown
    bad = []
    ran = 0
    for h in range(1, 19):
        for w in (h, h + 4, 12):
            ok, out = om.run(model, (1, model.graph.input[0].type.tensor_type.shape.dim[1].dim_value, h, w))
            ran += ok
            pred = c.runs({"N": 1, "H": h, "W": w})
            if pred is not ok:
                bad.append((h, w, pred, ok, out))
    assert not bad, bad[:5]
    assert ran  # each model runs somewhere, so the check above compared both ways


@pytest.mark.runtime
@pytest.mark.parametrize("name, h, w", [("resize_to_quarter", 3, 8), ("fixed_reshape", 8, 9), ("pos_embedding", 16, 16),
                                        ("matmul_tokens", 4, 4), ("window_reshape", 6, 8)])
def test_pinned_failure_is_an_error_with_onnxruntimes_words(name, h, w, tmp_path):
    model = MODELS[name]()
    path = _save(model, tmp_path)
    c_in = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    ok, err = _run_full(model, (1, c_in, h, w))
    assert not ok
    res = lint(path, {"x": (1, c_in, h, w)})
    errors = [f for f in res.findings if f.severity == "error"]
    assert errors, res.findings
    f = errors[0]
    words = RUNTIME_WORDS.get(f.op) or RUNTIME_WORDS["broadcast" if f.op == "Add" else f.op]
    assert words in f.message and words in err, (f.message, err)


def test_dynamic_findings_state_the_sets(tmp_path):
    res = lint(_save(window_reshape(), tmp_path))
    sl006 = [f for f in res.findings if f.rule == "SL006"]
    assert {f.details["works"] for f in sl006} == {"H mod 4 = 0, H ≥ 4", "W mod 4 = 0, W ≥ 4"}, sl006
    assert {f.details["smallest_failing"] for f in sl006} == {1}
    assert {f.severity for f in sl006} == {"warning"}
    assert not [f for f in res.findings if f.rule == "SL007"]  # SL006 states the sets already
    # a position embedding: H and W together; the contract evaluates such a pair at concrete sizes
    res = lint(_save(pos_embedding(), tmp_path, "p.onnx"))
    joint = [f for f in res.findings if f.rule in ("SL003", "SL006")]
    assert joint and all(f.severity == "warning" for f in joint), res.findings


def test_data_dependent_shape_abstains_and_says_where(tmp_path):
    model = data_dependent_resize()
    path = _save(model, tmp_path)
    _g, inf = analyse(path)
    c = contract(inf, merges(inf))
    assert c.unknown and c.unknown[0].op == "Resize"
    assert c.runs({"H": 8, "W": 8}) is None  # never "runs"
    res = lint(path)
    (note,) = [f for f in res.findings if f.rule == "SL005"]
    assert note.node == c.unknown[0].node and "has no known value" in note.message
    assert note.severity == "info"
    assert not [f for f in res.findings if f.rule == "SL007"]  # no set claimed


def test_fail_on_unknown_makes_the_run_fail(tmp_path):
    import subprocess
    import sys

    path = _save(data_dependent_resize(), tmp_path)
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", path], capture_output=True, text=True)
    assert p.returncode == 0 and "unknown: Resize" in p.stdout and "1 not fully inferred" in p.stdout, p.stdout
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", path, "--fail-on-unknown"], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "unknown[error]: Resize" in p.stdout, p.stdout
    (tmp_path / ".shapelint.yaml").write_text("fail-on-unknown: true\n")
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", path], capture_output=True, text=True)
    assert p.returncode == 1, p.stdout
    p = subprocess.run([sys.executable, "-m", "shapelint", "contract", path], capture_output=True, text=True)
    assert "abstains on every size" in p.stdout and "unknown: 'resize" in p.stdout.lower(), p.stdout
