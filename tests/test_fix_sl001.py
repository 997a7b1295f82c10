"""shapelint fix on SL001 (a ConvTranspose onnxruntime rejects): the repaired model runs in
onnxruntime at its sizes with the output size its consumers expect (the skip of the merge, the
declared shape, else the size the attributes state), with the node's values where the begin pad is
kept; where no size is determinable or reachable, fix says why with the numbers and exits 1.
Then the exit codes, and ``--diff``'s unified diff of the listing of the changed nodes."""

import itertools
import os
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from shapelint.cli import main
from shapelint.fix import changed_listings, listing, run
from shapelint.lint import lint
from tests.onnx_models import RNG, run as ort_run, single_convt, skip_convt, unet
from tests.support import REPO

EXAMPLES = os.path.join(REPO, "examples")


def _single(in_shape=(1, 2, 8, 8), k=3, s=2, out_dims=None, **attrs):
    m = single_convt(in_shape=in_shape, k=k, s=s, **attrs)
    if out_dims is not None:
        m.graph.output[0].CopyFrom(helper.make_tensor_value_info(m.graph.output[0].name, TensorProto.FLOAT,
                                                                 list(out_dims)))
    return m


def _one_d(i=8, k=3, s=2, **attrs):
    """A 1-D ConvTranspose: x [1, 2, i]."""
    w = numpy_helper.from_array(RNG.standard_normal((2, 2, k)).astype(np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up1d", kernel_shape=[k], strides=[s], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, i])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


# id -> (model builder, the output's spatial size after the fix, whether the begin pads stay)
REPAIRED = {
    "output_padding>=stride, the skip's size": (
        lambda: skip_convt(32, k=4, pads=(2, 2, 2, 2), output_padding=(2, 2)), (32, 32), False),
    "output_padding>=stride alone (examples/bad_output_padding.onnx)": (
        lambda: onnx.load(os.path.join(EXAMPLES, "bad_output_padding.onnx")), (17, 17), True),
    "negative output_padding": (lambda: _single(output_padding=[-1, 0]), (16, 17), True),
    "dilated, output_padding>=stride": (
        lambda: _single(dilations=[2, 2], pads=[2, 2, 2, 2], output_padding=[3, 3]), (18, 18), True),
    "auto_pad SAME_UPPER with output_padding>=stride": (
        lambda: _single(auto_pad="SAME_UPPER", output_padding=[2, 2]), (16, 16), False),
    "1-D, output_padding>=stride": (lambda: _one_d(pads=[1, 1], output_padding=[2]), (17,), True),
    "auto_pad and pads, the skip has SAME's size": (
        lambda: skip_convt(32, k=3, pads=(1, 1, 1, 1), auto_pad="SAME_UPPER"), (32, 32), False),
    "auto_pad and pads, the skip has the pads' size": (
        lambda: skip_convt(31, k=3, pads=(1, 1, 1, 1), auto_pad="SAME_UPPER"), (31, 31), False),
    "auto_pad and pads that agree": (lambda: _single(k=2, auto_pad="SAME_UPPER", pads=[0, 0, 0, 0]), (16, 16), False),
    "output_shape above the range, the skip's size": (lambda: skip_convt(32, k=2, output_shape=(34, 34)), (32, 32),
                                                     False),
    "output_shape with N and C": (lambda: skip_convt(32, k=2, output_shape=(1, 2, 32, 32)), (32, 32), False),
    "output below 1, the skip's size": (lambda: skip_convt(2, k=2, pads=(2, 2, 2, 2)), (2, 2), False),
    "output_padding>=stride, the declared output shape": (
        lambda: _single(pads=[1, 1, 1, 1], output_padding=[2, 2], out_dims=(1, 2, 18, 18)), (18, 18), False),
    # two merges want 32 and 31: valid at the size the attributes state, then SL003 crops and pads at each
    "output_padding>=stride, two merges want different sizes": (
        lambda: skip_convt(32, k=3, second_skip=2, pads=(1, 1, 1, 1), output_padding=(2, 2)), (33, 33), False),
}
ADDS_NODES = {"output_padding>=stride, two merges want different sizes"}

# id -> (model builder, words the reason must hold: the node and the numbers)
UNFIXABLE = {
    "output_shape out of reach, nothing after it": (
        lambda: _single(output_shape=[40, 40]), ["convtranspose2", "must be 40", "input 8", "at most 18"]),
    "auto_pad and pads disagree, nothing after it": (
        lambda: _single(auto_pad="SAME_UPPER", pads=[1, 1, 1, 1]),
        ["convtranspose2", "auto_pad=SAME_UPPER gives 16", "give 15", "not determinable"]),
    "output below 1, nothing after it": (
        lambda: _single(in_shape=(1, 2, 1, 1), k=2, pads=[2, 2, 2, 2]), ["convtranspose2", "give -2"]),
    "the skip's size out of reach": (
        lambda: skip_convt(32, k=2, skip_pad=0, output_padding=(3, 3)), ["up", "must be 32", "input 15", "at most 31"]),
    "two merges want different sizes": (
        lambda: skip_convt(32, k=2, second_skip=2, output_padding=(2, 2)), ["up", "different sizes", "32", "31"]),
}


def _in_shape(m):
    return tuple(d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim)


def _rules(path, rules=("SL001", "SL003")):
    return [f for f in lint(str(path)).findings if f.rule in rules and f.severity != "info"]


def _reference(m, fixed, x):
    """What the repaired ConvTranspose must compute where it keeps the begin pad: the full
    transposed convolution (no pads, no output_padding) from that pad on, zero past its end."""
    node = next(n for n in fixed.graph.node if n.op_type == "ConvTranspose")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    n = len(x.shape) - 2
    pads = attrs.get("pads", [0] * 2 * n)
    full = onnx.ModelProto()
    full.CopyFrom(m)
    fnode = next(nd for nd in full.graph.node if nd.op_type == "ConvTranspose")
    keep = [a for a in fnode.attribute if a.name not in ("pads", "output_padding", "output_shape", "auto_pad")]
    del fnode.attribute[:]
    fnode.attribute.extend(keep)
    y_full = _ort(full, x)
    out_sizes = _ort(fixed, x).shape[2:]
    want = np.zeros(y_full.shape[:2] + tuple(out_sizes), np.float32)
    src = tuple(slice(pads[a], min(pads[a] + out_sizes[a], y_full.shape[2 + a])) for a in range(n))
    dst = tuple(slice(0, s.stop - s.start) for s in src)
    want[(slice(None), slice(None)) + dst] = y_full[(slice(None), slice(None)) + src]
    return want


def _ort(m, x):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.runtime
@pytest.mark.parametrize("case", REPAIRED)
def test_sl001_repaired_model_runs_in_onnxruntime_with_the_expected_size(case, tmp_path):
    """onnxruntime rejects the model; after `fix` it runs at the model's sizes, the output has the
    size its consumers expect, nothing is left for SL001/SL003, and where the begin pads are kept
    the node computes what its attributes describe (the full transposed convolution from that pad
    on)."""
    build, want, keeps_begin = REPAIRED[case]
    m = build()
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    assert [f for f in _rules(src) if f.rule == "SL001"]
    shape = _in_shape(m)
    ok, why = ort_run(m, shape)
    assert not ok, why
    out = run(str(src), str(dst))
    assert out.written and not out.left and "SL001" in out.lines[0], out
    assert all("SL001" in line for line in out.lines) or case in ADDS_NODES, out
    fixed = onnx.load(str(dst))
    convt = [n for n in fixed.graph.node if n.op_type == "ConvTranspose"]
    y_name = convt[0].output[0]
    probe = onnx.ModelProto()
    probe.CopyFrom(fixed)
    probe.graph.output.append(helper.make_tensor_value_info(y_name, TensorProto.FLOAT, None))
    x = RNG.standard_normal(shape).astype(np.float32)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    outs = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert outs[-1].shape[2:] == want, (outs[-1].shape, out.lines)
    if m.graph.output[0].name.startswith("cat"):  # the skip's merge: the input's size
        assert outs[0].shape[2:] == shape[2:], outs[0].shape
    if case in ADDS_NODES:  # the second merge: its skip is one smaller
        assert outs[1].shape[2:] == (shape[2] - 1, shape[3] - 1), outs[1].shape
    if case not in ADDS_NODES:  # attributes only
        assert [n.op_type for n in fixed.graph.node] == [n.op_type for n in m.graph.node]
    assert not _rules(dst)
    if keeps_begin:
        orig = {a.name: helper.get_attribute_value(a) for a in
                next(n for n in m.graph.node if n.op_type == "ConvTranspose").attribute}
        new = {a.name: helper.get_attribute_value(a) for a in convt[0].attribute}
        k = len(want)
        assert list(new.get("pads", [0] * 2 * k))[:k] == list(orig.get("pads", [0] * 2 * k))[:k], (orig, new)
        np.testing.assert_allclose(outs[-1], _reference(m, fixed, x), atol=1e-5)


@pytest.mark.runtime
@pytest.mark.parametrize("case", UNFIXABLE)
def test_sl001_that_cannot_be_repaired_says_why_with_the_numbers_and_exits_1(case, tmp_path, capsys):
    """No size is determinable or none is reachable: exit 1, one line on stderr per finding left,
    naming the node and the numbers; the SL001 finding is still there."""
    build, words = UNFIXABLE[case]
    m = build()
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    assert main(["fix", str(src), "-o", str(dst)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    sl001 = [line for line in err if "cannot fix SL001" in line]
    assert len(sl001) == 1 and all(w in sl001[0] for w in words), err
    assert all(line.startswith(f"shapelint: {src}: ") for line in err), err
    assert [f for f in _rules(dst if dst.exists() else src) if f.rule == "SL001"]


@pytest.mark.slow
@pytest.mark.runtime
def test_sl001_sweep_repairs_to_the_stated_size_or_proves_it_unreachable(tmp_path):
    """A grid of lone ConvTransposes with an output_padding outside 0…s−1 (kernel 1–4, stride
    1–3, dilation 1–2, pads 0–3, output_padding s…s+2 or −1, input 1–5): where the size the
    attributes state is 1 or more and reachable, `fix` gives exactly it, with the same values
    (the begin pad kept) in onnxruntime; otherwise it says why, and no pads 0…12 with an
    output_padding in 0…s−1 reach that size (checked by brute force in onnxruntime's formula)."""
    bad, repaired, refused = [], 0, 0
    grid = list(itertools.product((1, 2, 3, 4), (1, 2, 3), (1, 2), (0, 1, 3), (1, 3, 5)))
    for k, s, d, pad, i in grid[::3]:
        for op in (s, s + 2, -1):
            m = _single(in_shape=(1, 2, i, i + 1), k=k, s=s, dilations=[d, d], pads=[pad, 0, pad, pad],
                        output_padding=[op, 0])
            K = d * (k - 1) + 1
            stated = (s * (i - 1) + K - 2 * pad + op, s * i + K - pad)  # pads: H (pad, pad), W (0, pad)
            src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
            onnx.save(m, str(src))
            if dst.exists():
                dst.unlink()
            out = run(str(src), str(dst))
            case = f"k={k} s={s} d={d} pads={[pad, 0, pad, pad]} output_padding={[op, 0]} i={i}"
            reach = [{s * (j - 1) + K - pb - pe + o for pb in range(13) for pe in range(13) for o in range(s)}
                     for j in (i, i + 1)]
            if all(v >= 1 and v in r for v, r in zip(stated, reach)):
                repaired += 1
                if out.left or not out.written:
                    bad.append(f"{case}: not repaired: {out.reasons()}")
                    continue
                fixed = onnx.load(str(dst))
                x = RNG.standard_normal((1, 2, i, i + 1)).astype(np.float32)
                y = _ort(fixed, x)
                if tuple(y.shape[2:]) != stated:
                    bad.append(f"{case}: {y.shape[2:]}, not {stated}")
                elif not np.allclose(y, _reference(m, fixed, x), atol=1e-5):
                    bad.append(f"{case}: other values than the attributes describe ({out.lines})")
            else:
                refused += 1
                if not out.left or not any("cannot fix SL001" in r for r in out.reasons()):
                    bad.append(f"{case}: stated {stated}, unreachable or < 1, yet {out.lines} {out.reasons()}")
    assert not bad, "\n".join(bad[:20])
    assert repaired >= 30 and refused >= 5, (repaired, refused)


@pytest.mark.runtime
def test_dynamic_sl001_keeps_the_formula_s_size_at_every_size(tmp_path):
    """A dynamic U-Net whose ConvTransposes have output_padding 2 = stride (with pads 2, kernel 4:
    2·i, the skip's size for even sizes): fix keeps that size at every H by moving the end pad,
    then fits the merges (crop and pad); onnxruntime runs it at every H, W in 1…24 with the
    input's size at the output, and the original's output wherever a valid ConvTranspose gave it
    (output_padding 0 and end pads 0: the same values)."""
    m = unet(depth=2, k_up=4, up_pads=(2, 2, 2, 2), output_padding=(2, 2))
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    out = run(str(src), str(dst))
    assert not out.left and any("SL001" in line and "stays 2·ceil" in line for line in out.lines), out.lines
    same = onnx.ModelProto()
    same.CopyFrom(m)
    for n in same.graph.node:
        if n.op_type == "ConvTranspose":
            for a in n.attribute:
                if a.name == "output_padding":
                    a.ints[:] = [0, 0]
                if a.name == "pads":
                    a.ints[:] = [2, 2, 0, 0]
    fixed = onnx.load(str(dst))
    for h in range(1, 25):
        w = 25 - h
        x = RNG.standard_normal((1, 1, h, w)).astype(np.float32)
        y = _ort(fixed, x)
        assert y.shape[2:] == (h, w), (h, w, y.shape)
        ok, _ = ort_run(same, (1, 1, h, w))
        if ok:
            np.testing.assert_allclose(y, _ort(same, x), atol=1e-5)


# --------------------------------------------------------------------------- exit codes


def test_fix_exit_codes(tmp_path, capsys):
    """0 when every finding is repaired or there is none (saying "nothing to fix"), 1 when one
    is left (with --diff too, which writes nothing), 2 for an unreadable model or one that is not
    ONNX: one line, no traceback."""
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    onnx.save(skip_convt(32, k=4, pads=(2, 2, 2, 2), output_padding=(2, 2)), str(good))
    onnx.save(_single(output_shape=[40, 40]), str(bad))
    assert main(["fix", str(good), "-o", str(tmp_path / "g.onnx")]) == 0
    assert "re-linted, 0 SL001/SL003 finding(s) left" in capsys.readouterr().out
    clean = os.path.join(EXAMPLES, "unet_runtime_crop.onnx")
    assert main(["fix", clean, "--diff"]) == 0
    got = capsys.readouterr()
    assert got.out == "" and got.err.strip() == f"{clean}: nothing to fix"
    for extra in (["-o", str(tmp_path / "b.onnx")], ["--diff"]):
        assert main(["fix", str(bad), *extra]) == 1
        got = capsys.readouterr()
        assert got.out == "" and len(got.err.strip().splitlines()) == 1 and "cannot fix SL001" in got.err, got
    assert not (tmp_path / "b.onnx").exists()  # nothing changed: nothing written
    (tmp_path / "garbage.onnx").write_bytes(b"not a model")
    (tmp_path / "model.keras").write_bytes(b"PK\x03\x04 not read")
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    for path, words in ((tmp_path / "garbage.onnx", "garbage.onnx"), (tmp_path / "model.keras", "ONNX models only"),
                        (tmp_path / "sm", "ONNX models only")):
        assert main(["fix", str(path), "-o", str(tmp_path / "out.onnx")]) == 2
        got = capsys.readouterr()
        assert got.out == "" and len(got.err.strip().splitlines()) == 1 and words in got.err, got
    assert not (tmp_path / "out.onnx").exists()


def test_fix_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["fix", "--help"])
    text = capsys.readouterr().out
    assert re.search(r"exit codes:\n\s+0 .*\n\s+1 .*SL001/SL003 finding remains.*\n.*\n\s+2 .*cannot be read", text), text


# --------------------------------------------------------------------------- --diff


def _patch(before: list, diff: list, name: str) -> list:
    """Apply a unified diff (as difflib writes it) to the lines it was made from, checking every
    header, hunk range and context line on the way."""
    assert diff[:2] == [f"--- a/{name}", f"+++ b/{name}"], diff[:2]
    out, pos, k = [], 0, 2
    assert k < len(diff), "a diff with no hunk"
    while k < len(diff):
        m = re.fullmatch(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", diff[k])
        assert m, diff[k]
        old_start, old_n = int(m[1]), int(m[2]) if m[2] is not None else 1
        new_n = int(m[4]) if m[4] is not None else 1
        start = old_start - 1 if old_n else old_start
        assert start >= pos
        out += before[pos:start]
        pos, k = start, k + 1
        seen_old = seen_new = 0
        while k < len(diff) and not diff[k].startswith("@@ "):
            tag, text = diff[k][:1], diff[k][1:]
            assert tag in (" ", "-", "+"), diff[k]
            if tag in (" ", "-"):
                assert before[pos] == text, (before[pos], text)
                pos += 1
                seen_old += 1
            if tag in (" ", "+"):
                out.append(text)
                seen_new += 1
            k += 1
        assert (seen_old, seen_new) == (old_n, new_n), diff
    return out + before[pos:]


@pytest.mark.runtime
@pytest.mark.parametrize("case", ["sl001", "sl003-crop-and-pad"])
def test_diff_is_a_unified_diff_of_the_changed_nodes_listing(case, tmp_path, capsys):
    """`fix --diff` prints a unified diff (headers a/NAME, b/NAME, hunks) and writes nothing;
    applied to the listing of the changed nodes of the original, it gives their listing in the
    model `fix -o` writes. An attribute change is a - and a + line; added nodes and initializers
    are + lines only."""
    m = skip_convt(32, k=4, pads=(2, 2, 2, 2), output_padding=(2, 2)) if case == "sl001" else unet(depth=2)
    src, dst = tmp_path / "model.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    assert main(["fix", str(src), "--diff"]) == 0
    diff = capsys.readouterr().out.rstrip("\n").split("\n")
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]
    assert main(["fix", str(src), "-o", str(dst)]) == 0
    before, after = changed_listings(onnx.load(str(src)), onnx.load(str(dst)))
    assert _patch(before, diff, "model.onnx") == after
    minus = [line for line in diff[2:] if line.startswith("-")]
    plus = [line for line in diff[2:] if line.startswith("+")]
    if case == "sl001":
        assert minus == ["-    output_padding = [2, 2]", "-    pads = [2, 2, 2, 2]"], diff
        assert plus == ["+    output_padding = [0, 0]", "+    pads = [2, 2, 0, 0]"], diff
        assert ' node "up8" ConvTranspose("conv6", "wt7") -> "up8"' in diff, diff
    else:
        assert minus == ['-node "concat12" Concat("conv6", "convtranspose11") -> "concat12"',
                         '-node "concat18" Concat("conv3", "convtranspose17") -> "concat18"'], diff
        assert '+node "concat12" Concat("conv6", "shapelint_fit_0_fit") -> "concat12"' in plus, diff
        assert any(line.startswith('+node "shapelint_fit_0/crop" Slice("convtranspose11", ') for line in plus), diff
        assert '+initializer "shapelint_fit_0_axes" int64[2] = [2, 3]' in plus, diff
    unchanged = [line for line in listing(onnx.load(str(dst))) if line.startswith('node "conv')]
    assert unchanged and not any(line[1:] in unchanged for line in diff[2:])  # only the changed nodes are listed


@pytest.mark.runtime
def test_diff_escapes_names(tmp_path, capsys):
    """A node and tensors named with a newline, an escape sequence, a bidi override and quotes:
    every line of the diff is one line without control characters, and shows the names escaped."""
    m = skip_convt(32, k=4, pads=(2, 2, 2, 2), output_padding=(2, 2))
    hostile = 'up"\n\x1b[31m\u202e'
    node = next(n for n in m.graph.node if n.op_type == "ConvTranspose")
    old = node.output[0]
    node.name = hostile
    for n in m.graph.node:
        n.input[:] = [hostile if i == old else i for i in n.input]
    node.output[0] = hostile
    src = tmp_path / "m.onnx"
    onnx.save(m, str(src))
    assert main(["fix", str(src), "--diff"]) == 0
    got = capsys.readouterr()
    lines = got.out.rstrip("\n").split("\n")
    assert all(line.isprintable() for line in lines), lines
    assert '-    output_padding = [2, 2]' in lines
    assert any(line == ' node "up\\"\\n\\x1b[31m\\u202e" ConvTranspose("conv6", "wt7") -> "up\\"\\n\\x1b[31m\\u202e"'
               for line in lines), lines
    assert all(line.isprintable() for line in got.err.splitlines())


def test_the_documented_sl001_diff_is_what_fix_prints(capsys, monkeypatch):
    """docs/contracts-and-fix.md shows `fix examples/bad_output_padding.onnx --diff`: the block
    is the command's output, byte for byte."""
    with open(os.path.join(REPO, "docs", "contracts-and-fix.md"), encoding="utf-8") as f:
        text = f.read()
    cmd = "$ shapelint fix examples/bad_output_padding.onnx --diff\n"
    assert cmd in text
    shown = text.split(cmd, 1)[1].split("```", 1)[0]
    monkeypatch.chdir(REPO)
    assert main(["fix", "examples/bad_output_padding.onnx", "--diff"]) == 0
    assert capsys.readouterr().out == shown
