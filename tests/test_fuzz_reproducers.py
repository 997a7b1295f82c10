"""Minimal reproducers of what the differential fuzzer (tests/test_fuzz_differential.py) found.

- Fixed in shapelint: each spec is a failing example the fuzzer shrank; shapelint and
  onnxruntime now agree on it (every tensor's shape, contract.runs and the pinned lint).
- Found open by the fuzzers and fixed since (contract gaps, a slow SizeSet, a loader crash): each
  is now a plain regression test.
- Runtime quirks the fuzzer works around: each test confirms onnxruntime still behaves so; if it
  changes, the fuzzer's workaround (named in the test) can go.
"""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest

from shapelint.analysis import contract, unknowns
from shapelint.lint import analyse, lint
from tests.onnx_models import run
from tests.test_fuzz_differential import _ort_outputs, build, disagreements


def _spec(ops, H="H", W="W", C=1, opset=13, sizes=((1, 1), (2, 3), (7, 5))):
    return dict(C=C, H=H, W=W, opset=opset, ops=list(ops), sizes=list(sizes))


def _slice(axes, starts, ends, steps):
    return ("Slice", [0], dict(axes=axes, starts=starts, ends=ends, steps=steps))


# =========================================================================== fixed in shapelint

FIXED = {
    # a start below 0 with a negative step clamps to 0, not −1 (infer._slice_dim): x[:, :, -5:-10:-1]
    # of H=3 is 1 row, shapelint said 0
    "slice_backward_start_below_zero": _spec([_slice([2], [-2**62], [-2**62], [-1])]),
    "slice_backward_start_minus_5": _spec([_slice([2], [-5], [-10], [-1])], sizes=((1, 1), (3, 3), (9, 2))),
    # onnxruntime reads an end of INT32_MAX as "to the end in the step's direction": backwards
    # down to element 0 (shapelint clamped it to n − 1 and said 0 rows)
    "slice_backward_to_int32_max": _spec([_slice([2, 3], [0, 3], [2**31 - 1, 2**63 - 1], [-1, -2])]),
    # forwards, INT32_MAX is the axis' size: min(2147483647, H) made the Concat below undecided,
    # and contract.runs said True where onnxruntime fails at every size
    "slice_forward_to_int32_max_then_concat": _spec([_slice([2], [1], [2**31 - 1], [1]), ("Concat", [1, 0], dict(axis=1))],
                                                    sizes=((2, 1), (5, 4))),
    # a backwards slice of an empty axis is empty (the start fix above first made it 1)
    "slice_backward_of_empty_axis": _spec([_slice([2], [0], [0], [1]), ("Slice", [1], dict(axes=[2], starts=[-2**62], ends=[0], steps=[-1]))]),
    # pools with auto_pad=VALID: onnxruntime applies ceil_mode and truncates (k2 s2 on 1 → 1);
    # shapelint used the Conv formula (floor, no ceil_mode)
    "avgpool_valid_truncates": _spec([("AveragePool", [0], dict(kernel_shape=[2, 1], strides=[2, 1], ceil_mode=0,
                                                              auto_pad="VALID"))], H=1, sizes=((1, 1), (1, 4))),
    "maxpool_valid_ceil_mode": _spec([("MaxPool", [0], dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, auto_pad="VALID"))],
                                     H=5, W="W", sizes=((1, 3), (1, 7), (1, 8))),
}


@pytest.mark.runtime
@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_fuzzer_finding(name, tmp_path):
    bad = disagreements(FIXED[name], str(tmp_path))
    assert not bad, "\n".join(bad)


# =========================================================================== open in shapelint


def _verdicts(spec, tmp_path, hs):
    """{(h, w): (contract.runs, onnxruntime ran)} for a dynamic spec."""
    path = str(tmp_path / "m.onnx")
    model = build(spec)
    onnx.save(model, path)
    c = contract(analyse(path)[1])
    res = _ort_outputs(model.SerializeToString(), hs)
    return {hw: (c.runs({"H": hw[0], "W": hw[1]}), res[hw][0]) for hw in hs}


