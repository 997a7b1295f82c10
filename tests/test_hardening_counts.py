"""Hardening II, counts: every count, index, rank or size a file gives is checked against a limit
(shapelint.limits) before it drives a loop or an allocation, and the algorithms over names are
linear. Each case must end within a few seconds, in one line or an honest abstention. In
process: fast tier (the wall-clock bounds are generous: a regression is minutes, not seconds)."""

import json
import time

import onnx
import pytest
from onnx import TensorProto, helper

from shapelint import cli, limits
from shapelint.loaders import Names, unique_name
from tests.test_hostile_inputs import _keras_unet_config, _zip


def run(argv, capsys, bound=15.0):
    started = time.monotonic()
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    took = time.monotonic() - started
    assert took < bound, (argv, took)
    return rc, out, err


@pytest.mark.parametrize("index", [10 ** 9, limits.MAX_OUTPUTS_PER_LAYER, -1])
def test_a_keras_output_index_is_bounded_before_names_are_made(index, tmp_path, capsys):
    """``keras_history: [pool, 0, 10^9]`` once built 10^9 output names."""
    cfg = _keras_unet_config()
    cfg["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["pool", 0, index]
    path = _zip(tmp_path / "m.keras", {"config.json": json.dumps(cfg)})
    rc, out, err = run(["check", path], capsys)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert ("MAX_OUTPUTS_PER_LAYER" if index >= 0 else "negative") in err, err


def test_a_keras_output_index_below_the_limit_still_works(tmp_path, capsys):
    cfg = _keras_unet_config()
    cfg["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["pool", 0, 3]
    path = _zip(tmp_path / "m.keras", {"config.json": json.dumps(cfg)})
    rc, out, err = run(["check", path, "--format", "json", "--show-info"], capsys)
    assert rc in (0, 1) and "Traceback" not in err  # output 3 of a pool: read, its shape unknown or not


@pytest.mark.parametrize("n", [20_000, 40_000])
def test_many_layers_of_one_name_are_named_in_linear_time(n, tmp_path, capsys):
    """A Sequential of n ReLU layers all named 'r': the names r, r#2, …, r#n cost n steps (the
    quadratic de-duplication took minutes at 40k)."""
    layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, None, None, 1]}}]
    layers += [{"class_name": "ReLU", "config": {"name": "r"}}] * n
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": layers}}
    path = _zip(tmp_path / "m.keras", {"config.json": json.dumps(cfg)})
    rc, out, err = run(["check", path, "--format", "json"], capsys, bound=30.0)
    assert rc == 0 and json.loads(out) == [], err


def test_unique_name_is_linear_with_names_and_still_unique():
    taken = Names()
    got = [unique_name(taken, "a") for _ in range(50_000)]
    assert len(set(got)) == 50_000 and got[:3] == ["a", "a#2", "a#3"]
    taken = Names({"b#2"})  # a name that looks like a suffix is skipped, not duplicated
    assert [unique_name(taken, "b") for _ in range(3)] == ["b", "b#3", "b#4"]
    started = time.monotonic()
    taken = Names()
    for k in range(100_000):
        unique_name(taken, "n" if k % 2 else f"m{k}")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("rank", [limits.MAX_RANK + 1, 10_000, 100_000])
def test_an_onnx_input_of_huge_rank_is_an_abstention_naming_the_limit(rank, tmp_path, capsys):
    """Rank 100,000 into Size multiplied symbolic dims quadratically."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [f"d{i}" for i in range(rank)])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, None)
    g = helper.make_graph([helper.make_node("Size", ["x"], ["y"], name="size")], "g", [x], [y])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rc, out, err = run(["check", path, "--format", "json", "--show-info"], capsys)
    items = json.loads(out)
    assert [(i["rule"], i["node"]) for i in items] == [("SL005", "x")]
    assert f"rank {rank}, over the limit of {limits.MAX_RANK}" in items[0]["message"]


def test_a_rank_at_the_limit_is_followed(tmp_path, capsys):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1] * limits.MAX_RANK)
    y = helper.make_tensor_value_info("y", TensorProto.INT64, None)
    g = helper.make_graph([helper.make_node("Size", ["x"], ["y"], name="size")], "g", [x], [y])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rc, out, err = run(["check", path, "--format", "json", "--show-info"], capsys)
    assert rc == 0 and json.loads(out) == []


def test_an_op_that_makes_a_huge_rank_is_an_abstention(tmp_path, capsys):
    """A Reshape to a shape of 1,000 ones: the output's rank is over the limit, so it is unknown."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "H"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    shape = helper.make_tensor("shape", TensorProto.INT64, [1000], [1] * 999 + [-1])
    g = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")], "g", [x], [y],
                          [shape])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rc, out, err = run(["check", path, "--format", "json", "--show-info"], capsys)
    items = json.loads(out)
    assert any(i["rule"] == "SL005" and i["node"] == "reshape" and "MAX_RANK" in i["message"] for i in items), items


