#!/usr/bin/env python3
"""Build the TF-side model zoo: public Keras architecture code as .keras, SavedModel and .tflite,
with the real runtime's verdict per size (issue 14).

    python scripts/make_tf_zoo.py                 # every model, one at a time
    python scripts/make_tf_zoo.py --only NAME ... # re-make some models (merged into zoo/tf/verdicts.json)
    python scripts/make_tf_zoo.py --list          # the models and their constructor calls
    python scripts/make_tf_zoo.py --readme        # rewrite zoo/tf/README.md from zoo/tf/verdicts.json

Every model is built from its library's own code with random weights (keras.utils.set_random_seed(0);
weights=None, nothing downloaded) and a dynamic H and W (``input_shape=(None, None, 3)``), then
saved in each of its formats WITH its weights to a temporary folder:

- ``.keras``: ``model.save(path)``; the runtime is Keras itself, ``model(x)`` eagerly on the array
  after ``keras.models.load_model(path)``;
- SavedModel: ``model.export(path)`` (format ``tf_saved_model``); the runtime is TensorFlow in graph
  mode, ``tf.saved_model.load(path).serve(x)``;
- ``.tflite``: ``tf.lite.TFLiteConverter.from_saved_model`` of that SavedModel (dynamic H and W kept
  as -1 in the shape signature); the runtime is the TFLite interpreter without delegates
  (``experimental_op_resolver_type=BUILTIN_WITHOUT_DEFAULT_DELEGATES``), ``resize_tensor_input`` to
  each size, ``allocate_tensors``, ``invoke``.

Sizes: every H = W in 1..96 and 20 seeded random (H, W) pairs with H != W in 1..130 (batch 1, 3
channels, float32 noise). Each size is "ok" (every output has elements), {"verdict": "empty",
"output_shape": [...]} (ran without an error, but an output has 0 elements) or {"verdict": "fail",
"error": first line of the error, <= 200 chars}; the first output's shape at every size that ran is
in ``output_shapes``. A model's sizes run in a child process (one at a time); when the child dies
(InceptionV3 in TF below 75: SIGFPE) that size is a failure "crashed: SIGNAL" and the next size
runs in a new child. Every size runs twice: with TF_ENABLE_ONEDNN_OPTS=0 (this machine's default:
TF turns oneDNN on by itself only on some CPUs) into ``sizes``, and with TF_ENABLE_ONEDNN_OPTS=1
(as the test suite runs, tests/conftest.py) where that differs into ``onednn_sizes``.

Then each file is stored graph-only in zoo/tf/: a .keras archive keeps config.json and
metadata.json (no model.weights.h5); a SavedModel keeps saved_model.pb and fingerprint.pb (no
variables/, no assets/); a .tflite file has every float buffer over 1 KB emptied (the tensors keep
their shapes and dtypes; the shape-carrying int32 constants keep their data).

Requirements: /work/venv (TF 2.21, Keras 3.15) for keras.applications; keras-unet-collection and
keras-hub only in a venv of their own that adds /work/venv's site-packages by a .pth file, installed
with --no-deps (scripts/tf-zoo-requirements.txt). They are no dependency of shapelint or its tests.
Run as: TF_CPP_MIN_LOG_LEVEL=3 /work/tfzoo-venv/bin/python scripts/make_tf_zoo.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ZOO = os.path.join(REPO, "zoo", "tf")
VERDICTS = os.path.join(ZOO, "verdicts.json")
sys.path.insert(0, REPO)


def random_pairs(n=20, seed=14, lo=1, hi=130):
    """n distinct (H, W) pairs with H != W in lo..hi, the same for every model."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        h, w = rng.randint(lo, hi), rng.randint(lo, hi)
        if h != w and (h, w) not in out:
            out.append((h, w))
    return out


SIZES = [(h, h) for h in range(1, 97)] + random_pairs()

