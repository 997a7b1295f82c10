"""The part of TensorFlow's protobuf schema that the SavedModel loader reads, declared here so that
a SavedModel is read without TensorFlow installed.

Each message below lists only the fields ``savedmodel_loader`` reads, with the numbers and types
of TensorFlow's own ``.proto`` files (named above each message); every other field of a
``saved_model.pb`` is an unknown field to this schema, and protobuf skips it. The declaration is
turned into a ``FileDescriptorProto`` and added to a private ``DescriptorPool``, so the message
classes never meet the ones real TensorFlow registers in the default pool of the same process;
they parse with the protobuf runtime onnx already brings (its C parser, upb, where installed).
tests/test_tf_schemas.py holds every field to TensorFlow's descriptors and compares what the
loader reads through both schemas on every SavedModel the tests build.

A field is ``(type, name, number)``; the type is a scalar type of the ``.proto`` language, a
message or enum name relative to the package ``tensorflow`` (``"AttrValue.ListValue"``), prefixed
by ``repeated``, or ``map<key, value>``; a member of a ``oneof`` is ``(type, name, number, oneof)``.
"""

from __future__ import annotations

PACKAGE = "tensorflow"

MESSAGES = {
    # tensorflow/core/protobuf/saved_model.proto
    "SavedModel": (
        ("repeated MetaGraphDef", "meta_graphs", 2),
    ),
    # tensorflow/core/protobuf/meta_graph.proto
    "MetaGraphDef": (
        ("GraphDef", "graph_def", 2),
        ("map<string, SignatureDef>", "signature_def", 5),
    ),
    "SignatureDef": (
        ("map<string, TensorInfo>", "inputs", 1),
        ("map<string, TensorInfo>", "outputs", 2),
    ),
    "TensorInfo": (
        ("string", "name", 1, "encoding"),  # the oneof's other members (coo_sparse, composite_tensor) are not read
        ("DataType", "dtype", 2),
        ("TensorShapeProto", "tensor_shape", 3),
    ),
    # tensorflow/core/framework/graph.proto
    "GraphDef": (
        ("repeated NodeDef", "node", 1),
        ("FunctionDefLibrary", "library", 2),
    ),
    # tensorflow/core/framework/node_def.proto
    "NodeDef": (
        ("string", "name", 1),
        ("string", "op", 2),
        ("repeated string", "input", 3),
        ("map<string, AttrValue>", "attr", 5),
    ),
    # tensorflow/core/framework/attr_value.proto: every member of the oneof, so that WhichOneof
    # names the one a node has set
    "AttrValue": (
        ("bytes", "s", 2, "value"),
        ("int64", "i", 3, "value"),
        ("float", "f", 4, "value"),
        ("bool", "b", 5, "value"),
        ("DataType", "type", 6, "value"),
        ("TensorShapeProto", "shape", 7, "value"),
        ("TensorProto", "tensor", 8, "value"),
        ("AttrValue.ListValue", "list", 1, "value"),
        ("NameAttrList", "func", 10, "value"),
        ("string", "placeholder", 9, "value"),
    ),
    "AttrValue.ListValue": (
        ("repeated bytes", "s", 2),
        ("repeated int64", "i", 3),
        ("repeated TensorShapeProto", "shape", 7),
    ),
    "NameAttrList": (
        ("string", "name", 1),
    ),
    # tensorflow/core/framework/function.proto
    "FunctionDefLibrary": (
        ("repeated FunctionDef", "function", 1),
    ),
    "FunctionDef": (
        ("OpDef", "signature", 1),
        ("repeated NodeDef", "node_def", 3),
        ("map<string, string>", "ret", 4),
    ),
    # tensorflow/core/framework/op_def.proto
    "OpDef": (
        ("string", "name", 1),
        ("repeated OpDef.ArgDef", "input_arg", 2),
        ("repeated OpDef.ArgDef", "output_arg", 3),
    ),
    "OpDef.ArgDef": (
        ("string", "name", 1),
    ),
    # tensorflow/core/framework/tensor_shape.proto
    "TensorShapeProto": (
        ("repeated TensorShapeProto.Dim", "dim", 2),
        ("bool", "unknown_rank", 3),
    ),
    "TensorShapeProto.Dim": (
        ("int64", "size", 1),
    ),
    # tensorflow/core/framework/tensor.proto
    "TensorProto": (
        ("DataType", "dtype", 1),
        ("TensorShapeProto", "tensor_shape", 2),
        ("bytes", "tensor_content", 4),
        ("repeated float", "float_val", 5),
        ("repeated double", "double_val", 6),
        ("repeated int32", "int_val", 7),
        ("repeated int64", "int64_val", 10),
        ("repeated bool", "bool_val", 11),
    ),
}

