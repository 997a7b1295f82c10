"""Every ConvTranspose case in onnx's own node tests: shapelint infers exactly the expected shape."""

import importlib
import json
import subprocess
import sys
import warnings

import onnx
import pytest

from shapelint.lint import analyse

NODE = "onnx.backend.test.case.node"


def _cases():
    """onnx's ConvTranspose node cases, from its convtranspose module alone: what
    collect_testcases("ConvTranspose") does, without importing the other ~200 modules, which
    compute every op's reference outputs (7-10 s; test_no_other_module_has_convtranspose_cases
    checks, in the slow tier, that they add no ConvTranspose case)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        node = importlib.import_module(NODE)
        node._TargetOpType = "ConvTranspose"  # as collect_testcases sets it: expect() keeps only these
        importlib.import_module(f"{NODE}.convtranspose")
        cases = list(node._NodeTestCases)
    return [c for c in cases if "convtranspose" in c.name]


CASES = _cases()


def test_all_onnx_convtranspose_cases_are_collected():
    names = {c.name for c in CASES}
    # the onnx 1.14+ set; a missing one means the collection broke, not that it passed
    for expected in ("test_convtranspose", "test_convtranspose_1d", "test_convtranspose_3d",
                     "test_convtranspose_output_shape", "test_convtranspose_pads",
                     "test_convtranspose_dilations", "test_convtranspose_autopad_same",
                     "test_convtranspose_kernel_shape", "test_convtranspose_group_2"):
        assert expected in names
    assert len(CASES) >= 10


@pytest.mark.slow
def test_no_other_module_has_convtranspose_cases():
    """collect_testcases("ConvTranspose") over every node module (in a fresh interpreter) finds the
    cases above, and no other."""
    code = ("import json, warnings; warnings.simplefilter('ignore'); "
            f"from {NODE} import collect_testcases; "
            "names = [c.name for c in collect_testcases('ConvTranspose') if 'convtranspose' in c.name]; "
            "print(json.dumps(sorted(names)))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == sorted(c.name for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_convtranspose_output_shape_matches_onnx(case, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(case.model, str(path))
    graph, inf = analyse(str(path))
    (inputs, outputs) = case.data_sets[0]
    # pin each graph input to the shape of the data the case runs with
    pins = {t.name: tuple(a.shape) for t, a in zip(graph.inputs, inputs)}
    graph, inf = analyse(str(path), pins)
    out_name = graph.outputs[0]
    assert inf.shape(out_name) == tuple(outputs[0].shape), case.name
