#!/usr/bin/env python3
"""Benchmark shapelint against the tools a user would run instead: wall time and peak memory.

    python scripts/benchmark.py [FOLDER ...] [--repeat N] [--out FILE.md] [--no-unets]

Needs the `bench` extra (onnxruntime, polygraphy, onnx-graphsurgeon; sympy for the onnxruntime
column). With no FOLDER, uses /work/shared/corpus when it exists. Every *.onnx under each FOLDER,
plus five U-Nets with real weights built from tests/onnx_models.py into a temp folder, is run
through, each in a fresh process (start + imports included, as a user runs it):

  shapelint     python -m shapelint check MODEL --format json
  infer_shapes  onnx.load(MODEL, load_external_data=False) + infer_shapes(strict_mode=True);
                the time of the infer_shapes call alone is shown as "call"
  ort symbolic  onnxruntime.tools.symbolic_shape_infer, auto_merge=True
  polygraphy    polygraphy check lint MODEL (runs the model in onnxruntime; n/a when the model's
                external weight file is missing). Dynamic dims are pinned: first dim 1, others 256.

Each cell is the median of --repeat runs: wall seconds / peak RSS in MiB (ru_maxrss of that child,
from os.wait4), after one untimed warm-up run per tool. PYTHONDONTWRITEBYTECODE is dropped and
bytecode cached in a temp folder, as for an installed package. A tool that fails shows "failed";
its first error line is listed below the table.

"weights read" checks that shapelint never opens weight bytes: under `strace -f` (open, openat,
openat2) when strace exists, the U-Nets via an external-data copy of themselves; then on a copy
of the model file alone, no weight file next to it, where the findings must be the same.
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
import time
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


def run(cmd, env=ENV):
    """One child run: (exit code, wall s, peak RSS MiB, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, wall, usage.ru_maxrss / 1024,
                out.read().decode(errors="replace"), err.read().decode(errors="replace"))


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


def opened_files(cmd, log):
    """Base names of the files the command (and its children) opened, via strace; None without strace.
    onnx >= 1.17 opens external data with openat2(dirfd, "name"), so that is traced too."""
    if not shutil.which("strace"):
        return None
    run(["strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", log] + cmd)
    try:
        with open(log, errors="replace") as f:
            names = {os.path.basename(p) for p in re.findall(r'open(?:at2?)?\((?:[^,"]+, )?"([^"]+)"', f.read())}
    except OSError:
        return None
    return names or None  # nothing traced: strace cannot attach here (ptrace not allowed)


def weights_read(info, ref, tmp):
    """'no' when shapelint opens no weight file and gives the same findings once the weights are gone."""
    import onnx

    if "findings" not in ref:
        return "– (shapelint failed)"
    path, weights, notes = info["path"], {os.path.basename(w) for w in info["ext"]}, []
    if not weights:  # weights inside the model: check an external-data copy instead
        path = os.path.join(tmp, "ext_" + info["name"])
        onnx.save_model(onnx.load(info["path"]), path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(path) + ".data", size_threshold=0)
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


def ratio(a, b):
    return f"{a['s'] / b['s']:.1f}×" if a and b and "s" in a and "s" in b else "–"


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    vers = []
    for pkg in ("shapelint", "onnx", "onnxruntime", "polygraphy", "onnx-graphsurgeon", "sympy", "numpy", "protobuf"):
        try:
            vers.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
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


def report(rows, args) -> str:
    lines = ["# shapelint benchmark", "",
             f"`python scripts/benchmark.py {' '.join(args.folders)} --repeat {args.repeat}`: median of "
             f"{args.repeat} runs, each a fresh process (start and imports included). Cells: wall s / peak RSS MiB.",
             "", "| model | nodes | shapelint | infer_shapes strict | ort symbolic | polygraphy lint "
             "| polygraphy / shapelint | infer_shapes / shapelint | weights read |",
             "| --- | ---: | --- | --- | --- | --- | ---: | ---: | --- |"]
    errors = []
    for info, r, wr in rows:
        lines.append(f"| {info['name']} | {info['nodes']} | {cell(r['shapelint'])} | {cell(r['infer'], True)} "
                     f"| {cell(r['symbolic'], True)} | {cell(r['polygraphy'])} "
                     f"| {ratio(r['polygraphy'], r['shapelint'])} | {ratio(r['infer'], r['shapelint'])} | {wr} |")
        errors += [f"- {info['name']}, {tool}: {res['error']}" for tool, res in r.items() if res and "error" in res]
    lines += ["", "\"call\": the in-process time of the inference call alone. † polygraphy ran and reported lint "
              "errors. polygraphy pins dynamic dims (first 1, others 256); n/a: the external weight file is missing. "
              "weights read: shapelint run under strace (open, openat, openat2; the U-Nets as external-data "
              "copies), then on the model file alone with no weight file, with the same findings required."]
    if errors:
        lines += ["", "Failures:", *errors]
    return "\n".join(lines + ["", machine(), ""])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", default=[DEFAULT_CORPUS] if os.path.isdir(DEFAULT_CORPUS) else [])
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and model; the median is shown")
    ap.add_argument("--out", help="also write the markdown to this file")
    ap.add_argument("--no-unets", action="store_true", help="do not build and measure the U-Nets")
    args = ap.parse_args(argv)
    polygraphy = shutil.which("polygraphy", path=os.path.dirname(PY)) or shutil.which("polygraphy")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has compiled bytecode: so does the repo,
        ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")  # but in a temp folder, not in the repo
        paths = sorted(os.path.join(d, f) for folder in args.folders for d, _, fs in os.walk(folder)
                       for f in fs if f.endswith(".onnx"))
        if not args.no_unets:
            os.makedirs(os.path.join(tmp, "unets"))
            paths += build_unets(os.path.join(tmp, "unets"))
        for path in paths:
            info = describe(path)
            print(f"{info['name']}: {info['nodes']} nodes ...", file=sys.stderr, flush=True)
            r = bench_model(info, args.repeat, polygraphy)
            rows.append((info, r, weights_read(info, r["shapelint"], tmp)))
    text = report(rows, args)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
