#!/usr/bin/env python3
"""Benchmark shapelint against the tools a user would run instead: wall time and peak memory.

    python scripts/benchmark.py PATH... [--savedmodel DIR]... [--make-savedmodel] [--make-unets]
                                [--repeat N] [--tools shapelint,infer_shapes,...] [--markdown] [--out FILE.md]

PATH: .onnx files, SavedModel folders, or folders searched recursively for both (with no PATH,
/work/shared/corpus when it exists). Run it with a Python that has the `bench` extra (onnxruntime,
polygraphy, onnx-graphsurgeon, sympy) and, for SavedModels, TensorFlow; a tool that is not installed
shows "n/a (not installed)". Every tool runs as its own fresh process (start and imports included,
what a user runs):

  shapelint             python -m shapelint check MODEL --format json
  infer_shapes          onnx.load(MODEL, load_external_data=False) then
                        onnx.shape_inference.infer_shapes(model, strict_mode=True); "call" is the time
                        of the infer_shapes call alone, measured inside that process
  symbolic_shape_infer  python -m onnxruntime.tools.symbolic_shape_infer --input MODEL --output TMP
                        --auto_merge (needs sympy)
  polygraphy            polygraphy check lint MODEL (runs the model in onnxruntime: n/a when the model's
                        external weight file is missing; dynamic dims pinned, first 1, others 256)
  import_tensorflow     python -c "import tensorflow", for SavedModels: what any TensorFlow-based check
                        costs before it reads the model

--make-unets adds five depth-4 U-Nets with real weights (tests/onnx_models.py, 16-64 channels, up to
1024x1024) so that polygraphy has models it can run; --make-savedmodel adds a Keras U-Net SavedModel
(tests/tf_models.py keras_unet(depth=4, channels=16), None height and width, model.export()), built in
a child process. Both are built in a temp folder and deleted afterwards.

Each cell is the median of --repeat runs: wall seconds / peak RSS in MB (MiB; ru_maxrss of that child,
from os.wait4 in a bare-Python launcher, see LAUNCHER), after one untimed warm-up run per tool. The
ratio columns are the other tool's over shapelint's (time / RSS). PYTHONDONTWRITEBYTECODE is dropped
and bytecode cached in a temp folder, as for an installed package. A tool that fails shows
"fails: <short reason>" (its full error line is listed below the table); one that reports the model
invalid (polygraphy's lint errors, infer_shapes' shape errors) is measured and marked †.

"weights read" checks that shapelint never opens weight bytes. First under `strace -f -y` (open,
openat, openat2) when strace exists: ONNX, no external weight file may be opened (a model with
inline weights is traced as a copy with its float initializers in an external file); SavedModel, no
path under variables/ may be opened. Then without the weights: ONNX, a copy of the model file alone;
SavedModel, a copy of the folder without variables/. The findings must be the same as with the weights.

The report is printed as aligned text (or Markdown with --markdown); --out also writes the Markdown.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = "/work/shared/corpus"
PY = sys.executable
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
WARM = set()  # tools that have run once (bytecode cached, files in the page cache)
CWD = None  # every child runs in a temp folder: symbolic_shape_infer saves sym_shape_infer_temp.onnx into its
# working directory when it fails
ONNX_TOOLS = ("shapelint", "infer_shapes", "symbolic_shape_infer", "polygraphy")
SM_TOOLS = ("shapelint", "import_tensorflow")
TOOLS = ONNX_TOOLS + ("import_tensorflow",)
TITLES = {"shapelint": "shapelint", "infer_shapes": "infer_shapes strict",
          "symbolic_shape_infer": "ort symbolic_shape_infer", "polygraphy": "polygraphy check lint",
          "import_tensorflow": "import tensorflow"}

INFER = """import json, sys, time, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
t = time.perf_counter()
onnx.shape_inference.infer_shapes(m, strict_mode=True)
print(json.dumps({"call": time.perf_counter() - t}))
"""
IMPORT_TF = "import tensorflow"
KERAS_UNET = """import sys
sys.path.insert(0, sys.argv[1])
from tf_models import keras_unet
keras_unet(depth=4, channels=16).export(sys.argv[2])
"""


# A child's ru_maxrss counts its parent's peak RSS: fork/vfork hand over the parent's memory map, and
# Linux keeps its high-water mark across exec. So each command is started by this launcher, a bare
# Python (-I -S, ~9 MiB) that times it, waits for it and writes its rusage to argv[1]: the floor is the
# launcher's size, not this script's (which holds onnx, numpy and TensorFlow's protobuf modules).
LAUNCHER = """import json, os, sys, time
t = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    json.dump({"rc": os.waitstatus_to_exitcode(status), "wall": wall, "kib": usage.ru_maxrss}, f)
"""


def run(cmd, env=ENV):
    """One child run: (exit code, wall s, peak RSS MiB, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".json") as res:
        rc = subprocess.run([PY, "-I", "-S", "-c", LAUNCHER, res.name, *cmd], stdout=out, stderr=err,
                            env=env, cwd=CWD).returncode
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        try:
            r = json.load(res)
        except ValueError:  # the launcher itself failed (command not found, ...)
            return rc or 127, 0.0, 0.0, stdout, stderr
        return r["rc"], r["wall"], r["kib"] / 1024, stdout, stderr


