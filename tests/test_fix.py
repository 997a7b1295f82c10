"""shapelint fix: the fixed model runs in onnxruntime where the original failed, gives the same
outputs where the original ran, is clean for SL003, and its external weights stay untouched."""

import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from shapelint.analysis import contract
from shapelint.fix import fix
from shapelint.lint import analyse, lint
from tests.onnx_models import RNG, unet
from tests.support import fast_subset

VARIANTS = [dict(depth=2), dict(depth=3, down="maxpool", k_down=2), dict(depth=2, merge="add"),
            dict(depth=2, up="resize"), dict(depth=3, k_up=3, up_pads=(1, 1, 1, 1)), dict(depth=2, stride=3, k_up=3)]


def _session(m):
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _fix(src, dst, *extra):
    return subprocess.run([sys.executable, "-m", "shapelint", "fix", str(src), *extra, *(["-o", str(dst)] if dst else [])],
                          capture_output=True, text=True)


def _ort(sess, x):
    try:
        return sess.run(None, {"x": x})[0]
    except Exception as e:  # onnxruntime raises several exception types
        return str(e).splitlines()[0]


@pytest.mark.runtime
@pytest.mark.parametrize("kw", fast_subset(VARIANTS, {0}, ids=[str(v) for v in VARIANTS]))
def test_fixed_model_runs_everywhere_and_matches_where_the_original_ran(kw, tmp_path):
    """Dynamic sizes, every H in 1…130 (W = H + 2): the fixed model runs wherever the original
    ran, with the same outputs; it runs at every size where the original failed at a merge SL003
    named; and its own contract is onnxruntime's verdict at every size."""
    m = unet(**kw)
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    flagged = {f.node for f in lint(str(src)).findings if f.rule == "SL003"}
    p = _fix(src, dst)
    assert p.returncode == 0 and "crop and pad" in p.stdout and "re-linted, 0 SL001/SL003 finding(s) left" in p.stdout
    relint = lint(str(dst))
    assert not [f for f in relint.findings if f.rule == "SL003"]
    assert not [n for n in relint.notes if "not checked" in n or "unknown" in n], relint.notes  # still exact
    graph, inf = analyse(str(dst))
    c = contract(inf)
    s1, s2 = _session(m), _session(onnx.load(str(dst)))
    failed_at_merge, bad = [], []
    for h in range(1, 131):
        x = RNG.standard_normal((1, 1, h, h + 2)).astype(np.float32)
        y1, y2 = _ort(s1, x), _ort(s2, x)
        if not isinstance(y1, str):
            if isinstance(y2, str) or y1.shape != y2.shape or not np.allclose(y1, y2, atol=1e-5):
                bad.append(f"H={h}: the original ran, the fixed model gives {y2 if isinstance(y2, str) else y2.shape}")
        elif any(f"({n})" in y1 or f"'{n}'" in y1 for n in flagged):
            failed_at_merge.append(h)
            if isinstance(y2, str):
                bad.append(f"H={h}: the original failed at a merge ({y1}); the fixed model fails too: {y2}")
        if c.runs({"H": h, "W": h + 2}) is not (not isinstance(y2, str)):
            bad.append(f"H={h}: the fixed model's contract says {c.runs({'H': h, 'W': h + 2})}, onnxruntime: "
                       f"{y2 if isinstance(y2, str) else y2.shape}")
    assert not bad, "\n".join(bad[:20])
    assert len(failed_at_merge) >= 40, failed_at_merge


FIXED = [dict(depth=2), dict(depth=3, merge="add"), dict(depth=2, stride=3, k_up=3),
         dict(depth=2, k_up=3, up_pads=(1, 1, 1, 1), output_padding=(1, 1)), dict(depth=3, down="maxpool", k_down=2)]