@pytest.mark.runtime
def test_fixed_contract_ignores_convtranspose_output_shape(tmp_path):
    """ConvTranspose(k=1, s=1, output_shape=[1, 2]) on [1, 1, H, W]: onnxruntime accepts an
    output W only up to (W−1)·s + K + s − 1 = W, so it fails at W = 1 ("Explicit output_shape is
    inconsistent ... Expected input size 2 but got 1") and runs at W ≥ 2. Expected
    contract.runs({H: 1, W: 1}) False; got True. lint pinned to (1, 1, 1, 1) does report SL001."""
    spec = _spec([("ConvTranspose", [0], dict(kernel_shape=[1, 1], strides=[1, 1], dilations=[1, 1],
                                              pads=[0, 0, 0, 0], output_shape=[1, 2], cout=1))])
    v = _verdicts(spec, tmp_path, [(1, 1), (1, 2), (1, 5)])
    assert v[(1, 2)] == (True, True)  # the part that already agrees
    assert v[(1, 1)][1] is False
    assert v[(1, 1)][0] is False, v


@pytest.mark.runtime
def test_fixed_contract_ignores_fixed_size_conv_too_small(tmp_path):
    """Resize(sizes=[1, 1]) then Conv(k=[1, 2]) on [1, 1, H, W]: the Conv's output W is 0 at
    every size, onnxruntime fails ("Invalid input shape: {1,1}"); lint (unpinned) reports SL004.
    Expected contract.runs False everywhere; got True."""
    spec = _spec([("Resize", [0], dict(sizes=[1, 1])),
                  ("Conv", [1], dict(kernel_shape=[1, 2], strides=[1, 1], dilations=[1, 1], pads=[0, 0, 0, 0], cout=1))])
    path = str(tmp_path / "m.onnx")
    onnx.save(build(spec), path)
    assert any(f.rule == "SL004" for f in lint(path).findings)
    v = _verdicts(spec, tmp_path, [(4, 4), (9, 7)])
    assert all(ran is False for _, ran in v.values())
    assert all(pred is False for pred, _ in v.values()), v


@pytest.mark.runtime
def test_fixed_contract_runs_ignores_undecided_merges(tmp_path):
    """Concat(x[:, :, 1:2147483646], x) on [1, 1, H, W]: H − 1 vs H never agree (onnxruntime fails
    at every H); solve() leaves the merge undecided ("the sizes settle only above H = 2147483648")
    and runs() returned True. Now the undecided axes are evaluated at the size: False."""
    spec = _spec([_slice([2], [1], [2**31 - 2], [1]), ("Concat", [1, 0], dict(axis=1))])
    path = str(tmp_path / "m.onnx")
    onnx.save(build(spec), path)
    assert contract(analyse(path)[1]).undecided
    v = _verdicts(spec, tmp_path, [(2, 1), (5, 4)])
    assert all(ran is False for _, ran in v.values())
    assert all(pred is False for pred, _ in v.values()), v


@pytest.mark.runtime
@pytest.mark.parametrize("div", ["div", "floordiv"])
def test_fixed_fpad_of_a_signed_difference(div, tmp_path):
    """F.pad(x1, [dW // 2, dW − dW // 2, 0, 0]) with dW = W − 37 (x1 = Resize to [36, 37], the
    pad reference the input [1, 1, 58, W]): the pads' sum is dW whatever ``//`` rounds to, so the
    Pad's output is [1, 1, 36, W] at every W ≥ 1 where onnxruntime runs; the W part of the pads
    is empty below W = 37 only as a crop. shapelint gives the Pad no shape and reports an unknown
    (SL005; the contract abstains) for ``//`` exported as Div (truncating) and as torch's Div
    plus fix-up (Xor(Less, Less), Not(Equal(remainder, 0)), Cast, Sub); through float
    (Cast → Div → Floor → Cast) it is exact. Fix: carry trunc(a / b) of a signed a as a value
    (or recognize the fix-up as floor(a / b)), so lo + (d − lo) folds to d. Fixed: trunc(a/b) of
    either sign is floor(max(a, 0)/b) − floor(max(−a, 0)/b), and an undecided comparison's value is
    its indicator expression (values.indicator)."""
    spec = _spec([("Resize", [0], dict(sizes=[36, 37])),
                  ("FPad", [1, 0], dict(ext="const", const_node=True, div=div, kind="diff", axes=[3]))],
                 H=58, sizes=((58, 5), (58, 40)))
    path = str(tmp_path / "m.onnx")
    model = build(spec)
    onnx.save(model, path)
    _, inf = analyse(path)
    res = _ort_outputs(model.SerializeToString(), [(58, 5), (58, 40)])
    pad = model.graph.output[-1].name
    assert [res[hw][1][pad] for hw in res] == [(1, 1, 36, 5), (1, 1, 36, 40)]
    assert not unknowns(inf), [u.text() for u in unknowns(inf)]
    assert [str(d) for d in inf.shape(pad)] == ["1", "1", "36", "W"]


