"""The ONNX loader: no weight bytes read, external data never opened, stored value_info ignored."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from shapelint.errors import ModelError
from shapelint.lint import analyse, lint
from shapelint.loaders import onnx_loader
from tests.onnx_models import unet


def _findings(path):
    return [(f.rule, f.severity, f.node, f.message) for f in lint(str(path)).findings]


def test_missing_external_data_gives_the_same_findings(tmp_path):
    m = unet(depth=2, channels=16)
    plain = tmp_path / "plain.onnx"
    onnx.save(m, str(plain))
    ext = tmp_path / "ext.onnx"
    onnx.save_model(m, str(ext), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=64)
    assert os.path.getsize(tmp_path / "weights.bin") > 10_000
    os.remove(tmp_path / "weights.bin")
    assert _findings(ext) == [(r, s, n, msg.replace("plain", "ext")) for r, s, n, msg in _findings(plain)]
    assert any(r == "SL003" for r, *_ in _findings(ext))


def test_weights_are_never_decoded(tmp_path, monkeypatch):
    m = unet(depth=2, channels=16)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))

    decoded = []
    real = onnx_loader._decode

    def spy(t, dtype, n):
        decoded.append((t.name, n))
        return real(t, dtype, n)

    monkeypatch.setattr(onnx_loader, "_decode", spy)
    res = lint(str(path))
    assert any(f.rule == "SL003" for f in res.findings)
    weights = [t.name for t in m.graph.initializer if len(t.dims) == 4]
    assert weights and not any(name in weights for name, _ in decoded), decoded
    assert all(size <= 64 for _, size in decoded), decoded


def test_lint_path_does_not_import_onnx_or_numpy(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "u.onnx"
    onnx.save(unet(depth=2), str(path))
    code = ("import sys; from shapelint.lint import lint; r = lint(sys.argv[1]); "
            "assert any(f.rule == 'SL003' for f in r.findings); "
            "print(sorted(m for m in ('onnx', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_small_values_decode_from_every_storage(tmp_path):
    from onnx import numpy_helper

    for arr in (np.array([1, -2, 3], np.int64), np.array([0.5, 2.0], np.float32), np.array([7, 8], np.int32)):
        t = numpy_helper.from_array(arr, "t")  # raw_data
        assert onnx_loader._decode(t, onnx_loader._DTYPES[t.data_type], arr.size) == tuple(arr.tolist())
    t = helper.make_tensor("t", TensorProto.INT64, [3], [4, 5, -6])  # int64_data
    assert onnx_loader._decode(t, "int64", 3) == (4, 5, -6)
    t = helper.make_tensor("t", TensorProto.FLOAT, [2], [1.5, 3.0])  # float_data
    assert onnx_loader._decode(t, "float32", 2) == (1.5, 3.0)


def test_stored_value_info_is_not_trusted(tmp_path):
    m = unet(depth=1)
    conv_out = m.graph.node[0].output[0]
    m.graph.value_info.append(helper.make_tensor_value_info(conv_out, TensorProto.FLOAT, [1, 2, 999, 999]))
    path = tmp_path / "vi.onnx"
    onnx.save(m, str(path))
    graph, inf = analyse(str(path))
    assert [str(d) for d in inf.shape(conv_out)] == ["N", "2", "H", "W"]


def _tiny(nodes, opset=13):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_cycle_and_self_loop_are_reported(tmp_path):
    for name, nodes in {
        "self": [helper.make_node("Add", ["x", "y"], ["y"], name="loop")],
        "cycle": [helper.make_node("Relu", ["b"], ["a"], name="r1"), helper.make_node("Relu", ["a"], ["b"], name="r2"),
                  helper.make_node("Add", ["x", "a"], ["y"], name="add")],
    }.items():
        path = tmp_path / f"{name}.onnx"
        onnx.save(_tiny(nodes), str(path))
        with pytest.raises(ModelError, match="cycle"):
            onnx_loader.load(str(path))


@pytest.mark.parametrize("opset", [1, 7, 12, 99])
def test_any_opset_loads(tmp_path, opset):
    path = tmp_path / "o.onnx"
    onnx.save(_tiny([helper.make_node("Relu", ["x"], ["y"])], opset), str(path))
    graph, inf = analyse(str(path))
    assert graph.opset == opset
    assert inf.shape("y") == (1, 2, 4, 4)


def test_constant_nodes_become_constants(tmp_path):
    nodes = [helper.make_node("Constant", [], ["p"], value=onnx.numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))),
             helper.make_node("Pad", ["x", "p"], ["y"])]
    path = tmp_path / "c.onnx"
    onnx.save(_tiny(nodes), str(path))
    graph, inf = analyse(str(path))
    assert "p" in graph.constants and all(n.op != "Constant" for n in graph.nodes)
    assert inf.shape("y") == (1, 2, 6, 6)