# tensorflow/core/framework/types.proto (proto3 enums are open: a number not listed here still
# reads as that number)
ENUMS = {
    "DataType": {
        "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5, "DT_INT8": 6,
        "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11, "DT_QUINT8": 12,
        "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16, "DT_UINT16": 17, "DT_COMPLEX128": 18,
        "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21, "DT_UINT32": 22, "DT_UINT64": 23,
    },
}

# the .proto language's scalar types -> FieldDescriptorProto.Type names
SCALARS = {"double": "TYPE_DOUBLE", "float": "TYPE_FLOAT", "int64": "TYPE_INT64", "uint64": "TYPE_UINT64",
           "int32": "TYPE_INT32", "uint32": "TYPE_UINT32", "bool": "TYPE_BOOL", "string": "TYPE_STRING",
           "bytes": "TYPE_BYTES"}

FILE_NAME = "shapelint/savedmodel_schema.proto"


def file_descriptor():
    """MESSAGES and ENUMS as a ``FileDescriptorProto`` (proto3, package ``tensorflow``)."""
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FileDescriptorProto(name=FILE_NAME, package=PACKAGE, syntax="proto3")
    for name, values in ENUMS.items():
        enum = fdp.enum_type.add(name=name)
        for value_name, number in values.items():
            enum.value.add(name=value_name, number=number)
    protos: dict = {}
    for name in MESSAGES:  # a parent before its nested messages (dict order, checked here)
        parent, _, short = name.rpartition(".")
        if parent and parent not in protos:
            raise ValueError(f"{name} is declared before its enclosing message {parent}")
        protos[name] = (protos[parent].nested_type if parent else fdp.message_type).add(name=short)
    for name, fields in MESSAGES.items():
        msg = protos[name]
        for field in fields:
            _add_field(msg, name, *field)
    return fdp


def _add_field(msg, msg_name, type_, name, number, oneof=None):
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    field = msg.field.add(name=name, number=number, label=F.LABEL_OPTIONAL)
    if type_.startswith("map<"):
        key, value = (t.strip() for t in type_[4:-1].split(","))
        entry = msg.nested_type.add(name="".join(p.capitalize() for p in name.split("_")) + "Entry")
        entry.options.map_entry = True
        _set_type(entry.field.add(name="key", number=1, label=F.LABEL_OPTIONAL), key)
        _set_type(entry.field.add(name="value", number=2, label=F.LABEL_OPTIONAL), value)
        field.label = F.LABEL_REPEATED
        field.type = F.TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{msg_name}.{entry.name}"
        return
    if type_.startswith("repeated "):
        field.label = F.LABEL_REPEATED
        type_ = type_[len("repeated "):]
    _set_type(field, type_)
    if oneof is not None:
        names = [o.name for o in msg.oneof_decl]
        if oneof not in names:
            msg.oneof_decl.add(name=oneof)
            names.append(oneof)
        field.oneof_index = names.index(oneof)


def _set_type(field, type_):
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    if type_ in SCALARS:
        field.type = getattr(F, SCALARS[type_])
    elif type_ in ENUMS:
        field.type = F.TYPE_ENUM
        field.type_name = f".{PACKAGE}.{type_}"
    elif type_ in MESSAGES:
        field.type = F.TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{type_}"
    else:
        raise ValueError(f"unknown type {type_!r}")


_CLASSES: dict = {}


def message_class(name: str = "SavedModel"):
    """The message class of ``tensorflow.NAME`` (e.g. ``message_class()().ParseFromString(data)``),
    from the private pool, built on first use."""
    if not _CLASSES:
        from google.protobuf import descriptor_pool, message_factory

        pool = descriptor_pool.DescriptorPool()
        pool.Add(file_descriptor())
        get = getattr(message_factory, "GetMessageClass", None)  # newer protobuf (5.26 has it, 4.21 not)
        if get is None:
            get = message_factory.MessageFactory(pool).GetPrototype
        for full in MESSAGES:
            _CLASSES[full] = get(pool.FindMessageTypeByName(f"{PACKAGE}.{full}"))
    return _CLASSES[name]
