"""The Python API, used as the README shows: right after an export, in a pytest test, on a
``tmp_path`` file, an ``onnx.ModelProto`` in memory, bytes, and a SavedModel folder. Public names
only (``import shapelint``)."""

import json
import subprocess
import sys

import onnx
import pytest

import shapelint
from tests.onnx_models import run, unet


def test_readme_example_onnx_file_in_tmp_path(tmp_path):
    """A fixed-size U-Net whose skip is one pixel off (65 → 33 → 66): the report says so, is not
    ok, and the failure is real in onnxruntime."""
    model = unet(depth=2, shape=(1, 1, 65, 65))
    onnx.save(model, tmp_path / "unet.onnx")
    report = shapelint.check(tmp_path / "unet.onnx")  # a pathlib.Path, as pytest gives it
    assert not report.ok
    assert [f.rule for f in report.errors] == ["SL003", "SL003"]
    assert report.errors[0].file == str(tmp_path / "unet.onnx") and report.errors[0].op == "Concat"
    assert "33" in report.errors[0].message and "34" in report.errors[0].message
    ok, msg = run(model, (1, 1, 65, 65))
    assert not ok and "concat12" in msg  # onnxruntime refuses the session at these sizes
    assert "SL003 [error]" in str(report)


def test_model_proto_in_memory_and_bytes_give_the_same_findings(tmp_path):
    model = unet(depth=2)  # dynamic H and W
    from_proto = shapelint.check(model)
    from_bytes = shapelint.check(model.SerializeToString())
    onnx.save(model, tmp_path / "m.onnx")
    from_file = shapelint.check(str(tmp_path / "m.onnx"))
    key = [(f.rule, f.severity, f.node, f.message) for f in from_file.findings]
    assert [(f.rule, f.severity, f.node, f.message) for f in from_proto.findings] == key
    assert [(f.rule, f.severity, f.node, f.message) for f in from_bytes.findings] == key
    assert from_proto.model.startswith("<onnx.ModelProto") and from_bytes.model == "<bytes>"
    assert all(f.file == "<bytes>" for f in from_bytes.findings)
    # dynamic sizes that do not all work: warnings, and the whole model's sizes
    assert not from_file.ok and {f.rule for f in from_file.warnings} == {"SL003"}
    assert from_file.works == {"H": "H mod 4 = 0, H ≥ 4", "W": "W mod 4 = 0, W ≥ 4"}


def test_a_clean_model_is_ok_though_it_has_info_findings(tmp_path):
    model = unet(depth=2, shape=(1, 1, 64, 64))
    report = shapelint.check(model)
    assert report.ok and report.errors == () and report.warnings == ()
    assert report.infos and all(f.rule == "SL002" for f in report.infos)  # the conventions, for the record


def test_config_found_beside_the_model_and_given_and_select_ignore(tmp_path):
    onnx.save(unet(depth=2), tmp_path / "m.onnx")
    (tmp_path / ".shapelint.yaml").write_text("severity:\n  SL003: error\nfail-on: error\n")
    found = shapelint.check(tmp_path / "m.onnx")
    assert {f.rule for f in found.errors} == {"SL003"} and found.fail_on == "error" and not found.ok
    other = tmp_path / "other.yaml"
    other.write_text("ignore: [SL003]\n")
    given = shapelint.check(tmp_path / "m.onnx", config=other)
    assert "SL003" not in {f.rule for f in given.findings} and given.ok
    # select replaces the configuration's selection, ignore extends its ignores (the config's
    # severity stays); prefixes work
    only = shapelint.check(tmp_path / "m.onnx", select=["SL00"], ignore=["SL002"])
    assert {f.rule for f in only.findings} == {"SL003"} and all(f.severity == "error" for f in only.findings)
    with pytest.raises(shapelint.UsageError, match="SL9"):
        shapelint.check(tmp_path / "m.onnx", select=["SL9"])


def test_pinned_input_shapes(tmp_path):
    model = unet(depth=2)
    bad = shapelint.check(model, input_shapes={"x": (1, 1, 65, 65)})
    good = shapelint.check(model, input_shapes={"x": [1, 1, 64, 64]})
    assert {f.rule for f in bad.errors} == {"SL003"} and good.ok
    with pytest.raises(shapelint.UsageError, match="input_shapes"):
        shapelint.check(model, input_shapes={"x": "64"})