@pytest.mark.runtime
def test_fixed_bcast_equal_point(tmp_path):
    """Fuzzer: 'known:contract-bcast-equal-point'. Concat(x + P, x, axis=1), x [1, 1, H, W], P a
    constant [1, 1, 1, 4] (a position embedding): x + P is [1, 1, H, bcast(4, W)] and runs at
    W ∈ {1, 4}; the Concat needs bcast(4, W) = W, so the model runs at W = 4 only (onnxruntime
    agrees). shapelint: "no W gets through", contract.runs({H: 4, W: 4}) False. Cause:
    symbolic._ClassEval._settle raises _Incompatible for bcast of two different polynomials
    ("incompatible for large q") and raises the threshold only to where each side exceeds 2, so
    solve() evaluates W = 1, 2, 3 concretely and misses the point W = 4 where the sides are
    equal. Fix: in _settle's bcast branch also call self._eventual_sign(diff) (the threshold then
    passes the last W where the sides can meet); the set becomes {4}, and SL003 says so. Fixed."""
    spec = _spec([("AddConst", [0], dict(shape=[1, 1, 1, 4])), ("Concat", [1, 0], dict(axis=1))])
    v = _verdicts(spec, tmp_path, [(4, 4), (4, 5), (4, 1)])
    assert [ran for _, ran in v.values()] == [True, False, False]
    assert v[(4, 4)][0] is True, v


_RESIZE_3FLOOR = ("ResizeTo", [0, 0], dict(spatial=[["ref"], ["multiple", 3, "trunc"]], of="x", style="scalar"))
SIGN_OF_A_MULTIPLE = {
    # int(w / 16) * 16 of a dim 3·floor(W/3): "the sign of 3·floor(W/3) is not known, so its
    # truncating division by 16 is not exact"
    "resize_trunc": _spec([_RESIZE_3FLOOR, ("ResizeTo", [1, 1], dict(spatial=[["ref"], ["multiple", 16, "trunc"]],
                                                                      of="x", style="scalar"))]),
    # x.expand(-1, -1, -1, y.size(3)) with y's W = 3·floor(W/3): "Equal(3·floor(W/3), -1) depends on the sizes"
    "expand_equal_minus_one": _spec([_RESIZE_3FLOOR, ("ExpandTo", [0, 1], dict(base="x", style="index",
                                                                                target=[-1, -1, -1, "ref"]))]),
}


@pytest.mark.runtime
@pytest.mark.parametrize("name", sorted(SIGN_OF_A_MULTIPLE))
def test_fixed_sign_of_a_multiple_of_a_floor(name, tmp_path):
    """Fixed on main (a95c35a). Found by the fuzzer's unknowns list (an abstention, not a wrong verdict). values._linearize
    replaces floor(W/3) by W/3 − [0, 2/3], so with W ≥ 1 the bound of 3·floor(W/3) is −1 and of
    floor(W/3) −1/3: not ≥ 0. Then Cast(float → int) of 3·floor(W/3)/16 (truncation: needs the
    sign) and Equal(3·floor(W/3), −1) (torch's expand(−1) chain) are left unknown, and the Resize /
    Expand loses its shape. Fix: in values.bounds take the tighter of the linearized bound and
    the term-by-term one (_atom_bounds(Floor) already gives 0), and round an integer expression's
    bounds inward (lo = ceil(lo), hi = floor(hi))."""
    from shapelint.symbolic import floordiv, mul, sym
    from shapelint.values import bounds

    assert bounds(floordiv(sym("W"), 3))[0] >= 0 and bounds(mul(floordiv(sym("W"), 3), 3))[0] >= 0
    path = str(tmp_path / "m.onnx")
    model = build(SIGN_OF_A_MULTIPLE[name])
    onnx.save(model, path)
    _, inf = analyse(path)
    assert not unknowns(inf), [u.text() for u in unknowns(inf)]
    assert not disagreements(SIGN_OF_A_MULTIPLE[name], str(tmp_path))


