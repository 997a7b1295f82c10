"""ONNX file -> IR. The only module that imports onnx, and it does so lazily.

Weight bytes are never read: initializers and ``Constant`` nodes become :class:`Constant`
records with their dims and dtype, and a value is decoded only when inference asks for a small
one (a shape, pads, scales). External data is never opened. ``value_info`` stored in the model
is ignored: shapes are inferred from the graph itself. The file is walked as protobuf wire format
and only its skeleton is parsed (see ``_skeleton``): memory follows the graph's structure, not
the size of the weights embedded in it.
"""

from __future__ import annotations

import importlib.util
import mmap
import os
import struct
import sys
from types import MappingProxyType

from .. import limits
from ..errors import ModelError
from ..ir import Constant, Graph, Node, Tensor

_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
    16: "bfloat16",
}
MAX_NODES = limits.MAX_NODES
MAX_ITEMS = limits.MAX_GRAPH_ITEMS


_PB2 = None


def _onnx_proto():
    """onnx's generated protobuf module, without running ``onnx/__init__`` (which imports numpy
    and the C++ extension: ~0.2 s). When onnx is already imported, its own module is used; a
    later ``import onnx`` finds the same descriptors in the pool and works unchanged."""
    global _PB2
    if _PB2 is not None:
        return _PB2
    if "onnx" in sys.modules:
        import onnx

        _PB2 = onnx.onnx_ml_pb2
        return _PB2
    spec = importlib.util.find_spec("onnx")
    if spec is None or not spec.origin:
        raise ImportError("onnx is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "onnx_ml_pb2.py")
    pb_spec = importlib.util.spec_from_file_location("_shapelint_onnx_ml_pb2", path)
    module = importlib.util.module_from_spec(pb_spec)
    pb_spec.loader.exec_module(module)
    _PB2 = module
    return module


def load(path: str) -> Graph:
    try:
        onnx = _onnx_proto()
        from google.protobuf.message import DecodeError
    except ImportError as e:  # pragma: no cover - onnx is a hard dependency
        raise ModelError(path, f"cannot import onnx's protobuf schema ({e}); pip install onnx")
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ModelError(path, f"cannot read: {e.strerror or e}")
    model = onnx.ModelProto()
    walk = _Walk(path)
    with f:
        size = os.fstat(f.fileno()).st_size
        if not size:
            raise ModelError(path, "empty file, not an ONNX model")
        # walk the file's bytes in a memory map and parse only their skeleton: embedded weights
        # never become a Python bytes object or a protobuf field
        try:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            buf = f.read()
        try:
            try:  # small nodes copied whole (fast); a deep nest of small If/Loop bodies needs the full walk
                model.ParseFromString(_skeleton(buf, _MODEL, 0, len(buf), _SMALL_NODE, walk))
            except (DecodeError, RuntimeError):
                model, walk = onnx.ModelProto(), _Walk(path)
                model.ParseFromString(_skeleton(buf, _MODEL, 0, len(buf), 0, walk))
        except _WireError as e:
            raise ModelError(path, f"not a valid ONNX protobuf ({e})")
        except (DecodeError, RuntimeError, ValueError, TypeError) as e:
            raise ModelError(path, f"not a valid ONNX protobuf ({_short(e)})")
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()
    if not model.HasField("graph") or (not walk.nodes and not model.graph.output):
        raise ModelError(path, "not an ONNX model (no graph)")
    if not model.opset_import and model.ir_version >= 3:  # the field after the graph: a cut file
        raise ModelError(path, f"no opset_import, which IR version {model.ir_version} requires (a truncated file?)")
    opset = None
    for imp in model.opset_import:
        if _text(imp.domain) in ("", "ai.onnx"):
            opset = imp.version
    if opset is None:
        opset = 1 if not model.opset_import else 0
    return _graph(path, model.graph, opset, onnx, walk)


# ---------------------------------------------------------------------------- wire-format skeleton
#
# A model file is read as protobuf wire format, field by field, and copied into a *skeleton*: the
# fields this loader reads, with every tensor payload over _MAX_PAYLOAD bytes cut out and every
# subgraph emptied. Only the skeleton is parsed by protobuf, so embedded weights never become Python
# or protobuf objects (a 500 MB model costs its structure, not 2 × 500 MB), and the nesting depth
# of If/Loop bodies or model-local functions does not matter. Field numbers: onnx/onnx.proto.

_KEEP, _DROP, _EMPTY, _PAYLOAD = "keep", "drop", "empty", "payload"
_MAX_PAYLOAD = 64 << 10  # a tensor whose payload fields total more is data, never decoded
_MAX_VARINT_BYTES = 10

_MODEL, _GRAPH, _NODE, _ATTR, _TENSOR = "model", "graph", "node", "attr", "tensor"
# a top-level node's subgraph (an If branch, a Loop body), one level deep: its nodes are kept inline
# (not walked into chunks) and their own subgraphs are emptied, so nesting stays bounded
_BODY, _BODY_NODE, _BODY_ATTR = "body", "body node", "body attr"
# per message: {field number: what to do}; a field not listed is dropped
_SCHEMA = {
    # ModelProto: ir_version, graph, opset_import (functions, metadata, training info: dropped)
    _MODEL: {1: _KEEP, 7: _GRAPH, 8: _KEEP},
    # GraphProto: node, name, initializer, input, output (value_info is not trusted anyway)
    _GRAPH: {1: _NODE, 2: _KEEP, 5: _TENSOR, 11: _KEEP, 12: _KEEP},
    # NodeProto: input, output, name, op_type, attribute, domain
    _NODE: {1: _KEEP, 2: _KEEP, 3: _KEEP, 4: _KEEP, 5: _ATTR, 7: _KEEP},
    # AttributeProto: name, f, i, s, t, g and graphs (emptied), floats, ints, strings, type
    _ATTR: {1: _KEEP, 2: _KEEP, 3: _KEEP, 4: _KEEP, 5: _TENSOR, 6: _BODY, 7: _KEEP, 8: _KEEP,
            9: _KEEP, 11: _EMPTY, 20: _KEEP, 21: _KEEP},
    _BODY: {1: _BODY_NODE, 2: _KEEP, 5: _TENSOR, 11: _KEEP, 12: _KEEP},
    _BODY_NODE: {1: _KEEP, 2: _KEEP, 3: _KEEP, 4: _KEEP, 5: _BODY_ATTR, 7: _KEEP},
    _BODY_ATTR: {1: _KEEP, 2: _KEEP, 3: _KEEP, 4: _KEEP, 5: _TENSOR, 6: _EMPTY, 7: _KEEP, 8: _KEEP,
                 9: _KEEP, 11: _EMPTY, 20: _KEEP, 21: _KEEP},
    # TensorProto: dims, data_type, segment, name, data_location; the payloads (float_data,
    # int32_data, string_data, int64_data, raw_data, double_data, uint64_data) only when small
    _TENSOR: {1: _KEEP, 2: _KEEP, 3: _KEEP, 8: _KEEP, 14: _KEEP,
              4: _PAYLOAD, 5: _PAYLOAD, 6: _PAYLOAD, 7: _PAYLOAD, 9: _PAYLOAD, 10: _PAYLOAD, 11: _PAYLOAD},
}


class _WireError(ValueError):
    pass


def _varint(buf, pos: int, end: int) -> tuple:
    result = shift = 0
    for k in range(_MAX_VARINT_BYTES):
        if pos >= end:
            raise _WireError(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    raise _WireError(f"varint longer than {_MAX_VARINT_BYTES} bytes at byte {pos}")


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_NODE = 512  # bytes: a node this small has no tensor worth cutting; copied without a walk
_CHUNK = 1 << 20  # bytes of nodes protobuf parses at a time (a tiny field can cost it 100 bytes)


class _Walk:
    """What the wire walk takes apart from the skeleton: the graph's nodes, in chunks of about
    _CHUNK bytes that are parsed one at a time (``_node_protos``), and counts checked against
    shapelint.limits as they grow, before protobuf or Python allocate for them: the nodes
    (MAX_NODES), and the fields of the model, of the graph and of the nodes walked
    (MAX_GRAPH_ITEMS; the small nodes' items are counted as they are read, in ``_graph``)."""

    def __init__(self, path: str):
        self.path = path
        self.nodes = self.items = 0
        self.chunks: list = []
        self._parts: list = []
        self._size = 0

    def node_bytes(self, data) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self.chunks.append(b"".join(self._parts))
            self._parts, self._size = [], 0

    def count(self, n: int) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise ModelError(self.path, too_many_items())


def too_many_items() -> str:
    return (f"the graph lists more than {MAX_ITEMS:,} items (node inputs, outputs, attributes and their values, "
            f"graph inputs, outputs and dims), over the limit (shapelint.limits.MAX_GRAPH_ITEMS)")


def _skeleton(buf, kind: str, start: int, end: int, small: int = 0, walk: _Walk | None = None) -> bytes:
    """The fields of one ``kind`` message in ``buf[start:end]`` that the loader reads, re-encoded.
    Runs of kept fields are copied as one slice; a message with nothing to cut is its own bytes.
    Nodes of at most ``small`` bytes are copied whole (100k nodes cost one loop step each). With
    ``walk``, the graph's nodes go to ``walk`` rather than into the skeleton, and every field
    walked is counted there."""
    schema = _SCHEMA[kind]
    out = []
    run = -1  # start of the current run of fields kept as they are
    nodes = -1  # start of the current run of small nodes (with a walk)
    top = walk is not None and kind == _GRAPH
    counted = 0  # fields walked, not yet added to the walk's count (added every 4096)
    payload, payload_bytes = [], 0
    pos = start
    while pos < end:
        field_start = pos
        key = buf[pos]
        if key < 0x80:  # one-byte keys and lengths are the common case: no call
            pos += 1
        else:
            key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _WireError(f"field number 0 at byte {field_start}")
        if wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            if pos < end and buf[pos] < 0x80:
                length = buf[pos]
                pos += 1
            else:
                length, pos = _varint(buf, pos, end)
            body = pos
            pos += length
        else:
            raise _WireError(f"unsupported wire type {wire} at byte {field_start}")
        if pos > end:
            raise _WireError(f"field {number} runs past the end of its message (byte {end})")
        if top and number == 1:  # a node of the graph: to the walk's chunks, not to the skeleton
            walk.nodes += 1
            if walk.nodes > MAX_NODES:
                raise ModelError(walk.path, f"graph has more than {MAX_NODES:,} nodes, the limit "
                                            f"(shapelint.limits.MAX_NODES)")
            if run >= 0:
                out.append(buf[run:field_start])
                run = -1
            if wire == 2 and pos - body > small:  # walked: its subgraphs emptied, its fields counted
                if nodes >= 0:
                    walk.node_bytes(buf[nodes:field_start])
                    nodes = -1
                inner = _skeleton(buf, _NODE, body, pos, small, walk)
                walk.node_bytes(buf[field_start:pos] if len(inner) == pos - body else
                                _encode_varint(key) + _encode_varint(len(inner)) + inner)
            elif nodes < 0:
                nodes = field_start
            elif field_start - nodes >= _CHUNK:
                walk.node_bytes(buf[nodes:field_start])
                nodes = field_start
            continue
        action = schema.get(number, _DROP)
        if walk is not None:
            if nodes >= 0:
                walk.node_bytes(buf[nodes:field_start])
                nodes = -1
            # a field is an item; a graph input's or output's dims cost 2 bytes or more each, a
            # packed list of numbers kept 1 byte or more each (counted at 8: real ones are short)
            counted += 1
            if wire == 2 and action == _KEEP and (kind in (_ATTR, _BODY_ATTR, _TENSOR)
                                                  or kind in (_GRAPH, _BODY) and number in (11, 12)):
                counted += (pos - body) // (4 if kind == _GRAPH else 8)
            if counted >= 4096:
                walk.count(counted)
                counted = 0
        if action == _NODE and wire == 2 and pos - body <= small:
            action = _KEEP
        if action in _SCHEMA and wire == 2:  # a sub-message: its own skeleton, with its new length
            inner = _skeleton(buf, action, body, pos, small, walk)
            if len(inner) == pos - body:  # nothing cut: keep the original bytes
                action = _KEEP
            else:
                if run >= 0:
                    out.append(buf[run:field_start])
                    run = -1
                out.append(_encode_varint(key) + _encode_varint(len(inner)) + inner)
                continue
        if action == _KEEP or action in _SCHEMA:  # (a mistyped message field: protobuf decides)
            if run < 0:
                run = field_start
            continue
        if run >= 0:
            out.append(buf[run:field_start])
            run = -1
        if action == _PAYLOAD:
            payload_bytes += pos - field_start
            if payload_bytes <= _MAX_PAYLOAD:
                payload.append(buf[field_start:pos])
        elif action == _EMPTY:
            out.append(_encode_varint(key) + b"\0")
    if nodes >= 0:
        walk.node_bytes(buf[nodes:end])
    if counted:
        walk.count(counted)
    if top:
        walk.flush()
    if run == start:
        return buf[start:end]
    if run >= 0:
        out.append(buf[run:end])
    if payload_bytes <= _MAX_PAYLOAD:
        out.extend(payload)
    return b"".join(out)


def _text(s) -> str:
    """A string field: protobuf returns the raw bytes of one that is not valid UTF-8."""
    return s if isinstance(s, str) else s.decode("utf-8", "replace")


def _name(s) -> str:
    """A name (a tensor, a node, a dim): bytes that are not UTF-8 kept apart as surrogates, so that
    two names differing only there stay two tensors (replacement characters would merge them);
    escape.name shows each such byte as ``\\xff``."""
    return s if isinstance(s, str) else s.decode("utf-8", "surrogateescape")


def _short(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0][:160] if s else type(e).__name__


def _attr_value(a, onnx):
    t = a.type
    A = onnx.AttributeProto
    if t == A.INT:
        return a.i
    if t == A.INTS:
        return tuple(a.ints)
    if t == A.FLOAT:
        return a.f
    if t == A.FLOATS:
        return tuple(a.floats)
    if t == A.STRING:
        return a.s.decode("utf-8", "replace")
    if t == A.STRINGS:
        return tuple(s.decode("utf-8", "replace") for s in a.strings)
    if t == A.TENSOR:
        return _constant(_text(a.name), a.t, onnx)
    if t in (A.GRAPH, A.GRAPHS):
        return ("graph", None)
    return None


def _constant(name: str, t, onnx) -> Constant:
    dims = tuple(int(d) for d in t.dims)
    dtype = _DTYPES.get(t.data_type, f"type{t.data_type}")
    external = t.data_location == onnx.TensorProto.EXTERNAL

    def load_values():
        if external:
            return None
        n = 1
        for d in dims:
            n *= d
        return _decode(t, dtype, n)

    return Constant(name, dims, dtype, load_values)


# struct formats of the little-endian raw_data of each dtype
_RAW = {"float32": "f", "float64": "d", "int64": "q", "int32": "i", "int16": "h", "int8": "b",
        "uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q", "bool": "?", "float16": "e"}


def _decode(t, dtype: str, n: int):
    """A small tensor's flat values (ints or floats), or None when they cannot be read."""
    fmt = _RAW.get(dtype)
    if fmt is None:
        return None
    if t.raw_data:
        if len(t.raw_data) != n * struct.calcsize(fmt):
            return None
        vals = struct.unpack(f"<{n}{fmt}", t.raw_data)
    elif dtype in ("float32",):
        vals = tuple(t.float_data)
    elif dtype == "float64":
        vals = tuple(t.double_data)
    elif dtype == "int64":
        vals = tuple(t.int64_data)
    elif dtype in ("uint64", "uint32"):
        vals = tuple(t.uint64_data)
    elif dtype == "float16":
        vals = tuple(struct.unpack("<e", struct.pack("<H", v & 0xFFFF))[0] for v in t.int32_data)
    else:
        vals = tuple(t.int32_data)
    if len(vals) != n:
        return None
    if dtype.startswith("float"):
        return tuple(float(v) for v in vals)
    return tuple(int(v) for v in vals)


def _value_constant(name: str, node, onnx) -> Constant | None:
    """A ``Constant`` node's value, from whichever attribute carries it."""
    for a in node.attribute:
        key = _text(a.name)
        if key == "value" and a.type == onnx.AttributeProto.TENSOR:
            return _constant(name, a.t, onnx)
        if key == "value_int":
            return Constant(name, (), "int64", lambda v=a.i: (int(v),))
        if key == "value_ints":
            vals = tuple(int(v) for v in a.ints)
            return Constant(name, (len(vals),), "int64", lambda v=vals: v)
        if key == "value_float":
            return Constant(name, (), "float32", lambda v=a.f: (float(v),))
        if key == "value_floats":
            vals = tuple(float(v) for v in a.floats)
            return Constant(name, (len(vals),), "float32", lambda v=vals: v)
    return None


def _node_protos(path: str, chunks: list, onnx):
    """The graph's NodeProtos, parsed a chunk of nodes at a time: protobuf's memory for them is that
    of one chunk, not of the whole graph."""
    from google.protobuf.message import DecodeError

    for chunk in chunks:
        part = onnx.GraphProto()
        try:
            try:
                part.ParseFromString(chunk)
            except (DecodeError, RuntimeError):  # small nodes with If/Loop bodies nested deep: emptied
                part = onnx.GraphProto()
                part.ParseFromString(_skeleton(chunk, _GRAPH, 0, len(chunk), 0))
        except _WireError as e:
            raise ModelError(path, f"not a valid ONNX protobuf ({e})")
        except (DecodeError, RuntimeError, ValueError, TypeError) as e:
            raise ModelError(path, f"not a valid ONNX protobuf ({_short(e)})")
        yield from part.node


def _graph(path: str, g, opset: int, onnx, walk: _Walk) -> Graph:
    constants: dict = {}
    for t in g.initializer:
        constants[_name(t.name)] = _constant(_name(t.name), t, onnx)
    inputs = []
    for vi in g.input:
        if _name(vi.name) in constants:
            continue
        inputs.append(Tensor(_name(vi.name), _shape_of(vi), _DTYPES.get(vi.type.tensor_type.elem_type, "float32")))
    notes = []
    custom: dict = {}
    nodes = _nodes(path, _node_protos(path, walk.chunks, onnx), constants, custom, onnx, opset, "")
    for dom, k in sorted(custom.items()):
        notes.append(f"{k} node(s) in custom domain '{dom}': their outputs are not inferred")
    ordered = _toposort(path, nodes, set(constants) | {t.name for t in inputs})
    return Graph(
        name=_name(g.name) or os.path.basename(path),
        framework="onnx",
        opset=opset,
        inputs=tuple(inputs),
        outputs=tuple(_name(o.name) for o in g.output),
        nodes=tuple(ordered),
        constants=MappingProxyType(constants),
        notes=tuple(notes),
    )


class _Items:
    """The items of the nodes read so far, top level and branches alike (MAX_GRAPH_ITEMS)."""

    def __init__(self, path: str):
        self.path, self.n = path, 0

    def add(self, n: int) -> None:
        self.n += n
        if self.n > MAX_ITEMS:
            raise ModelError(self.path, too_many_items())


def _nodes(path: str, protos, constants: dict, custom: dict, onnx, opset: int, prefix: str,
           items: _Items | None = None) -> list:
    """IR nodes of NodeProtos (Constant nodes go to ``constants``). ``prefix`` is "" at the top
    level; in a subgraph (an If branch) it names the branch, e.g. "If_3/then_branch/", and the
    subgraphs of the subgraph's own nodes are not read (one level, bounded)."""
    items = items or _Items(path)
    nodes = []
    for i, n in enumerate(protos):
        op, domain, name = n.op_type, n.domain, n.name
        outputs, ins = tuple(n.output), tuple(n.input)
        if not (op.__class__ is str and domain.__class__ is str and name.__class__ is str
                and all(x.__class__ is str for x in outputs + ins)):  # a string that is not UTF-8
            op, domain, name = _text(op), _text(domain), _name(name)
            outputs, ins = tuple(_name(o) for o in outputs), tuple(_name(x) for x in ins)
        name = name or f"{prefix}{op}_{i}"
        if op == "Constant" and domain in ("", "ai.onnx") and len(outputs) == 1:
            c = _value_constant(outputs[0], n, onnx)
            if c is not None:
                constants[outputs[0]] = c
                continue
        if domain not in ("", "ai.onnx"):
            custom[domain] = custom.get(domain, 0) + 1
        attrs = []
        for a in n.attribute:
            key = _text(a.name)
            if not prefix and a.type == onnx.AttributeProto.GRAPH and len(a.g.node):
                attrs.append((key, _branch(path, a.g, onnx, opset, f"{name}/{key}/", items)))
            else:
                attrs.append((key, _attr_value(a, onnx)))
        attrs = tuple(attrs)
        k = len(ins) + len(outputs) + len(attrs)
        for _, v in attrs:
            if v.__class__ is tuple:
                k += len(v)
        items.add(k + 1)  # (a node with nothing in it is an item too: a branch has no MAX_NODES)
        nodes.append(Node(op, name, ins, outputs, attrs, domain))
    return nodes


def _branch(path: str, g, onnx, opset: int, prefix: str, items: _Items) -> Graph:
    """A top-level node's subgraph (an If branch) as a Graph: no inputs of its own (it reads the
    outer graph's tensors by name), its nodes in file order, its initializers and Constants."""
    constants: dict = {}
    for t in g.initializer:
        constants[_name(t.name)] = _constant(_name(t.name), t, onnx)
    custom: dict = {}
    nodes = _nodes(path, g.node, constants, custom, onnx, opset, prefix, items)
    return Graph(
        name=prefix.rstrip("/"),
        framework="onnx",
        opset=opset,
        inputs=(),
        outputs=tuple(_name(o.name) for o in g.output),
        nodes=tuple(nodes),
        constants=MappingProxyType(constants),
        notes=tuple(f"{k} node(s) in custom domain '{dom}'" for dom, k in sorted(custom.items())),
    )


def _shape_of(vi):
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None
    dims = []
    for axis, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(_name(d.dim_param))
        elif d.HasField("dim_value") and d.dim_value == 0:
            dims.append(0)
        else:
            dims.append(f"{_name(vi.name)}[{axis}]")
    return tuple(dims)


def _toposort(path: str, nodes: list, available: set) -> list:
    """Kahn's algorithm; a cycle, or a node fed by nothing, is reported rather than looped on.
    A graph already in order (what exporters write) is checked in one pass and kept as it is."""
    produced = {o for n in nodes for o in n.outputs if o}
    seen = set(available)
    for n in nodes:
        if any(i and i not in seen and i in produced for i in n.inputs):
            break
        seen.update(n.outputs)
    else:
        return list(nodes)
    produced_by = {}
    for idx, n in enumerate(nodes):
        for o in n.outputs:
            if o:
                produced_by[o] = idx
    indeg = [0] * len(nodes)
    users: dict = {}
    for idx, n in enumerate(nodes):
        deps = {produced_by[i] for i in n.inputs if i and i not in available and i in produced_by}
        if idx in deps:
            raise ModelError(path, f"node '{n.name}' ({n.op}) feeds itself: the graph has a cycle")
        indeg[idx] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(idx)
    ready = [i for i in range(len(nodes)) if indeg[i] == 0]
    ready.reverse()
    order = []
    while ready:
        i = ready.pop()
        order.append(nodes[i])
        for u in reversed(users.get(i, ())):
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    if len(order) != len(nodes):
        stuck = next(n for i, n in enumerate(nodes) if indeg[i] > 0)
        raise ModelError(path, f"the graph has a cycle through node '{stuck.name}' ({stuck.op})")
    return order