def test_contract_is_the_cli_json_of_the_model(tmp_path, capsys):
    onnx.save(unet(depth=2), tmp_path / "m.onnx")
    record = shapelint.contract(tmp_path / "m.onnx")
    assert [(r["symbol"], r["works"], r["proven"]) for r in record["rows"]] == [
        ("H", "H mod 4 = 0, H ≥ 4", True), ("W", "W mod 4 = 0, W ≥ 4", True)]
    assert record["inputs"] == [{"name": "x", "shape": ["N", 1, "H", "W"]}] and record["fixed_size_failures"] == []
    from shapelint.cli import main

    assert main(["contract", str(tmp_path / "m.onnx"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [record]


def test_contract_of_a_model_that_fails_at_its_fixed_sizes_says_where(tmp_path):
    """At 1×1×65×65 the skip Concat gets 33 and 34: the contract (given as an onnx.ModelProto) names
    the merge, its rule and SL003's message, and no size works; onnxruntime fails there."""
    model = unet(depth=2, shape=(1, 1, 65, 65))
    record = shapelint.contract(model)
    assert record["file"].startswith("<onnx.ModelProto") and record["rows"] == []
    (first, second) = record["fixed_size_failures"]
    assert (first["rule"], first["op"], first["node"], first["axes"]) == ("SL003", "Concat", "concat12", [2, 3])
    assert "33" in first["message"] and "34" in first["message"] and second["node"] == "concat18"
    report = shapelint.check(model)
    assert [f.message for f in report.errors if f.node == "concat12"] == [first["message"]]
    ok, msg = run(model, (1, 1, 65, 65))
    assert not ok and "concat12" in msg


def test_unreadable_and_wrong_models_raise(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(shapelint.ModelError, match="junk.onnx"):
        shapelint.check(tmp_path / "junk.onnx")
    with pytest.raises(shapelint.UsageError, match="path, bytes or an onnx.ModelProto"):
        shapelint.check(42)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_readme_example_savedmodel_folder(tmp_path):
    """After tf.saved_model.save: output_shape 7 for a 2×2 input (kernel 3, stride 2, VALID) is
    outside TF's admissible 5…6, and TensorFlow fails at run time; 5 is fine."""
    from tests.tf_models import run_signature, seed_savedmodel

    bad = shapelint.check(seed_savedmodel(tmp_path / "bad", 7))
    good = shapelint.check(seed_savedmodel(tmp_path / "good", 5))
    assert not bad.ok and [f.rule for f in bad.errors] == ["SL001"] and bad.errors[0].details["admissible"] == ["5", "6"]
    assert good.ok and good.errors == ()
    ok, _ = run_signature(str(tmp_path / "bad"), (1, 2, 2, 1))
    assert not ok
    ok, shape = run_signature(str(tmp_path / "good"), (1, 2, 2, 1))
    assert ok and shape == (1, 5, 5, 1)


def test_an_op_without_a_rule_is_an_unknown_not_a_silent_pass(tmp_path):
    """A dynamic model through an op shapelint has no rule for: the report names it in
    ``unknowns``, gives no working sizes past it, and fails with fail-on-unknown."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Mystery", ["x"], ["m"], name="mystery", domain="acme"),
                           helper.make_node("Relu", ["m"], ["y"], name="relu")], "g", [x], [y])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("acme", 1)])
    onnx.save(model, tmp_path / "m.onnx")
    report = shapelint.check(tmp_path / "m.onnx")
    assert [(f.rule, f.node, f.op) for f in report.unknowns] == [("SL005", "mystery", "acme.Mystery")]
    assert report.ok and report.works == {}  # ok per fail-on, but not proven: the unknown says so
    (tmp_path / ".shapelint.yaml").write_text("fail-on-unknown: true\n")
    strict = shapelint.check(tmp_path / "m.onnx")
    assert not strict.ok and [f.severity for f in strict.unknowns] == ["error"]


def test_explain_names_the_sizes_and_picks_the_node(tmp_path):
    """``shapelint.explain`` is what the command prints: the admissible sizes of the named node at
    pinned sizes, and a UsageError listing the names when the choice is ambiguous or wrong."""
    model = unet(depth=2, shape=(1, 1, 65, 65))
    names = [n.name for n in model.graph.node if n.op_type == "ConvTranspose"]
    assert len(names) == 2
    text = shapelint.explain(model, names[0])
    assert text.startswith(f"ConvTranspose '{names[0]}'")
    assert "admissible output sizes: {" in text and "this node produces" in text
    onnx.save(model, tmp_path / "u.onnx")
    cli = subprocess.run([sys.executable, "-m", "shapelint", "explain", str(tmp_path / "u.onnx"), "--node", names[0]],
                         capture_output=True, text=True)
    assert cli.returncode == 0 and cli.stdout.rstrip("\n") == text
    with pytest.raises(shapelint.UsageError, match="2 transposed convolutions.*" + names[1]):
        shapelint.explain(model)
    with pytest.raises(shapelint.UsageError, match="no transposed convolution named 'nope'"):
        shapelint.explain(model, "nope")
