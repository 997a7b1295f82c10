#!/usr/bin/env python3
"""Benchmark shapelint against the tools a user would run instead: wall time and peak memory.

    python scripts/benchmark.py [FOLDER ...] [--repeat N] [--out FILE.md] [--no-unets] [--no-savedmodels]

Needs the `bench` extra (onnxruntime, polygraphy, onnx-graphsurgeon; sympy for the onnxruntime
column) and, for the SavedModel table, TensorFlow. With no FOLDER, uses /work/shared/corpus when it
exists. Each run is a fresh process (start + imports included, as a user runs it).

ONNX table: every *.onnx under each FOLDER, plus five U-Nets with real weights built from
tests/onnx_models.py into a temp folder:

  shapelint     python -m shapelint check MODEL --format json
  infer_shapes  onnx.load(MODEL, load_external_data=False) + infer_shapes(strict_mode=True);
                the time of the infer_shapes call alone is shown as "call"
  ort symbolic  onnxruntime.tools.symbolic_shape_infer, auto_merge=True
  polygraphy    polygraphy check lint MODEL (runs the model in onnxruntime; n/a when the model's
                external weight file is missing). Dynamic dims are pinned: first dim 1, others 256.

SavedModel table: every SavedModel folder (one holding saved_model.pb) under each FOLDER, plus a
Keras U-Net with None spatial dims (keras_unet(depth=4, channels=16) from tests/tf_models.py,
model.export(), built in a child process) in a temp folder:

  shapelint          python -m shapelint check SAVEDMODEL --format json
  import tensorflow  python -c "import tensorflow" (what any TensorFlow-based check costs before
                     it reads the model; the issue's target: shapelint at most a tenth of it)

Each cell is the median of --repeat runs: wall seconds / peak RSS in MiB (ru_maxrss of that child,
from os.wait4 in a bare-Python launcher, see LAUNCHER), after one untimed warm-up run per tool.
PYTHONDONTWRITEBYTECODE is dropped and bytecode cached in a temp folder, as for an installed
package. A tool that fails shows "failed"; its first error line is listed below the table.

"weights read" checks that shapelint never opens weight bytes. First under `strace -f -y` (open,
openat, openat2) when strace exists: ONNX, no external weight file may be opened (a model with
inline weights, like the U-Nets, is traced as a copy with its float initializers in an external
file); SavedModel, no path under variables/ may be opened. Then without the weights: ONNX, a copy
of the model file alone; SavedModel, a copy of the folder without variables/. The findings must be
the same as with the weights.
"""

from __future__ import annotations

import argparse
import datetime
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