KA = "keras.applications"
KUC = "keras-unet-collection"
KH = "keras-hub"
K, SM, TFL = "keras", "savedmodel", "tflite"
# name: (library, constructor call evaluated as written, formats)
APP = "(include_top=False, weights=None, input_shape=(None, None, 3))"
MODELS = {
    "vgg16": (KA, f"keras.applications.VGG16{APP}", (K, SM, TFL)),
    "resnet50": (KA, f"keras.applications.ResNet50{APP}", (K, SM)),
    "resnet50v2": (KA, f"keras.applications.ResNet50V2{APP}", (K,)),
    "densenet121": (KA, f"keras.applications.DenseNet121{APP}", (K,)),
    "mobilenetv2": (KA, f"keras.applications.MobileNetV2{APP}", (K, SM, TFL)),
    "mobilenetv3small": (KA, f"keras.applications.MobileNetV3Small{APP}", (K, SM)),
    "efficientnetb0": (KA, f"keras.applications.EfficientNetB0{APP}", (K, SM)),
    "efficientnetv2b0": (KA, f"keras.applications.EfficientNetV2B0{APP}", (K,)),
    "convnexttiny": (KA, f"keras.applications.ConvNeXtTiny{APP}", (K,)),
    "inceptionv3": (KA, f"keras.applications.InceptionV3{APP}", (K, SM, TFL)),
    "xception": (KA, f"keras.applications.Xception{APP}", (K,)),
    "unet_2d": (KUC, "kuc.unet_2d((None, None, 3), [16, 32, 64, 128], n_labels=2)", (K, SM)),
    # unpool=False: Conv2DTranspose instead of UpSampling2D (whose bilinear default cannot be exported
    # with a dynamic H and W: zoo/tf/skipped.json)
    "unet_2d_deconv": (KUC, "kuc.unet_2d((None, None, 3), [16, 32, 64, 128], n_labels=2, unpool=False)", (K, SM, TFL)),
    "att_unet_2d": (KUC, "kuc.att_unet_2d((None, None, 3), [16, 32, 64, 128], n_labels=2)", (K,)),
    "unet_plus_2d": (KUC, "kuc.unet_plus_2d((None, None, 3), [16, 32, 64], n_labels=2)", (K,)),
    "r2_unet_2d": (KUC, "kuc.r2_unet_2d((None, None, 3), [16, 32, 64], n_labels=2)", (K,)),
    "kh_resnet_backbone": (KH, "keras_hub.models.ResNetBackbone(input_conv_filters=[64], input_conv_kernel_sizes=[7], "
                               "stackwise_num_filters=[64, 128, 256], stackwise_num_blocks=[2, 2, 2], "
                               "stackwise_num_strides=[1, 2, 2], block_type='basic_block', image_shape=(None, None, 3))",
                           (SM,)),
}
EXT = {K: ".keras", SM: "", TFL: ".tflite"}


def _namespace():
    import keras

    ns = {"keras": keras}
    try:
        from keras_unet_collection import models as kuc
        ns["kuc"] = kuc
    except ImportError:
        pass
    try:
        import keras_hub
        ns["keras_hub"] = keras_hub
    except ImportError:
        pass
    return ns


def _version(library):
    from importlib.metadata import version

    return version({KA: "keras"}.get(library, library))


def _first_line(e) -> str:
    """The error's type and first line; Keras's wrapper line ("Exception encountered when calling
    Conv2D.call().") is replaced by the layer and the first line of the error it wraps."""
    text = str(e).strip() or type(e).__name__
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    line = lines[0] if lines else text
    if line.startswith("Exception encountered when calling") and len(lines) > 1:
        line = f"{line.split('calling ')[1].split('.call')[0]}: {lines[1]}"
    return _plain(f"{type(e).__name__}: {line}")[:200]


