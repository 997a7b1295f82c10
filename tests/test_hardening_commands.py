"""Hardening II: every command as robust as ``check``. Layer attributes Keras would refuse (a
stride of 0, negative, a float, a string kernel, a stride of 2^31) once gave ``explain`` a
traceback and ``check`` a hang; now ``check`` and ``contract`` abstain on the node (SL005, naming
the attribute), and ``explain`` says in one line why it cannot, exit 2. In process: fast tier."""

import json
import time

import onnx
import pytest
from onnx import TensorProto, helper

from shapelint import cli
from tests.test_hostile_inputs import _keras_unet_config, _zip

BAD_LAYER = {
    "stride-0": ({"strides": [0, 0]}, "strides [0, 0]: not positive"),
    "stride-negative": ({"strides": [-2, 2]}, "strides [-2, 2]: not positive"),
    "stride-float": ({"strides": [2.5, 2.5]}, "are not integers"),
    "stride-bool": ({"strides": [True, True]}, "are not integers"),
    "stride-2^31": ({"strides": [2 ** 31, 2 ** 31]}, "over shapelint's limit of 64"),
    "kernel-string": ({"kernel_size": "3"}, "kernel_size '3' is not 2 positive integers"),
    "kernel-negative": ({"kernel_size": [-3, -3]}, "is not 2 positive integers"),
    "dilation-0": ({"dilation_rate": [0, 0]}, "dilation_rate [0, 0]: not positive"),
    "strides-of-three-axes": ({"strides": [2, 2, 2]}, "does not have 2 entries"),
}


def run(argv, capsys):
    started = time.monotonic()
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert time.monotonic() - started < 20, argv  # a stride of 2^31 once listed 2^31 sizes
    return rc, out, err


@pytest.mark.parametrize("case", sorted(BAD_LAYER))
def test_a_keras_layer_keras_would_refuse(case, tmp_path, capsys):
    change, reason = BAD_LAYER[case]
    cfg = _keras_unet_config()
    cfg["config"]["layers"][2]["config"].update(change)  # the Conv2DTranspose 'up'
    path = _zip(tmp_path / f"{case}.keras", {"config.json": json.dumps(cfg)})

    rc, out, err = run(["explain", path], capsys)
    assert rc == 2 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"shapelint: {path}: Conv2DTranspose 'up': cannot explain")
    assert reason in err, err

    rc, out, err = run(["check", path, "--format", "json", "--show-info"], capsys)
    items = json.loads(out)
    abstain = [i for i in items if i["rule"] == "SL005" and i["node"] == "up"]
    assert abstain and reason in abstain[0]["message"], items
    assert not [i for i in items if i["severity"] in ("error", "warning")]  # nothing is claimed past it

    rc, out, err = run(["contract", path, "--format", "json"], capsys)
    assert rc == 0 and "Traceback" not in err
    rows = json.loads(out)
    rows = rows if isinstance(rows, list) else [rows]
    text = json.dumps(rows)
    assert '"proven": false' in text and "up" in text  # the abstention is in the contract, by name


@pytest.mark.parametrize("stride", [65, 2 ** 31, 2 ** 62])
def test_an_onnx_convtranspose_stride_over_the_limit_is_an_abstention(stride, tmp_path, capsys):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 2, 2], [1.0] * 4)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", strides=[stride, stride])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph([node], "g", [x], [y], [w]),
                                opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rc, out, err = run(["check", path, "--format", "json", "--show-info"], capsys)
    items = json.loads(out)
    assert [(i["rule"], i["node"]) for i in items if i["rule"] in ("SL001", "SL002", "SL005")] == [("SL005", "up")]
    assert f"stride {stride} is over shapelint's limit of 64" in items[0]["message"]
    rc, out, err = run(["explain", path], capsys)
    assert rc == 2 and "MAX_TRANSPOSED_STRIDE" in err and err.count("\n") == 1


def test_fix_on_models_its_onnx_reader_refuses_or_that_point_outside(tmp_path, capsys):
    """fix re-reads the model with onnx: 500-deep nested If bodies (protobuf's depth limit) once gave
    a DecodeError traceback, and an external-data location with '..' a ValidationError."""
    from onnx import TensorProto

    from tests.onnx_models import unet
    from tests.test_hostile_inputs import _ld, _nested_if

    base = unet(depth=2)
    base.graph.input.append(helper.make_tensor_value_info("c", TensorProto.BOOL, []))
    deep = tmp_path / "deep.onnx"
    deep.write_bytes(base.SerializeToString() + _ld(7, _ld(1, _nested_if(500))))
    for extra in (["--diff"], ["-o", tmp_path / "out.onnx"]):
        rc, out, err = run(["fix", deep, *extra], capsys)
        assert rc == 2 and out == "" and err.count("\n") == 1 and "onnx cannot read it" in err, err
    assert not (tmp_path / "out.onnx").exists()

    m = unet(depth=2)
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../etc/passwd"), ("offset", "0"), ("length", "64")):
        e = t.external_data.add()
        e.key, e.value = k, v
    outside = tmp_path / "outside.onnx"
    onnx.save(m, str(outside))
    rc, out, err = run(["fix", outside, "-o", tmp_path / "fixed.onnx"], capsys)
    assert rc == 0 and "Traceback" not in err, err
    fixed = onnx.load(str(tmp_path / "fixed.onnx"), load_external_data=False)  # the reference is kept, unread
    assert {e.key: e.value for e in fixed.graph.initializer[0].external_data}["location"] == "../../etc/passwd"


@pytest.mark.parametrize("error", [RuntimeError("boom\n::error::x"), RecursionError(), MemoryError()])
def test_a_bug_of_ours_in_any_command_is_one_line_exit_2(error, tmp_path, capsys, monkeypatch):
    """A traceback exits 1, which CI reads as "findings": outside the test suite's strict mode, an
    unexpected exception in any command is one escaped line and exit 2."""
    import shapelint.api

    def broken(*a, **k):
        raise error

    monkeypatch.setenv("SHAPELINT_STRICT", "0")
    monkeypatch.setattr(shapelint.api, "explain", broken)
    rc, out, err = run(["explain", tmp_path / "any.onnx"], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"shapelint: internal error ({type(error).__name__}") and "\n::" not in err
    monkeypatch.setenv("SHAPELINT_STRICT", "1")  # the test suite: the bug surfaces
    with pytest.raises(type(error)):
        cli.main(["explain", str(tmp_path / "any.onnx")])
