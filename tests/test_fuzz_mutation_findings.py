"""What the name, count and nesting mutations of scripts/fuzz_mutations.py found (issue 13), each
now a regression test. Under SHAPELINT_STRICT=1 (the test suite's setting) a TypeError or an
IndexError in a rule is a bug, not a malformed node: each malformed attribute below was one. In
process (slow tier: the fast tier is kept under a minute)."""

from __future__ import annotations

import json
import math
import time

import onnx
import pytest
from onnx import TensorProto, helper

from shapelint import cli, escape, limits, values
from shapelint.lint import lint
from tests.onnx_models import unet
from tests.test_escaped_names import assert_safe
from tests.test_hostile_inputs import _keras_unet_config, _zip

pytestmark = pytest.mark.slow


def _keras(tmp_path, change) -> str:
    cfg = _keras_unet_config()
    layers = {layer["name"]: layer for layer in cfg["config"]["layers"]}
    change(layers)
    return str(_zip(tmp_path / "m.keras", {"config.json": json.dumps(cfg)}))


def _set(layer, **config):
    def change(layers):
        layers[layer]["config"].update(config)
    return change


def _as(layer, cls, **config):
    def change(layers):
        layers[layer]["class_name"] = cls
        layers[layer]["config"] = {"name": layer, **config}
    return change


KERAS = {  # a layer's config as a hand-edited or corrupt file has it: the layer is malformed
    "output_padding-nan": ("up", _set("up", output_padding=math.nan)),
    "output_padding-string": ("up", _set("up", output_padding="3")),
    "output_padding-floats": ("up", _set("up", output_padding=[1.5, 2])),
    "filters-strings": ("up", _set("up", filters=["2", "2"])),
    "filters-nan": ("up", _set("up", filters=math.nan)),
    "filters-list": ("up", _set("up", filters=[2, 2])),
    "upsampling-size-object": ("up", _as("up", "UpSampling2D", size={"a": 1})),
    "zeropadding-floats": ("up", _as("up", "ZeroPadding2D", padding=[1.5, 2])),
    "permute-out-of-range": ("up", _as("up", "Permute", dims=[5, 9])),
    "dense-units-list": ("up", _as("up", "Dense", units=[3])),
}


@pytest.mark.parametrize("case", sorted(KERAS))
def test_a_keras_attribute_of_the_wrong_type_is_a_malformed_layer(case, tmp_path):
    node, change = KERAS[case]
    res = lint(_keras(tmp_path, change))
    assert res.error is None
    assert any(f"'{node}'" in n and "do not make sense" in n for n in res.notes), res.notes


def test_a_concatenate_axis_that_is_not_an_integer_is_not_judged(tmp_path):
    for axis in ([], "1", 1.5, 10**9):
        res = lint(_keras(tmp_path, _set("cat", axis=axis)))
        assert res.error is None and not [f for f in res.findings if f.rule == "SL003"], (axis, res.findings)


def _onnx(tmp_path, nodes, inputs, initializers=(), opset=17) -> str:
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT,
                                                                             None)], list(initializers))
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return str(path)


def _x(rank=4):
    return [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"][:rank])]


def _int_attr(node, name, value):
    node.attribute.append(helper.make_attribute(name, value))
    return node


ONNX = {
    "convtranspose-weight-of-rank-1": lambda: (
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="bad", kernel_shape=[2, 2])], _x(),
        [helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])], 17),
    "conv-kernel_shape-one-int": lambda: (
        [_int_attr(helper.make_node("Conv", ["x", "w"], ["y"], name="bad"), "kernel_shape", 3)], _x(),
        [helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 3, 3], [0.0] * 9)], 17),
    "maxpool-strides-one-int": lambda: (
        [_int_attr(helper.make_node("MaxPool", ["x"], ["y"], name="bad", kernel_shape=[2, 2]), "strides", 2)],
        _x(), [], 17),
    "maxpool-of-a-rank-1-input": lambda: (
        [helper.make_node("MaxPool", ["x"], ["y"], name="bad", kernel_shape=[2, 2])], _x(1), [], 17),
    "conv-weight-of-rank-0": lambda: (
        [helper.make_node("Conv", ["x", "w"], ["y"], name="bad", kernel_shape=[3, 3])], _x(),
        [helper.make_tensor("w", TensorProto.FLOAT, [], [0.0])], 17),
    "resize-sizes-of-floats": lambda: (
        [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], name="bad")], _x(),
        [helper.make_tensor("sizes", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])], 13),
    "concat-axis-a-list": lambda: (
        [_int_attr(helper.make_node("Concat", ["x", "x"], ["y"], name="bad"), "axis", [1])], _x(), [], 17),
    "pad-pads-for-other-axes": lambda: (
        [helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], name="bad")], _x(),
        [helper.make_tensor("pads", TensorProto.INT64, [2], [1, 1]),
         helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])], 18),
}


