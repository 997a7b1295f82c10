"""Helpers shared by tests/test_zoo.py and scripts/make_zoo.py (which checks, when it writes the zoo,
that a graph-only model refilled by `with_random_weights` gives the verdicts measured on the real
one). Needs onnx, numpy and onnxruntime; never torch."""

from __future__ import annotations

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.join(HERE, "..", "zoo")
VERDICTS = os.path.join(ZOO, "verdicts.json")


def with_random_weights(src, dst=None, seed=0):
    """The graph-only model `src` with every stripped tensor (initializer, or value of a Constant
    node) refilled with seeded random values of its dims and dtype, embedded. Saved to `dst` when
    given; the ModelProto is returned either way, and onnxruntime can run it."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    m = onnx.load(src, load_external_data=False)

    def refill(t):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            return t
        dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
        arr = (rng.standard_normal(tuple(t.dims)) * 0.05).astype(dtype)
        return numpy_helper.from_array(arr, t.name)

    def refill_graph(g):
        for k, t in enumerate(g.initializer):
            g.initializer[k].CopyFrom(refill(t))
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    a.t.CopyFrom(refill(a.t))
                elif a.type == onnx.AttributeProto.GRAPH:
                    refill_graph(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sub in a.graphs:
                        refill_graph(sub)

    refill_graph(m.graph)
    for f in m.functions:
        for n in f.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    a.t.CopyFrom(refill(a.t))
    if dst is not None:
        onnx.save(m, dst)
    return m


def session(model, threads=1):
    """A CPU onnxruntime session (one thread, quiet) on a ModelProto, serialized bytes or a path."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def error_line(e) -> str:
    """First line of an onnxruntime error, with the fixed boilerplate around the node's message cut
    ('[ONNXRuntimeError] : 6 : ... Non-zero status code returned while running ', and the source file
    and C++ function that raised), at most 200 characters."""
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    m = re.match(r"\[ONNXRuntimeError\] : \d+ : (\w+) : Non-zero status code returned while running (.*)", s)
    if m:
        s = f"{m.group(1)}: {m.group(2)}"
    # 'Status Message: /onnxruntime_src/.../element_wise_ops.h:583 void onnxruntime::F(ptrdiff_t) msg' -> 'msg'
    s = re.sub(r"Status Message: \S+\.(?:h|cc):\d+ (?:[^()]*\([^()]*\)(?: const)? )?", "Status Message: ", s)
    return s[:200]


def run_once(sess, channels, h, w, seed=0):
    """'ok' or the error line of one batch-1 run at H x W (random normal input, seeded)."""
    import numpy as np

    inp = sess.get_inputs()[0]
    x = np.random.default_rng(seed).standard_normal((1, channels, h, w)).astype(np.float32)
    try:
        sess.run(None, {inp.name: x})
    except Exception as e:  # onnxruntime raises its own Fail / RuntimeException / InvalidArgument types
        return error_line(e)
    return "ok"


def verdict(v) -> str:
    """'ok' or 'fail' of one stored size entry ("ok" or {"verdict": "fail", "error": ...})."""
    if isinstance(v, dict):
        v = v.get("verdict")
    return "ok" if v == "ok" else "fail"


def run_sizes(model_path, channels, sizes, timeout=1800):
    """{"HxW": "ok" | error line} for every (H, W) of `sizes`, run in a child process on the model
    file at `model_path`, so that a size at which onnxruntime kills its process (SqueezeNet's pools
    at small sizes raise SIGFPE in it) is recorded as such ("onnxruntime crashed: SIGFPE") and the
    other sizes still run, in a fresh child."""
    import json
    import subprocess
    import sys

    out, todo = {}, [tuple(s) for s in sizes]
    while todo:
        # this file run as a script (it imports nothing of its own), from the tests or scripts/make_zoo.py
        p = subprocess.run([sys.executable, os.path.abspath(__file__)],
                           input=json.dumps({"model": os.fspath(model_path), "channels": channels, "sizes": todo}),
                           capture_output=True, text=True, timeout=timeout)
        for line in p.stdout.splitlines():
            size, _, result = line.partition("\t")
            if size == "!session":
                raise RuntimeError(f"onnxruntime cannot load {model_path}: {result}")
            out[size] = result
        todo = [s for s in todo if f"{s[0]}x{s[1]}" not in out]
        if p.returncode == 0 or not todo:
            if todo:
                raise RuntimeError(f"worker stopped early: {p.stderr[-500:]}")
            break
        # the process died at the first size it did not report
        h, w = todo.pop(0)
        out[f"{h}x{w}"] = f"onnxruntime crashed: {_death(p.returncode)}"
    return out


def _death(returncode: int) -> str:
    """How a worker process ended: the signal's name (SIGFPE) or its exit code."""
    import signal

    sig = -returncode
    try:
        return signal.Signals(sig).name if sig > 0 else f"exit code {returncode}"
    except ValueError:
        return f"signal {sig}"


def run_shape(sess, shape, seed=0):
    """'ok' and the shapes of every output, or the error line, of one run on a random normal input
    of ``shape`` (seeded)."""
    import numpy as np

    inp = sess.get_inputs()[0]
    x = np.random.default_rng(seed).standard_normal(tuple(shape)).astype(np.float32)
    try:
        outs = sess.run(None, {inp.name: x})
    except Exception as e:  # onnxruntime raises its own Fail / RuntimeException / InvalidArgument types
        return error_line(e), None
    return "ok", [list(o.shape) for o in outs]


def run_shapes(model_path, shapes, timeout=1800):
    """{"d0,d1,...": ("ok", output shapes) | (error line, None)} for every input shape of `shapes`
    (any rank: the 1-D audio zoo's [N, L] and [N, 1, L]), in a child process as run_sizes does; a
    shape at which onnxruntime's process dies is ("onnxruntime crashed: SIGNAL", None)."""
    import json
    import subprocess
    import sys

    key = lambda s: ",".join(map(str, s))  # noqa: E731
    out, todo = {}, [list(s) for s in shapes]
    while todo:
        p = subprocess.run([sys.executable, os.path.abspath(__file__)],
                           input=json.dumps({"model": os.fspath(model_path), "shapes": todo}),
                           capture_output=True, text=True, timeout=timeout)
        for line in p.stdout.splitlines():
            shape, _, result = line.partition("\t")
            if shape == "!session":
                raise RuntimeError(f"onnxruntime cannot load {model_path}: {result}")
            res = json.loads(result)
            out[shape] = (res[0], res[1])
        todo = [s for s in todo if key(s) not in out]
        if p.returncode == 0 or not todo:
            if todo:
                raise RuntimeError(f"worker stopped early: {p.stderr[-500:]}")
            break
        out[key(todo.pop(0))] = (f"onnxruntime crashed: {_death(p.returncode)}", None)
    return out


def _worker():
    import json
    import sys

    job = json.load(sys.stdin)
    try:
        sess = session(job["model"])
    except Exception as e:
        print(f"!session\t{error_line(e)}", flush=True)
        return
    for shape in job.get("shapes", ()):
        print(f"{','.join(map(str, shape))}\t{json.dumps(run_shape(sess, shape))}", flush=True)
    for h, w in job.get("sizes", ()):
        print(f"{h}x{w}\t{run_once(sess, job['channels'], h, w)}", flush=True)


if __name__ == "__main__":  # the child process of run_sizes
    _worker()
