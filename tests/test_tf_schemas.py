"""shapelint's own TensorFlow schemas against TensorFlow's: the protobuf schema a SavedModel is read
with (shapelint/loaders/savedmodel_schema.py, declared in the project) and TFLite's flatbuffer
readers (shapelint/loaders/tflite_schema.py, vendored from TensorFlow's generated file).

The reference is TensorFlow's own: its ``saved_model_pb2`` classes and its
``schema_py_generated.py``, read from the installed package without running ``tensorflow/__init__``
(tests/tf_reference.py), so the fast tier compares them too. Each comparison is of what the loader
reads: every field the declared schema has, walked through both parses, and the IR the loader
builds from a file through either schema (nodes, attributes, constants and their values, inputs,
outputs, notes; or the same ModelError for a broken file). The SavedModels and ``.tflite`` files
TensorFlow builds are compared in the slow tier (marked tensorflow); the CLI in a child process
that cannot import TensorFlow or Keras gives the same findings as a run with TensorFlow's schemas.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys

import pytest

from shapelint import cli
from shapelint.errors import ModelError
from shapelint.loaders import savedmodel_loader, savedmodel_schema, tflite_loader, tflite_schema
from tests import tf_reference
from tests import tflite_models as M
from tests.support import LazyModule, child_env

tf = LazyModule("tensorflow")  # imported by the first test that uses it: never in the fast tier
TF = [pytest.mark.slow, pytest.mark.tensorflow]


# --------------------------------------------------------------------------- comparing two parses


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def declared_differences(ours, theirs, where="") -> list:
    """Where a message parsed with the declared schema (``ours``) and the same bytes parsed with
    TensorFlow's classes (``theirs``) differ, walking every field of the declared schema: maps
    (their keys and values), repeated and singular messages, scalars, and which member of each
    oneof is set (where TensorFlow's is one the declared schema leaves out, none is set in ours:
    its declared members read as unset in both)."""
    out = []
    desc = ours.DESCRIPTOR
    for oneof in desc.oneofs:
        a, b = ours.WhichOneof(oneof.name), theirs.WhichOneof(oneof.name)
        # a member the declared schema leaves out (TensorInfo's coo_sparse) reads as none set
        if a != b and (a is not None or b in {f.name for f in oneof.fields}):
            out.append(f"{where}: oneof {oneof.name} is {a!r} vs {b!r}")
    for f in desc.fields:
        a, b = getattr(ours, f.name), getattr(theirs, f.name)
        here = f"{where}.{f.name}"
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            if set(a) != set(b):
                out.append(f"{here}: keys {sorted(a)} vs {sorted(b)}")
                continue
            value = f.message_type.fields_by_name["value"]
            for k in sorted(a):
                if value.message_type is not None:
                    out += declared_differences(a[k], b[k], f"{here}[{k!r}]")
                elif not _same(a[k], b[k]):
                    out.append(f"{here}[{k!r}]: {a[k]!r} vs {b[k]!r}")
        elif _repeated(f):
            if len(a) != len(b):
                out.append(f"{here}: {len(a)} vs {len(b)} entries")
            elif f.message_type is not None:
                for k, (x, y) in enumerate(zip(a, b)):
                    out += declared_differences(x, y, f"{here}[{k}]")
            elif not all(_same(x, y) for x, y in zip(a, b)):
                out.append(f"{here}: {list(a)[:8]} vs {list(b)[:8]}")
        elif f.message_type is not None:
            if ours.HasField(f.name) != theirs.HasField(f.name):
                out.append(f"{here}: set {ours.HasField(f.name)} vs {theirs.HasField(f.name)}")
            elif ours.HasField(f.name):
                out += declared_differences(a, b, here)
        elif not _same(a, b):
            out.append(f"{here}: {a!r} vs {b!r}")
    return out


def _repeated(field) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 5.x (label is deprecated)
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def counts(sm) -> dict:
    """How much of a parsed SavedModel a comparison walked (so that a vacuous one fails)."""
    mg = sm.meta_graphs[0]
    lib = mg.graph_def.library.function
    return {"signatures": len(mg.signature_def), "nodes": len(mg.graph_def.node), "functions": len(lib),
            "function nodes": sum(len(f.node_def) for f in lib)}


def compare_savedmodel_bytes(data: bytes) -> tuple:
    ours = savedmodel_schema.message_class("SavedModel")()
    ours.ParseFromString(data)
    theirs = tf_reference.saved_model_pb2().SavedModel()
    theirs.ParseFromString(data)
    return declared_differences(ours, theirs, "SavedModel"), counts(ours)


def graph_facts(g) -> dict:
    """Everything a loader put in a Graph, each constant's values read (a Constant's loader
    function compares by identity)."""
    return dict(name=g.name, framework=g.framework, opset=g.opset, inputs=g.inputs, outputs=g.outputs,
                nodes=g.nodes, notes=g.notes,
                constants={k: (c.shape, c.dtype, repr(c.values())) for k, c in sorted(g.constants.items())})


def _outcome(load, path):
    try:
        return graph_facts(load(path))
    except ModelError as e:
        return f"ModelError: {e.reason}"


def with_tensorflows_schemas(monkeypatch):
    """Make the loaders read with TensorFlow's own classes, as shapelint did before issue 12."""
    pb2 = tf_reference.saved_model_pb2()
    monkeypatch.setattr(savedmodel_schema, "message_class", lambda name="SavedModel": getattr(pb2, name))
    monkeypatch.setattr(tflite_loader, "schema", tf_reference.tflite_schema)