@pytest.mark.parametrize("case", sorted(ONNX))
def test_an_onnx_attribute_of_the_wrong_type_or_length_is_a_malformed_node(case, tmp_path):
    nodes, inputs, inits, opset = ONNX[case]()
    res = lint(_onnx(tmp_path, nodes, inputs, inits, opset))
    assert res.error is None
    assert any("'bad'" in n and "do not make sense" in n for n in res.notes), res.notes


def test_values_that_do_not_broadcast_to_the_output_are_unknown():
    """Two tensors of one name (a collision) gave an Add values of one shape and an output shape
    from elsewhere: an IndexError while broadcasting."""
    with pytest.raises(values.Unknown):
        values.broadcast([(1, 2, 3), (1,)], [(3,), (1,)], (2,), lambda a, b: a + b)
    with pytest.raises(values.Unknown):
        values.broadcast([(1, 2, 3, 4)], [(2, 2)], (2,), lambda a: a)
    assert values.broadcast([(1, 2), (10,)], [(2,), (1,)], (2, 2), lambda a, b: a + b) == (11, 12, 11, 12)


def _with_names(model: onnx.ModelProto, names: dict) -> bytes:
    """The model's bytes with tensors renamed to ``names`` values (bytes, maybe not UTF-8: protobuf
    refuses to set such a string), through the wire format: each tensor is first given a
    two-byte placeholder, then every node input/output field holding it is rewritten."""
    placeholders = {}
    for k, old in enumerate(names):
        placeholders[old] = "\x01" + chr(2 + k)
    for n in model.graph.node:
        n.input[:] = [placeholders.get(i, i) for i in n.input]
        n.output[:] = [placeholders.get(o, o) for o in n.output]
    data = model.SerializeToString()
    for old, new in names.items():
        ph = placeholders[old].encode()
        assert len(new) == len(ph)
        assert data.count(b"\x12\x02" + ph) == 1 and data.count(b"\x0a\x02" + ph) >= 1
        for key in (b"\x0a", b"\x12"):  # NodeProto.input, NodeProto.output
            data = data.replace(key + b"\x02" + ph, key + b"\x02" + new)
    return data


def test_names_that_differ_only_in_bytes_that_are_not_utf8_stay_two_tensors(tmp_path):
    """Two tensors named t\\xff and t\\xfe were both read as 't\\ufffd' (replacement characters):
    merged into one, the verdict changed."""
    m = unet(depth=2)
    path = tmp_path / "plain.onnx"
    onnx.save(m, str(path))
    plain = lint(str(path))
    outputs = [n.output[0] for n in m.graph.node if n.op_type in ("Conv", "MaxPool", "Relu")]
    path = tmp_path / "twins.onnx"
    path.write_bytes(_with_names(m, {outputs[0]: b"t\xff", outputs[2]: b"t\xfe"}))
    res = lint(str(path))
    assert sorted((f.rule, f.severity) for f in res.findings) == sorted((f.rule, f.severity) for f in plain.findings)
    assert res.notes == plain.notes


