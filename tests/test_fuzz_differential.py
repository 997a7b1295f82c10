"""Differential fuzzing: random graphs, shapelint against onnxruntime.

Hypothesis draws small graphs on an input [1, C, H, W] (H and W each symbolic or fixed) from
Conv, MaxPool/AveragePool, ConvTranspose, Resize (nearest), Pad, Slice, Concat and Add, with
random attributes; branches are merged with Concat/Add, so mismatches happen. Each graph is
saved with every tensor as a graph output and run in onnxruntime at a few sampled sizes. At
each size:

- where onnxruntime runs, every tensor's shape that shapelint inferred (symbolically, evaluated
  at the size) equals the real one, ``contract(...).runs(size)`` is True, and ``lint`` pinned to
  the size reports no error;
- where onnxruntime fails, ``contract(...).runs(size)`` is False or None, and the pinned ``lint``
  reports an error (SL001/SL003/SL004).

``runs() is None`` means shapelint abstains; it may do so only where some tensor is empty at
that size (an empty tensor reaching an op whose behaviour on it was not measured), else it is a
disagreement too. Every tensor's shape is compared as inferred with the input pinned to the size,
and the symbolic shapes evaluated at the size wherever every pool window fits its input. Any
other difference is one, and the test fails with the graph's spec, which :func:`build` turns back into the model
(see tests/test_fuzz_reproducers.py). Known open shapelint bugs and onnxruntime quirks are
matched narrowly (on onnxruntime's own message), counted under ``known:…`` in the printed
summary, and each has a reproducer in tests/test_fuzz_reproducers.py. onnxruntime runs in a
worker process: on some graphs it aborts the whole process (counted as ``known:ort-crashed``).

CI runs 300 fixed, derandomized examples (~12 s). The long run (≥ 1,000 graphs, fresh random
examples, a summary printed at the end)::

    SHAPELINT_FUZZ_EXAMPLES=2000 PYTHONPATH=. pytest tests/test_fuzz_differential.py -s

``SHAPELINT_FUZZ_SEED=N`` makes a long run repeatable; ``SHAPELINT_FUZZ_LOG=FILE`` appends the
spec of every graph onnxruntime crashed on.

Out of scope, counted but not compared: the verdict (not the shapes) at a size where some tensor
other than a Conv/ConvTranspose output is empty (a dim ≤ 0 after Slice, Pad, Resize or a pool).
onnxruntime's ops treat empty tensors each their own way (Concat skips them, Resize refuses to
scale 0 to non-zero, ...) and shapelint does not model them.

What the generator leaves out, and why (each is a runtime-validity rule, not a size rule):
pool pads are below the kernel (onnxruntime rejects pad ≥ kernel at session creation);
AveragePool has no dilations (only from opset 19); every Conv/ConvTranspose has group 1; a Conv
or MaxPool with auto_pad=SAME_UPPER/SAME_LOWER has no dilation (onnxruntime rejects it for Conv,
"Dilation not supported for AutoPadType::SAME_UPPER", and for MaxPool it computes the SAME pads
without the dilation: outputs below ceil(i/s), "padding values must be non-negative" or
"Calculated output dimension is negative"; shapelint follows the spec there, see
tests/test_fuzz_reproducers.py); a pool with auto_pad=SAME_* has no stride above its kernel
(onnxruntime then computes the pad (ceil(i/s) − 1)·s + k − i, negative for k=1, s=2 at every even
i, and fails with "padding values must be non-negative"; shapelint says it runs).
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import multiprocessing
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from onnx_models import RNG, Builder
from shapelint.analysis import POOL_OPS, contract, domain
from shapelint.infer import infer
from shapelint.lint import analyse, lint
from shapelint.symbolic import Invalid, evaluate

EXAMPLES = int(os.environ.get("SHAPELINT_FUZZ_EXAMPLES", "0"))
LONG = EXAMPLES > 0
SIZES = st.integers(1, 64)
STATS: collections.Counter = collections.Counter()


# --------------------------------------------------------------------------- the generator


def _pair(lo, hi):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


def _quad(lo, hi):
    return st.tuples(*(st.integers(lo, hi),) * 4)


@st.composite
def _conv(draw, x):
    if draw(st.booleans()):  # the common case: a size-preserving conv (k odd, stride 1, pads k//2)
        k = draw(st.sampled_from([1, 3]))
        return ("Conv", [x], dict(kernel_shape=[k, k], strides=[1, 1], dilations=[1, 1], pads=[k // 2] * 4,
                                  cout=draw(st.integers(1, 3))))
    k = draw(_pair(1, 4))
    attrs = dict(kernel_shape=list(k), strides=list(draw(_pair(1, 3))), dilations=list(draw(_pair(1, 2))))
    auto_pad = draw(st.sampled_from(["NOTSET"] * 5 + ["SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad == "NOTSET":
        attrs["pads"] = list(draw(_quad(0, 2)))
    else:
        attrs["auto_pad"] = auto_pad
        if auto_pad != "VALID":  # onnxruntime: "Dilation not supported for AutoPadType::SAME_UPPER"
            attrs["dilations"] = [1, 1]
    return ("Conv", [x], dict(attrs, cout=draw(st.integers(1, 3))))


@st.composite
def _pool(draw, x):
    op = draw(st.sampled_from(["MaxPool", "AveragePool"]))
    k = draw(_pair(1, 4))
    attrs = dict(kernel_shape=list(k), strides=list(draw(_pair(1, 3))), ceil_mode=draw(st.integers(0, 1)))
    auto_pad = draw(st.sampled_from(["NOTSET"] * 5 + ["SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad == "NOTSET":
        # onnxruntime: "Pad should be smaller than kernel"
        attrs["pads"] = [draw(st.integers(0, k[a % 2] - 1)) for a in range(4)]
    else:
        attrs["auto_pad"] = auto_pad
        if auto_pad != "VALID":  # onnxruntime: "padding values must be non-negative" when k < s
            attrs["strides"] = [min(s, k_) for s, k_ in zip(attrs["strides"], k)]
    if op == "MaxPool" and auto_pad in ("NOTSET", "VALID") and draw(st.booleans()):
        attrs["dilations"] = list(draw(_pair(1, 2)))
    return (op, [x], attrs)


@st.composite
def _convtranspose(draw, x):
    k, s, d = draw(_pair(1, 4)), draw(_pair(1, 3)), draw(_pair(1, 2))
    attrs = dict(kernel_shape=list(k), strides=list(s), dilations=list(d))
    auto_pad = draw(st.sampled_from(["NOTSET"] * 4 + ["SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad != "NOTSET":
        attrs["auto_pad"] = auto_pad
    if auto_pad == "NOTSET" or draw(st.integers(0, 9)) == 0:  # auto_pad with pads: SL001
        attrs["pads"] = list(draw(_quad(0, 3)))
    if draw(st.booleans()):
        # valid is 0 … max(s, d) − 1; one draw in ten may be out of range (SL001)
        top = [max(s[a], d[a]) - 1 for a in range(2)]
        if draw(st.integers(0, 9)) == 0:
            top = [t + 1 for t in top]
        attrs["output_padding"] = [draw(st.integers(0, top[a])) for a in range(2)]
    if draw(st.integers(0, 4)) == 0:
        attrs["output_shape"] = list(draw(_pair(1, 40)))
    return ("ConvTranspose", [x], dict(attrs, cout=draw(st.integers(1, 3))))


SCALES = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]


@st.composite
def _resize(draw, x):
    if draw(st.booleans()):
        return ("Resize", [x], dict(scales=list(draw(st.tuples(st.sampled_from(SCALES), st.sampled_from(SCALES))))))
    return ("Resize", [x], dict(sizes=list(draw(_pair(1, 40)))))


@st.composite
def _pad(draw, x):
    return ("Pad", [x], dict(pads=list(draw(_quad(-2, 3)))))  # [H_begin, W_begin, H_end, W_end]


_INDEX = st.one_of(st.integers(-6, 12), st.sampled_from([-(1 << 62), 1 << 62, (1 << 31) - 1]))


@st.composite
def _slice(draw, x):
    axes = draw(st.sampled_from([[2], [3], [2, 3], [3, 2], [-1], [-2]]))
    steps = [draw(st.sampled_from([1, 1, 1, 2, 3, -1, -2])) for _ in axes]
    return ("Slice", [x], dict(axes=axes, starts=[draw(_INDEX) for _ in axes], ends=[draw(_INDEX) for _ in axes],
                               steps=steps))


UNARY = [_conv, _pool, _convtranspose, _resize, _pad, _slice]


@st.composite
def graphs(draw):
    """A graph spec: plain data (printed by hypothesis on failure, rebuilt by :func:`build`)."""
    c = draw(st.integers(1, 3))
    h = draw(st.one_of(st.just("H"), SIZES))
    w = draw(st.one_of(st.just("W"), SIZES))
    n_ops = draw(st.integers(2, 10))
    ops = []
    n_tensors = 1  # tensor 0 is the input
    for _ in range(n_ops):
        # prefer recent tensors (chains), but any earlier one can branch
        src = draw(st.one_of(st.just(n_tensors - 1), st.integers(0, n_tensors - 1)))
        if n_tensors >= 2 and draw(st.integers(0, 2)) == 0:
            other = draw(st.integers(0, n_tensors - 1))
            op = draw(st.sampled_from(["Concat", "Concat", "Add"]))
            attrs = dict(axis=draw(st.sampled_from([1] * 6 + [2, 3, -1]))) if op == "Concat" else {}
            ops.append((op, [src, other], attrs))
        else:
            ops.append(draw(draw(st.sampled_from(UNARY))(src)))
        n_tensors += 1
    opset = draw(st.sampled_from([13, 17]))
    sizes = draw(st.lists(st.tuples(SIZES, SIZES), min_size=2, max_size=4, unique=True))
    return dict(C=c, H=h, W=w, opset=opset, ops=ops, sizes=sizes)


# --------------------------------------------------------------------------- spec → model


def build(spec) -> onnx.ModelProto:
    """The ONNX model of a spec, with real weights and every tensor a graph output."""
    b = Builder(spec["opset"])
    names, chans = ["x"], [spec["C"]]
    i64 = lambda v: b.const(np.array(v, np.int64), "i")  # noqa: E731
    for op, srcs, attrs in spec["ops"]:
        attrs = dict(attrs)
        xs = [names[j] for j in srcs]
        cin = chans[srcs[0]]
        if op in ("Conv", "ConvTranspose"):
            cout = attrs.pop("cout")
            k = attrs["kernel_shape"]
            wshape = (cout, cin, *k) if op == "Conv" else (cin, cout, *k)
            w = b.const(RNG.standard_normal(wshape).astype(np.float32) * 0.1, "w")
            y, c = b.node(op, [xs[0], w], **attrs), cout
        elif op in ("MaxPool", "AveragePool"):
            y, c = b.node(op, xs, **attrs), cin
        elif op == "Resize":
            if "scales" in attrs:
                sc = b.const(np.array([1, 1, *attrs["scales"]], np.float32), "scales")
                y = b.node("Resize", [xs[0], "", sc], mode="nearest")
            else:
                sz = i64([1, cin, *attrs["sizes"]])
                y = b.node("Resize", [xs[0], "", "", sz], mode="nearest")
            c = cin
        elif op == "Pad":
            hb, wb, he, we = attrs["pads"]
            y, c = b.node("Pad", [xs[0], i64([0, 0, hb, wb, 0, 0, he, we])], mode="constant"), cin
        elif op == "Slice":
            y = b.node("Slice", [xs[0], i64(attrs["starts"]), i64(attrs["ends"]), i64(attrs["axes"]),
                                 i64(attrs["steps"])])
            c = cin
        elif op == "Concat":
            y = b.node("Concat", xs, axis=attrs["axis"])
            c = chans[srcs[0]] + chans[srcs[1]] if attrs["axis"] == 1 else cin
        elif op == "Add":
            y = b.node("Add", xs)
            c = max(chans[srcs[0]], chans[srcs[1]])
        else:  # pragma: no cover
            raise AssertionError(op)
        names.append(y)
        chans.append(c)
    m = b.model("x", (1, spec["C"], spec["H"], spec["W"]), names[-1])
    del m.graph.output[:]
    m.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names[1:])
    return m


def _ort_outputs(model_bytes: bytes, sizes) -> dict:
    """onnxruntime at each (h, w): {(h, w): (True, {name: shape}) or (False, message)}."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    try:
        sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several exception types
        msg = "session: " + str(e).splitlines()[0][:300]
        if _truncated_by_onnx_inference(onnx.load_from_string(model_bytes)):
            msg = "session (onnx-infer-convtranspose-rank): " + msg
        return {hw: (False, msg) for hw in sizes}
    names = [o.name for o in sess.get_outputs()]
    c = sess.get_inputs()[0].shape[1]
    out = {}
    for hw in sizes:
        try:
            ys = sess.run(None, {"x": np.ones((1, c, *hw), np.float32)})
            out[hw] = (True, {n: tuple(y.shape) for n, y in zip(names, ys)})
        except Exception as e:
            out[hw] = (False, str(e).splitlines()[0][:300])
    return out


