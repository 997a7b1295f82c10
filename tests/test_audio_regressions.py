"""Two wrong answers the audio zoo (tests/test_audio_zoo.py) found, each on a small model here and
confirmed with onnxruntime at every length of a sweep:

- a Pad in mode reflect, edge or wrap copies from its input, and onnxruntime refuses one too short
  for its pads (speechbrain's ECAPA-TDNN pads reflect by 2 to 4 samples: onnxruntime fails at
  L ≤ 4, where shapelint said it runs);
- a Slice index computed from a shape may be negative: torchaudio's ConvTasNet crops its padded
  output with ``output[..., :-num_pads]``; shapelint took the index as non-negative and said the
  output had 0 samples where onnxruntime returns L."""

import numpy as np
import onnx
import pytest

from shapelint.analysis import contract, merges
from shapelint.lint import analyse, lint
from shapelint.symbolic import SizeSet, evaluate
from tests import onnx_models as om

BIG = 2**62


def _i64(b, values):
    return b.const(np.array(values, np.int64))


def padded(mode, pb, pe, crop=0):
    """x[N, 2, L] → (x[..., crop:] when crop) → Pad(mode) of pb, pe on L."""
    b = om.Builder()
    x = "x"
    if crop:
        x = b.node("Slice", [x, _i64(b, [crop]), _i64(b, [BIG]), _i64(b, [2])])
    y = b.node("Pad", [x, _i64(b, [0, 0, pb, 0, 0, pe])], mode=mode)
    return b.model("x", ("N", 2, "L"), y, out_rank=3)


def empty_channels(mode):
    """x[N, 2, L] → x[:, 2:, :] (no channel left) → Pad(mode) of 1, 1 on L only: onnxruntime pads
    an empty input in edge and reflect mode, and fails in wrap mode ("Unexpected mode of 3")."""
    b = om.Builder()
    x = b.node("Slice", ["x", _i64(b, [2]), _i64(b, [BIG]), _i64(b, [1])])
    y = b.node("Pad", [x, _i64(b, [0, 0, 1, 0, 0, 1])], mode=mode)
    return b.model("x", ("N", 2, "L"), y, out_rank=3)


def shape_cropped(end_of):
    """x[N, 1, L] → x[..., :e] with e = end_of(r), r = L mod 8, computed from x's shape."""
    b = om.Builder()
    length = b.node("Slice", [b.node("Shape", ["x"]), _i64(b, [2]), _i64(b, [3])])
    e = end_of(b, b.node("Mod", [length, _i64(b, [8])]))
    y = b.node("Slice", ["x", _i64(b, [0]), e, _i64(b, [2])])
    return b.model("x", ("N", 1, "L"), y, out_rank=3)


def neg_end(b, r):  # -(r + 1): always negative, the output has L - r - 1 samples
    return b.node("Neg", [b.node("Add", [r, _i64(b, [1])])])


def mixed_end(b, r):  # 4 - r: negative for r > 4, so the sign depends on L
    return b.node("Sub", [_i64(b, [4]), r])


def _from(start):
    return SizeSet(1, frozenset({0}), start, frozenset())


EVERY = _from(1)

PADS = {  # name: (model, the set of L that runs, onnxruntime 1.32: see _pad_mode_checks)
    "reflect_1_0": (lambda: padded("reflect", 1, 0), _from(2)),
    "reflect_2_2": (lambda: padded("reflect", 2, 2), _from(3)),
    "reflect_0_3": (lambda: padded("reflect", 0, 3), _from(4)),
    "reflect_0_0": (lambda: padded("reflect", 0, 0), EVERY),
    "edge_after_crop": (lambda: padded("edge", 1, 0, crop=3), _from(4)),
    "wrap_after_crop": (lambda: padded("wrap", 0, 0, crop=3), _from(4)),
    "constant_after_crop": (lambda: padded("constant", 2, 0, crop=3), EVERY),
}


def _save(model, tmp_path):
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name", list(PADS))
def test_pad_modes_that_copy_need_a_long_enough_input(name, tmp_path):
    build, want = PADS[name]
    _g, inf = analyse(_save(build(), tmp_path))
    c = contract(inf, merges(inf))
    assert not c.unknown, c.unknown
    assert c.works()["L"] == want


@pytest.mark.runtime
@pytest.mark.parametrize("name", list(PADS))
def test_pad_mode_contract_equals_onnxruntime(name, tmp_path):
    build, _ = PADS[name]
    model = build()
    _g, inf = analyse(_save(model, tmp_path))
    c = contract(inf, merges(inf))
    for n in range(1, 9):
        ok, got = om.run(model, (1, 2, n))
        assert c.runs({"N": 1, "L": n}) is ok, (n, got)
        if ok:
            assert tuple(evaluate(d, {"N": 1, "L": n}) for d in inf.shape(inf.graph.outputs[0])) == got