def both_readings(monkeypatch, load, path) -> tuple:
    """(the loader's outcome with the project's schema, with TensorFlow's)."""
    ours = _outcome(load, path)
    with monkeypatch.context() as m:
        with_tensorflows_schemas(m)
        theirs = _outcome(load, path)
    return ours, theirs


# --------------------------------------------------------------------------- the declared SavedModel schema


def _type_name(f):
    if f.message_type is not None:
        return f.message_type.full_name
    if f.enum_type is not None:
        return f.enum_type.full_name
    return None


def _field_facts(f) -> tuple:
    oneof = f.containing_oneof.name if f.containing_oneof is not None else None
    facts = (f.number, f.type, _repeated(f), oneof)
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        kv = f.message_type.fields_by_name
        return facts + ("map", kv["key"].type, kv["value"].type, _type_name(kv["value"]))
    return facts + (_type_name(f),)


def test_every_declared_field_is_tensorflows():
    """Each field of each declared message has the number, type, label, oneof and message or
    enum type of TensorFlow's field of that name; each DataType value TensorFlow's number."""
    pool = tf_reference.saved_model_pb2().DESCRIPTOR.pool
    checked, wrong = 0, []
    for name in savedmodel_schema.MESSAGES:
        ours = savedmodel_schema.message_class(name).DESCRIPTOR
        theirs = pool.FindMessageTypeByName(ours.full_name)
        assert ours.full_name == f"tensorflow.{name}"
        assert ours.fields, name
        for f in ours.fields:
            t = theirs.fields_by_name.get(f.name)
            if t is None or _field_facts(f) != _field_facts(t):
                wrong.append((ours.full_name, f.name, _field_facts(f), t and _field_facts(t)))
            checked += 1
    enum = savedmodel_schema.message_class("TensorInfo").DESCRIPTOR.fields_by_name["dtype"].enum_type
    tf_enum = pool.FindEnumTypeByName("tensorflow.DataType")
    for v in enum.values:
        if tf_enum.values_by_name[v.name].number != v.number:
            wrong.append(("DataType", v.name, v.number))
    assert not wrong, wrong
    assert checked >= 40 and len(enum.values) >= 20


def test_declared_schema_is_in_a_private_pool():
    """The declared classes live in their own DescriptorPool: TensorFlow's classes (in protobuf's
    default pool) are loaded beside them and neither replaces the other."""
    from google.protobuf import descriptor_pool

    ours = savedmodel_schema.message_class("SavedModel")
    theirs = tf_reference.saved_model_pb2().SavedModel
    assert ours.DESCRIPTOR.file.pool is not descriptor_pool.Default()
    assert theirs.DESCRIPTOR.file.pool is descriptor_pool.Default()
    assert ours is not theirs and ours.DESCRIPTOR.full_name == theirs.DESCRIPTOR.full_name
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindFileByName(savedmodel_schema.FILE_NAME)
    assert len(theirs.DESCRIPTOR.fields) > len(ours.DESCRIPTOR.fields)  # a subset: only what is read