def test_ops_and_domains_are_shown_escaped_and_json_stays_valid(tmp_path, capsys):
    """An op_type holding a C1 control reached --format json raw; the output sanitiser then
    wrote \\x85 into a JSON string: invalid JSON."""
    m = unet(depth=2)
    for n in m.graph.node:
        if n.op_type == "Relu" or n.op_type == "ConvTranspose":
            n.op_type += "\x85\u202e\x1b[2J"
            n.domain = "evil\u2028domain"
            break
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    for fmt in ("json", "sarif", "text", "github"):
        rc = cli.main(["check", str(path), "--format", fmt, "--show-info"])
        out, err = capsys.readouterr()
        assert rc in (0, 1), err
        assert_safe(out, github=fmt == "github")
        assert_safe(err)
        if fmt in ("json", "sarif"):
            json.loads(out)
    assert escape.json_text('["\x85 \u202e \udcff"]') == '["\\u0085 \\u202e \\udcff"]'
    assert json.loads(escape.json_text('["\x85"]')) == ["\x85"]


def test_a_long_name_is_shown_shortened_with_a_hash():
    """A 1 MB dim name made 7–9 MB messages (each quotes it several times) and `contract
    --format json` peak at 1.3 GB; escaping it took 0.4 s a time."""
    long = "H" + "\x1b" * (1 << 20)
    started = time.monotonic()
    shown = escape.name(long)
    assert time.monotonic() - started < 0.5
    assert len(shown) == limits.MAX_NAME_CHARS and shown.startswith("H\\x1b") and "…#" in shown
    assert escape.name(long + "a") != shown and escape.name("A" * 5000) != escape.name("A" * 5001)
    assert escape.name("A" * (limits.MAX_NAME_CHARS - 1)) == "A" * (limits.MAX_NAME_CHARS - 1)
    exact = "A" * limits.MAX_NAME_CHARS  # a name as long as a shortened one is shortened too: no collision
    assert escape.name(exact) != exact and len(escape.name(exact)) == limits.MAX_NAME_CHARS


def test_a_model_with_a_one_megabyte_dim_name_lints_with_short_messages(tmp_path, capsys):
    m = unet(depth=2)
    long = "H" + "A" * (1 << 20)
    for t in list(m.graph.input) + list(m.graph.output):
        for d in t.type.tensor_type.shape.dim:
            if d.dim_param == "H":
                d.dim_param = long
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    res = lint(str(path))
    assert res.findings and max(len(f.message) for f in res.findings) < 20 * limits.MAX_NAME_CHARS
    rc = cli.main(["contract", str(path), "--format", "json"])
    out, _ = capsys.readouterr()
    assert rc == 0 and len(out) < 100 * limits.MAX_NAME_CHARS, len(out)


# --------------------------------------------------------------------------- counts in an ONNX file


def _ld(number: int, payload: bytes) -> bytes:
    from tests.test_hostile_inputs import _ld as ld

    return ld(number, payload)


def _appended(tmp_path, graph_fields: bytes) -> str:
    """The U-Net with more graph fields (protobuf merges a second ``graph`` into the first)."""
    path = tmp_path / "m.onnx"
    path.write_bytes(unet(depth=2).SerializeToString() + _ld(7, graph_fields))
    return path


def _relu(**fields) -> bytes:
    return _ld(1, b"x") + _ld(2, b"y") + _ld(4, b"Relu") + b"".join(fields.values())


COUNTS = {  # (graph fields, what the one-line error names): each was parsed whole before being counted
    "10M empty nodes (20 MB)": (lambda: _ld(1, b"") * 10_000_000, "MAX_NODES"),
    "a node with 10M outputs (30 MB)": (lambda: _ld(1, _ld(1, b"x") + _ld(2, b"y") * 10_000_000 + _ld(4, b"Relu")),
                                        "MAX_GRAPH_ITEMS"),
    "a node with 7M attributes (14 MB)": (lambda: _ld(1, _relu() + _ld(5, b"") * 7_000_000), "MAX_GRAPH_ITEMS"),
    "strides of 10^7 values (10 MB)": (lambda: _ld(1, _relu() + _ld(5, _ld(1, b"strides") + b"\xa0\x01\x07"
                                                                 + _ld(8, b"\x01" * 10**7))), "MAX_GRAPH_ITEMS"),
    "7.5M inputs of 30,000 small nodes": (lambda: _ld(1, _ld(1, b"") * 250) * 30_000, "MAX_GRAPH_ITEMS"),
}


