"""TensorFlow SavedModel -> IR, without the TensorFlow runtime.

Reads ``saved_model.pb`` with the part of TensorFlow's protobuf schema it needs, declared in
``savedmodel_schema`` (TensorFlow need not be installed), picks a serving signature, and flattens
the graph: TF2 keeps the real body in the function library, reached through (nested)
``StatefulPartitionedCall`` / ``PartitionedCall``; each call is inlined with its arguments, so
node names become ``call/…/node``. ``variables/`` is never read: a variable's
shape comes from its ``VarHandleOp`` (``shape`` attribute), and ``ReadVariableOp`` passes it on.
Nodes keep TensorFlow's op names, in the IR domain ``"tf"``.
"""

from __future__ import annotations

import os
import re
from types import MappingProxyType

from .. import limits
from ..errors import ModelError
from ..ir import Constant, Graph, Node, Tensor
from . import Names, unique_name

# TF DataType enum -> dtype name (the ones that matter for shapes)
_DT = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 6: "int8", 9: "int64", 10: "bool",
       19: "float16", 14: "bfloat16", 20: "resource"}
# ops with more than one output arg: their order (function bodies name outputs "node:arg:idx")
_OUT_ARGS = {
    "FusedBatchNorm": ("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"),
    "FusedBatchNormV3": ("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2",
                         "reserve_space_3"),
    "Unique": ("y", "idx"),
    "TopKV2": ("values", "indices"),
}
CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")
_GENERATED_CALL = re.compile(r"^(Stateful)?PartitionedCall(_\d+)?$")
MAX_DEPTH = limits.MAX_NESTING
MAX_NODES = limits.MAX_NODES  # after inlining: functions calling functions twice over grow exponentially