def first_error(out: str, err: str) -> str:
    lines = [ln.strip() for ln in (err + "\n" + out).splitlines() if ln.strip()]
    for ln in reversed(lines):  # a traceback ends with the exception; polygraphy marks errors "[!]"/"[E]"
        if re.match(r"^(\[!\]|\[E\]|\w+(\.\w+)*(Error|Exception)\b)", ln) and "FAILED | Runtime" not in ln:
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def short_reason(error: str) -> str:
    """A few words for a table cell; the full line goes below the table."""
    if re.search(r"should be stored in .* but it is not regular file|external data", error):
        return "external weight file missing"
    if m := re.search(r"No module named '([\w.]+)'", error):
        return f"no module {m.group(1)}"
    text = re.sub(r"^exit -?\d+: ", "", error)
    text = re.sub(r"^(\w+\.)*(\w+(Error|Exception)):?", r"\2", text)  # onnx.onnx_cpp2py_export.x.Err -> Err
    return (text[:45] + "…") if len(text) > 46 else text


class Failed(Exception):
    pass


def measure(tool, cmd, repeat, parse):
    """Median wall s / MiB over ``repeat`` runs; parse(rc, out, err) -> extra dict or raises Failed."""
    walls, mbs, extras = [], [], []
    if tool not in WARM:  # one untimed run per tool first
        WARM.add(tool)
        run(cmd)
    for _ in range(repeat):
        rc, wall, mb, out, err = run(cmd)
        try:
            extras.append(parse(rc, out, err))
        except Exception:  # noqa: BLE001 -- any parse failure is the tool failing
            return {"error": f"exit {rc}: {first_error(out, err)}"}
        walls.append(wall)
        mbs.append(mb)
    res = {"s": statistics.median(walls), "mb": statistics.median(mbs)}
    for key in extras[0]:
        vals = [e[key] for e in extras]
        res[key] = statistics.median(vals) if isinstance(vals[0], float) else vals[0]
    return res


def parse_shapelint(rc, out, err):
    assert rc in (0, 1), "exit code"
    findings = json.loads(out)
    return {"findings": sorted(json.dumps({k: v for k, v in f.items() if k != "file"}, sort_keys=True)
                               for f in findings)}


def parse_infer(rc, out, err):
    if rc and re.search(r"ShapeInferenceError|InferenceError", err):  # strict mode found the model invalid
        return {"invalid": first_error(out, err)}
    assert rc == 0
    return {"call": float(json.loads(out.strip().splitlines()[-1])["call"])}


def parse_polygraphy(rc, out, err):
    lint = len(re.findall(r"\[E\] LINT \|", out + err))
    assert rc == 0 or (rc == 1 and lint), "polygraphy did not run"
    return {"invalid": f"{lint} lint error(s)"} if lint else {}


def parse_ok(rc, out, err):
    assert rc == 0
    return {}


def tensors(graph):
    """Every TensorProto of a graph, its Constant nodes and subgraphs."""
    yield from graph.initializer
    for n in graph.node:
        for a in n.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                yield from tensors(g)