@pytest.mark.parametrize("case", sorted(COUNTS))
def test_counts_in_an_onnx_file_are_bounded_before_they_are_parsed(case, tmp_path):
    """10M empty nodes took 10 s and 1.6 GB to be refused (the node limit was checked after
    protobuf parsed them all); 10M empty attributes 1.9 GB to parse and 40 s to read; each is now
    counted in the wire walk, or as the nodes are read a chunk at a time, and refused in one line."""
    from tests.test_hostile_inputs import shapelint_check

    fields, limit = COUNTS[case]
    path = _appended(tmp_path, fields())
    run = shapelint_check(path, fmt="text", timeout=120)
    assert run.code == 2 and run.err.count("\n") == 1 and limit in run.err, run.err
    assert run.rss_mb < 700, (case, run.rss_mb)


def test_the_node_limit_is_counted_exactly(tmp_path):
    have = len(unet(depth=2).graph.node)
    for extra, refused in ((limits.MAX_NODES - have, False), (limits.MAX_NODES - have + 1, True)):
        res = None
        try:
            res = lint(str(_appended(tmp_path, _ld(1, b"") * extra)))
        except Exception as e:  # ModelError
            assert refused and "MAX_NODES" in str(e), e
        assert (res is None) == refused


def test_a_node_of_many_inputs_counts_them_in_the_small_size_budget(tmp_path):
    """The contract infers the graph again at each size below the pools' windows, within a budget
    of node inferences: a Sum of 100,000 inputs counted as one node, and took 45 s."""
    from shapelint.analysis import POOL_OPS, domain, small_verdicts
    from shapelint.lint import analyse

    m = unet(depth=2, down="maxpool", k_down=2)
    pooled = next(n.output[0] for n in m.graph.node if n.op_type == "MaxPool")
    m.graph.node.append(helper.make_node("Sum", [pooled] * 100_000, ["many"], name="many"))
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    graph, inf = analyse(str(path))
    _, skipped = small_verdicts(inf, domain(inf, POOL_OPS))
    assert skipped, "the sizes below the windows should be over the budget"
    m.graph.node.pop()
    onnx.save(m, str(path))
    graph, inf = analyse(str(path))
    small, skipped = small_verdicts(inf, domain(inf, POOL_OPS))
    assert small and not skipped


def test_merges_past_the_limit_are_an_abstention(tmp_path, monkeypatch):
    """600,000 copies of a Concat whose inputs may disagree (under the node limit) took 566 s and
    7.2 GB: each merge judged costs ~1 ms and ~12 KB. Past limits.MAX_MERGES the rest are not
    judged, and the abstention names the limit."""
    m = unet(depth=2)
    concat = next(n for n in m.graph.node if n.op_type == "Concat")
    m.graph.node.extend(helper.make_node("Concat", list(concat.input), [f"copy{k}"], name=f"copy{k}", axis=1)
                        for k in range(30))
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    everything = lint(str(path))
    assert sum(f.rule == "SL003" for f in everything.findings) == 32
    monkeypatch.setattr(limits, "MAX_MERGES", 10)
    res = lint(str(path))
    assert sum(f.rule == "SL003" for f in res.findings) == 10
    abstained = [f for f in res.findings if f.rule == "SL005"]
    assert abstained and "MAX_MERGES" in abstained[0].message, [f.message for f in res.findings if f.rule != "SL003"]


def test_a_thousand_nodes_of_one_name_are_not_a_quadratic_verdict(tmp_path):
    """1,000 copies of a Concat (one name, one output) in a U-Net with pools: each size below the
    pools' windows matched every copy's merges to every copy by name, 10^6 checks per size (115 s);
    and a Concat of one tensor 100,000 times solved and evaluated the same dim 100,000 times."""
    from shapelint.analysis import AxisCheck

    m = unet(depth=2, down="maxpool", k_down=2)
    concat = [n for n in m.graph.node if n.op_type == "Concat"][1]
    m.graph.node.extend([concat] * 1000)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    started = time.monotonic()
    res = lint(str(path))
    assert time.monotonic() - started < 60 and res.error is None
    check = AxisCheck(2, ("H",) * 100_000 + (None, 3), "equal")
    assert check.present() == ("H", 3) and check.present() is check.present()