@pytest.mark.runtime
@pytest.mark.parametrize("kw", fast_subset(FIXED, {0}, ids=[str(v) for v in FIXED]))
def test_fixed_sizes_get_output_padding_or_pads_and_run(kw, tmp_path):
    """Fixed input sizes (H 9…30, W = H + 3): where onnxruntime fails, the fix changes only the
    ConvTransposes' output_padding / pads (no node added), the result runs with the input's
    spatial size and is clean for SL003; where it runs, there is nothing to fix."""
    bad, fixed_count = [], 0
    for h in range(9, 31):
        shape = (1, 1, h, h + 3)
        m = unet(shape=shape, **kw)
        src, dst = tmp_path / f"m{h}.onnx", tmp_path / f"fixed{h}.onnx"
        onnx.save(m, str(src))
        x = RNG.standard_normal(shape).astype(np.float32)
        try:
            before = _session(m).run(None, {"x": x})[0]
        except Exception:
            before = None
        lines = fix(str(src), str(dst))
        if before is not None:
            if lines or dst.exists():
                bad.append(f"H={h}: runs in onnxruntime, yet the fix changed {lines}")
            continue
        fixed_count += 1
        if not lines or any("crop and pad" in line for line in lines) or not all(
                "output_padding" in line or "pads" in line for line in lines):
            bad.append(f"H={h}: expected attribute fixes, got {lines}")
            continue
        out = onnx.load(str(dst))
        if [n.op_type for n in out.graph.node] != [n.op_type for n in m.graph.node]:
            bad.append(f"H={h}: nodes changed")
        # the attributes written are the ones the SL003 suggestion names, for every ConvTranspose it names
        suggested = dict(re.findall(r"ConvTranspose '(\w+)': set ([^()]*?) \(ONNX attributes\)",
                                    " ".join(f.suggestion for f in lint(str(src)).findings if f.rule == "SL003")))
        for n in out.graph.node:
            if n.name in suggested:
                attrs = {"output_padding": [0, 0], "pads": [0, 0, 0, 0], **{a.name: list(a.ints) for a in n.attribute}}
                written = (f"output_padding={attrs['output_padding']}" if "pads=" not in suggested[n.name]
                           else f"pads={attrs['pads']}, output_padding={attrs['output_padding']}")
                if written != suggested[n.name]:
                    bad.append(f"H={h}: {n.name}: fix wrote {written}, SL003 suggested {suggested[n.name]}")
        if not suggested:
            bad.append(f"H={h}: no SL003 suggestion names a ConvTranspose attribute")
        try:
            y = _session(out).run(None, {"x": x})[0]
        except Exception as e:
            bad.append(f"H={h}: the fixed model fails in onnxruntime: {str(e).splitlines()[0]} ({lines})")
            continue
        if y.shape[2:] != shape[2:]:
            bad.append(f"H={h}: output {y.shape}")
        if [f for f in lint(str(dst)).findings if f.rule == "SL003"]:
            bad.append(f"H={h}: SL003 left after {lines}")
    assert not bad, "\n".join(bad)
    assert fixed_count >= 5, fixed_count


@pytest.mark.runtime
def test_fixed_size_resize_falls_back_to_crop_and_pad(tmp_path):
    """A Resize has no size attribute to change: at fixed sizes too the fix crops and pads."""
    m = unet(shape=(1, 1, 37, 37), depth=2, up="resize")
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    lines = fix(str(src), str(dst))
    assert lines and all("crop and pad" in line for line in lines), lines
    x = RNG.standard_normal((1, 1, 37, 37)).astype(np.float32)
    assert _session(onnx.load(str(dst))).run(None, {"x": x})[0].shape == (1, 2, 37, 37)


@pytest.mark.slow
@pytest.mark.runtime
def test_external_weights_stay_byte_for_byte_and_diff_writes_nothing(tmp_path):
    m = unet(depth=2, channels=16)
    src = tmp_path / "m.onnx"
    onnx.save_model(m, str(src), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
                    size_threshold=64)
    digest = hashlib.sha256((tmp_path / "w.bin").read_bytes()).hexdigest()
    p = _fix(src, None, "--diff")
    assert p.returncode == 0 and "crop and pad" in p.stderr and p.stdout.startswith("--- a/m.onnx\n+++ b/m.onnx\n@@ ")
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "w.bin"]
    (tmp_path / "out").mkdir()
    p = _fix(src, tmp_path / "out" / "fixed.onnx")  # elsewhere: the weights would not be found
    assert p.returncode == 2 and "same folder" in p.stderr and not os.listdir(tmp_path / "out")
    p = _fix(src, tmp_path / "fixed.onnx")
    assert p.returncode == 0
    assert hashlib.sha256((tmp_path / "w.bin").read_bytes()).hexdigest() == digest
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))  # with its weights, from the same w.bin
    x = RNG.standard_normal((1, 1, 13, 13)).astype(np.float32)
    assert _session(fixed).run(None, {"x": x})[0].shape == (1, 16, 13, 13)