def _every_kind_of_savedmodel():
    """A SavedModel written with TensorFlow's classes that sets every declared field, each oneof
    member, fields the declared schema leaves out (skipped as unknown), a DataType beyond the
    declared enum, negative and 64-bit integers and a NaN."""
    pb2 = tf_reference.saved_model_pb2()
    sm = pb2.SavedModel(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.saver_def.filename_tensor_name = "saver/filename:0"
    mg.collection_def["variables"].bytes_list.value.append(b"\x01\x02")
    info = mg.signature_def["serving_default"].inputs["x"]
    info.name, info.dtype = "x:0", 1
    info.tensor_shape.dim.add(size=-1)
    info.tensor_shape.dim.add(size=7, name="h")
    sparse = mg.signature_def["serving_default"].inputs["sparse"]
    sparse.coo_sparse.values_tensor_name = "values:0"  # the other member of the oneof
    out = mg.signature_def["serving_default"].outputs["y"]
    out.name, out.dtype = "y:0", 24  # DT_FLOAT8_E5M2: not in the declared enum
    out.tensor_shape.unknown_rank = True
    mg.signature_def["serving_default"].method_name = "tensorflow/serving/predict"
    mg.signature_def["__saved_model_init_op"].outputs["op"].name = "init"
    g = mg.graph_def
    g.versions.producer = 1882
    node = g.node.add(name="x", op="Placeholder", device="/cpu:0")
    node.input.extend(["^ctrl", "a:1"])
    node.experimental_debug_info.original_node_names.append("orig")
    a = node.attr
    a["s"].s = b"SAME\xff"
    a["i"].i = -(1 << 40)
    a["f"].f = float("nan")
    a["b"].b = True
    a["type"].type = 9
    a["shape"].shape.dim.add(size=3)
    a["shape"].shape.dim.add(size=-1)
    a["placeholder"].placeholder = "T"
    a["func"].func.name = "f_0"
    a["func"].func.attr["inner"].i = 1
    t = a["tensor"].tensor
    t.dtype, t.version_number = 3, 2
    t.tensor_shape.dim.add(size=2)
    t.tensor_content = b"\x01\x00\x00\x00\x02\x00\x00\x00"
    t.half_val.append(15360)
    lst = a["list"].list
    lst.i.extend([1, -2, 1 << 50])
    lst.s.extend([b"NHWC", b""])
    lst.f.append(0.5)
    lst.shape.add().dim.add(size=4)
    lst.shape.add().unknown_rank = True
    a["empty_list"].list.SetInParent()
    for field, values in (("float_val", [1.5, -0.0]), ("double_val", [2.25]), ("int_val", [-3, 4]),
                          ("int64_val", [-(1 << 62)]), ("bool_val", [True, False])):
        tv = g.node.add(name=f"const_{field}", op="Const").attr["value"].tensor
        getattr(tv, field).extend(values)
        tv.dtype = 1
    fn = g.library.function.add()
    fn.signature.name = "f_0"
    fn.signature.input_arg.add(name="x", type=1)
    fn.signature.output_arg.add(name="y", type_attr="T")
    fn.signature.description = "left out"
    fn.node_def.add(name="relu", op="Relu", input=["x"]).attr["T"].type = 1
    fn.ret["y"] = "relu:activations:0"
    fn.attr["_input_shapes"].list.shape.add()
    g.library.gradient.add(function_name="f_0", gradient_func="g_0")
    mg.object_graph_def.nodes.add()
    return sm


def test_a_savedmodel_with_every_declared_field_reads_the_same():
    sm = _every_kind_of_savedmodel()
    differences, seen = compare_savedmodel_bytes(sm.SerializeToString())
    assert not differences, differences
    assert seen == {"signatures": 2, "nodes": 6, "functions": 1, "function nodes": 1}
    ours = savedmodel_schema.message_class("SavedModel")()
    ours.ParseFromString(sm.SerializeToString())
    attr = ours.meta_graphs[0].graph_def.node[0].attr
    assert {k: attr[k].WhichOneof("value") for k in attr} == {
        "s": "s", "i": "i", "f": "f", "b": "b", "type": "type", "shape": "shape", "placeholder": "placeholder",
        "func": "func", "tensor": "tensor", "list": "list", "empty_list": "list"}
    assert ours.meta_graphs[0].signature_def["serving_default"].outputs["y"].dtype == 24


def test_a_savedmodel_of_unknown_fields_only_reads_as_empty():
    """Fields outside the declared schema are skipped, not errors: a SavedModel that sets only
    those parses to an empty message with both schemas."""
    pb2 = tf_reference.saved_model_pb2()
    sm = pb2.SavedModel(saved_model_schema_version=1)
    sm.meta_graphs.add().object_graph_def.nodes.add()
    differences, seen = compare_savedmodel_bytes(sm.SerializeToString())
    assert not differences and seen == {"signatures": 0, "nodes": 0, "functions": 0, "function nodes": 0}


def test_a_broken_savedmodel_is_refused_as_tensorflows_classes_refuse_it(tmp_path, monkeypatch):
    """The same bytes, cut or with a wrong wire type, are a ModelError through either schema."""
    data = _every_kind_of_savedmodel().SerializeToString()
    cases = {"cut": data[: len(data) // 2], "garbage": b"\x08\x01garbage" * 10, "wire type": b"\x12\x05\x0b\x0c"}
    for name, blob in cases.items():
        d = tmp_path / name
        d.mkdir()
        (d / "saved_model.pb").write_bytes(blob)
        ours, theirs = both_readings(monkeypatch, savedmodel_loader.load, str(d))
        assert isinstance(ours, str) and isinstance(theirs, str) and ours.startswith("ModelError"), (name, ours)


# --------------------------------------------------------------------------- the vendored TFLite schema


def _classes(module) -> dict:
    return {k: v for k, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__}


def _vendored_version() -> str:
    with open(tflite_schema.__file__, encoding="utf-8") as f:
        m = re.search(r"# Generated code from TensorFlow ([\w.]+):", f.read(2000))
    assert m, "the vendored schema's header names no TensorFlow version"
    return m.group(1)


def test_vendored_tflite_schema_is_tensorflows_generated_code():
    """Every vendored enum has TensorFlow's values and every vendored reader method is, line for
    line, TensorFlow's generated method; with the TensorFlow it was vendored from, the file is
    exactly what scripts/vendor_tflite_schema.py writes."""
    ref = tf_reference.tflite_schema()
    theirs = _classes(ref)
    ours = _classes(tflite_schema)
    assert len(ours) >= 180 and "Model" in ours and "Conv2DOptions" in ours
    wrong = []
    methods = 0
    for name, cls in ours.items():
        other = theirs.get(name)
        if other is None:
            wrong.append(f"{name}: not in TensorFlow's schema")
            continue
        for attr, value in vars(cls).items():
            fn = getattr(value, "__func__", value)
            if inspect.isfunction(fn):
                their_fn = getattr(vars(other).get(attr), "__func__", vars(other).get(attr))
                if their_fn is None or inspect.getsource(fn) != inspect.getsource(their_fn):
                    wrong.append(f"{name}.{attr}: not TensorFlow's code")
                methods += 1
            elif isinstance(value, int) and not attr.startswith("_") and vars(other).get(attr) != value:
                wrong.append(f"{name}.{attr} = {value}, TensorFlow's is {vars(other).get(attr)}")
    assert not wrong, wrong[:20]
    assert methods > 700
    if tf_reference.tensorflow_version() == _vendored_version():
        from tests.support import load_script

        vendor = load_script("vendor_tflite_schema")
        with open(tf_reference.tflite_schema_path(), encoding="utf-8") as f:
            regenerated = vendor.vendor(f.read(), _vendored_version())
        with open(tflite_schema.__file__, encoding="utf-8") as f:
            assert f.read() == regenerated


def test_vendored_tflite_schema_needs_no_numpy():
    with open(tflite_schema.__file__, encoding="utf-8") as f:
        text = f.read()
    assert "import_numpy" not in text and not re.search(r"\bnp\.", text)
    assert re.findall(r"(?m)^import .*|^from .* import .*", text) == ["import flatbuffers"]


def _raw_models() -> dict:
    """The .tflite files the fast tests write with TensorFlow's schema (tests/tflite_models.py)."""
    x = ("x", (1, 4, 4, 2), "float32", None, None)
    y = ("y", (1, 4, 4, 2), "float32", None, None)
    dyn = ("x", (1, 1, 1, 2), "float32", None, (-1, -1, -1, 2))
    return {
        "fixed_skip_65": M.fixed_skip_model(65),
        "fixed_skip_64": M.fixed_skip_model(64),
        "mediapipe_same": M.mediapipe_model(9, padding=1),
        "mediapipe_valid": M.mediapipe_model(8, padding=2),
        "mediapipe_short": M.mediapipe_model(9, custom_options=b"\x01\x00"),
        "duplicates": M.raw_model([x, ("x", (1, 4, 4, 2), "float32", None, None), y],
                                  [("RELU", [0], [1], None, None), ("RELU", [1], [2], None, None)], [0], [2]),
        "subgraphs": M.raw_model([x, y], [("RELU", [0], [1], None, None)], [0], [1], extra_subgraphs=2),
        "dynamic": M.raw_model([dyn, y], [("RELU", [0], [1], None, None)], [0], [1]),
        "bad index": M.raw_model([x, y], [("RELU", [7], [1], None, None)], [0], [1]),
        "cycle": M.raw_model([x, y, ("z", (1, 4, 4, 2), "float32", None, None)],
                             [("ADD", [0, 2], [1], None, None), ("RELU", [1], [2], None, None)], [0], [2]),
        "options": M.raw_model([x, y, ("r", (4,), "int32", [1, 8, 2, 2], None), ("s", (1, 8, 2, 2), "float32",
                                                                                 None, None)],
                               [("MIRROR_PAD", [0, 2], [1], M.options("MirrorPadOptions", mode=1), None),
                                ("RESHAPE", [1, 2], [3], M.options("ReshapeOptions", newShape=[1, 8, 2, 2]), None)],
                               [0], [3]),
    }


def test_tflite_files_written_by_the_tests_read_the_same(tmp_path, monkeypatch):
    """Every .tflite the fast tests write, and 120 single-byte corruptions of one: the loader
    builds the same IR (every node, attribute, constant value, note), or refuses the file with
    the same ModelError, through the vendored readers and through TensorFlow's."""
    models = _raw_models()
    for name, data in models.items():
        path = M.save(data, str(tmp_path), name.replace(" ", "_"))
        ours, theirs = both_readings(monkeypatch, tflite_loader.load, path)
        assert ours == theirs, name
    assert isinstance(both_readings(monkeypatch, tflite_loader.load, M.save(models["cycle"], str(tmp_path), "c"))[0],
                      str)
    attrs = dict(both_readings(monkeypatch, tflite_loader.load, M.save(models["options"], str(tmp_path), "o"))[0]
                 ["nodes"][1].attrs)
    assert attrs == {"new_shape": (1, 8, 2, 2)}
    data = models["fixed_skip_65"]
    rng = random.Random(3)
    outcomes = set()
    for k in range(120):
        buf = bytearray(data)
        pos = rng.randrange(len(buf))
        buf[pos] ^= 1 << rng.randrange(8)
        path = M.save(bytes(buf), str(tmp_path), "flip")
        ours, theirs = both_readings(monkeypatch, tflite_loader.load, path)
        assert ours == theirs, f"byte {pos}"
        outcomes.add(isinstance(ours, str))
    assert outcomes == {True, False}  # some flips are refused, some still load


# --------------------------------------------------------------------------- what TensorFlow builds (slow)


@pytest.fixture(scope="module")
def savedmodels(tmp_path_factory):
    """Every kind of SavedModel the tests build (tests/tf_models.py, test_savedmodel.py,
    test_tf_inference.py, test_values_tf.py, test_api.py): TF2 tf.Modules and Keras exports with
    function libraries, and a TF1 graph without one."""
    from tests import tf_models as T
    from tests.test_tf_inference import FNS
    from tests.test_values_tf import sizes_fn

    root = tmp_path_factory.mktemp("schemas_sm")
    out = {f"seed{o}": T.seed_savedmodel(root / f"seed{o}", o) for o in (4, 5, 6, 7)}
    out["seed_same"] = T.seed_savedmodel(root / "seed_same", 4, padding="SAME")
    for name, kw in {"unet": {}, "unet_add_conv": dict(merge="add", pool="conv"),
                     "unet_k2_valid": dict(k_up=2, up_padding="valid"),
                     "unet_output_padding": dict(output_padding=1, depth=1)}.items():
        path = root / name
        T.keras_unet(**kw).export(str(path))
        out[name] = str(path)
    out["tf1_unet"] = T.tf1_unet_savedmodel(root / "tf1_unet")
    out["pool_then_conv_transpose"] = T.fn_savedmodel(root / "pool", T.pool_then_conv_transpose, [1, None, None, 1])
    out["sizes"] = T.fn_savedmodel(root / "sizes", sizes_fn, [1, None, 3, 1])
    for name, fn in FNS.items():
        out[f"op_{name}"] = T.fn_savedmodel(root / f"op_{name}", fn, [None, None, None, 2])
    return out


@pytest.mark.slow
@pytest.mark.tensorflow
def test_savedmodels_tensorflow_builds_parse_the_same(savedmodels):
    """Each saved_model.pb parsed with the declared schema and with TensorFlow's real
    saved_model_pb2 (imported with TensorFlow): every declared field equal -- node names, ops,
    inputs, attributes (shapes, tensors, lists, functions), the function library, signatures."""
    from tensorflow.core.protobuf import saved_model_pb2

    totals = dict.fromkeys(("signatures", "nodes", "functions", "function nodes"), 0)
    for name, path in sorted(savedmodels.items()):
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            data = f.read()
        ours = savedmodel_schema.message_class("SavedModel")()
        ours.ParseFromString(data)
        theirs = saved_model_pb2.SavedModel()
        theirs.ParseFromString(data)
        differences = declared_differences(ours, theirs, name)
        assert not differences, differences[:10]
        for k, v in counts(ours).items():
            totals[k] += v
    assert len(savedmodels) >= 30
    assert totals["functions"] >= 50 and totals["function nodes"] >= 1000 and totals["nodes"] >= 500, totals


@pytest.mark.slow
@pytest.mark.tensorflow
def test_savedmodels_tensorflow_builds_load_the_same(savedmodels, monkeypatch):
    """The IR the loader builds from each SavedModel through the declared schema equals the one
    it builds through TensorFlow's classes (what shapelint read before issue 12)."""
    for name, path in sorted(savedmodels.items()):
        ours, theirs = both_readings(monkeypatch, savedmodel_loader.load, path)
        assert not isinstance(ours, str), (name, ours)
        assert ours == theirs, name
        assert ours["nodes"], name


@pytest.fixture(scope="module")
def tflites(tmp_path_factory):
    """The .tflite files the slow tests convert with TensorFlow (tests/tflite_models.py,
    test_tflite.py, test_values_tf.py): frozen Keras U-Nets and op mixes, transposed convs with
    stored output shapes, resource variables."""
    from tests.test_values_tf import sizes_fn

    root = str(tmp_path_factory.mktemp("schemas_tflite"))
    out = {
        "unet_dyn": M.convert(M.unet(2), (1, None, None, 3)),
        "unet_fixed": M.convert(M.unet(2, input_shape=(64, 64, 3)), (1, 64, 64, 3)),
        "unet_resize": M.convert(M.unet(2, up="resize"), (1, None, None, 3)),
        "misc_fixed": M.convert(M.misc((37, 45, 3)), (1, 37, 45, 3)),
        "misc_dyn": M.convert(M.misc(), (1, None, None, 3)),
        "keras_convt": M.keras_conv_transpose(5, 3, 2, "valid", 1),
        "keras_convt_dyn": M.keras_conv_transpose(0, 3, 2, "same", None, dynamic=True),
        "conv_transpose": M.conv_transpose(4, 3, 2, "VALID", 9),
        "sizes": M.convert(sizes_fn, (1, None, 3, 1)),
    }
    m = M.unet(2)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def f(x):
        return m(x)

    out["resource_variables"] = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()],
                                                                                m).convert()
    out["output_shape_patched"] = M.set_output_shape(out["unet_fixed"], (63, 65))
    return {name: M.save(data, root, name) for name, data in out.items()}


@pytest.mark.slow
@pytest.mark.tensorflow
def test_tflite_files_tensorflow_converts_read_the_same(tflites, monkeypatch):
    ops = set()
    for name, path in sorted(tflites.items()):
        ours, theirs = both_readings(monkeypatch, tflite_loader.load, path)
        assert not isinstance(ours, str), (name, ours)
        assert ours == theirs, name
        ops |= {n.op for n in ours["nodes"]}
    for op in ("CONV_2D", "TRANSPOSE_CONV", "CONCATENATION", "MAX_POOL_2D", "RESIZE_BILINEAR", "READ_VARIABLE",
               "DEPTHWISE_CONV_2D", "STRIDED_SLICE", "RESHAPE", "FULLY_CONNECTED"):
        assert op in ops, (op, sorted(ops))


# --------------------------------------------------------------------------- the CLI without TensorFlow (slow)

# A child that cannot import TensorFlow, Keras or their relatives: any such import raises
# ImportError, as it would where they are not installed.
BLOCK = """
import importlib.abc, sys
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tensorboard", "tflite_runtime"):
            raise ImportError(f"{name} cannot be imported here")
        return None
sys.meta_path.insert(0, NoTensorFlow())
from shapelint.cli import main
code = main(sys.argv[1:])
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
assert not bad, bad
sys.exit(code)
"""


def tf_free_cli(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK, *args], capture_output=True, text=True, cwd=cwd,
                          env=child_env(NO_COLOR="1"), timeout=300)