def load(path: str, signature: str | None = None) -> Graph:
    folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
    pb_path = os.path.join(folder, "saved_model.pb")
    if not os.path.isfile(pb_path):
        raise ModelError(path, "not a SavedModel: no saved_model.pb in the folder")
    try:
        from google.protobuf.message import DecodeError

        from . import savedmodel_schema

        saved_model = savedmodel_schema.message_class("SavedModel")
    except ImportError as e:  # pragma: no cover - protobuf comes with onnx, a core dependency
        raise ModelError(path, f"cannot import protobuf ({e}): pip install protobuf")
    try:
        with open(pb_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limits.MAX_FILE_BYTES:  # checked before reading (a sparse 3 GB file was read whole)
                raise ModelError(path, f"saved_model.pb is {size:,} bytes, over the limit of "
                                       f"{limits.MAX_FILE_BYTES:,} (shapelint.limits.MAX_FILE_BYTES)")
            data = f.read(limits.MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ModelError(path, f"cannot read saved_model.pb: {e.strerror or e}")
    sm = saved_model()
    try:
        sm.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelError(path, f"saved_model.pb is not a valid SavedModel protobuf ({str(e)[:120]})")
    if not sm.meta_graphs:
        raise ModelError(path, "SavedModel has no meta graph")
    mg = sm.meta_graphs[0]
    sigs = {k: v for k, v in mg.signature_def.items() if not k.startswith("__")}
    name = signature or ("serving_default" if "serving_default" in sigs else (sorted(sigs)[0] if sigs else None))
    if name is None or name not in sigs:
        avail = ", ".join(sorted(sigs)) or "none"
        raise ModelError(path, f"no signature '{name}' (signatures: {avail})")
    return _Flattener(path, mg, sigs[name], name).run()


def name_dims(key, dims, single):
    """Unknown dims get symbol names: N, H, W (channels-last, TF's default) for a single input,
    else the input's key and axis."""
    if dims is None:
        return None
    letters = {4: "NHW", 5: "NDHW", 3: "NL"}.get(len(dims), "")
    out = []
    for a, d in enumerate(dims):
        if d is not None:
            out.append(d)
        elif single and a < len(letters):
            out.append(letters[a])
        else:
            out.append(f"{key}[{a}]")
    return tuple(out)


def _dims(shape_proto):
    if shape_proto.unknown_rank:
        return None
    return tuple((int(d.size) if d.size >= 0 else None) for d in shape_proto.dim)


class _Flattener:
    def __init__(self, path, mg, sig, sig_name):
        self.path = path
        self.sig = sig
        self.sig_name = sig_name
        self.lib = {f.signature.name: f for f in mg.graph_def.library.function}
        self.graph_def = mg.graph_def
        self.nodes: list = []
        self.constants: dict = {}
        self.notes: list = []
        self.names: set = Names()
        self.calls = 0  # calls inlined: bounded even when functions only call functions

    # ------------------------------------------------------------------ helpers
    def _constant(self, name, node_def):
        t = node_def.attr["value"].tensor
        dims = tuple(int(d.size) for d in t.tensor_shape.dim)
        dtype = _DT.get(t.dtype, f"dt{t.dtype}")
        n = 1
        for d in dims:
            n *= d

        def load_values(t=t, n=n, dtype=dtype):
            return _tensor_values(t, n, dtype)

        self.constants[name] = Constant(name, dims, dtype, load_values)

    def _add(self, op, name, inputs, outputs, node_def, extra=()):
        attrs = tuple((k, _attr(v)) for k, v in sorted(node_def.attr.items())) + tuple(extra)
        self.nodes.append(Node(op, name, tuple(inputs), tuple(outputs), attrs, "tf"))
        if len(self.nodes) > MAX_NODES:
            raise ModelError(self.path, f"more than {MAX_NODES:,} nodes after inlining functions "
                                        f"(shapelint.limits.MAX_NODES)")

    # ------------------------------------------------------------------ top level
    def run(self) -> Graph:
        top = {n.name: n for n in self.graph_def.node}
        # the signature's tensors are names in the top-level graph ("node:idx")
        inputs = []
        env: dict = {}
        single = len(self.sig.inputs) == 1
        for key, info in sorted(self.sig.inputs.items()):
            node_name = info.name.split(":")[0]
            # (no tensor_shape at all: unknown, not a scalar -- TF always writes one)
            shape = name_dims(key, _dims(info.tensor_shape) if info.HasField("tensor_shape") else None, single)
            inputs.append(Tensor(key, shape, _DT.get(info.dtype, "float32")))
            env[f"{node_name}:0"] = key
            env[node_name] = key
        outputs = []
        needed = []
        for key, info in sorted(self.sig.outputs.items()):
            needed.append(info.name)
            outputs.append(info.name)
        # walk the top-level graph from the outputs back, emit needed nodes in dependency order
        order = self._order(top, [o.split(":")[0] for o in needed], set(env), "the graph")
        for node_def in order:
            args = [env.get(self._top_ref(i), self._top_ref(i)) for i in node_def.input if not i.startswith("^")]
            self._emit(node_def, "", env, args, depth=0, top=True)
        out_names = []
        for key, info in sorted(self.sig.outputs.items()):
            ref = self._top_ref(info.name)
            out_names.append(env.get(ref, ref))
        return Graph(
            name=f"{os.path.basename(os.path.normpath(self.path))}[{self.sig_name}]",
            framework="tensorflow",
            opset=0,
            inputs=tuple(inputs),
            outputs=tuple(out_names),
            nodes=tuple(self.nodes),
            constants=MappingProxyType(self.constants),
            notes=tuple(self.notes),
        )

    def _top_ref(self, ref: str) -> str:
        name, _, idx = ref.lstrip("^").partition(":")
        return f"{name}:{idx or 0}"

    def _order(self, nodes: dict, roots, known, where: str) -> list:
        """The nodes ``roots`` depend on, dependencies first (iterative DFS; a cycle is an error)."""
        order, state = [], {}
        stack = [(r, False) for r in roots]
        while stack:
            name, done = stack.pop()
            if name in known or name not in nodes:
                continue
            if done:
                if state.get(name) != 2:
                    state[name] = 2
                    order.append(nodes[name])
                continue
            if state.get(name) == 1:
                raise ModelError(self.path, f"{where} has a cycle through '{name}'")
            if state.get(name) == 2:
                continue
            state[name] = 1
            stack.append((name, True))
            for i in nodes[name].input:
                if not i.startswith("^"):
                    stack.append((i.split(":")[0], False))
        return order

    # ------------------------------------------------------------------ nodes
    def _emit(self, node_def, prefix, env, inputs, depth, top=False):
        """Emit one node, or inline the function it calls. ``env`` maps this scope's references
        to tensor names of the flat graph; ``inputs`` are the node's inputs, already mapped."""
        name = self._unique(prefix + node_def.name)
        op = node_def.op
        if op == "Const":
            out = f"{name}:0"
            self._constant(out, node_def)
            self._alias(env, node_def.name, op, out, top)
            return
        if op in CALL_OPS and "f" in node_def.attr:
            self.calls += 1
            if self.calls > limits.MAX_INLINED_CALLS:
                raise ModelError(self.path, f"more than {limits.MAX_INLINED_CALLS:,} function calls to inline "
                                            f"(shapelint.limits.MAX_INLINED_CALLS)")
            fname = node_def.attr["f"].func.name
            fdef = self.lib.get(fname)
            if fdef is None:
                self.notes.append(f"call '{name}' to a function '{fname}' that is not in the library")
            elif depth >= MAX_DEPTH:
                raise ModelError(self.path, f"function calls nested deeper than {MAX_DEPTH} "
                                            f"(shapelint.limits.MAX_NESTING)")
            else:
                outs = self._inline(fdef, self._call_prefix(prefix, node_def.name), inputs, depth + 1)
                for k, t in enumerate(outs):
                    self._alias(env, node_def.name, op, t, top, index=k, arg="output")
                return
        n_out = len(_OUT_ARGS.get(op, ("output",)))
        if op in ("Split", "SplitV", "Unpack"):
            n_out = int(node_def.attr["num_split"].i or node_def.attr["num"].i or 1)
        outs = [f"{name}:{k}" for k in range(n_out)]
        self._add(op, name, inputs, outs, node_def)
        for k, t in enumerate(outs):
            self._alias(env, node_def.name, op, t, top, index=k)

    def _alias(self, env, node_name, op, tensor, top, index=0, arg=None):
        if top:
            env[f"{node_name}:{index}"] = tensor
            return
        args = _OUT_ARGS.get(op)
        if args is not None:
            env[f"{node_name}:{args[index]}:0"] = tensor
        elif op in ("Split", "SplitV", "Unpack") or arg == "output" and op in CALL_OPS:
            env[f"{node_name}:output:{index}"] = tensor
        else:
            env[("any", node_name, index)] = tensor

    def _call_prefix(self, prefix: str, call_name: str) -> str:
        """Names inside an inlined function: the caller's prefix, plus the call's own name unless
        it is one of TF's generated ones (StatefulPartitionedCall_3); _unique keeps names apart."""
        return prefix if _GENERATED_CALL.match(call_name) else f"{prefix}{call_name}/"

    def _unique(self, name: str) -> str:
        return unique_name(self.names, name)

    def _inline(self, fdef, prefix, args, depth):
        sig = fdef.signature
        env: dict = {}
        for a, t in zip(sig.input_arg, args):
            env[a.name] = t
        # function-local references: "node:arg:idx" or an input arg name
        def ref_of(r):
            r = r.lstrip("^")
            parts = r.split(":")
            if len(parts) == 1:
                return r
            if len(parts) == 3:
                key = f"{parts[0]}:{parts[1]}:{parts[2]}"
                if key in env:
                    return key
                return ("any", parts[0], int(parts[2]))
            return r

        body = {n.name: n for n in fdef.node_def}
        roots = [fdef.ret[a.name].split(":")[0] for a in sig.output_arg]
        for node_def in self._order(body, roots, set(env), f"function '{sig.name}'"):
            inputs = []
            for i in node_def.input:
                if i.startswith("^"):
                    continue
                r = ref_of(i)
                inputs.append(env.get(r, prefix + (r if isinstance(r, str) else f"{r[1]}:{r[2]}")))
            self._emit(node_def, prefix, env, inputs, depth)
        outs = []
        for a in sig.output_arg:
            r = ref_of(fdef.ret[a.name])
            outs.append(env.get(r, prefix + str(r)))
        return outs


def _attr(v):
    kind = v.WhichOneof("value")
    if kind == "s":
        return v.s.decode("utf-8", "replace")
    if kind == "i":
        return int(v.i)
    if kind == "f":
        return float(v.f)
    if kind == "b":
        return bool(v.b)
    if kind == "type":
        return _DT.get(v.type, f"dt{v.type}")
    if kind == "shape":
        return _dims(v.shape)
    if kind == "list":
        if v.list.i:
            return tuple(int(x) for x in v.list.i)
        if v.list.s:
            return tuple(x.decode("utf-8", "replace") for x in v.list.s)
        if v.list.shape:
            return tuple(_dims(s) for s in v.list.shape)
        return ()
    if kind == "func":
        return v.func.name
    return None


def _tensor_values(t, n, dtype):
    import struct

    fmt = {"float32": "f", "float64": "d", "int32": "i", "int64": "q", "uint8": "B", "int8": "b",
           "bool": "?", "float16": "e"}.get(dtype)
    if fmt is None or n > 4096:
        return None
    if t.tensor_content:
        if len(t.tensor_content) != n * struct.calcsize(fmt):
            return None
        vals = struct.unpack(f"<{n}{fmt}", t.tensor_content)
    else:
        field = {"float32": t.float_val, "float64": t.double_val, "int32": t.int_val, "int64": t.int64_val,
                 "uint8": t.int_val, "int8": t.int_val, "bool": t.bool_val}.get(dtype)
        if field is None:
            return None
        vals = tuple(field)
        if not vals and n:
            return None
        if len(vals) < n:  # TF repeats the last value to fill the tensor
            vals = vals + (vals[-1],) * (n - len(vals))
    if dtype.startswith("float"):
        return tuple(float(v) for v in vals)
    return tuple(int(v) for v in vals)