def _merge_model(op, inputs, consts=(), **attrs):
    """x [1, 1, H, W] → Conv k3 s2 p1 → ConvTranspose k2 s2 (u, 2·ceil(H/2)), then op(inputs…)
    with x, u and the given constants."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(RNG.standard_normal((1, 1, 3, 3)).astype(np.float32), "w")
    wt = numpy_helper.from_array(RNG.standard_normal((1, 1, 2, 2)).astype(np.float32), "wt")
    nodes = [helper.make_node("Conv", ["x", "w"], ["d"], name="down", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("ConvTranspose", ["d", "wt"], ["u"], name="up", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node(op, list(inputs), ["y"], name="merge", **attrs)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [w, wt] + [numpy_helper.from_array(c, n) for n, c in consts])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.runtime
@pytest.mark.parametrize("case", ["sum-with-broadcast-gate", "concat-on-height"])
def test_fix_keeps_broadcast_inputs_and_the_concat_axis(case, tmp_path):
    """Sum(gate [1,1,1,1], x, u): the gate broadcasts, so it is neither the reference nor fitted
    (u is fitted to x); Concat(x, u, axis=2): only W is fitted, never the concat axis. At every
    (H, W) in 1…12 the fixed model runs and its output has the original's shape wherever the
    original ran (the same values too), and the one fixed-up shape elsewhere: (H, W) — where x is 1
    on an axis it broadcasts, as in the original — or (H + 2·ceil(H/2), W)."""
    if case == "sum-with-broadcast-gate":
        m = _merge_model("Sum", ["g", "x", "u"], [("g", np.full((1, 1, 1, 1), 0.5, np.float32))])
    else:
        m = _merge_model("Concat", ["x", "u"], axis=2)
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    lines = fix(str(src), str(dst))
    assert len(lines) == 1 and "crop and pad 'u'" in lines[0] and "'x'" in lines[0], lines
    assert ("axes [3]" in lines[0]) == (case == "concat-on-height"), lines
    s1, s2 = _session(m), _session(onnx.load(str(dst)))
    for h in range(1, 13):
        for w in range(1, 13):
            x = RNG.standard_normal((1, 1, h, w)).astype(np.float32)
            y1, y2 = _ort(s1, x), _ort(s2, x)
            assert not isinstance(y2, str), (h, w, y2)
            if case == "sum-with-broadcast-gate":  # x of size 1 broadcasts against u (2): kept so
                want = (1, 1, h if h > 1 else 2, w if w > 1 else 2)
            else:
                want = (1, 1, h + 2 * -(-h // 2), w)
            assert y2.shape == want, (h, w, y2.shape)
            if not isinstance(y1, str):
                assert y1.shape == y2.shape and np.allclose(y1, y2, atol=1e-5), (h, w)


@pytest.mark.runtime
def test_fix_names_never_collide_with_the_model_s(tmp_path):
    """A model that already has names like the fix's own (e.g. fixed before, then edited): the
    inserted nodes and initializers get a prefix no name in the model has, every name stays unique,
    and the result runs."""
    m = unet(depth=2)
    taken = [n for n in m.graph.node if n.op_type == "Conv"][0]
    old = taken.output[0]
    for n in m.graph.node:  # rename a tensor, and a node, to the fix's first prefix
        n.input[:] = ["shapelint_fit_0_size" if i == old else i for i in n.input]
    taken.output[0] = "shapelint_fit_0_size"
    taken.name = "shapelint_fit_1/pad"
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    lines = fix(str(src), str(dst))
    assert len(lines) == 2, lines
    out = onnx.load(str(dst))
    names = [o for n in out.graph.node for o in n.output] + [t.name for t in out.graph.initializer]
    assert len(names) == len(set(names))  # every tensor name assigned once
    node_names = [n.name for n in out.graph.node]
    assert len(node_names) == len(set(node_names))
    assert {n.name.split("/")[0] for n in out.graph.node if n.name.startswith("shapelint_fit_") and n is not taken} \
        >= {"shapelint_fit_2", "shapelint_fit_3"}
    x = RNG.standard_normal((1, 1, 13, 15)).astype(np.float32)
    assert _session(out).run(None, {"x": x})[0].shape == (1, 2, 13, 15)


def test_fix_usage_and_unreadable_model_are_one_line_exit_2(tmp_path):
    """No -o and no --diff; a file that is not a model: one line on stderr naming the problem, exit
    2, nothing written (the same path as `contract` and `explain`)."""
    src = tmp_path / "m.onnx"
    onnx.save(unet(depth=2), str(src))
    p = _fix(src, None)
    assert p.returncode == 2 and p.stderr.strip() == "shapelint: fix: give -o FIXED.onnx, or --diff", p.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    for cmd in ("fix", "contract", "explain"):
        extra = ["-o", str(tmp_path / "out.onnx")] if cmd == "fix" else []
        r = subprocess.run([sys.executable, "-m", "shapelint", cmd, str(bad), *extra], capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "bad.onnx" in lines[0], (cmd, r.stderr)
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.runtime
def test_embedded_weights_are_written_back_exactly_and_held_once(tmp_path, monkeypatch):
    """Large embedded weights are moved out of the model while it is fixed and written back straight
    from memory (as extra ``graph`` fields, which protobuf merges): every initializer's bytes are
    unchanged, and the fixed model computes what the original computes where it ran."""
    import shapelint.fix as fix_mod

    monkeypatch.setattr(fix_mod, "WEIGHT_BYTES", 256)  # every conv weight of this U-Net is "large"
    m = unet(depth=2, channels=16)  # dynamic H and W: fixed with a run-time crop and pad
    big = [t.name for t in m.graph.initializer if len(t.raw_data or b"") > 256]
    assert len(big) >= 4
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    before = {t.name: (t.data_type, list(t.dims), t.raw_data) for t in m.graph.initializer}
    out = fix_mod.run(str(src), str(dst))
    assert out.written
    fixed = onnx.load(str(dst))
    after = {t.name: (t.data_type, list(t.dims), t.raw_data) for t in fixed.graph.initializer}
    assert {k: after[k] for k in before} == before  # every original initializer, byte for byte
    x = RNG.standard_normal((1, 1, 64, 64)).astype(np.float32)
    np.testing.assert_array_equal(_session(fixed).run(None, {"x": x})[0], _session(m).run(None, {"x": x})[0])
    x = RNG.standard_normal((1, 1, 61, 63)).astype(np.float32)  # a size the original fails at: now runs
    assert not isinstance(_ort(_session(fixed), x), str)
