"""TFLite flatbuffer (``.tflite``) -> IR, without the TensorFlow runtime.

Reads the file with TFLite's own flatbuffer schema: ``tflite_schema``, the enums and table readers
of TensorFlow's generated ``schema_py_generated.py``, vendored (TensorFlow need not be installed),
on the ``flatbuffers`` package (the ``tensorflow`` extra). Subgraph 0 is the model; other
subgraphs (bodies of WHILE / IF / CALL_ONCE, extra signatures) are noted, not linted. Nodes keep TFLite's builtin op names ("CONV_2D", "TRANSPOSE_CONV", "CONCATENATION"), in
the IR domain ``"tflite"``, with their builtin options as attributes (snake_case field names,
``padding`` as "SAME"/"VALID"); a custom op is named by its ``custom_code``. Node names are their
first output tensor's name.

Input dims come from ``shape_signature`` (``-1`` = dynamic, named N, H, W for a single NHWC
input as the SavedModel loader does), else ``shape``. The shapes stored for other tensors are
ignored -- inference recomputes them -- except a READ_VARIABLE's output (a resource variable's
value, kept when a converter is given the Keras model as trackable object), whose declared shape
is its ``declared_shape`` attribute, as a TF VarHandleOp's ``shape``. Weights are never read --
only their shape; a constant's bytes are sliced only when inference asks for a small one
(TRANSPOSE_CONV's ``output_shape``, a RESHAPE target, paddings).

The Python flatbuffers runtime does not verify a buffer, so every table, vector and index is
checked before use: a file that is not a TFLite model, is truncated or points outside itself
raises ModelError, never a traceback.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from types import MappingProxyType

from ..errors import ModelError
from ..ir import MAX_VALUE_ELEMENTS, Constant, Graph, Node, Tensor
from . import Names, unique_name
from .savedmodel_loader import name_dims

EXTRA = 'pip install "shapelint[tensorflow]"'
IDENTIFIER = b"TFL3"
DOMAIN = "tflite"
# TensorType enum -> dtype name, and the struct code used to decode small constants
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
           7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64",
           13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16"}
_STRUCT = {"float32": "f", "float16": "e", "int32": "i", "uint8": "B", "int64": "q", "bool": "?",
           "int16": "h", "int8": "b", "float64": "d", "uint64": "Q", "uint32": "I", "uint16": "H"}
# TfLitePadding, as MediaPipe's custom ops store it in their raw custom options
_TFLITE_PADDING = {1: "SAME", 2: "VALID"}
# custom ops whose options are a raw TfLiteTransposeConvParams {padding, stride_w, stride_h, ...}
_RAW_TRANSPOSE_CONV_PARAMS = ("Convolution2DTransposeBias",)
_SKIP_FIELDS = ("Init",)
MAP_ABOVE = 1 << 20  # files of at least this many bytes are memory-mapped rather than read
MAX_NAME = 1000  # bytes of a name kept (a corrupt length must not make a huge message)
# ops whose output shape cannot be inferred from their inputs: the declared one is kept as an attr
_DECLARED_SHAPE_OPS = ("READ_VARIABLE",)


def load(path: str) -> Graph:
    try:
        s = schema()
    except ImportError as e:  # the flatbuffers runtime, the light extra's only package
        raise ModelError(path, f"reading a TFLite file needs the flatbuffers package ({e}): {EXTRA}")
    data = _read(path)
    if len(data) < 8:
        raise ModelError(path, f"not a TFLite model: {len(data)} bytes, too short for a flatbuffer")
    if data[4:8] != IDENTIFIER:
        raise ModelError(path, f"not a TFLite model: file identifier {bytes(data[4:8])!r}, expected {IDENTIFIER!r}")
    reader = _Reader(path, data, s)
    try:
        return reader.run()
    except ModelError:
        raise
    except struct.error:
        raise ModelError(path, f"malformed TFLite flatbuffer: reading {reader.where} runs past the end of the file "
                               f"({len(data)} bytes; truncated?)")
    except (IndexError, TypeError, ValueError, OverflowError, AttributeError, RecursionError, MemoryError) as e:
        raise ModelError(path, f"malformed TFLite flatbuffer: {reader.where} is corrupt ({type(e).__name__})")


def schema():
    """The module of TFLite's table readers and enums the loader reads with: the vendored
    ``tflite_schema``, imported on first use (it needs the ``flatbuffers`` package)."""
    from . import tflite_schema

    return tflite_schema


def _read(path: str):
    """The file's bytes, memory-mapped: weights are never paged in, and files over 2 GiB (buffers
    stored after the flatbuffer) cost no memory. Small or unmappable files are read."""
    try:
        with open(path, "rb") as f:
            try:
                if os.fstat(f.fileno()).st_size >= MAP_ABOVE:
                    return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                pass
            return f.read()
    except OSError as e:
        raise ModelError(path, f"cannot read the file: {e.strerror or e}")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _enum_names(cls) -> dict:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


class _Reader:
    def __init__(self, path, data, schema):
        self.path = path
        self.data = data
        self.n = len(data)
        self.s = schema
        self.where = "the model table"
        self.notes: list = []
        self._fields_cache: dict = {}
        self.op_names = _enum_names(schema.BuiltinOperator)
        self.options_names = _enum_names(schema.BuiltinOptions)
        self.options2_names = _enum_names(schema.BuiltinOptions2) if hasattr(schema, "BuiltinOptions2") else {}
        self.enums = {"padding": _enum_names(schema.Padding),
                      "fused_activation_function": _enum_names(schema.ActivationFunctionType)}
        if hasattr(schema, "MirrorPadMode"):
            self.enums["mode"] = _enum_names(schema.MirrorPadMode)

    # ------------------------------------------------------------------ checked access
    def fail(self, reason: str):
        raise ModelError(self.path, reason)

    def table(self, obj, what):
        """Check a table object before any field of it is read: its position and vtable."""
        self.where = what
        if obj is None:
            self.fail(f"{what} is missing")
        pos = obj._tab.Pos
        if not 0 <= pos <= self.n - 4:
            self.fail(f"{what} lies outside the file (offset {pos}, file size {self.n})")
        vt = pos - struct.unpack_from("<i", self.data, pos)[0]
        if not 0 <= vt <= self.n - 4:
            self.fail(f"the vtable of {what} lies outside the file")
        vt_len, tab_len = struct.unpack_from("<HH", self.data, vt)
        if vt_len < 4 or vt_len % 2 or vt + vt_len > self.n or pos + tab_len > self.n:
            self.fail(f"{what} has a corrupt vtable (size {vt_len}, table size {tab_len})")
        return obj

    def length(self, n_getter, elem_size: int, what: str) -> int:
        """A vector's length, bounded by what the file can hold (no loop runs past the file size)."""
        self.where = what
        n = n_getter()
        if n < 0 or n * elem_size > self.n:
            self.fail(f"{what}: {n} entries cannot fit in a {self.n}-byte file")
        return n

    def vec(self, obj, slot: int, elem_size: int, what: str):
        """(start, count) of a vector field, checked to lie inside the file, or (0, 0) if absent."""
        tab = obj._tab
        o = tab.Offset(slot)
        if o == 0:
            return 0, 0
        ref = tab.Pos + o
        if ref > self.n - 4:
            self.fail(f"{what} lies outside the file")
        start = ref + struct.unpack_from("<I", self.data, ref)[0]
        if start > self.n - 4:
            self.fail(f"{what} lies outside the file")
        count = struct.unpack_from("<I", self.data, start)[0]
        start += 4
        if start + count * elem_size > self.n:
            self.fail(f"{what} ({count} entries) runs past the end of the file")
        return start, count

    def ints(self, getter, n_getter, what, elem_size=4):
        n = self.length(n_getter, elem_size, what)
        self.where = what
        return tuple(int(getter(j)) for j in range(n))

    def text(self, raw) -> str:
        if raw is None:
            return ""
        return bytes(raw[:MAX_NAME]).decode("utf-8", "replace")

    # ------------------------------------------------------------------ model
    def run(self) -> Graph:
        s = self.s
        self.where = "the root table"
        model = self.table(s.Model.GetRootAs(self.data, 0), "the model table")
        self.where = "the model's version"
        version = model.Version()
        if version != 3:
            self.notes.append(f"TFLite schema version {version} (this reader knows version 3)")
        n_sub = self.length(model.SubgraphsLength, 4, "the subgraph list")
        if n_sub == 0:
            self.fail("the model has no subgraph")
        opcodes = self._opcodes(model)
        n_buf = self.length(model.BuffersLength, 4, "the buffer list")
        sub = self.table(model.Subgraphs(0), "subgraph 0")
        if n_sub > 1:
            names = []
            for k in range(1, n_sub):
                g = self.table(model.Subgraphs(k), f"subgraph {k}")
                names.append(self.text(g.Name()) or str(k))
            more = " …" if len(names) > 5 else ""
            self.notes.append(f"the model has {n_sub} subgraphs; only subgraph 0 ('{self.text(sub.Name()) or 'main'}') "
                              f"is linted (not: {', '.join(repr(n) for n in names[:5])}{more})")
        tensors = self._tensors(model, sub, n_buf)
        n_t = len(tensors)
        sg_in = self._indices(sub.Inputs, sub.InputsLength, n_t, "the subgraph's inputs")
        sg_out = self._indices(sub.Outputs, sub.OutputsLength, n_t, "the subgraph's outputs")
        ops = self._operators(sub, opcodes, tensors)
        return self._graph(model, sub, tensors, sg_in, sg_out, ops)

    def _opcodes(self, model):
        out = []
        n = self.length(model.OperatorCodesLength, 4, "the operator code list")
        for k in range(n):
            oc = self.table(model.OperatorCodes(k), f"operator code {k}")
            code = max(int(oc.DeprecatedBuiltinCode()), int(oc.BuiltinCode()))
            name = self.op_names.get(code)
            if name == "CUSTOM":
                custom = self.text(oc.CustomCode())
                if not custom:
                    self.fail(f"operator code {k} is CUSTOM without a custom_code")
                out.append((custom if custom not in self.op_names.values() else f"CUSTOM.{custom}", True))
            elif name is None:
                out.append((f"BUILTIN_{code}", False))
                self.notes.append(f"operator code {k}: builtin code {code} is not in this TFLite schema")
            else:
                out.append((name, False))
        return out

    def _indices(self, getter, n_getter, n_tensors, what, optional=False):
        idx = self.ints(getter, n_getter, what)
        for i in idx:
            if i == -1 and optional:
                continue
            if not 0 <= i < n_tensors:
                self.fail(f"{what} name tensor {i}, but subgraph 0 has {n_tensors} tensors")
        return idx

    # ------------------------------------------------------------------ tensors
    def _tensors(self, model, sub, n_buf):
        n = self.length(sub.TensorsLength, 4, "subgraph 0's tensor list")
        out = []
        seen: set = Names()  # (60k tensors of one name: linear, not quadratic)
        for i in range(n):
            what = f"tensor {i}"
            t = self.table(sub.Tensors(i), what)
            name = unique_name(seen, self.text(t.Name()) or f"tensor_{i}")
            shape = self.ints(t.Shape, t.ShapeLength, f"the shape of tensor {i} ('{name}')")
            sig = self.ints(t.ShapeSignature, t.ShapeSignatureLength, f"the shape_signature of tensor {i} ('{name}')")
            if any(d < -1 for d in shape + sig):
                self.fail(f"tensor {i} ('{name}') has a dim below -1: shape {list(shape)}, signature {list(sig)}")
            if sig and len(sig) != len(shape):
                self.fail(f"tensor {i} ('{name}'): shape {list(shape)} and shape_signature {list(sig)} differ in rank")
            self.where = what
            type_code = int(t.Type())
            dtype = _DTYPES.get(type_code, f"type{type_code}")
            buf = int(t.Buffer())
            if not 0 <= buf < max(n_buf, 1):
                self.fail(f"tensor {i} ('{name}') uses buffer {buf}, but the model has {n_buf} buffers")
            external = int(t.ExternalBuffer()) if hasattr(t, "ExternalBuffer") else 0
            rank_known = bool(shape) or bool(sig) or (t.HasRank() if hasattr(t, "HasRank") else False)
            out.append(dict(index=i, name=name, shape=shape, sig=sig, dtype=dtype, buffer=buf,
                            data=self._buffer(model, buf, n_buf, i, name) if buf else None,
                            external=external, variable=bool(t.IsVariable()), rank_known=rank_known))
        return out

    def _buffer(self, model, b, n_buf, i, name):
        """(start, size) of buffer ``b``'s bytes, checked to lie in the file; None when it is empty."""
        what = f"buffer {b} (of tensor {i} '{name}')"
        buf = self.table(model.Buffers(b), what)
        start, count = self.vec(buf, 4, 1, what)
        if count:
            return start, count
        off = int(buf.Offset()) if hasattr(buf, "Offset") else 0
        size = int(buf.Size()) if hasattr(buf, "Size") else 0
        if off > 1 and size:  # data stored after the flatbuffer (models over 2 GB)
            if off + size > self.n:
                self.fail(f"{what} lies at bytes {off}…{off + size}, past the end of the file ({self.n} bytes)")
            return off, size
        return None

    # ------------------------------------------------------------------ operators
    def _operators(self, sub, opcodes, tensors):
        n = self.length(sub.OperatorsLength, 4, "subgraph 0's operator list")
        n_t = len(tensors)
        out = []
        for k in range(n):
            what = f"operator {k}"
            op = self.table(sub.Operators(k), what)
            idx = int(op.OpcodeIndex())
            if not 0 <= idx < len(opcodes):
                self.fail(f"operator {k} uses operator code {idx}, but the model has {len(opcodes)}")
            name, custom = opcodes[idx]
            ins = self._indices(op.Inputs, op.InputsLength, n_t, f"the inputs of operator {k} ({name})", optional=True)
            outs = self._indices(op.Outputs, op.OutputsLength, n_t, f"the outputs of operator {k} ({name})",
                                 optional=True)
            self.where = what
            attrs = self._custom(op, name, k) if custom else self._options(op, k, name)
            out.append(dict(index=k, op=name, inputs=ins, outputs=outs, attrs=attrs, custom=custom))
        return out

    def _fields(self, cls):
        """The scalar / vector accessors of a generated options class: [(method, snake name, is vector)]."""
        got = self._fields_cache.get(cls)
        if got is not None:
            return got
        names = set(vars(cls))
        fields = []
        for m, fn in vars(cls).items():
            if not callable(fn) or isinstance(fn, (classmethod, staticmethod)) or m.startswith("_") \
                    or m in _SKIP_FIELDS or m.endswith(("AsNumpy", "IsNone", "Length")):
                continue
            code = getattr(fn, "__code__", None)
            if code is None:
                continue
            if code.co_argcount == 2 and f"{m}Length" in names:
                fields.append((m, _snake(m), True))
            elif code.co_argcount == 1:
                fields.append((m, _snake(m), False))
        self._fields_cache[cls] = fields
        return fields

    def _options(self, op, k, name):
        attrs = {}
        unions = ((op.BuiltinOptionsType, op.BuiltinOptions, self.options_names),
                  (getattr(op, "BuiltinOptions2Type", None), getattr(op, "BuiltinOptions2", None), self.options2_names))
        for type_get, tab_get, names in unions:
            if type_get is None:
                continue
            kind = int(type_get())
            if kind == 0:
                continue
            cls_name = names.get(kind)
            cls = getattr(self.s, cls_name, None) if cls_name else None
            if cls is None:
                self.notes.append(f"operator {k} ({name}): options type {kind} is not in this TFLite schema")
                continue
            tab = tab_get()
            if tab is None:
                continue
            obj = cls()
            obj.Init(tab.Bytes, tab.Pos)
            self.table(obj, f"the {cls_name} of operator {k} ({name})")
            for m, key, is_vec in self._fields(cls):
                if is_vec:
                    n = self.length(getattr(obj, f"{m}Length"), 1, f"{cls_name}.{key} of operator {k}")
                    vals = tuple(getattr(obj, m)(j) for j in range(n))
                    if all(isinstance(v, (int, float)) for v in vals):
                        attrs[key] = vals
                    continue
                v = getattr(obj, m)()
                if isinstance(v, bool) or isinstance(v, (int, float)):
                    if key in self.enums and isinstance(v, int) and not isinstance(v, bool):
                        v = self.enums[key].get(v, v)
                    attrs[key] = v
                elif isinstance(v, (bytes, bytearray)):
                    attrs[key] = self.text(v)
        return tuple(sorted(attrs.items()))

    def _custom(self, op, name, k):
        start, count = self.vec(op, 14, 1, f"the custom options of operator {k} ({name})")
        raw = bytes(self.data[start:start + count]) if count else b""
        attrs = {"custom_code": name, "custom_options_size": len(raw)}
        if name in _RAW_TRANSPOSE_CONV_PARAMS:
            if len(raw) >= 12:
                pad, sw, sh = struct.unpack_from("<iii", raw, 0)
                attrs.update(padding=_TFLITE_PADDING.get(pad, f"unknown({pad})"), stride_w=sw, stride_h=sh)
            else:
                self.notes.append(f"custom op {name} (operator {k}): {len(raw)} bytes of custom options, too few "
                                  f"for its padding and strides: its output size is unknown")
        elif raw:
            self.notes.append(f"custom op {name} (operator {k}): its custom options are not read")
        return tuple(sorted(attrs.items()))

    # ------------------------------------------------------------------ graph
    def _graph(self, model, sub, tensors, sg_in, sg_out, ops):
        names = [t["name"] for t in tensors]
        produced: dict = {}
        for o in ops:
            for i in o["outputs"]:
                if i < 0:
                    continue
                if i in produced:
                    self.fail(f"tensor {i} ('{names[i]}') is the output of operators {produced[i]} and {o['index']}")
                if i in sg_in:
                    self.fail(f"tensor {i} ('{names[i]}') is a subgraph input and the output of operator {o['index']}")
                produced[i] = o["index"]
        order = self._order(ops, produced, names)
        # graph inputs: the subgraph's inputs that are not constants
        single = sum(1 for i in sg_in if tensors[i]["data"] is None) == 1
        inputs = []
        for i in sg_in:
            t = tensors[i]
            if t["data"] is not None:
                continue
            dims = t["sig"] or t["shape"]
            shape = None if not t["rank_known"] else name_dims(t["name"], tuple(None if d < 0 else d for d in dims),
                                                                 single)
            inputs.append(Tensor(t["name"], shape, t["dtype"]))
        # constants: tensors with data, and the tensors nobody produces (variables, empty buffers)
        constants = {}
        consumed = {i for o in ops for i in o["inputs"] if i >= 0}
        for t in tensors:
            i = t["index"]
            if i in sg_in and t["data"] is None or i in produced:
                continue
            if t["data"] is None and not (t["external"] or t["variable"] or i in consumed):
                continue
            if any(d < 0 for d in t["sig"]):
                continue  # a dynamic tensor nobody produces: its shape stays unknown
            constants[t["name"]] = Constant(t["name"], tuple(t["shape"]), t["dtype"], self._loader(t))
            if t["data"] is None and not t["variable"] and not t["external"]:
                self.notes.append(f"tensor '{t['name']}' is consumed but neither produced, an input nor a constant")
        nodes = []
        node_names: set = Names()
        for o in order:
            outs = tuple(names[i] if i >= 0 else "" for i in o["outputs"])
            base = next((n for n in outs if n), f"{o['op'].lower()}_{o['index']}")
            nname = unique_name(node_names, base)
            node_names.add(nname)
            attrs = o["attrs"]
            if o["op"] in _DECLARED_SHAPE_OPS and o["outputs"] and o["outputs"][0] >= 0:
                # a variable's value: its shape is known only from the file (as TF's VarHandleOp)
                t = tensors[o["outputs"][0]]
                dims = t["sig"] or t["shape"]
                attrs = attrs + (("declared_shape", tuple(None if d < 0 else d for d in dims) if t["rank_known"]
                                  else None),)
            nodes.append(Node(o["op"], nname, tuple(names[i] if i >= 0 else "" for i in o["inputs"]), outs,
                              attrs, DOMAIN))
        customs = sorted({o["op"] for o in ops if o["custom"]})
        if customs:
            self.notes.append(f"custom op(s): {', '.join(customs)}")
        return Graph(
            name=os.path.basename(self.path) + (f"[{self.text(sub.Name())}]" if sub.Name() else ""),
            framework="tflite",
            opset=3,
            inputs=tuple(inputs),
            outputs=tuple(names[i] for i in sg_out),
            nodes=tuple(nodes),
            constants=MappingProxyType(constants),
            notes=tuple(self.notes),
        )

    def _order(self, ops, produced, names):
        """Operators in dependency order. TFLite stores them in execution order already; a file
        that uses a tensor before it is produced is sorted, and a cycle is an error."""
        pos = {o["index"]: p for p, o in enumerate(ops)}
        if all(produced.get(i, -1) < o["index"] for o in ops for i in o["inputs"] if i >= 0):
            return ops
        deps = {o["index"]: {produced[i] for i in o["inputs"] if i >= 0 and i in produced} for o in ops}
        order, state = [], {}
        for root in (o["index"] for o in ops):
            stack = [(root, False)]
            while stack:
                k, done = stack.pop()
                if done:
                    if state.get(k) != 2:
                        state[k] = 2
                        order.append(ops[pos[k]])
                    continue
                if state.get(k) == 2:
                    continue
                if state.get(k) == 1:
                    self.fail(f"the operators form a cycle through operator {k} ({ops[pos[k]]['op']})")
                state[k] = 1
                stack.append((k, True))
                for d in deps[k]:
                    if state.get(d) == 1 and d != k:
                        self.fail(f"the operators form a cycle through operator {d} ({ops[pos[d]]['op']})")
                    if d == k:
                        self.fail(f"operator {k} ({ops[pos[k]]['op']}) consumes its own output")
                    stack.append((d, False))
        return order

    def _loader(self, t):
        """The lazy value reader of a constant: only small, fully stored tensors decode."""
        data, dtype, shape = self.data, t["dtype"], t["shape"]
        loc = t["data"]
        code = _STRUCT.get(dtype)

        def load_values():
            if loc is None or code is None:
                return None
            n = 1
            for d in shape:
                n *= d
            if n > MAX_VALUE_ELEMENTS:
                return None
            start, size = loc
            if size != n * struct.calcsize(code):
                return None
            vals = struct.unpack_from(f"<{n}{code}", data, start)
            if dtype.startswith("float"):
                return tuple(float(v) for v in vals)
            return tuple(int(v) for v in vals)

        return load_values
