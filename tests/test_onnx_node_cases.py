"""Every ConvTranspose case in onnx's own node tests: shapelint infers exactly the expected shape."""

import warnings

import onnx
import pytest

from shapelint.lint import analyse


def _cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases

        cases = collect_testcases("ConvTranspose")
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