def test_an_expression_is_printed_once():
    """Symbolic dims were formatted again for every message that quotes them: 10,000 copies of a
    ConvTranspose on a dynamic input took 13 s for 2,500 (most of it in __str__), now 5 s."""
    from shapelint.symbolic import add, floordiv, mul, sym

    h = sym("H")
    e = add(mul(floordiv(add(h, 2), 3), 2), 1)
    first = str(e)
    assert first == "2·ceil(H/3) + 1" and str(e) is first
    assert str(add(mul(floordiv(add(h, 2), 3), 2), 1)) == first  # an equal expression prints alike


def test_a_merge_of_many_inputs_of_two_sizes_is_not_nested_deep(tmp_path):
    """A Keras Add called on 10,000 tensors of two sizes (a 12 KB .keras file) folded bcast(bcast(…),
    …) 10,000 deep: 4.1 GB and a RecursionError. Broadcasting is idempotent: a dim met again is
    skipped."""
    from shapelint.frameworks.onnx import broadcast_shapes
    from shapelint.symbolic import bcast, floordiv, mul, sym
    from tests.test_hostile_inputs import shapelint_check

    h = sym("H")
    up = mul(floordiv(h, 2), 2)
    assert broadcast_shapes([(1, h), (1, up)] * 5000) == (1, bcast(h, up))
    cfg = _keras_unet_config()
    cat = next(layer for layer in cfg["config"]["layers"] if layer["name"] == "cat")
    cat["class_name"] = "Add"
    args = cat["inbound_nodes"][0]["args"][0]
    args.extend(args * 5000)
    path = _zip(tmp_path / "m.keras", {"config.json": json.dumps(cfg)})
    run = shapelint_check(path, timeout=120)
    assert run.code == 1 and run.err == "" and run.rss_mb < 300, (run.err, run.rss_mb)


def test_a_constant_of_a_million_huge_dims_is_sized_at_once(tmp_path):
    """An initializer of rank 1,000,000, every dim 2^62 (a 9 MB file): its element count was
    computed exactly, a product of 62 million bits (hours). Only compared with limits, it stops
    at 2^63."""
    from shapelint.ir import Constant

    assert Constant("c", (2**62,) * 100, "float32", lambda: None).size == 1 << 63  # (fails fast if it regresses)
    assert Constant("c", (2**62,) * 1_000_000, "float32", lambda: None).size == 1 << 63
    assert Constant("c", (2**62,) * 1000 + (0,), "float32", lambda: None).size == 0
    assert Constant("c", (3, 4, 5), "float32", lambda: None).size == 60
    m = unet(depth=2)
    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT)  # (onnx's make_tensor multiplies the dims)
    huge.dims.extend([2**62] * 1_000_000)
    m.graph.initializer.append(huge)
    m.graph.node.append(helper.make_node("Add", [m.graph.node[-1].output[0], "huge"], ["y2"], name="uses_huge"))
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    started = time.monotonic()
    lint(str(path))
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("pads", [[0.5, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], ids=["fractional", "whole-floats"])
def test_a_float_tensor_as_pads_is_a_malformed_node(tmp_path, pads):
    """Found by the post-change mutation run (onnx-names, names:collide:tensor on unet_pad_static):
    a float tensor renamed onto Pad's pads made `add(dim, 0.5)` an AttributeError. ONNX's pads are
    int64: the node is malformed, its output unknown, and the lint goes on."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    p = helper.make_tensor("p", TensorProto.FLOAT, [8], [0.0, 0.0] + pads[:2] + [0.0, 0.0] + pads[2:])
    g = helper.make_graph([helper.make_node("Pad", ["x", "p"], ["y"], name="pad")], "g", [x], [y], [p])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    res = lint(str(path))
    assert [(f.rule, f.node) for f in res.findings] == [("SL005", "pad")], res.findings
    assert "are not integers" in res.findings[0].details["reason"]