def test_a_declared_contract_with_a_huge_minimum_is_refused(tmp_path, capsys):
    from tests.onnx_models import unet

    onnx.save(unet(depth=2), str(tmp_path / "m.onnx"))
    (tmp_path / ".shapelint.yaml").write_text("inputs: {x: {2: {min: 100000000000000}}}\n")
    rc, out, err = run(["check", tmp_path / "m.onnx"], capsys)
    assert rc == 2 and "MAX_DECLARED_SIZE" in err and err.count("\n") == 1



def _call_tree_savedmodel(folder, levels: int):
    """A SavedModel whose serving function calls f0, and each f_k calls f_{k+1} twice (in a chain),
    down to f_levels, which has no node at all: 2^levels calls to inline, none of them a node."""
    from shapelint.loaders.savedmodel_schema import message_class

    sm = message_class("SavedModel")()
    mg = sm.meta_graphs.add()
    g = mg.graph_def
    x = g.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    call = g.node.add(name="call", op="PartitionedCall", input=["x"])
    call.attr["f"].func.name = "f0"
    for k in range(levels + 1):
        f = g.library.function.add()
        f.signature.name = f"f{k}"
        f.signature.input_arg.add(name="a")
        f.signature.output_arg.add(name="y")
        if k == levels:
            f.ret["y"] = "a"
            continue
        c1 = f.node_def.add(name="c1", op="PartitionedCall", input=["a"])
        c1.attr["f"].func.name = f"f{k + 1}"
        c2 = f.node_def.add(name="c2", op="PartitionedCall", input=["c1:output:0"])
        c2.attr["f"].func.name = f"f{k + 1}"
        f.ret["y"] = "c2:output:0"
    sig = mg.signature_def["serving_default"]
    sig.inputs["x"].name = "x:0"
    sig.inputs["x"].dtype = 1
    for d in (-1, 4):
        sig.inputs["x"].tensor_shape.dim.add(size=d)
    sig.outputs["y"].name = "call:0"
    sig.outputs["y"].dtype = 1
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(sm.SerializeToString())
    return folder


@pytest.mark.parametrize("levels", [30, 62])
def test_a_savedmodel_call_tree_without_nodes_is_bounded(levels, tmp_path, capsys):
    """2^30 calls, none a node, never reached the node limit: calls have their own limit."""
    path = _call_tree_savedmodel(tmp_path / "sm", levels)
    rc, out, err = run(["check", path], capsys, bound=60.0)
    assert rc == 2 and err.count("\n") == 1 and "function calls to inline" in err and "MAX_INLINED_CALLS" in err, err


def test_a_small_savedmodel_call_tree_is_read(tmp_path, capsys):
    path = _call_tree_savedmodel(tmp_path / "sm", 4)  # 2^4 calls: read, the output is the input
    rc, out, err = run(["check", path, "--format", "json"], capsys)
    assert rc == 0 and json.loads(out) == [], err


def test_a_huge_saved_model_pb_is_refused_before_reading(tmp_path, capsys):
    folder = tmp_path / "sm"
    folder.mkdir()
    with open(folder / "saved_model.pb", "wb") as f:
        f.truncate(limits.MAX_FILE_BYTES + 1)  # sparse: 2 GiB of nothing, never read
    rc, out, err = run(["check", folder], capsys)
    assert rc == 2 and "MAX_FILE_BYTES" in err and err.count("\n") == 1