_POOL = None


@atexit.register
def _stop_pool():
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)


def ort_outputs(model, sizes):
    """:func:`_ort_outputs` in a worker process: onnxruntime aborts the whole process on some
    graphs (a failed std::clamp assertion in Slice, see tests/test_fuzz_reproducers.py). Returns
    None when the worker died or hung."""
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return _POOL.submit(_ort_outputs, model.SerializeToString(), list(sizes)).result(timeout=120)
    except (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError):
        _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None
        return None


# --------------------------------------------------------------------------- the comparison

# Open shapelint bugs the fuzzer found, each with a strict-xfail reproducer in
# tests/test_fuzz_reproducers.py: counted (and printed), not failed on, so the fuzzer keeps
# looking for new ones. Each is matched on onnxruntime's own error text, so nothing else hides here.
def _concat_of_empty(model, shapes) -> bool:
    """Runtime quirk: onnxruntime's Concat drops empty inputs before it compares shapes, so
    Concat([1,1,0,1], [1,1,1,1], axis=1) runs and gives [1,2,1,1] where the spec (and shapelint)
    says the non-concat axis 2 mismatches (0 vs 1)."""
    return any(n.op_type == "Concat" and any(0 in shapes.get(i, (1,)) for i in n.input) for n in model.graph.node)