def describe(path, name):
    import onnx

    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 -- unreadable: every tool will report it
        return {"path": path, "name": name, "nodes": "?", "ext": set(), "missing": [], "pins": []}
    locs = {next((e.value for e in t.external_data if e.key == "location"), "")
            for t in tensors(m.graph) if t.data_location == onnx.TensorProto.EXTERNAL}
    locs = {os.path.join(os.path.dirname(path), loc) for loc in locs if loc}
    inits = {t.name for t in m.graph.initializer}
    pins = []
    for i in m.graph.input:
        if i.name in inits or not i.type.tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value if d.dim_value > 0 else (1 if k == 0 else 256)
                for k, d in enumerate(i.type.tensor_type.shape.dim)]
        if any(d.dim_value <= 0 for d in i.type.tensor_type.shape.dim):
            pins.append(f"{i.name}:[{','.join(map(str, dims))}]")
    return {"path": path, "name": name, "nodes": len(m.graph.node), "ext": locs,
            "missing": sorted(loc for loc in locs if not os.path.exists(loc)), "pins": pins}


def build_unets(folder):
    """U-Nets with real weights (so polygraphy can run them): depth 4, 16-64 channels, dynamic/static H, W."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    import onnx
    from onnx_models import unet

    paths = []
    dyn, static = ("N", 1, "H", "W"), lambda n: (1, 1, n, n)
    for c, shape in ((16, dyn), (16, static(256)), (32, dyn), (32, static(512)), (64, static(1024))):
        hw = "dyn" if isinstance(shape[2], str) else f"{shape[2]}x{shape[3]}"
        path = os.path.join(folder, f"unet_d4_c{c}_{hw}.onnx")
        onnx.save(unet(depth=4, channels=c, shape=shape), path)
        paths.append((path, "(built) " + os.path.basename(path)))
    return paths


OPEN_CALL = re.compile(r'open(?:at2?)?\((?:(?:AT_FDCWD|\d+)(?:<([^>]*)>)?, )?"([^"]+)"')


def opened_paths(cmd, log):
    """Paths of the files and folders the command (and its children) opened or tried to open, via
    strace; None without strace. onnx >= 1.17 opens external data with openat2(dirfd, "name"), so
    that is traced too; -y names the dirfd, so a relative name is resolved against it."""
    if not shutil.which("strace"):
        return None
    run(["strace", "-f", "-qq", "-y", "-e", "trace=open,openat,openat2", "-o", log] + cmd)
    try:
        with open(log, errors="replace") as f:
            paths = {os.path.normpath(os.path.join(d or CWD or os.getcwd(), p)) for d, p in OPEN_CALL.findall(f.read())}
    except OSError:
        return None
    return paths or None  # nothing traced: strace cannot attach here (ptrace not allowed)


def weights_read(info, ref, tmp):
    """'no' when shapelint opens no weight file and gives the same findings once the weights are gone."""
    import onnx

    if "findings" not in ref:
        return "– (shapelint failed)"
    path, weights, notes = info["path"], {os.path.basename(w) for w in info["ext"]}, []
    base = os.path.basename(path)
    if not weights:  # weights inside the model: check an external-data copy instead, with every float
        # initializer moved out (integer ones, the shape and index constants shapelint reads, stay inline)
        from onnx.external_data_helper import set_external_data

        m, path = onnx.load(info["path"]), os.path.join(tmp, "ext_" + base)
        floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
        moved = 0
        for t in m.graph.initializer:
            if t.data_type in floats and t.HasField("raw_data"):
                set_external_data(t, os.path.basename(path) + ".data")
                moved += 1
        if not moved:
            notes.append("no float weights to move out")
        onnx.save_model(m, path)
        weights = {os.path.basename(path) + ".data"}
    opened = opened_paths(shapelint_cmd(path), os.path.join(tmp, "strace.log"))
    if opened is None:
        notes.append("strace unavailable, not traced")
    elif {os.path.basename(p) for p in opened} & weights:
        return "YES (strace)"
    bare = os.path.join(tmp, "bare", base)  # the model file alone, away from any weight file
    os.makedirs(os.path.dirname(bare), exist_ok=True)
    shutil.copyfile(path, bare)
    try:
        rc, _, _, out, err = run(shapelint_cmd(bare))
        after = parse_shapelint(rc, out, err)
    except Exception:  # noqa: BLE001
        return "? (fails without weights)"
    if after["findings"] != ref["findings"]:
        return "? (findings differ without weights)"
    return "no" + (f" ({', '.join(notes)})" if notes else "")


def find_models(paths):
    """[(path, name)] of the .onnx files and [(path, name)] of the SavedModel folders in ``paths`` (files or
    folders searched recursively; a SavedModel's own folder is not searched further). A name is the path
    relative to the folder given, prefixed with that folder's base name."""
    onnx_paths, savedmodels = [], []
    for top in paths:
        top = os.path.normpath(top)
        if os.path.isfile(top):
            if top.endswith(".onnx"):
                onnx_paths.append((top, os.path.basename(top)))
            elif os.path.basename(top) == "saved_model.pb":
                d = os.path.dirname(os.path.abspath(top))
                savedmodels.append((d, os.path.basename(d)))
            else:
                raise SystemExit(f"benchmark.py: {top}: not an .onnx file, a SavedModel or a folder")
            continue
        if not os.path.isdir(top):
            raise SystemExit(f"benchmark.py: {top}: no such file or folder")
        label = os.path.basename(os.path.abspath(top))
        for d, dirs, fs in os.walk(top):
            dirs.sort()
            rel = os.path.relpath(d, top)
            if "saved_model.pb" in fs:
                savedmodels.append((d, label if rel == "." else os.path.join(label, rel)))
                dirs[:] = []
                continue
            onnx_paths += [(os.path.join(d, f), os.path.normpath(os.path.join(label, rel, f)))
                           for f in sorted(fs) if f.endswith(".onnx")]
    return onnx_paths, savedmodels


def build_savedmodel(folder):
    """The Keras U-Net SavedModel (None spatial dims, real variables), exported by a child process so this
    one never imports TensorFlow: ([(path, name)], error line or None)."""
    path = os.path.join(folder, "keras_unet_d4_c16_dyn")
    rc, _, _, out, err = run([PY, "-c", KERAS_UNET, os.path.join(REPO, "tests"), path])
    if rc or not os.path.isfile(os.path.join(path, "saved_model.pb")):
        return [], f"(built) keras_unet_d4_c16_dyn, build: exit {rc}: {first_error(out, err)}"
    return [(path, "(built) keras_unet_d4_c16_dyn")], None


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def describe_savedmodel(path, name):
    """Nodes (after shapelint inlines the function library) and the size of variables/."""
    info = {"path": path, "name": name, "nodes": "?", "variables": os.path.join(path, "variables")}
    info["weights"] = folder_bytes(info["variables"]) if os.path.isdir(info["variables"]) else None
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    try:
        from shapelint.loaders import savedmodel_loader

        info["nodes"] = len(savedmodel_loader.load(path).nodes)
    except Exception:  # noqa: BLE001 -- unreadable, or no TensorFlow schemas: shapelint's own run reports it
        pass
    return info


def weights_read_savedmodel(info, ref, tmp):
    """'no' when shapelint opens nothing under variables/ and gives the same findings without variables/."""
    if "findings" not in ref:
        return "– (shapelint failed)"
    notes = []
    if info["weights"] is None:
        notes.append("no variables/ to trace")
    else:
        opened = opened_paths(shapelint_cmd(info["path"]), os.path.join(tmp, "strace.log"))
        var = os.path.realpath(info["variables"])
        if opened is None:
            notes.append("strace unavailable, not traced")
        elif any(os.path.realpath(p) == var or os.path.realpath(p).startswith(var + os.sep) for p in opened):
            return "YES (strace)"
    # a copy of the SavedModel without variables/ (the original is left alone)
    bare = os.path.join(tmp, "bare_savedmodels", re.sub(r"[^\w.-]", "_", info["name"]))
    shutil.rmtree(bare, ignore_errors=True)
    shutil.copytree(info["path"], bare, ignore=lambda d, names: ["variables"] if d == info["path"] else [])
    try:
        rc, _, _, out, err = run(shapelint_cmd(bare))
        after = parse_shapelint(rc, out, err)
    except Exception:  # noqa: BLE001
        return "? (fails without variables/)"
    finally:
        shutil.rmtree(bare, ignore_errors=True)
    if after["findings"] != ref["findings"]:
        return "? (findings differ without variables/)"
    return "no" + (f" ({', '.join(notes)})" if notes else "")


def shapelint_cmd(path):
    return [PY, "-m", "shapelint", "check", path, "--format", "json"]


def installed(*modules):
    """The first of ``modules`` this Python cannot import, or None (checked without importing them)."""
    for mod in modules:
        try:
            if importlib.util.find_spec(mod) is None:
                return mod
        except (ImportError, ValueError):
            return mod
    return None


def not_applicable(reason):
    return {"na": reason}


def bench_model(info, tools, repeat, polygraphy, tmp):
    path, r = info["path"], {}
    r["shapelint"] = measure("shapelint", shapelint_cmd(path), repeat, parse_shapelint)
    if "infer_shapes" in tools:
        r["infer_shapes"] = measure("infer_shapes", [PY, "-c", INFER, path], repeat, parse_infer)
    if "symbolic_shape_infer" in tools:
        missing = installed("onnxruntime", "sympy")
        out = os.path.join(tmp, "symbolic_out.onnx")
        r["symbolic_shape_infer"] = not_applicable(f"{missing} not installed") if missing else measure(
            "symbolic_shape_infer", [PY, "-m", "onnxruntime.tools.symbolic_shape_infer", "--input", path,
                                     "--output", out, "--auto_merge"], repeat, parse_ok)
    if "polygraphy" in tools:
        if not polygraphy:
            r["polygraphy"] = not_applicable("polygraphy not installed")
        elif info["missing"]:
            r["polygraphy"] = not_applicable("weights missing")
        else:
            pins = ["--input-shapes", *info["pins"]] if info["pins"] else []
            r["polygraphy"] = measure("polygraphy", [polygraphy, "check", "lint", path, *pins], repeat,
                                      parse_polygraphy)
    return r


def bench_savedmodel(info, tools, repeat):
    # own warm-up keys: the SavedModel path compiles TensorFlow's protobuf modules the ONNX runs never load
    r = {"shapelint": measure("shapelint savedmodel", shapelint_cmd(info["path"]), repeat, parse_shapelint)}
    if "import_tensorflow" in tools:
        missing = installed("tensorflow")
        r["import_tensorflow"] = not_applicable("TensorFlow not installed") if missing else measure(
            "import_tensorflow", [PY, "-c", IMPORT_TF], repeat, parse_ok)
    return r


def mib(n):
    return "–" if n is None else f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def cell(r, call=False):
    if "na" in r:
        return f"n/a ({r['na']})"
    if "error" in r:
        return f"fails: {short_reason(r['error'])}"
    s = f"{r['s']:.2f} s / {r['mb']:.0f} MB"
    if call and "call" in r:
        s += f" (call {r['call']:.3f} s)"
    if "invalid" in r:
        s += " †"
    return s


def ratio(other, base):
    """Time and RSS of ``other`` over ``base``: '1.9× / 2.4×'."""
    if not all(x and "s" in x for x in (other, base)):
        return "–"
    return f"{other['s'] / base['s']:.1f}× / {other['mb'] / base['mb']:.1f}×"


def machine(load_before):
    cpu, ram, osname = "unknown CPU", "? GiB RAM", platform.platform()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(ln.split()[1] for ln in f if ln.startswith("MemTotal:")))
        ram = f"{kib / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        with open("/etc/os-release") as f:
            pretty = next(ln.split("=", 1)[1].strip().strip('"') for ln in f if ln.startswith("PRETTY_NAME="))
        osname = f"{pretty}, Linux {platform.release()}"
    except (OSError, StopIteration):
        pass
    vers = []
    for pkg in ("onnx", "onnxruntime", "polygraphy", "onnx-graphsurgeon", "sympy", "numpy", "protobuf",
                "tensorflow", "keras"):
        try:
            vers.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            vers.append(f"{pkg} –")
    with open(os.path.join(REPO, "shapelint", "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'__version__ = "([^"]+)"', f.read())
    rev = ""
    try:
        git = ["git", "-C", REPO]
        rev = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        if rev and subprocess.run(git + ["diff", "--quiet", "HEAD", "--", "shapelint"]).returncode:
            rev += " + uncommitted changes to shapelint/"
    except OSError:
        pass
    shapelint = f"shapelint {m.group(1) if m else '?'}" + (f" (repo at {rev})" if rev else "")
    return (f"Machine: {cpu}, {os.cpu_count()} cores, {ram}, {osname}, Python {platform.python_version()}; "
            f"{shapelint}, {', '.join(vers)}. "
            f"Load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            f"(other processes share the {os.cpu_count()} cores: above ~1, times are inflated). "
            f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}.")


def command(args) -> str:
    parts = ["python scripts/benchmark.py", *args.given_paths]
    parts += [f"--savedmodel {s}" for s in args.given_savedmodels]
    parts += ["--make-savedmodel"] * args.make_savedmodel + ["--make-unets"] * args.make_unets
    parts += [f"--repeat {args.repeat}"]
    parts += [f"--tools {','.join(args.tools)}"] if set(args.tools) != set(TOOLS) else []
    parts += ["--markdown"] * args.markdown + ([f"--out {args.out}"] if args.out else [])
    return " ".join(parts)


def render(header, rows, markdown):
    """A table as Markdown or as aligned plain text."""
    if markdown:
        right = {"nodes", "variables/"}
        lines = ["| " + " | ".join(header) + " |",
                 "| " + " | ".join("---:" if h in right else "---" for h in header) + " |"]
        return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(row) for row in rows]


def report(rows, sm_rows, build_errors, args, load_before, markdown) -> str:
    onnx_tools = [t for t in ONNX_TOOLS if t in args.tools]
    sm_tools = [t for t in SM_TOOLS if t in args.tools]
    h = (lambda s: f"## {s}") if markdown else (lambda s: f"{s}\n{'=' * len(s)}")
    lines = ["# shapelint benchmark" if markdown else "shapelint benchmark", "",
             f"`{command(args)}`: median of {args.repeat} run(s), each tool a fresh process (start and imports "
             "included). Cells: wall time / peak RSS (MB = MiB); ratio: the tool's time / RSS over shapelint's.",
             "", h("ONNX"), ""]
    header = ["model", "nodes", "shapelint"]
    for t in onnx_tools[1:]:
        header += [TITLES[t], "ratio"]
    header.append("weights read")
    table, errors, invalid = [], [], []
    for info, r, wr in rows:
        row = [info["name"], info["nodes"], cell(r["shapelint"])]
        for t in onnx_tools[1:]:
            row += [cell(r[t], call=True), ratio(r[t], r["shapelint"])]
        table.append(row + [wr])
        errors += [f"- {info['name']}, {t}: {res['error']}" for t, res in r.items() if "error" in res]
        invalid += [f"- {info['name']}, {t}: {res['invalid']}" for t, res in r.items() if "invalid" in res]
    lines += render(header, table, markdown) if rows else ["(no ONNX model)"]
    lines += ["", "\"call\": the in-process time of the infer_shapes call alone. † the tool ran and reported the "
              "model invalid (listed below). n/a (weights missing): polygraphy runs the model, whose external "
              "weight file is not there. weights read: shapelint under strace, then on the model file alone, "
              "with the same findings required (see the script's docstring)."]
    lines += ["", h("TensorFlow SavedModel"), ""]
    header = ["SavedModel", "nodes", "variables/", "shapelint"]
    for t in sm_tools[1:]:
        header += [TITLES[t], "ratio"]
    header.append("weights read")
    table = []
    for info, r, wr in sm_rows:
        row = [info["name"], info["nodes"], mib(info["weights"]), cell(r["shapelint"])]
        for t in sm_tools[1:]:
            row += [cell(r[t]), ratio(r[t], r["shapelint"])]
        table.append(row + [wr])
        errors += [f"- {info['name']}, {t}: {res['error']}" for t, res in r.items() if "error" in res]
    lines += render(header, table, markdown) if sm_rows else \
        ["(no SavedModel: give a folder holding one, --savedmodel DIR or --make-savedmodel)"]
    errors += [f"- {e}" for e in build_errors]
    if sm_rows:
        lines += ["", "nodes: after shapelint inlines the function library. `import tensorflow` does not depend "
                  "on the model: it is what any TensorFlow-based check pays before it reads the model. weights "
                  "read: no path under variables/ opened (strace), and the same findings without variables/."]
    if errors:
        lines += ["", "Failures:", *errors]
    if invalid:
        lines += ["", "Reported invalid (†):", *invalid]
    return "\n".join(lines + ["", machine(load_before), ""])


def tool_list(text):
    tools = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown tool(s) {', '.join(bad)}; choose from {', '.join(TOOLS)}")
    if "shapelint" not in tools:
        raise argparse.ArgumentTypeError("shapelint must be one of the tools (the ratios are over it)")
    return tools


def main(argv=None) -> int:
    global CWD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", metavar="PATH",
                    help=".onnx files, SavedModel folders, or folders searched for both")
    ap.add_argument("--savedmodel", action="append", default=[], metavar="DIR", help="a SavedModel folder (repeatable)")
    ap.add_argument("--make-savedmodel", action="store_true",
                    help="build a Keras U-Net SavedModel in a temp folder (needs TensorFlow) and measure it too")
    ap.add_argument("--make-unets", action="store_true",
                    help="build five ONNX U-Nets with weights in a temp folder and measure them too")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per tool and model; the median is shown")
    ap.add_argument("--tools", type=tool_list, default=list(TOOLS),
                    help=f"comma-separated, shapelint included (default: {','.join(TOOLS)})")
    ap.add_argument("--markdown", action="store_true", help="print Markdown instead of aligned text")
    ap.add_argument("--out", help="also write the Markdown report to this file")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if not args.paths and not args.savedmodel and not args.make_savedmodel:
        if not os.path.isdir(DEFAULT_CORPUS):
            ap.error("no PATH given")
        args.paths = [DEFAULT_CORPUS]
    for d in args.savedmodel:
        if not os.path.isfile(os.path.join(d, "saved_model.pb")):
            ap.error(f"--savedmodel {d}: no saved_model.pb there")
    load_before = os.getloadavg()[0]
    polygraphy = shutil.which("polygraphy", path=os.path.dirname(PY)) or shutil.which("polygraphy")
    rows, sm_rows, build_errors = [], [], []
    args.given_paths, args.given_savedmodels = list(args.paths), list(args.savedmodel)  # as typed, for the report
    args.paths = [os.path.abspath(p) for p in args.paths]  # the children run in a temp folder
    args.savedmodel = [os.path.abspath(d) for d in args.savedmodel]
    onnx_paths, savedmodels = find_models(args.paths)
    savedmodels += [(d, os.path.basename(os.path.abspath(d))) for d in args.savedmodel]
    with tempfile.TemporaryDirectory() as tmp:
        CWD = os.path.join(tmp, "cwd")
        os.makedirs(CWD)
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has compiled bytecode: so does the repo,
        ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")  # but in a temp folder, not in the repo
        if args.make_unets:
            os.makedirs(os.path.join(tmp, "unets"))
            onnx_paths += build_unets(os.path.join(tmp, "unets"))
        if args.make_savedmodel:
            print("building the Keras U-Net SavedModel ...", file=sys.stderr, flush=True)
            os.makedirs(os.path.join(tmp, "savedmodels"))
            built, err = build_savedmodel(os.path.join(tmp, "savedmodels"))
            savedmodels += built
            build_errors += [err] if err else []
        for path, name in onnx_paths:
            info = describe(path, name)
            print(f"{name}: {info['nodes']} nodes ...", file=sys.stderr, flush=True)
            r = bench_model(info, args.tools, args.repeat, polygraphy, tmp)
            rows.append((info, r, weights_read(info, r["shapelint"], tmp)))
        for path, name in savedmodels:
            info = describe_savedmodel(path, name)
            print(f"{name} (SavedModel): {info['nodes']} nodes ...", file=sys.stderr, flush=True)
            r = bench_savedmodel(info, args.tools, args.repeat)
            sm_rows.append((info, r, weights_read_savedmodel(info, r["shapelint"], tmp)))
    print(report(rows, sm_rows, build_errors, args, load_before, args.markdown))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report(rows, sm_rows, build_errors, args, load_before, True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