def _plain(text: str) -> str:
    """Without the ANSI colour codes Keras puts in its messages."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# ---------------------------------------------------------------------------------------- the child
def worker(fmt, path):
    """Run sizes read from stdin (a JSON list of [h, w]) and print one JSON line per size."""
    import numpy as np

    sizes = json.loads(sys.stdin.read())
    rng = np.random.default_rng(0)
    if fmt == K:
        import keras
        model = keras.models.load_model(path, compile=False)
        run = lambda x: model(x)  # noqa: E731
    elif fmt == SM:
        import tensorflow as tf
        loaded = tf.saved_model.load(path)
        # a model whose inputs are a list (keras-unet-collection's) takes a list in its endpoint too
        sig = loaded.serve.concrete_functions[0].structured_input_signature
        wrap = isinstance(sig[0][0], (list, tuple))
        run = lambda x: loaded.serve([tf.constant(x)] if wrap else tf.constant(x))  # noqa: E731
    else:
        import tensorflow as tf
        interp = tf.lite.Interpreter(
            model_path=path,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        inp = interp.get_input_details()[0]["index"]

        def run(x):
            interp.resize_tensor_input(inp, list(x.shape), strict=True)
            interp.allocate_tensors()
            interp.set_tensor(inp, x)
            interp.invoke()
            return [interp.get_tensor(o["index"]) for o in interp.get_output_details()]
    for h, w in sizes:
        x = rng.standard_normal((1, h, w, 3)).astype("float32")
        try:
            out = run(x)
            outs = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else [out]
            shapes = [list(map(int, o.shape)) for o in outs]
            if any(int(np.prod(s)) == 0 for s in shapes):
                v = {"verdict": "empty", "output_shape": next(s for s in shapes if int(np.prod(s)) == 0)}
            else:
                v = "ok"
            rec = {"size": f"{h}x{w}", "v": v, "shape": shapes[0]}
        except Exception as e:  # noqa: BLE001 - every runtime error is a verdict
            rec = {"size": f"{h}x{w}", "v": {"verdict": "fail", "error": _first_line(e)}}
        print(json.dumps(rec), flush=True)


def measure(fmt, path, sizes, onednn, timeout=1800):
    """{size: record} for every size, each child process running sizes until it dies."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=str(onednn), TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    todo = [list(s) for s in sizes]
    done = {}
    while todo:
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", fmt, path],
                           input=json.dumps(todo), capture_output=True, text=True, env=env, timeout=timeout)
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                done[rec["size"]] = rec
        todo = [s for s in todo if f"{s[0]}x{s[1]}" not in done]
        if todo:
            if p.returncode >= 0:
                raise RuntimeError(f"{path}: child exited {p.returncode} at {todo[0]}: {p.stderr[-2000:]}")
            sig = signal.Signals(-p.returncode).name
            h, w = todo.pop(0)
            done[f"{h}x{w}"] = {"size": f"{h}x{w}", "v": {"verdict": "fail", "error": f"crashed: {sig}"}}
    return done


# --------------------------------------------------------------------------------------- stripping
def strip_keras(src, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in ("config.json", "metadata.json"):
            zout.writestr(name, zin.read(name))


def strip_savedmodel(src, dst):
    os.makedirs(dst)
    for name in ("saved_model.pb", "fingerprint.pb"):
        if os.path.exists(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))
    prune_savedmodel(dst)


def _funcs(attrs):
    """Names of the functions a node's attributes call (``f``, a list of functions)."""
    for v in attrs.values():
        if v.HasField("func"):
            yield v.func.name
        if v.HasField("list"):
            yield from (f.name for f in v.list.func)


def prune_savedmodel(path):
    """Keep only what the signatures reach: the top-level nodes their outputs depend on (the call of
    the serving function and the VarHandleOps it captures) and the functions those call, recursively.
    Dropped: the variable initialisation and the save/restore functions (used only to write and read
    variables/, which is gone), which are most of saved_model.pb. Idempotent."""
    from tests.tf_reference import saved_model_pb2

    pb = os.path.join(path, "saved_model.pb")
    sm = saved_model_pb2().SavedModel()
    with open(pb, "rb") as f:
        sm.ParseFromString(f.read())
    for mg in sm.meta_graphs:
        nodes = {n.name: n for n in mg.graph_def.node}
        todo = [t.name.split(":")[0].lstrip("^") for k, sig in mg.signature_def.items() if not k.startswith("__")
                for t in list(sig.outputs.values()) + list(sig.inputs.values())]
        keep = set()
        while todo:
            n = todo.pop()
            if n in keep or n not in nodes:
                continue
            keep.add(n)
            todo.extend(i.split(":")[0].lstrip("^") for i in nodes[n].input)
        lib = {f.signature.name: f for f in mg.graph_def.library.function}
        fkeep, ftodo = set(), [f for n in keep for f in _funcs(nodes[n].attr)]
        while ftodo:
            f = ftodo.pop()
            if f in fkeep or f not in lib:
                continue
            fkeep.add(f)
            ftodo.extend(g for nd in lib[f].node_def for g in _funcs(nd.attr))
        kept = [nodes[n] for n in nodes if n in keep]
        del mg.graph_def.node[:]
        mg.graph_def.node.extend(kept)
        funcs = [lib[f] for f in lib if f in fkeep]
        del mg.graph_def.library.function[:]
        mg.graph_def.library.function.extend(funcs)
        for k in [k for k in mg.signature_def if k.startswith("__")]:
            del mg.signature_def[k]
    with open(pb, "wb") as f:
        f.write(sm.SerializeToString())


def strip_tflite(src, dst, limit=1024):
    """Empty every non-integer buffer over ``limit`` bytes (weights); integer constants stay."""
    import flatbuffers
    from tests.tf_reference import tflite_schema

    S = tflite_schema()
    with open(src, "rb") as f:
        model = S.ModelT.InitFromPackedBuf(f.read(), 0)
    ints = {S.TensorType.INT32, S.TensorType.INT64, S.TensorType.INT8, S.TensorType.INT16}
    keep = set()
    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.type in ints:
                keep.add(t.buffer)
    for i, buf in enumerate(model.buffers):
        if i not in keep and buf.data is not None and len(buf.data) > limit:
            buf.data = None
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    with open(dst, "wb") as f:
        f.write(b.Output())