INFER = """import json, sys, time, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
t = time.perf_counter()
onnx.shape_inference.infer_shapes(m, strict_mode=True)
print(json.dumps({"call": time.perf_counter() - t}))
"""
SYMBOLIC = """import json, sys, time, onnx
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
m = onnx.load(sys.argv[1], load_external_data=False)
t = time.perf_counter()
SymbolicShapeInference.infer_shapes(m, auto_merge=True)
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
                            env=env).returncode
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
            return ln[:200]
    return lines[-1][:200] if lines else "no output"


def measure(tool, cmd, repeat, parse):
    """Median wall s / MiB over ``repeat`` runs; parse(rc, out, err) -> extra dict or raises."""
    walls, mbs, extras = [], [], []
    if tool not in WARM:  # one untimed run per tool first
        WARM.add(tool)
        run(cmd)
    for _ in range(repeat):
        rc, wall, mb, out, err = run(cmd)
        try:
            extras.append(parse(rc, out, err))
        except Exception:
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


def parse_call(rc, out, err):
    assert rc == 0
    return {"call": float(json.loads(out.strip().splitlines()[-1])["call"])}


def parse_polygraphy(rc, out, err):
    lint = len(re.findall(r"\[E\] LINT \|", out + err))
    assert rc == 0 or (rc == 1 and lint), "polygraphy did not run"
    return {"lint_errors": lint}


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


def describe(path):
    import onnx

    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # unreadable: every tool will report it
        return {"path": path, "name": os.path.basename(path), "nodes": "?", "ext": set(), "missing": [], "pins": []}
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
    return {"path": path, "name": os.path.basename(path), "nodes": len(m.graph.node), "ext": locs,
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
        paths.append(path)
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
            paths = {os.path.normpath(os.path.join(d or os.getcwd(), p)) for d, p in OPEN_CALL.findall(f.read())}
    except OSError:
        return None
    return paths or None  # nothing traced: strace cannot attach here (ptrace not allowed)


def opened_files(cmd, log):
    """Base names of the files the command opened (see opened_paths); None without strace."""
    paths = opened_paths(cmd, log)
    return None if paths is None else {os.path.basename(p) for p in paths}


def weights_read(info, ref, tmp):
    """'no' when shapelint opens no weight file and gives the same findings once the weights are gone."""
    import onnx

    if "findings" not in ref:
        return "– (shapelint failed)"
    path, weights, notes = info["path"], {os.path.basename(w) for w in info["ext"]}, []
    if not weights:  # weights inside the model: check an external-data copy instead, with every float
        # initializer moved out (integer ones, the shape and index constants shapelint reads, stay inline)
        from onnx.external_data_helper import set_external_data

        m, path = onnx.load(info["path"]), os.path.join(tmp, "ext_" + info["name"])
        floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
        for t in m.graph.initializer:
            if t.data_type in floats and t.HasField("raw_data"):
                set_external_data(t, os.path.basename(path) + ".data")
        onnx.save_model(m, path)
        weights = {os.path.basename(path) + ".data"}
    opened = opened_files(shapelint_cmd(path), os.path.join(tmp, "strace.log"))
    if opened is None:
        notes.append("strace unavailable, not traced")
    elif opened & weights:
        return "YES (strace)"
    bare = os.path.join(tmp, "bare", info["name"])  # the model file alone, away from any weight file
    os.makedirs(os.path.dirname(bare), exist_ok=True)
    shutil.copyfile(path, bare)
    try:
        rc, _, _, out, err = run(shapelint_cmd(bare))
        after = parse_shapelint(rc, out, err)
    except Exception:
        return "? (fails without weights)"
    if after["findings"] != ref["findings"]:
        return "? (findings differ without weights)"
    return "no" + (f" ({', '.join(notes)})" if notes else "")


def find_models(folders):
    """(*.onnx files, SavedModel folders) under the folders; a SavedModel's own folder is not searched further."""
    onnx_paths, savedmodels = [], []
    for folder in folders:
        for d, dirs, fs in os.walk(folder):
            dirs.sort()
            if "saved_model.pb" in fs:
                name = os.path.relpath(d, folder)
                savedmodels.append((d, os.path.basename(os.path.abspath(d)) if name == "." else name))
                dirs[:] = []
                continue
            onnx_paths += [os.path.join(d, f) for f in fs if f.endswith(".onnx")]
    return sorted(onnx_paths), sorted(savedmodels)


def build_savedmodels(folder):
    """The Keras U-Net SavedModel (None spatial dims, real variables), exported by a child process so this
    one never imports TensorFlow: [(path, name)], and the error line when it could not be built."""
    path = os.path.join(folder, "keras_unet_d4_c16_dyn")
    rc, _, _, out, err = run([PY, "-c", KERAS_UNET, os.path.join(REPO, "tests"), path])
    if rc or not os.path.isfile(os.path.join(path, "saved_model.pb")):
        return [], f"keras_unet_d4_c16_dyn, build: exit {rc}: {first_error(out, err)}"
    return [(path, "keras_unet_d4_c16_dyn")], None


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
    except Exception:  # unreadable, or no TensorFlow schemas: shapelint's own run reports it
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
    bare = os.path.join(tmp, "bare_savedmodels", info["name"].replace(os.sep, "_"))
    shutil.rmtree(bare, ignore_errors=True)
    shutil.copytree(info["path"], bare, ignore=lambda d, names: ["variables"] if d == info["path"] else [])
    try:
        rc, _, _, out, err = run(shapelint_cmd(bare))
        after = parse_shapelint(rc, out, err)
    except Exception:
        return "? (fails without variables/)"
    finally:
        shutil.rmtree(bare, ignore_errors=True)
    if after["findings"] != ref["findings"]:
        return "? (findings differ without variables/)"
    return "no" + (f" ({', '.join(notes)})" if notes else "")


def parse_ok(rc, out, err):
    assert rc == 0
    return {}


def bench_savedmodel(info, repeat):
    # own warm-up keys: the SavedModel path compiles TensorFlow's protobuf modules the ONNX runs never load
    return {"shapelint": measure("shapelint savedmodel", shapelint_cmd(info["path"]), repeat, parse_shapelint),
            "import_tf": measure("import tensorflow", [PY, "-c", IMPORT_TF], repeat, parse_ok)}


