"""What the name, count and nesting mutations of scripts/fuzz_mutations.py found (issue 13), each
now a regression test. Under SHAPELINT_STRICT=1 (the test suite's setting) a TypeError or an
IndexError in a rule is a bug, not a malformed node: each malformed attribute below was one. In
process (slow tier: the fast tier is kept under a minute)."""

from __future__ import annotations

import json
import math

import onnx
import pytest
from onnx import TensorProto, helper

from shapelint import values
from shapelint.lint import lint
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
