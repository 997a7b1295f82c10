"""Keras 3 ``.keras`` archive -> IR, with ``zipfile`` and ``json`` alone.

A ``.keras`` file is a zip archive holding ``config.json`` (the model's architecture),
``metadata.json`` and ``model.weights.h5``. Only ``config.json`` is read -- never the weights,
and never Keras or TensorFlow: nothing in the archive is imported, deserialized into objects or
run. A ``Lambda`` layer's serialized Python code stays an opaque string; its output is unknown.

Each layer call becomes one IR node in the domain ``"keras"``: op = the Keras class name, name =
the layer name (``name#2`` for a shared layer's second call; ``outer/inner`` inside a nested
model), attrs = the layer's config frozen into (key, value) pairs. A layer's output tensor has the
node's name (``name:1`` for a second output). The ``InputLayer`` layers are the graph inputs, named after
the layer; their ``None`` dims get symbol names (N, H, W for a single input). Nested Functional and
Sequential models are inlined.

Connections (Keras 3, ``serialize_node``): ``inbound_nodes`` lists a layer's calls; a call's
``args``/``kwargs`` hold ``__keras_tensor__`` objects whose ``keras_history`` is
``[layer name, node index, tensor index]``. The node index counts the layer's calls in this
model; in ``input_layers``/``output_layers`` a nested *Functional* model's index counts one more
(its built-in node, see ``functional_from_config.get_tensor``). The Keras 2 form of
``inbound_nodes`` (lists of ``[name, node, tensor, kwargs]``) is read too; a nested model in
it stays opaque (Keras 2 counted the built-in node in every reference: unverified here).
"""

from __future__ import annotations

import heapq
import json
import zipfile
from types import MappingProxyType

from .. import limits
from ..errors import ModelError
from ..ir import Graph, Node, Tensor
from . import Names, unique_name
from .savedmodel_loader import name_dims

CONFIG = "config.json"
MAX_CONFIG_BYTES = limits.MAX_KERAS_CONFIG_BYTES  # config.json above this is refused before reading
MAX_LAYERS = limits.MAX_NODES
MAX_DEPTH = limits.MAX_NESTING  # nested models
MODEL_CLASSES = ("Functional", "Sequential", "Model")


def load(path: str) -> Graph:
    config = read_config(path)
    try:
        return _Converter(path).run(config)
    except RecursionError:
        raise ModelError(path, f"{CONFIG} nests too deeply")
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as e:
        raise ModelError(path, f"{CONFIG} does not have the layout of a Keras model ({type(e).__name__}: "
                               f"{str(e)[:120]})")


def read_config(path: str) -> dict:
    """The parsed ``config.json`` of a ``.keras`` archive; every failure is a ModelError."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelError(path, f"cannot read: {e.strerror or e}")
    if head.startswith(b"\x89HDF"):
        raise ModelError(path, "an HDF5 file (the legacy .h5 format), not a .keras zip archive")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise ModelError(path, f"not a .keras archive (not a zip file: {str(e)[:120]})")
    with zf:
        try:
            info = zf.getinfo(CONFIG)
        except KeyError:
            names = ", ".join(sorted(zf.namelist())[:5]) or "none"
            raise ModelError(path, f"not a .keras archive: no {CONFIG} in it (entries: {names})")
        if info.file_size > MAX_CONFIG_BYTES:
            raise ModelError(path, f"{CONFIG} declares {info.file_size} bytes, more than the "
                                   f"{MAX_CONFIG_BYTES >> 20} MB limit")
        try:
            with zf.open(info) as f:
                # at most one byte past the limit, whatever the header declared, in 1 MB steps:
                # zipfile inflates as much as one read asks for, even past the size the header claims
                data = bytearray()
                while len(data) <= MAX_CONFIG_BYTES:
                    chunk = f.read(min(1 << 20, MAX_CONFIG_BYTES + 1 - len(data)))
                    if not chunk:
                        break
                    data += chunk
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as e:
            raise ModelError(path, f"cannot extract {CONFIG} ({str(e)[:120]})")
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelError(path, f"{CONFIG} is larger than the {MAX_CONFIG_BYTES >> 20} MB limit")
    try:
        config = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelError(path, f"{CONFIG} is not valid JSON ({str(e)[:120]})")
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelError(path, f"{CONFIG} is not a Keras object config (no class_name)")
    return config


# --------------------------------------------------------------------------- config helpers


def _freeze(v):
    """JSON value -> hashable: lists become tuples, objects tuples of (key, value) pairs."""
    if isinstance(v, dict):
        return tuple((str(k), _freeze(x)) for k, x in v.items())
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def _is_ref(v) -> bool:
    """A [layer name, node index, tensor index] leaf of input_layers / output_layers."""
    return (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)
            and isinstance(v[1], int) and isinstance(v[2], int))


def _refs(struct) -> list:
    """The leaves of input_layers / output_layers in Keras's flattening order (dicts by key)."""
    if _is_ref(struct):
        return [tuple(struct)]
    if isinstance(struct, dict):
        return [r for k in sorted(struct) for r in _refs(struct[k])]
    if isinstance(struct, list):
        return [r for v in struct for r in _refs(v)]
    return []