# =========================================================================== runtime quirks


def _ort(spec, hw):
    return _ort_outputs(build(spec).SerializeToString(), [hw])[hw]


@pytest.mark.runtime
def test_quirk_ort_rejects_dilated_same_conv():
    """Generator: no dilation on a Conv with auto_pad=SAME_*. The spec allows it; onnxruntime
    fails at run time, and shapelint (spec: ceil(i/s)) says it runs."""
    ok, msg = _ort(_spec([("Conv", [0], dict(kernel_shape=[1, 1], strides=[1, 1], dilations=[1, 2],
                                             auto_pad="SAME_UPPER", cout=1))]), (4, 4))
    assert not ok and "Dilation not supported" in msg, msg


@pytest.mark.runtime
def test_quirk_ort_dilated_same_maxpool_ignores_dilation():
    """Generator: no dilation on a pool with auto_pad=SAME_*. onnxruntime computes the SAME pads
    without the dilation: MaxPool(k=2, d=2, SAME_UPPER) of 1 gives 0 rows, not ceil(1/1) = 1."""
    ok, shapes = _ort(_spec([("MaxPool", [0], dict(kernel_shape=[2, 1], strides=[1, 1], ceil_mode=0,
                                                   auto_pad="SAME_UPPER", dilations=[2, 1]))]), (1, 1))
    assert ok and list(shapes.values())[0] == (1, 1, 0, 1), shapes


@pytest.mark.runtime
def test_quirk_ort_same_pool_stride_above_kernel_fails():
    """Generator: a SAME_* pool has no stride above its kernel. onnxruntime's pad
    (ceil(i/s) − 1)·s + k − i is negative there and it fails; the spec (and shapelint) say
    ceil(i/s)."""
    ok, msg = _ort(_spec([("MaxPool", [0], dict(kernel_shape=[1, 1], strides=[2, 2], ceil_mode=0, auto_pad="SAME_UPPER"))]),
                   (2, 2))
    assert not ok and "padding values must be non-negative" in msg, msg


@pytest.mark.runtime
def test_quirk_ort_concat_skips_empty_inputs():
    """Fuzzer: 'known:ort-concat-skips-empty'. Concat([1,1,0,1], [1,1,1,1], axis=1) runs."""
    ok, shapes = _ort(_spec([_slice([2], [0], [0], [1]), ("Concat", [1, 0], dict(axis=1))]), (1, 1))
    assert ok and shapes["concat6"] == (1, 2, 1, 1), shapes


@pytest.mark.runtime
def test_quirk_onnx_inference_truncates_convtranspose_rank():
    """Fuzzer: 'known:onnx-infer-convtranspose-rank'. With output_shape below a static input size,
    onnx's shape inference gives the ConvTranspose a rank-2 shape and a later Conv makes session
    creation fail, though the ConvTranspose alone runs with the output_shape size."""
    ct = ("ConvTranspose", [0], dict(kernel_shape=[1, 1], strides=[1, 1], dilations=[1, 1], pads=[0, 0, 0, 0],
                                     output_shape=[1, 1], cout=1))
    assert _ort(_spec([ct], H=2, W=3), (2, 3))[0]
    ok, msg = _ort(_spec([ct, ("Conv", [1], dict(kernel_shape=[1, 1], strides=[1, 1], dilations=[1, 1],
                                                 pads=[0, 0, 0, 0], cout=1))], H=2, W=3), (2, 3))
    assert not ok and "(onnx-infer-convtranspose-rank)" in msg and "at least 3 dimensions" in msg, msg