def mib(n):
    return "–" if n is None else f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def cell(r, call=False):
    if r is None:
        return "n/a (no weights)"
    if "error" in r:
        return "failed (reads weights)" if re.search(r"should be stored in|external data", r["error"]) else "failed"
    s = f"{r['s']:.2f} s / {r['mb']:.0f} MB"
    if call and "call" in r:
        s += f" (call {r['call']:.3f} s)"
    if r.get("lint_errors"):
        s += " †"
    return s


def ratio(a, b, key="s"):
    return f"{a[key] / b[key]:.1f}×" if a and b and key in a and key in b else "–"


def machine(load_before):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    vers = []
    for pkg in ("shapelint", "onnx", "onnxruntime", "polygraphy", "onnx-graphsurgeon", "sympy", "numpy", "protobuf",
                "tensorflow", "keras"):
        try:
            vers.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            if pkg == "shapelint":  # run from the repo, not installed: the version in its source
                with open(os.path.join(REPO, "shapelint", "__init__.py"), encoding="utf-8") as f:
                    m = re.search(r'__version__ = "([^"]+)"', f.read())
                vers.append(f"shapelint {m.group(1) if m else '?'} (source)")
            else:
                vers.append(f"{pkg} –")
    try:
        git = ["git", "-C", REPO]
        rev = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        if rev and subprocess.run(git + ["diff", "--quiet", "HEAD", "--", "shapelint"]).returncode:
            rev += " + uncommitted changes to shapelint/"
    except OSError:
        rev = ""
    return (f"Machine: {platform.platform()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"{', '.join(vers)}{f'; shapelint repo at {rev}' if rev else ''}. "
            f"Load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            f"(other processes share the {os.cpu_count()} cores: above ~1, times are inflated). "
            f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}.")


def shapelint_cmd(path):
    return [PY, "-m", "shapelint", "check", path, "--format", "json"]


def bench_model(info, repeat, polygraphy):
    path = info["path"]
    r = {"shapelint": measure("shapelint", shapelint_cmd(path), repeat, parse_shapelint),
         "infer": measure("infer", [PY, "-c", INFER, path], repeat, parse_call),
         "symbolic": measure("symbolic", [PY, "-c", SYMBOLIC, path], repeat, parse_call),
         "polygraphy": None}  # None: n/a, its weights are missing
    if not info["missing"] and polygraphy:
        pins = ["--input-shapes", *info["pins"]] if info["pins"] else []
        r["polygraphy"] = measure("polygraphy", [polygraphy, "check", "lint", path, *pins], repeat, parse_polygraphy)
    elif not info["missing"]:
        r["polygraphy"] = {"error": "polygraphy not found (pip install polygraphy onnx-graphsurgeon)"}
    return r


def command(args) -> str:
    parts = ["python scripts/benchmark.py", *args.folders, f"--repeat {args.repeat}"]
    parts += [f"--out {args.out}"] if args.out else []
    parts += ["--no-unets"] * args.no_unets + ["--no-savedmodels"] * args.no_savedmodels
    return " ".join(parts)


def target(r):
    """The issue's target: shapelint's wall time at most a tenth of `import tensorflow`'s."""
    if not all(x and "s" in x for x in (r["shapelint"], r["import_tf"])):
        return "–"
    return "met" if r["shapelint"]["s"] * 10 <= r["import_tf"]["s"] else "NOT met"