@pytest.fixture(scope="module")
def tf_models_on_disk(tmp_path_factory, savedmodels, tflites):
    """SavedModels (TF2, Keras, TF1), .keras files and .tflite files with findings of each
    severity, in one folder, under relative names."""
    from tests import keras_models as K

    root = tmp_path_factory.mktemp("tf_free")
    names = []
    for name in ("seed7", "seed5", "unet", "tf1_unet", "pool_then_conv_transpose"):
        shutil.copytree(savedmodels[name], root / name)
        names.append(name)
    for name, model in {"unet_keras.keras": K.unet(depth=2), "convt.keras": K.single_convt(k=3, s=2)}.items():
        K.save(model, str(root / name))
        names.append(name)
    for name in ("unet_dyn", "misc_fixed", "output_shape_patched"):
        shutil.copyfile(tflites[name], root / f"{name}.tflite")
        names.append(f"{name}.tflite")
    (root / "fixed_skip_65.tflite").write_bytes(M.fixed_skip_model(65))
    names.append("fixed_skip_65.tflite")
    return root, names


@pytest.mark.slow
@pytest.mark.tensorflow
def test_cli_without_tensorflow_gives_the_findings_of_tensorflows_schemas(tf_models_on_disk, monkeypatch, capsys):
    """`shapelint check --format json --show-info` on SavedModels, .keras and .tflite files in a
    child that cannot import TensorFlow or Keras: the same findings, byte for byte, as in this
    process with the loaders reading through TensorFlow's own schema classes."""
    root, names = tf_models_on_disk
    args = ["check", "--format", "json", "--show-info", *names]
    child = tf_free_cli(*args, cwd=root)
    assert "Traceback" not in child.stderr, child.stderr[-3000:]
    monkeypatch.chdir(root)
    with_tensorflows_schemas(monkeypatch)
    code = cli.main(args)
    here = capsys.readouterr()
    assert (child.returncode, child.stdout) == (code, here.out), child.stderr[-2000:]
    findings = json.loads(here.out)
    files = {f["file"] for f in findings}
    assert code == 1 and any(f.startswith("seed7") for f in files) and any(f.startswith("tf1_unet") for f in files)
    assert any(f.endswith(".keras") for f in files) and any(f.endswith(".tflite") for f in files), files
    assert {f["severity"] for f in findings} == {"error", "warning", "info"}
    assert {f["rule"] for f in findings} >= {"SL001", "SL002", "SL003"}


@pytest.mark.slow
def test_missing_flatbuffers_is_one_line_naming_the_extra(tmp_path):
    """Without the flatbuffers package (the light extra): a .tflite file is a one-line error with
    the pip command, exit 2; SavedModels and .keras files need no extra."""
    path = M.save(M.fixed_skip_model(65), str(tmp_path), "m")
    code = ("import sys; sys.modules['flatbuffers'] = None;"
            "from shapelint.cli import main; sys.exit(main(['check', sys.argv[1]]))")
    p = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, env=child_env(),
                       timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and 'pip install "shapelint[tensorflow]"' in lines[0], p.stderr
    assert "flatbuffers" in lines[0] and "Traceback" not in p.stderr
