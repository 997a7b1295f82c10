"""`shapelint contract` explains each restriction: the merge, both sizes, the chain of stages that
changes one of them, and a headline for the whole chain from the input ("3 stride-2 stages: H
must survive 3 divisions by 2, rounded up, and come back"). The sets it explains are checked
against onnxruntime here too, so an explanation of a wrong set fails."""

import json
import subprocess
import sys

import onnx
import pytest

from tests.onnx_models import run, unet
from tests.support import fast_subset

CASES = [(dict(depth=1), 2, 1, "rounded up"), (dict(depth=3), 2, 3, "rounded up"),
         (dict(depth=4, stride=3, k_up=3), 3, 4, "rounded up"),
         (dict(depth=3, down="maxpool", k_down=2), 2, 3, "rounded down"),
         (dict(depth=2, down="maxpool", k_down=2, ceil_mode=1, merge="add"), 2, 2, "rounded up")]


def _contract(path, *extra):
    p = subprocess.run([sys.executable, "-m", "shapelint", "contract", str(path), *extra], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _rows(path):
    """The rows of `shapelint contract --format json` for one model: one per dynamic input dim."""
    (record,) = json.loads(_contract(path, "--format", "json"))
    assert record["file"] == str(path)
    return record["rows"]


@pytest.mark.runtime
@pytest.mark.parametrize("kw,stride,depth,rounding", fast_subset(CASES, {0}, ids=[str(c[0]) for c in CASES]))
def test_contract_text_names_the_chain(kw, stride, depth, rounding, tmp_path):
    m = unet(**kw)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    text = _contract(path)
    plural = "s" if depth > 1 else ""
    head = (f"{depth} stride-{stride} stage{plural}: H must survive {depth} division{plural} by {stride}, "
            f"{rounding}, and come back")
    assert head in text, text
    merges = [n.name for n in m.graph.node if n.op_type in ("Concat", "Add")]
    convts = [n.name for n in m.graph.node if n.op_type == "ConvTranspose"]
    for name in merges:  # every merge restricts H, and says with which sizes
        assert f"'{name}' axis 2 holds only for H mod" in text, name
    for name in convts:  # and every upsampling stage appears in a chain
        assert f"| ConvTranspose {name} (up ×{stride})" in text, name
    rows = {r["axis"]: r for r in _rows(path)}
    assert rows[2]["summary"] == head
    because = rows[2]["because"]
    assert {b["node"] for b in because if b["axis"] == 2} == set(merges)
    assert all(b["chain"] and b["sizes"] for b in because if b["op"] in ("Concat", "Add"))
    # the set explained is onnxruntime's: every H in 1…3·modulus, one W that works
    M, res, lo, also = rows[2]["modulus"], set(rows[2]["residues"]), rows[2]["min"], set(rows[2]["also"])
    w = next(x for x in range(lo, lo + M + 1) if x % M in res)
    for h in range(1, 3 * M + 1):
        expected = h in also or (h % M in res and h >= lo)
        assert run(m, (1, 1, h, w))[0] == expected, (h, rows[2]["works"])


@pytest.mark.runtime
def test_lower_bound_names_the_conv_that_would_be_empty(tmp_path):
    """A Conv without padding (k3, p0, stride 2) gives an empty output below a size: the contract
    names it, and onnxruntime fails at that Conv just below that size, and gets past it at it."""
    m = unet(depth=2, k_down=3, pad_down=0, up="resize", merge="add")
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    text = _contract(path)
    line = next(ln for ln in text.splitlines() if "is empty" in ln and "below H =" in ln)
    low = int(line.split("below H = ")[1].split()[0])
    conv = line.split("Conv '")[1].split("'")[0]
    below, at = run(m, (1, 1, low - 1, 64)), run(m, (1, 1, low, 64))
    assert not below[0] and conv in below[1], below  # fails there, at that Conv
    assert at[0] or conv not in at[1], at  # gets past it at `low` (a merge may still fail later)


def test_output_cut_short_by_the_reader_is_not_a_traceback(tmp_path):
    """`shapelint contract m.onnx | head -0`: the reader is gone before the first line is written
    (the pipe is closed before the process starts writing); no traceback, exit 0."""
    path = tmp_path / "m.onnx"
    onnx.save(unet(depth=4), str(path))
    p = subprocess.Popen([sys.executable, "-m", "shapelint", "contract", str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0 and err == "", err


@pytest.mark.runtime
def test_finite_contract_has_a_maximum(tmp_path):
    """x + c with c of shape [1, 1, 5, 1]: H must broadcast against 5, so only H ∈ {1, 5} works —
    a finite set, whose JSON row has "max" (and onnxruntime agrees at every H in 1…12)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    c = numpy_helper.from_array(np.ones((1, 1, 5, 1), np.float32), "c")
    g = helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"], name="add")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [c])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    row = next(r for r in _rows(path) if r["axis"] == 2)
    assert row["residues"] == [] and row["also"] == [1, 5] and row["min"] == 1 and row["max"] == 5, row
    assert [h for h in range(1, 13) if run(m, (1, 1, h, 3))[0]] == [1, 5]


@pytest.mark.runtime
def test_two_sizes_that_constrain_each_other_are_said_to(tmp_path):
    """x + transpose(x) over H and W: H and W must agree. The contract says they constrain each
    other (text and JSON "with") instead of "every size works"; onnxruntime: H = W runs, H ≠ W
    fails."""
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2], name="tr"),
                           helper.make_node("Add", ["x", "t"], ["y"], name="add")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    text = _contract(path)
    assert "H and W constrain each other at Add 'add' axis 2: H ('x') vs W ('tr') must be equal (or 1)" in text
    assert "every size of every dynamic input dim works" not in text
    rows = {r["symbol"]: r for r in _rows(path)}
    assert rows["H"]["with"][0]["symbols"] == ["H", "W"] and rows["W"]["with"]
    assert run(m, (1, 1, 6, 6))[0] and not run(m, (1, 1, 6, 7))[0]


def _chain(tmp_path, *nodes, consts=()):
    """x [1, 1, H, W] through the given nodes (each (op, attrs), chained on output 0, with the
    named constants as extra inputs), saved; returns (model, path)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    made, x = [], "x"
    for k, (op, extra, attrs) in enumerate(nodes):
        y = f"t{k}"
        made.append(helper.make_node(op, [x, *extra], [y], name=f"{op.lower()}{k}", **attrs))
        x = y
    inits = [numpy_helper.from_array(np.asarray(v), n) for n, v in consts]
    g = helper.make_graph(made, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    return m, path


def _runs(path, h, w=9):
    from shapelint.analysis import contract
    from shapelint.lint import analyse

    return contract(analyse(str(path))[1]).runs({"H": h, "W": w})


@pytest.mark.runtime
def test_below_a_pool_window_the_convtranspose_output_shape_limit_still_counts(tmp_path):
    """MaxPool k2 s2 then ConvTranspose k2 s2 output_shape=[8, 8]: an output_shape is accepted
    only up to (i − 1)·2 + 2 + 1 for an input i = floor(H/2), so H ≥ 8 runs and H < 8 fails -- at
    H = 1 too, where the pool truncates to 1. contract.runs equals onnxruntime at every H 1…20."""
    import numpy as np

    m, path = _chain(tmp_path, ("MaxPool", [], dict(kernel_shape=[2, 2], strides=[2, 2])),
                     ("ConvTranspose", ["w"], dict(kernel_shape=[2, 2], strides=[2, 2], output_shape=[8, 8])),
                     consts=[("w", np.ones((1, 1, 2, 2), np.float32))])
    got = {h: _runs(path, h, 20) for h in range(1, 21)}
    want = {h: run(m, (1, 1, h, 20))[0] for h in range(1, 21)}
    assert got == want and not want[1] and not want[7] and want[8], (got, want)


@pytest.mark.runtime
def test_an_empty_tensor_into_resize_is_not_claimed_to_run(tmp_path):
    """MaxPool k3 s2 gives an empty output at H = 1; Resize(sizes=…) of it fails in onnxruntime
    (it cannot scale 0 to 8). The contract does not claim True there (it abstains: Resize on empty
    tensors is not modelled), and agrees with onnxruntime from H = 2 on."""
    import numpy as np

    m, path = _chain(tmp_path, ("MaxPool", [], dict(kernel_shape=[3, 3], strides=[2, 2])),
                     ("Resize", ["roi", "scales", "sizes"], dict(mode="nearest")),
                     consts=[("roi", np.zeros(0, np.float32)), ("scales", np.zeros(0, np.float32)),
                             ("sizes", np.array([1, 1, 8, 8], np.int64))])
    assert not run(m, (1, 1, 1, 9))[0] and _runs(path, 1) is not True
    assert all(_runs(path, h) is run(m, (1, 1, h, 9))[0] for h in range(2, 12))


@pytest.mark.runtime
def test_a_pool_in_front_of_a_conv_keeps_it_fed(tmp_path):
    """MaxPool k2 s2 then Conv k1: floor(H/2) would be 0 at H = 1, but onnxruntime's pool gives 1,
    so the model runs at every H. The contract says every H, and gives no 'is empty' reason."""
    import numpy as np

    m, path = _chain(tmp_path, ("MaxPool", [], dict(kernel_shape=[2, 2], strides=[2, 2])),
                     ("Conv", ["w"], dict(kernel_shape=[1, 1])), consts=[("w", np.ones((1, 1, 1, 1), np.float32))])
    text = _contract(path)
    assert "every H ≥ 1" in text and "is empty" not in text, text
    assert all(run(m, (1, 1, h, 9))[0] for h in range(1, 6))


def test_too_many_sizes_below_the_pools_are_abstained_on_and_said(tmp_path, monkeypatch, capsys):
    """When evaluating each size below the pool windows would cost too much (here the budget is
    set to 0), the contract abstains at those sizes (runs → None, never a guess), names them in
    the text and JSON, and still decides every size above."""
    import shapelint.analysis as analysis

    monkeypatch.setattr(analysis, "MAX_SMALL_WORK", 0)
    m = unet(depth=3, down="maxpool", k_down=2)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    assert _runs(path, 3, 16) is None and _runs(path, 16, 16) is True and _runs(path, 12, 16) is False
    from shapelint.cli import main

    assert main(["contract", str(path), "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    row = next(r for r in record["rows"] if r["axis"] == 2)
    assert row["unevaluated"] == [1, 2, 3, 4, 5, 6, 7] and row["abstains"] == row["unevaluated"], row
    assert main(["contract", str(path)]) == 0
    assert "note: H = 1…7, where a pool window exceeds its input, not evaluated" in capsys.readouterr().out