@pytest.mark.runtime
@pytest.mark.parametrize("mode", ["wrap", "edge", "reflect"])
def test_only_wrap_fails_on_an_empty_axis_it_does_not_pad(mode, tmp_path):
    model = empty_channels(mode)
    _g, inf = analyse(_save(model, tmp_path))
    c = contract(inf, merges(inf))
    assert not c.unknown, c.unknown
    for n in (1, 3, 8):
        ok, got = om.run(model, (1, 2, n))
        assert ok is (mode != "wrap") and c.runs({"N": 1, "L": n}) is ok, (n, got)


@pytest.mark.runtime
def test_reflect_pad_abstains_where_the_input_may_be_empty(tmp_path):
    """x[N, 2, L] → x[..., 3:] → reflect pad of 2 on the 2 channels: onnxruntime fails where the input
    has samples (L ≥ 4: "pre-pad (2) exceeds maximum allowed (1)") and runs where it has none (an
    empty input is padded without the limit); shapelint abstains, naming the Pad."""
    b = om.Builder()
    x = b.node("Slice", ["x", _i64(b, [3]), _i64(b, [BIG]), _i64(b, [2])])
    y = b.node("Pad", [x, _i64(b, [0, 2, 0, 0, 0, 0])], mode="reflect")
    model = b.model("x", ("N", 2, "L"), y, out_rank=3)
    _g, inf = analyse(_save(model, tmp_path))
    c = contract(inf, merges(inf))
    assert [u.op for u in c.unknown] == ["Pad"], c.unknown
    assert om.run(model, (1, 2, 2))[0] and not om.run(model, (1, 2, 5))[0]
    assert c.runs({"N": 1, "L": 2}) is None and c.runs({"N": 1, "L": 5}) is None


def test_pinned_reflect_pad_too_short_is_an_error(tmp_path):
    path = _save(padded("reflect", 2, 2), tmp_path)
    errors = [f for f in lint(path, {"x": (1, 2, 2)}).findings if f.severity == "error"]
    assert errors and errors[0].node.startswith("pad"), errors
    assert not [f for f in lint(path, {"x": (1, 2, 3)}).findings if f.severity == "error"]


@pytest.mark.runtime
def test_a_negative_slice_end_computed_from_the_shape_counts_from_the_end(tmp_path):
    model = shape_cropped(neg_end)
    _g, inf = analyse(_save(model, tmp_path))
    c = contract(inf, merges(inf))
    assert not c.unknown, c.unknown
    out = inf.shape(inf.graph.outputs[0])
    for n in range(1, 25):
        ok, got = om.run(model, (1, 1, n))
        assert ok and c.runs({"N": 1, "L": n}) is True
        assert tuple(evaluate(d, {"N": 1, "L": n}) for d in out) == got == (1, 1, n - n % 8 - 1 if n % 8 < n else 0)


def test_a_slice_index_whose_sign_depends_on_the_size_abstains_naming_the_slice(tmp_path):
    path = _save(shape_cropped(mixed_end), tmp_path)
    _g, inf = analyse(path)
    c = contract(inf, merges(inf))
    assert [u.op for u in c.unknown] == ["Slice"] and "negative" in c.unknown[0].reason, c.unknown
    assert c.runs({"N": 1, "L": 13}) is None


def test_a_chain_through_a_transpose_follows_the_moved_axis():
    """wav2vec2's positional conv runs on [N, 32, T] between two Transposes of [N, T, 32]: the chain
    of the Add that merges it showed 'Transpose (up ×11): T → 32' (the size of another axis) and a
    '1 stride-11 stage' headline; it follows T through the perms now: the Conv's T → T + 1 and the
    Slice back to T."""
    import os

    from shapelint.api import contract_record

    path = os.path.join(os.path.dirname(__file__), "..", "zoo", "audio", "ta_wav2vec2_tiny_ts.onnx")
    graph, inf = analyse(path)
    rows = contract_record(path, graph, inf)["rows"]
    (why,) = [b for r in rows for b in r["because"] if b["node"] == "/m/encoder/transformer/Add"]
    assert [line.split(" ")[0] for line in why["chain"]] == ["Conv", "Slice"], why
    assert "stride" not in why["summary"] and "Transpose" not in " ".join(why["chain"]), why