@pytest.mark.runtime
def test_quirk_ort_slice_end_sentinel_differs_at_session_creation():
    """Fuzzer: 'known:ort-slice-end-sentinel'. Backwards to INT32_MAX: the kernel gives 1 row of
    a dynamic 2 (shapelint follows it); on a static 2, session-time inference says 0, so an Add
    with the input fails at session creation."""
    sl = _slice([3], [0], [2**31 - 1], [-1])
    ok, shapes = _ort(_spec([sl]), (3, 2))
    assert ok and shapes["slice5"] == (1, 1, 3, 1), shapes
    ok, msg = _ort(_spec([sl, ("Add", [0, 1], {})], W=2), (3, 2))
    assert not ok and msg.startswith("session") and "Incompatible dimensions" in msg, msg


def test_quirk_ort_aborts_on_backward_slice_of_negative_dim(tmp_path):
    """Why the fuzzer runs onnxruntime in a worker process: Slice → Pad to a static size −1 →
    backwards Slice aborts the process (a failed std::clamp assertion) at session creation."""
    spec = _spec([_slice([2], [10], [20], [1]), ("Pad", [1], dict(pads=[1, 0, -2, 0])),
                  ("Slice", [2], dict(axes=[2], starts=[4], ends=[2**62], steps=[-2]))], H=4, W=3, opset=17)
    path = tmp_path / "abort.onnx"
    onnx.save(build(spec), str(path))
    code = ("import onnxruntime as ort; o = ort.SessionOptions(); o.log_severity_level = 4; "
            f"ort.InferenceSession({str(path)!r}, o, providers=['CPUExecutionProvider']); print('created')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode < 0 or p.returncode == 134, (p.returncode, p.stdout, p.stderr[-300:])
    assert "clamp" in p.stderr, p.stderr[-300:]
    # shapelint reads the same model without trouble
    assert lint(str(path)).error is None


@pytest.mark.runtime
def test_quirk_ort_reshape_fusion_runs_a_reshape_that_fails():
    """Fuzzer: 'known:ort-reshape-fusion'. F.pad(x, [0, 0, 0, 0]).reshape(1, 1, x.size(2), 1) at
    H=1, W=2 (2 elements into a target of 1): onnxruntime's ReshapeFusion (a basic graph
    optimization) rewrites the target Concat(0, 0, Shape(x)[2], 1) into the constant
    [0, 0, -1, 1], so the session runs and gives [1, 1, 2, 1]; with the graph optimizations off
    the Reshape kernel fails, as the spec says (and shapelint: SL006)."""
    spec = _spec([("FPad", [0, 0], dict(ext="const", const_node=False, div="div", kind="diff", axes=[2, 3])),
                  ("ReshapeTo", [1, 0], dict(target=[0, 0, ["ref", 2], 1], style="scalar"))])
    m = build(spec).SerializeToString()
    ok, shapes = _ort_outputs(m, [(1, 2)])[(1, 2)]
    assert ok and shapes["reshape56"] == (1, 1, 2, 1), shapes
    ok, msg = _ort_outputs(m, [(1, 2)], optimize=False)[(1, 2)]
    assert not ok and "ReshapeHelper" in msg, msg


@pytest.mark.runtime
def test_quirk_ort_folds_shape_from_onnx_inference():
    """Fuzzer: 'known:ort-shape-folding'. x [1, 1, 2, 1] (static) → AveragePool(k=1, s=[2, 1],
    ceil_mode=1) → ViT tokens and back to Shape(pool)[2:4]: the kernel gives 1 row (the last
    window would start past the input; shapelint says 1), onnx's shape inference says 2, and
    onnxruntime's optimizer folds Shape(pool) to [1, 1, 2, 1], so the Reshape back fails
    ("requested shape:{1,1,2,1}"). With the graph optimizations off it runs."""
    spec = _spec([("AveragePool", [0], dict(kernel_shape=[1, 1], strides=[2, 1], ceil_mode=1, pads=[0, 0, 0, 0])),
                  ("Tokens", [1, 1], dict(style="scalar", back=[["ref", 2], ["ref", 3]]))], H=2, W=1)
    m = build(spec).SerializeToString()
    ok, msg = _ort_outputs(m, [(2, 1)])[(2, 1)]
    assert not ok and "ReshapeHelper" in msg, msg
    ok, shapes = _ort_outputs(m, [(2, 1)], optimize=False)[(2, 1)]
    assert ok and shapes["averagepool1"] == (1, 1, 1, 1), shapes


@pytest.mark.runtime
def test_run_helper_agrees_with_worker():
    """The fuzzer's onnxruntime runner gives what tests/onnx_models.run gives."""
    m = build(_spec([("MaxPool", [0], dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, pads=[0, 0, 0, 0]))]))
    ok, shape = run(m, (1, 1, 7, 5))
    assert ok and _ort_outputs(m.SerializeToString(), [(7, 5)])[(7, 5)][1]["maxpool1"] == shape