def _call_tensors(node_data) -> list:
    """The (layer, node index, tensor index) of every tensor passed to one call, in order:
    positional arguments depth-first, then keyword arguments."""
    if isinstance(node_data, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
        out = []
        for item in node_data:
            if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
                out.append((item[0], int(item[1]), int(item[2])))
        return out
    out: list = []
    if isinstance(node_data, dict):
        _collect(node_data.get("args"), out)
        _collect(node_data.get("kwargs"), out)
    return out


def _collect(v, out, depth=0):
    if depth > 100:
        return
    if isinstance(v, dict):
        if v.get("class_name") == "__keras_tensor__":
            h = (v.get("config") or {}).get("keras_history")
            if _is_ref(h):
                out.append(tuple(h))
            return
        for x in v.values():
            _collect(x, out, depth + 1)
    elif isinstance(v, list):
        for x in v:
            _collect(x, out, depth + 1)


def _has_code(v, depth=0) -> bool:
    """Whether a layer config carries serialized Python (a lambda's bytecode, a function)."""
    if depth > 100:
        return False
    if isinstance(v, dict):
        if v.get("class_name") == "__lambda__" or isinstance(v.get("code"), str):
            return True
        return any(_has_code(x, depth + 1) for x in v.values())
    if isinstance(v, list):
        return any(_has_code(x, depth + 1) for x in v)
    return False


def _is_model(layer: dict) -> bool:
    """A Functional or Sequential model (or a subclass built the functional way)."""
    cfg = layer.get("config")
    return (isinstance(cfg, dict) and isinstance(cfg.get("layers"), list)
            and (layer.get("class_name") in MODEL_CLASSES or "output_layers" in cfg))


def _op_name(layer: dict) -> str:
    """Built-in layers keep their class name; Keras ops (keras.ops.add in a Functional model)
    become ``ops.<Class>``; custom classes their registered name. Only built-ins have rules."""
    cls = str(layer.get("class_name"))
    module = str(layer.get("module") or "")
    registered = layer.get("registered_name")
    if ".ops." in module:
        return f"ops.{cls}"
    if registered and registered != cls:
        return str(registered)
    if module and not (module == "keras" or module.startswith("keras.")):
        return f"{module}.{cls}"
    return cls


def _dtype(cfg: dict) -> str:
    d = cfg.get("dtype")
    if isinstance(d, str):
        return d
    if isinstance(d, dict):
        name = (d.get("config") or {}).get("name")
        if isinstance(name, str):
            return name
    return "float32"


def _batch_shape(cfg: dict):
    for key in ("batch_shape", "batch_input_shape"):
        s = cfg.get(key)
        if isinstance(s, list) and all(d is None or isinstance(d, int) for d in s):
            return tuple(s)
    return None


# --------------------------------------------------------------------------- conversion


# packages whose models save constructor arguments, not a layer graph (module or registered_name)
KERAS_HUB = frozenset({"keras_hub", "keras_nlp", "keras_cv"})


class _Converter:
    def __init__(self, path: str):
        self.path = path
        self.nodes: list = []
        self.names: set = Names()
        self.notes: list = []
        self.inputs: list = []
        self.n_layers = 0
        self.code: dict = {}  # op -> names of the layers that hold Python code

    def fail(self, reason: str):
        raise ModelError(self.path, reason)

    def run(self, config: dict) -> Graph:
        cls = config.get("class_name")
        cfg = config.get("config")
        if not _is_model(config):
            module, registered = str(config.get("module") or ""), str(config.get("registered_name") or "")
            if isinstance(cfg, dict) and "layers" not in cfg and (module.split(".")[0] in KERAS_HUB
                                                                  or registered.split(">")[0] in KERAS_HUB):
                self.fail(f"'{cls}' is a keras_hub model: its {CONFIG} holds the arguments of its Python "
                          f"constructor, not a layer graph, and shapelint runs no code from a model file. "
                          f"Lint its SavedModel instead: model.export(\"{cls.lower()}_savedmodel\") in Python, "
                          f"then shapelint check {cls.lower()}_savedmodel")
            if isinstance(cfg, dict) and "layers" not in cfg:
                self.fail(f"the model is a subclassed keras.Model ('{cls}'): its layers and call() are Python "
                          f"code, not in {CONFIG}, so there is no graph to read; lint its SavedModel "
                          f"(model.export(PATH)) instead")
            self.fail(f"{CONFIG} holds a '{cls}', not a Functional or Sequential model")
        name = str(cfg.get("name") or cls)
        outputs = self.model(config, "", None, depth=0)
        for op, names in self.code.items():
            listed = ", ".join(f"'{n}'" for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            self.notes.append(f"{op} layer{'s' if len(names) > 1 else ''} {listed} hold{'' if len(names) > 1 else 's'} "
                              "Python code (serialized bytecode or a function reference): shapelint never "
                              "deserializes or runs it"
                              + (", so the output shape is unknown" if op == "Lambda" else ""))
        return Graph(
            name=name,
            framework="keras",
            opset=0,
            inputs=tuple(self.inputs),
            outputs=tuple(outputs),
            nodes=tuple(self.nodes),
            constants=MappingProxyType({}),
            notes=tuple(self.notes),
        )

    def model(self, config, prefix, args, depth) -> list:
        """Emit a Functional/Sequential model's nodes; ``args`` are the tensors it is called on
        (None at the top level: its InputLayers are the graph inputs). Returns its outputs."""
        if depth > MAX_DEPTH:
            self.fail(f"models nested deeper than {MAX_DEPTH}")
        if config.get("class_name") == "Sequential" or "output_layers" not in config["config"]:
            return self.sequential(config["config"], prefix, args, depth)
        return self.functional(config["config"], prefix, args, depth)

    # ------------------------------------------------------------------ Functional
    def functional(self, cfg, prefix, args, depth) -> list:
        layers = cfg["layers"]
        by_name: dict = {}
        for layer in layers:
            if not isinstance(layer, dict):
                self.fail("a layer entry is not an object")
            lname = layer.get("name") or (layer.get("config") or {}).get("name")
            if not isinstance(lname, str):
                self.fail("a layer without a name")
            if lname in by_name:
                self.fail(f"two layers named '{lname}'")
            by_name[lname] = layer
            self.n_layers += 1
            if self.n_layers > MAX_LAYERS:
                self.fail(f"more than {MAX_LAYERS} layers")
        # Keras 2 wrote inbound_nodes as lists, and counted a nested model's built-in node in
        # every reference to it; such nested models are left opaque (outputs unknown)
        legacy = any(isinstance(nd, list) for layer in layers for nd in (layer.get("inbound_nodes") or ()))
        in_refs = _refs(cfg.get("input_layers"))
        out_refs = _refs(cfg.get("output_layers"))
        if not out_refs:
            self.fail(f"model '{cfg.get('name')}' names no output layers")
        env: dict = {}  # (layer, call index, tensor index) -> tensor name
        # inputs: InputLayers, mapped to the graph inputs or to the caller's tensors
        if args is not None and len(args) != len(in_refs):
            self.fail(f"nested model '{prefix.rstrip('/')}' has {len(in_refs)} input(s) but is called on {len(args)}")
        single = len(in_refs) == 1
        for k, r in enumerate(in_refs):
            layer = by_name.get(r[0])
            if layer is None:
                self.fail(f"input_layers names a layer '{r[0]}' that is not in the model")
            if args is not None:
                env[(r[0], 0, 0)] = args[k]
            else:
                env[(r[0], 0, 0)] = self.graph_input(prefix + r[0], layer.get("config") or {}, single)
        # every call of every layer, then a topological order over calls
        calls: dict = {}  # (layer, call index) -> list of input refs
        for lname, layer in by_name.items():
            if layer.get("class_name") == "InputLayer":
                continue
            nodes = layer.get("inbound_nodes") or []
            if not isinstance(nodes, list):
                self.fail(f"layer '{lname}': inbound_nodes is not a list")
            for j, nd in enumerate(nodes):
                calls[(lname, j)] = _call_tensors(nd)
        n_outs: dict = {}
        for ins in calls.values():
            for r in ins:
                self.output_index(r)
                n_outs[(r[0], r[1])] = max(n_outs.get((r[0], r[1]), 1), r[2] + 1)
        out_calls = []
        for r in out_refs:
            ref = by_name.get(r[0], {})
            functional = _is_model(ref) and "output_layers" in ref["config"]  # not Sequential
            j = r[1] - 1 if not legacy and functional else r[1]
            self.output_index(r)
            out_calls.append((r[0], j, r[2]))
            n_outs[(r[0], j)] = max(n_outs.get((r[0], j), 1), r[2] + 1)
        for key in self.order(calls, by_name):
            lname, j = key
            layer = by_name[lname]
            ins = []
            for r in calls[key]:
                t = env.get(r)
                if t is None:
                    if r[0] not in by_name:
                        self.fail(f"layer '{lname}' is called on layer '{r[0]}', which is not in the model")
                    self.fail(f"layer '{lname}' is called on output {r[2]} of call {r[1]} of '{r[0]}', "
                              "which does not exist")
                ins.append(t)
            node_name = self.unique(prefix + (lname if j == 0 else f"{lname}#{j + 1}"))
            once = legacy and _is_model(layer) and len(layer.get("inbound_nodes") or ()) == 1
            if _is_model(layer) and not legacy:
                outs = self.model(layer, node_name + "/", ins, depth + 1)
            else:
                n = max(n_outs.get(key, 1), n_outs.get((lname, 1), 1) if once else 1)
                outs = self.layer(layer, node_name, ins, n, legacy_model=legacy and _is_model(layer))
            for t_idx, t in enumerate(outs):
                env[(lname, j, t_idx)] = t
                if once:  # referenced as call 1 when Keras 2 counted the built-in node
                    env[(lname, 1, t_idx)] = t
        result = []
        for r in out_calls:
            t = env.get(r)
            if t is None:
                self.fail(f"output_layers names output {r[2]} of call {r[1]} of '{r[0]}', which does not exist")
            result.append(t)
        return result

    def order(self, calls, by_name) -> list:
        """Calls in dependency order (Kahn's algorithm, ties in the config's layer order)."""
        rank = {name: k for k, name in enumerate(by_name)}
        deps = {key: {(r[0], r[1]) for r in ins if (r[0], r[1]) in calls} for key, ins in calls.items()}
        users: dict = {}
        for key, ds in deps.items():
            for d in ds:
                users.setdefault(d, []).append(key)
        ready = [(rank[k[0]], k[1], k) for k, ds in deps.items() if not ds]
        heapq.heapify(ready)
        left = {k: len(ds) for k, ds in deps.items()}
        out = []
        while ready:
            _, _, key = heapq.heappop(ready)
            out.append(key)
            for u in users.get(key, ()):
                left[u] -= 1
                if left[u] == 0:
                    heapq.heappush(ready, (rank[u[0]], u[1], u))
        if len(out) != len(calls):
            stuck = next(k for k, n in left.items() if n > 0)
            self.fail(f"the layer graph has a cycle through '{stuck[0]}'")
        return out

    # ------------------------------------------------------------------ Sequential
    def sequential(self, cfg, prefix, args, depth) -> list:
        layers = [layer for layer in cfg["layers"] if isinstance(layer, dict)]
        if args is not None and len(args) != 1:
            self.fail(f"nested Sequential '{prefix.rstrip('/')}' is called on {len(args)} tensors")
        start = 0
        if layers and layers[0].get("class_name") == "InputLayer":
            lcfg = layers[0].get("config") or {}
            name = lcfg.get("name") or "input_layer"
            x = args[0] if args is not None else self.graph_input(prefix + name, lcfg, True)
            start = 1
        elif args is not None:
            x = args[0]
        else:
            first = (layers[0].get("config") or {}) if layers else {}
            shape = _batch_shape(first)
            if shape is None:
                b = cfg.get("build_input_shape")
                shape = tuple(b) if isinstance(b, list) and all(d is None or isinstance(d, int) for d in b) else None
            x = self.graph_input(prefix + "input", {"batch_shape": list(shape) if shape else None,
                                                    "dtype": first.get("dtype")}, True)
        for layer in layers[start:]:
            self.n_layers += 1
            if self.n_layers > MAX_LAYERS:
                self.fail(f"more than {MAX_LAYERS} layers")
            if layer.get("class_name") == "InputLayer":
                continue
            lname = (layer.get("config") or {}).get("name") or layer.get("name") or str(layer.get("class_name"))
            node_name = self.unique(prefix + str(lname))
            if _is_model(layer):
                outs = self.model(layer, node_name + "/", [x], depth + 1)
            else:
                outs = self.layer(layer, node_name, [x], 1)
            if len(outs) != 1:
                self.fail(f"layer '{node_name}' in a Sequential model has {len(outs)} outputs")
            x = outs[0]
        return [x]

    # ------------------------------------------------------------------ nodes
    def graph_input(self, name, cfg, single) -> str:
        shape = _batch_shape(cfg)
        self.inputs.append(Tensor(name, name_dims(name, shape, single), _dtype(cfg)))
        self.names.add(name)
        return name

    def layer(self, layer, node_name, inputs, n_out, legacy_model=False) -> list:
        cfg = layer.get("config")
        cfg = cfg if isinstance(cfg, dict) else {}
        op = _op_name(layer)
        if layer.get("class_name") == "Lambda" or _has_code(cfg):
            self.code.setdefault(op, []).append(node_name)
        elif legacy_model:
            self.notes.append(f"nested model '{node_name}' in a Keras 2 format config is not read: its output "
                              "is unknown")
        elif layer.get("class_name") in MODEL_CLASSES:
            self.notes.append(f"nested model '{node_name}' ({layer.get('class_name')}) has no layer graph in "
                              f"{CONFIG}: its output is unknown")
        outs = tuple(node_name if k == 0 else f"{node_name}:{k}" for k in range(n_out))
        attrs = tuple((str(k), _freeze(v)) for k, v in cfg.items())
        self.nodes.append(Node(op, node_name, tuple(inputs), outs, attrs, "keras"))
        return list(outs)

    def output_index(self, ref) -> None:
        """A reference's call and output indices, checked before they size anything (a layer's
        outputs are named one by one: an index of 10^9 once built 10^9 names)."""
        if not (0 <= ref[1] <= MAX_LAYERS and 0 <= ref[2] < limits.MAX_OUTPUTS_PER_LAYER):
            self.fail(f"a reference to output {ref[2]} of call {ref[1]} of layer '{ref[0]}': over the limit of "
                      f"{limits.MAX_OUTPUTS_PER_LAYER} outputs per layer (shapelint.limits.MAX_OUTPUTS_PER_LAYER)"
                      if ref[2] >= 0 and ref[1] >= 0 else
                      f"a reference to output {ref[2]} of call {ref[1]} of layer '{ref[0]}': negative")

    def unique(self, name: str) -> str:
        return unique_name(self.names, name)