def report(rows, sm_rows, sm_errors, args, load_before) -> str:
    lines = ["# shapelint benchmark", "",
             f"`{command(args)}`: median of {args.repeat} runs, each a fresh process (start and imports "
             "included). Cells: wall s / peak RSS MiB.", "", "## ONNX", "",
             "| model | nodes | shapelint | infer_shapes strict | ort symbolic | polygraphy lint "
             "| polygraphy / shapelint | infer_shapes / shapelint | weights read |",
             "| --- | ---: | --- | --- | --- | --- | ---: | ---: | --- |"]
    errors = []
    for info, r, wr in rows:
        lines.append(f"| {info['name']} | {info['nodes']} | {cell(r['shapelint'])} | {cell(r['infer'], True)} "
                     f"| {cell(r['symbolic'], True)} | {cell(r['polygraphy'])} "
                     f"| {ratio(r['polygraphy'], r['shapelint'])} | {ratio(r['infer'], r['shapelint'])} | {wr} |")
        errors += [f"- {info['name']}, {tool}: {res['error']}" for tool, res in r.items() if res and "error" in res]
    if not rows:
        lines.append("| (no ONNX model) | | | | | | | | |")
    lines += ["", "\"call\": the in-process time of the inference call alone. † polygraphy ran and reported lint "
              "errors. polygraphy pins dynamic dims (first 1, others 256); n/a: the external weight file is missing. "
              "weights read: shapelint run under strace (open, openat, openat2; the U-Nets as copies with their float "
              "initializers in an external file), then on the model file alone with no weight file, with the same "
              "findings required. Peak RSS is measured from a bare-Python launcher (~9 MiB, about what "
              "`python -c pass` takes), not from this script, whose memory a child's ru_maxrss would include."]
    if not args.no_savedmodels:
        lines += ["", "## TensorFlow SavedModel", "",
                  "| SavedModel | nodes | variables/ | shapelint | python -c \"import tensorflow\" "
                  "| time ratio (import / shapelint) | RSS ratio | target: shapelint ≤ 1/10 of the import | weights read |",
                  "| --- | ---: | ---: | --- | --- | ---: | ---: | --- | --- |"]
        for info, r, wr in sm_rows:
            lines.append(f"| {info['name']} | {info['nodes']} | {mib(info['weights'])} | {cell(r['shapelint'])} "
                         f"| {cell(r['import_tf'])} | {ratio(r['import_tf'], r['shapelint'])} "
                         f"| {ratio(r['import_tf'], r['shapelint'], 'mb')} | {target(r)} | {wr} |")
            errors += [f"- {info['name']}, {tool}: {res['error']}" for tool, res in r.items() if res and "error" in res]
        if not sm_rows:
            lines.append("| (no SavedModel) | | | | | | | | |")
        errors += [f"- {e}" for e in sm_errors]
        lines += ["", "nodes: after shapelint inlines the function library. `import tensorflow` does not depend on "
                  "the model: it is the cost any TensorFlow-based check pays before it reads the model. "
                  "weights read: shapelint run under strace (open, openat, openat2), where no path under "
                  "variables/ may be opened, then on a copy of the folder without variables/, with the same "
                  "findings required."]
    if errors:
        lines += ["", "Failures:", *errors]
    return "\n".join(lines + ["", machine(load_before), ""])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", default=[DEFAULT_CORPUS] if os.path.isdir(DEFAULT_CORPUS) else [])
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and model; the median is shown")
    ap.add_argument("--out", help="also write the markdown to this file")
    ap.add_argument("--no-unets", action="store_true", help="do not build and measure the ONNX U-Nets")
    ap.add_argument("--no-savedmodels", action="store_true",
                    help="no SavedModel table (no Keras U-Net built, no SavedModel in the folders measured)")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    polygraphy = shutil.which("polygraphy", path=os.path.dirname(PY)) or shutil.which("polygraphy")
    rows, sm_rows, sm_errors = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has compiled bytecode: so does the repo,
        ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")  # but in a temp folder, not in the repo
        paths, savedmodels = find_models(args.folders)
        if not args.no_unets:
            os.makedirs(os.path.join(tmp, "unets"))
            paths += build_unets(os.path.join(tmp, "unets"))
        if not args.no_savedmodels:
            print("building the Keras U-Net SavedModel ...", file=sys.stderr, flush=True)
            os.makedirs(os.path.join(tmp, "savedmodels"))
            built, err = build_savedmodels(os.path.join(tmp, "savedmodels"))
            savedmodels += built
            sm_errors += [err] if err else []
        for path in paths:
            info = describe(path)
            print(f"{info['name']}: {info['nodes']} nodes ...", file=sys.stderr, flush=True)
            r = bench_model(info, args.repeat, polygraphy)
            rows.append((info, r, weights_read(info, r["shapelint"], tmp)))
        for path, name in savedmodels if not args.no_savedmodels else ():
            info = describe_savedmodel(path, name)
            print(f"{info['name']} (SavedModel): {info['nodes']} nodes ...", file=sys.stderr, flush=True)
            r = bench_savedmodel(info, args.repeat)
            sm_rows.append((info, r, weights_read_savedmodel(info, r["shapelint"], tmp)))
    text = report(rows, sm_rows, sm_errors, args, load_before)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