# =========================================================================== open in the ONNX loader


def _invalid_utf8_op_model() -> bytes:
    """Two ops without a shape rule; the first one's op_type then gets a byte that is not UTF-8
    (protobuf hands a proto2 string field with invalid UTF-8 to Python as bytes)."""
    from onnx import helper

    g = helper.make_graph([helper.make_node("FooA", ["x"], ["y"], name="n0"), helper.make_node("Bar", ["y"], ["z"], name="n1")],
                          "g", [helper.make_tensor_value_info("x", 1, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("z", 1, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m.SerializeToString().replace(b"FooA", b"Foo\xff", 1)


def test_loader_invalid_utf8_op_type(tmp_path):
    """An op_type that is not valid UTF-8 (found by scripts/fuzz_mutations.py: protobuf returned it
    as bytes, and sorting str with bytes raised TypeError) is read with a replacement character:
    the node is an unknown op, and the note names it."""
    path = tmp_path / "bad_utf8.onnx"
    path.write_bytes(_invalid_utf8_op_model())
    res = lint(str(path))
    assert any("of op Foo\ufffd have no shape rule" in n for n in res.notes), res.notes


# =========================================================================== open in symbolic.py


def test_large_stride_lints_in_bounded_time(tmp_path):
    """unet(depth=3, maxpool, resize, add) with the first Conv's strides set to [s, 1]: lint takes
    took 0.2 s at s = 32, 1.4 s at 64, 4.5 s at 128, 16 s at 256 (a mutant with a larger varint
    stride ran for minutes): SizeSet.canonical rebuilt a set per residue. Now linear in the
    modulus; a bound of 3 s (on a loaded machine) keeps it from coming back."""
    import time

    from onnx import helper
    from tests.onnx_models import unet

    m = unet(depth=3, down="maxpool", k_down=2, up="resize", merge="add")
    conv = m.graph.node[0]
    del conv.attribute[:]
    conv.attribute.extend([helper.make_attribute("kernel_shape", [3, 3]), helper.make_attribute("pads", [1, 1, 1, 1]),
                           helper.make_attribute("strides", [256, 1])])
    path = str(tmp_path / "stride256.onnx")
    onnx.save(m, path)
    t0 = time.perf_counter()
    lint(path)
    assert time.perf_counter() - t0 < 3.0


def test_node_field_with_the_wrong_wire_type(tmp_path):
    """GraphProto.node (field 1) written as a varint instead of a message (found by
    scripts/fuzz_mutations.py after the reader began copying small nodes whole: it read the
    length of a field that has none, UnboundLocalError). Now protobuf decides, as it does for
    any mistyped field: it skips it, and the graph has no node."""
    from shapelint.lint import analyse

    graph = b"\x08\x05" + b"\x62\x00"  # node = varint 5 (wrong wire type); output (12) = empty message
    path = tmp_path / "wire.onnx"
    path.write_bytes(b"\x08\x08" + b"\x3a" + bytes([len(graph)]) + graph + b"\x42\x02\x10\x11")
    g, _inf = analyse(str(path))
    assert g.nodes == () and g.opset == 17 and lint(str(path)).findings == []