def _backward_slice_to_sentinel(model) -> bool:
    """Runtime quirk: onnxruntime's Slice kernel reads an end of INT32_MAX/INT64_MAX with a
    negative step as "down to element 0" (shapelint follows the kernel), but onnx's shape
    inference, which onnxruntime runs at session creation on static dims, clamps it to n − 1
    as the spec says: Slice(starts=0, ends=INT32_MAX, steps=-1) of a static 2 is 1 for the
    kernel and 0 for the session, so a later Add with the 2 fails only at session creation."""
    values = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in model.graph.initializer}
    return any(n.op_type == "Slice" and len(n.input) >= 5
               and any(st < 0 and e in ((1 << 31) - 1, (1 << 63) - 1)
                       for st, e in zip(values.get(n.input[4], []), values.get(n.input[2], [])))
               for n in model.graph.node)


def _truncated_by_onnx_inference(model) -> bool:
    """(Run in the worker: onnx's shape inference aborts the process on some graphs.)
    Runtime quirk, not a shapelint bug: onnx's convTransposeShapeInference stops adding dims
    when an output_shape entry is below the static input size ("TODO: throw exception?"), so a
    ConvTranspose that onnxruntime's kernel runs gets a rank-2 or rank-3 shape, and a later node
    that checks its input's rank makes session creation fail."""
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in list(inferred.graph.value_info)
             + list(inferred.graph.output) if vi.type.tensor_type.HasField("shape")}
    return any(n.op_type == "ConvTranspose" and ranks.get(n.output[0], 4) < 4 for n in model.graph.node)