# ------------------------------------------------------------------------------------------- build
def make_one(name):
    import keras
    import tensorflow as tf

    library, call, formats = MODELS[name]
    keras.utils.set_random_seed(0)
    model = eval(call, _namespace())  # noqa: S307 - our own constructor calls
    tmp = tempfile.mkdtemp(prefix=f"tfzoo_{name}_")
    table = _load()
    try:
        sm_path = os.path.join(tmp, "sm")
        for fmt in formats:
            t0 = time.time()
            fname = name + EXT[fmt] if fmt != SM else name + "_savedmodel"
            full = os.path.join(tmp, fname)
            if fmt == K:
                model.save(full)
                input_name = model.layers[0].name  # the InputLayer: shapelint's graph input
            else:
                if not os.path.exists(sm_path):
                    model.export(sm_path, format="tf_saved_model", verbose=False)
                if fmt == SM:
                    shutil.copytree(sm_path, full)
                    sig = tf.saved_model.load(sm_path).signatures["serving_default"]
                    input_name = list(sig.structured_input_signature[1])[0]
                else:
                    conv = tf.lite.TFLiteConverter.from_saved_model(sm_path)
                    with open(full, "wb") as f:
                        f.write(conv.convert())
                    interp = tf.lite.Interpreter(model_path=full)
                    d = interp.get_input_details()[0]
                    input_name = d["name"]
            off = measure(fmt, full, SIZES, 0)
            on = measure(fmt, full, SIZES, 1)
            sizes = {k: off[k]["v"] for k in (f"{h}x{w}" for h, w in SIZES)}
            shapes = {k: r["shape"] for k, r in off.items() if "shape" in r}
            differs = {k: on[k]["v"] for k in sizes if on[k]["v"] != sizes[k]}
            dst = os.path.join(ZOO, fname)
            os.makedirs(ZOO, exist_ok=True)
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            elif os.path.exists(dst):
                os.remove(dst)
            {K: strip_keras, SM: strip_savedmodel, TFL: strip_tflite}[fmt](full, dst)
            entry = {
                "input": input_name,
                "input_shape": ["N", "H", "W", "3"],
                "spatial_axes": [1, 2],
                "library": library,
                "version": _version(library),
                "build": call,
                "format": fmt,
                "runtime": {K: f"keras {keras.__version__} (model(x), eager) on tensorflow {tf.__version__}",
                            SM: f"tensorflow {tf.__version__} (tf.saved_model.load(path).serve(x))",
                            TFL: f"tflite interpreter of tensorflow {tf.__version__}, "
                                 "BUILTIN_WITHOUT_DEFAULT_DELEGATES"}[fmt],
                "onednn": "sizes with TF_ENABLE_ONEDNN_OPTS=0; onednn_sizes: where =1 differs",
                "sizes": sizes,
                "onednn_sizes": differs,
                "output_shapes": shapes,
            }
            table[fname] = entry
            _save(table)
            table = _load()
            print(f"{fname}: {sum(v == 'ok' for v in sizes.values())}/{len(sizes)} ok, "
                  f"{len(differs)} differ with oneDNN, {time.time() - t0:.0f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SKIPPED = os.path.join(ZOO, "skipped.json")


def record_skip(name, reason):
    """A model (or one of its formats: the files made before it failed are kept) that could not be
    made, with the reason; reason None: it was made, forget an earlier failure."""
    table = {}
    if os.path.exists(SKIPPED):
        with open(SKIPPED) as f:
            table = json.load(f)
    table.pop(name, None)
    if reason is not None:  # None: made after all
        table[name] = {"build": MODELS[name][1], "library": MODELS[name][0], "reason": reason}
    with open(SKIPPED, "w") as f:
        json.dump(dict(sorted(table.items())), f, indent=1)
        f.write("\n")


def _load():
    if os.path.exists(VERDICTS):
        with open(VERDICTS) as f:
            return json.load(f)
    return {}


def _save(table):
    os.makedirs(ZOO, exist_ok=True)
    for e in table.values():  # errors recorded before _plain existed
        for sizes in (e["sizes"], e.get("onednn_sizes", {})):
            for v in sizes.values():
                if isinstance(v, dict) and "error" in v:
                    v["error"] = _plain(v["error"])[:200]
    with open(VERDICTS, "w") as f:
        json.dump(dict(sorted(table.items())), f, indent=1)
        f.write("\n")


# ------------------------------------------------------------------------------------------ README
def _ranges(hs):
    hs, out = sorted(hs), []
    for h in hs:
        if out and h == out[-1][1] + 1:
            out[-1][1] = h
        else:
            out.append([h, h])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in out)