def disagreements(spec, workdir) -> list:
    """Every difference between shapelint and onnxruntime on one spec, as readable lines (empty:
    they agree). Updates STATS."""
    model = build(spec)
    path = os.path.join(workdir, "g.onnx")
    onnx.save(model, path)
    graph, inf = analyse(path)
    c = contract(inf)
    pool_windows_fit = domain(inf, POOL_OPS)
    unpinned = lint(path)
    invalid = [f for f in unpinned.findings if f.rule == "SL001" and f.severity == "error"]
    dynamic = [d for d in ("H", "W") if spec[d] in ("H", "W")]
    # the sizes actually fed: a fixed dim is its own size
    sizes = sorted({(h if spec["H"] == "H" else spec["H"], w if spec["W"] == "W" else spec["W"])
                    for h, w in spec["sizes"]})
    bad = []
    outputs = [o.name for o in model.graph.output]
    results = ort_outputs(model, sizes)
    if results is None:
        STATS["known:ort-crashed"] += 1
        STATS["graphs"] += 1
        if os.environ.get("SHAPELINT_FUZZ_LOG"):
            with open(os.environ["SHAPELINT_FUZZ_LOG"], "a") as f:
                f.write(f"ort-crashed {spec!r}\n")
        return []
    session_error = next((got for ok, got in results.values() if not ok and got.startswith("session")), "")
    known = ("onnx-infer-convtranspose-rank" if "(onnx-infer-convtranspose-rank)" in session_error else
             "ort-slice-end-sentinel" if session_error and _backward_slice_to_sentinel(model) else None)
    if known:
        STATS["known:" + known] += 1
        STATS["graphs"] += 1
        return []
    for (h, w), (ok, got) in results.items():
        env = {"H": h, "W": w}
        STATS["sizes"] += 1
        STATS["ort_ran" if ok else "ort_failed"] += 1
        where = f"at H={h}, W={w}: onnxruntime " + ("ran" if ok else f"failed: {got}")
        if ok and _concat_of_empty(model, got):
            STATS["known:ort-concat-skips-empty"] += 1
            continue
        evaluated = {name: _evaluate(inf.shape(name), env) for name in outputs}
        pinned = infer(graph, {"x": (1, spec["C"], h, w)}) if dynamic else inf
        has_empty = any(isinstance(d, int) and d <= 0 for shape in pinned.shapes.values() if shape for d in shape)
        empty = [name for name in outputs if inf.producer[name].op not in ("Conv", "ConvTranspose")
                 and isinstance(evaluated[name], tuple) and any(d is not None and d <= 0 for d in evaluated[name])]
        verdicts = []
        # 1. the contract (dynamic models; size-independent SL001 errors count as a predicted failure)
        if dynamic:
            pred = False if invalid else c.runs(env)
            if pred is None:
                STATS["contract_abstains"] += 1
                if not has_empty:  # the contract abstains only where an empty tensor meets an unmeasured op
                    verdicts.append(f"{where}; contract.runs=None with no empty tensor at this size")
            elif pred is not ok:
                verdicts.append(f"{where}; contract.runs={pred}")
        # 2. lint pinned to the size: an error iff onnxruntime fails
        res = lint(path, {"x": (1, spec["C"], h, w)}) if dynamic else unpinned
        errors = [(f.rule, f.node, f.message) for f in res.findings if f.severity == "error"]
        if bool(errors) == ok:
            verdicts.append(f"{where}; pinned lint errors: {errors or 'none'}")
        if verdicts and empty:
            STATS["empty_tensor_verdicts"] += 1  # out of scope: see the module docstring
        else:
            bad += verdicts
        if not ok:
            continue
        # 3. every tensor's shape: inferred at the pinned size, always; and the symbolic shapes
        # evaluated there, wherever every pool window fits its input (below, onnxruntime's pools
        # truncate: the symbolic dims use floor, and the contract evaluates those sizes pinned)
        symbolic_exact = not dynamic or all(env[n] in ss for n, ss in pool_windows_fit.items() if n in env)
        STATS["shapes_pinned_only"] += not symbolic_exact
        for name, real in got.items():
            STATS["tensors"] += 1
            at_size = _evaluate(pinned.shape(name), {})
            if at_size != real:
                bad.append(f"{where}; tensor {name} ({inf.producer[name].op}): onnxruntime {real}, shapelint "
                           f"pinned to the size {at_size}")
            elif symbolic_exact and evaluated[name] != real:
                shape = inf.shape(name)
                bad.append(f"{where}; tensor {name} ({inf.producer[name].op}): onnxruntime {real}, shapelint "
                           f"{evaluated[name]} = {None if shape is None else [str(d) for d in shape]}")
    STATS["graphs"] += 1
    return bad


def _evaluate(shape, env):
    try:
        return None if shape is None else tuple(None if d is None else evaluate(d, env) for d in shape)
    except Invalid as e:
        return f"Invalid({e})"


def _check(spec):
    with tempfile.TemporaryDirectory(prefix="shapelint_fuzz_") as d:
        bad = disagreements(spec, d)
    assert not bad, f"spec={spec!r}\n" + "\n".join(bad[:12])


def test_fuzz_differential():
    """The property over many graphs; then the run itself must not have been degenerate (graphs
    that fail at every size, or never), or it would prove nothing."""
    STATS.clear()
    n = EXAMPLES or 300
    run = settings(max_examples=n, derandomize=not LONG, deadline=None, database=None, print_blob=True,
                   suppress_health_check=list(HealthCheck))(given(graphs())(_check))
    if LONG and os.environ.get("SHAPELINT_FUZZ_SEED"):
        run = seed(int(os.environ["SHAPELINT_FUZZ_SEED"]))(run)
    run()
    print(f"\nfuzz_differential: {dict(STATS)}")
    assert STATS["graphs"] >= n // 2, STATS
    assert STATS["ort_ran"] >= STATS["sizes"] // 5 and STATS["ort_failed"] >= STATS["sizes"] // 20, STATS