def summary(entry):
    sq = [(int(k.split("x")[0]), v) for k, v in entry["sizes"].items() if k.split("x")[0] == k.split("x")[1]]
    pairs = [v for k, v in entry["sizes"].items() if k.split("x")[0] != k.split("x")[1]]
    kind = lambda v: v if isinstance(v, str) else v["verdict"]  # noqa: E731
    ok = [h for h, v in sq if kind(v) == "ok"]
    empty = [h for h, v in sq if kind(v) == "empty"]
    s = f"ok at H = W ∈ {{{_ranges(ok)}}} ({len(ok)}/{len(sq)})" if ok else "ok at no square size"
    if empty:
        s += f", empty output at {{{_ranges(empty)}}}"
    s += f"; {sum(kind(v) == 'ok' for v in pairs)}/{len(pairs)} random pairs ok"
    crashed = sum(1 for v in entry["sizes"].values() if kind(v) == "fail" and v["error"].startswith("crashed"))
    if crashed:
        s += f"; {crashed} crashed"
    if entry.get("onednn_sizes"):
        s += f"; {len(entry['onednn_sizes'])} differ with oneDNN"
    return s


def _size_of(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def write_readme():
    table = _load()
    total = sum(_size_of(os.path.join(ZOO, f)) for f in os.listdir(ZOO))
    lines = [
        "# TF-side model zoo: public Keras code as .keras, SavedModel and .tflite, with the runtimes' verdicts",
        "",
        "Made by `scripts/make_tf_zoo.py` (its docstring says how; do not edit by hand: re-run it, "
        "`--only NAME`, then `--readme`). Random weights, nothing downloaded; verdicts measured on the "
        "models *with* their weights, then stored graph-only (.keras: config.json and metadata.json; "
        "SavedModel: saved_model.pb pruned to what its signatures reach, without variables/; .tflite: float buffers over 1 KB emptied).",
        "",
        f"Sizes: every H = W in 1..96 and 20 seeded random (H, W) pairs, H ≠ W, in 1..130 ({len(SIZES)} per "
        "file), batch 1. Runtimes: Keras eager `model(x)` for .keras, TF `serve` of the `model.export()` "
        "SavedModel, the TFLite interpreter without delegates. `sizes` is with TF_ENABLE_ONEDNN_OPTS=0, "
        "`onednn_sizes` lists where =1 differs. `empty` = ran, an output has 0 elements.",
        "",
        f"{len(table)} files, {total / 1e6:.1f} MB in this folder.",
        "",
        "| file | library | version | format | verdicts |",
        "| --- | --- | --- | --- | --- |",
    ]
    for fname, e in sorted(table.items()):
        lines.append(f"| `{fname}` | {e['library']} | {e['version']} | {e['format']} | {summary(e)} |")
    if os.path.exists(SKIPPED):
        with open(SKIPPED) as f:
            skipped = json.load(f)
        lines += ["", "Not made (`skipped.json`; the files listed above for the same model were kept):", ""]
        lines += [f"- `{n}` (`{e['build']}`): {e['reason']}" for n, e in sorted(skipped.items())]
    lines += ["", "Not attempted: keras-hub backbones as `.keras` (their layers are keras-hub's own registered "
              "classes, which shapelint's Keras loader does not read yet); only as SavedModel."]
    with open(os.path.join(ZOO, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="NAME")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--readme", action="store_true")
    ap.add_argument("--prune", action="store_true", help="prune every stored SavedModel (prune_savedmodel)")
    ap.add_argument("--worker", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    if args.list:
        for name, (lib, call, fmts) in MODELS.items():
            print(f"{name} [{lib}; {', '.join(fmts)}]: {call}")
        return 0
    if args.prune:
        for f in sorted(os.listdir(ZOO)):
            if os.path.isdir(os.path.join(ZOO, f)):
                prune_savedmodel(os.path.join(ZOO, f))
    elif not args.readme:
        for name in args.only or list(MODELS):
            try:
                make_one(name)
                record_skip(name, None)
            except Exception as e:  # noqa: BLE001 - record and go on
                print(f"{name}: FAILED {_first_line(e)}", flush=True)
                record_skip(name, _first_line(e))
    _save(_load())
    write_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
