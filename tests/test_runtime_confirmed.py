"""Every shapelint finding confirmed by the real runtime (onnxruntime), with numbers.

Each test builds a small model with real weights, asks shapelint, runs the same model in
onnxruntime and compares the *numbers*: the sizes in a finding's message/details against the
shape onnxruntime produces, or the failure shapelint predicts against the failure onnxruntime
raises. When the two disagree the test fails and says so with the model's parameters, the size,
onnxruntime's message and shapelint's prediction -- an expectation is never bent to match
shapelint.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from shapelint.analysis import contract
from shapelint.lint import analyse, lint
from tests.onnx_models import run, single_convt, unet
from tests.support import fast_subset

pytestmark = pytest.mark.runtime

HS = range(1, 131)  # square input sizes swept for dynamic models
_TMP = tempfile.mkdtemp(prefix="shapelint_rt_")
atexit.register(shutil.rmtree, _TMP, True)


# --------------------------------------------------------------------------- helpers


def _save(model: onnx.ModelProto, tag: str) -> str:
    digest = hashlib.sha1(tag.encode()).hexdigest()[:12]  # long tags are cut: keep names unique
    path = os.path.join(_TMP, re.sub(r"[^A-Za-z0-9_.-]", "_", tag)[:100] + f"_{digest}.onnx")
    onnx.save(model, path)
    return path


def _lint(model, tag, pins=None):
    return lint(_save(model, tag), pins)


def _rule(res, rule, severity=None):
    return [f for f in res.findings if f.rule == rule and (severity is None or f.severity == severity)]


def _node(model, op):
    (n,) = [n for n in model.graph.node if n.op_type == op]
    return n


def _set_attrs(model, node_name, **attrs):
    """A copy of ``model`` with the attributes of ``node_name`` replaced (None: removed)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    (node,) = [n for n in m.graph.node if n.name == node_name]
    keep = [a for a in node.attribute if a.name not in attrs]
    del node.attribute[:]
    node.attribute.extend(keep)
    for k, v in attrs.items():
        if v is not None:
            node.attribute.append(helper.make_attribute(k, v))
    return m


def _session(model):
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _sweep(model, hs, channels=1):
    """onnxruntime at (1, channels, h, h) for every h, one session: {h: (ok, shape | message)}."""
    try:
        sess = _session(model)
    except Exception as e:  # session creation fails for every size
        msg = "session: " + str(e).splitlines()[0][:300]
        return {h: (False, msg) for h in hs}
    name = sess.get_inputs()[0].name
    out = {}
    for h in hs:
        try:
            y = sess.run(None, {name: np.ones((1, channels, h, h), np.float32)})
            out[h] = (True, tuple(y[0].shape))
        except Exception as e:
            out[h] = (False, str(e).splitlines()[0][:300])
    return out


def _listing(bad, limit=12):
    """Disagreements, one a line, the first ``limit`` of them and a count of the rest."""
    more = f"\n… and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{len(bad)} disagreement(s):\n" + "\n".join(bad[:limit]) + more


def _ints(text):
    return [int(v) for v in re.findall(r"-?\d+", text)]


def _ort_mismatch_numbers(msg):
    """The two sizes onnxruntime names in a merge failure, when its message names them."""
    for pat in (r"Inferred=(\d+) Declared=(\d+)", r"mismatched dimensions of (\d+) and (\d+)"):
        m = re.search(pat, msg)
        if m:
            return {int(m.group(1)), int(m.group(2))}
    return None


def _convt_out(i, k, s, d, pb, pe, op):
    """The ONNX spec formula, written out here independently of shapelint."""
    return s * (i - 1) + op + d * (k - 1) + 1 - pb - pe


# =========================================================================== SL001


OP_CASES = [  # (k, s, dilation, output_padding): all outside 0…s-1
    (3, 2, 1, 2),
    (3, 2, 1, 3),
    (3, 3, 1, 3),
    (2, 2, 1, 5),
    (3, 2, 3, 2),  # dilation 3 > stride 2: op < max(s, d) passes ORT's first check, not the second
    (3, 2, 1, -1),
    (1, 1, 1, 1),
]


@pytest.mark.parametrize("k,s,d,op", OP_CASES)
def test_sl001_output_padding_outside_stride_fails_in_ort(k, s, d, op):
    m = single_convt(in_shape=(1, 2, 4, 5), k=k, s=s, dilations=[d, d], output_padding=[op, op])
    node = _node(m, "ConvTranspose").name
    (f,) = _rule(_lint(m, f"op_{k}_{s}_{d}_{op}"), "SL001")
    assert (f.rule, f.name, f.severity, f.node, f.op) == ("SL001", "invalid-convtranspose", "error", node,
                                                          "ConvTranspose")
    assert f"output_padding [{op}, {op}]" in f.message
    assert f"0…{s - 1}" in f.message and f"stride {s}" in f.message and f"dilation {d}" in f.message
    assert f.details["output_padding"] == [op, op] and f.details["strides"] == [s, s]
    assert f.details["dilations"] == [d, d] and f.details["kernel"] == [k, k]
    ok, msg = run(m, (1, 2, 4, 5))
    assert not ok, f"shapelint says onnxruntime rejects output_padding={op} (stride {s}), but it ran: {msg}"
    # the suggested value runs, with the size the spec formula gives
    fixed = [min(max(op, 0), s - 1)] * 2
    assert f"output_padding={fixed}" in f.suggestion
    m2 = _set_attrs(m, node, output_padding=fixed)
    ok2, shape2 = run(m2, (1, 2, 4, 5))
    assert ok2, shape2
    K = d * (k - 1) + 1
    assert shape2 == (1, 2, (4 - 1) * s + K + fixed[0], (5 - 1) * s + K + fixed[1])
    assert not _rule(_lint(m2, f"op_fixed_{k}_{s}_{d}_{op}"), "SL001")


@pytest.mark.parametrize("k,s,d,pads", [(3, 2, 1, (0, 0, 0, 0)), (3, 3, 1, (1, 1, 1, 1)), (4, 2, 1, (1, 0, 2, 1)),
                                        (3, 2, 2, (0, 0, 0, 0)), (2, 3, 1, (0, 0, 0, 0))])
def test_sl001_negative_output_padding_s_minus_1_runs_with_predicted_shape(k, s, d, pads):
    """output_padding = s − 1 is the largest legal value: no SL001, onnxruntime runs, and the
    shape shapelint infers is the one onnxruntime produces."""
    m = single_convt(in_shape=(1, 2, 4, 5), k=k, s=s, dilations=[d, d], output_padding=[s - 1, s - 1],
                     pads=list(pads))
    path = _save(m, f"op_ok_{k}_{s}_{d}_{pads}")
    assert not _rule(lint(path), "SL001")
    ok, shape = run(m, (1, 2, 4, 5))
    assert ok, shape
    graph, inf = analyse(path)
    assert inf.shape(graph.outputs[0]) == shape
    assert shape[2:] == (_convt_out(4, k, s, d, pads[0], pads[2], s - 1), _convt_out(5, k, s, d, pads[1], pads[3], s - 1))


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (0, 0, 0, 0), (0, 1, 0, 1)])
def test_sl001_auto_pad_with_pads_fails_in_ort(auto_pad, pads):
    m = single_convt(in_shape=(1, 2, 4, 4), k=3, s=2, auto_pad=auto_pad, pads=list(pads))
    node = _node(m, "ConvTranspose").name
    (f,) = _rule(_lint(m, f"ap_{auto_pad}_{pads}"), "SL001")
    assert (f.severity, f.node) == ("error", node)
    assert f"auto_pad={auto_pad}" in f.message and f"pads={list(pads)}" in f.message
    assert f.details["pads"] == list(pads)
    ok, msg = run(m, (1, 2, 4, 4))
    assert not ok and "pads" in msg and "auto_pad" in msg, msg
    # either fix the finding proposes runs
    for fixed in (_set_attrs(m, node, pads=None), _set_attrs(m, node, auto_pad="NOTSET")):
        assert run(fixed, (1, 2, 4, 4))[0]
        assert not _rule(_lint(fixed, f"ap_fixed_{auto_pad}_{pads}"), "SL001")


OS_CASES = [  # (i, k, s, d, op)
    (4, 3, 2, 1, 0),
    (4, 3, 2, 1, 1),
    (3, 2, 2, 1, 0),
    (5, 3, 3, 1, 2),
    (2, 4, 2, 1, 0),
    (4, 3, 2, 2, 0),
    (1, 3, 2, 1, 0),
    (3, 1, 3, 1, 0),
]


@pytest.mark.parametrize("i,k,s,d,op", OS_CASES)
def test_sl001_output_shape_boundary_is_ort_boundary(i, k, s, d, op):
    """For every output_shape 1 … top+3: SL001 fires exactly where onnxruntime fails, and the
    upper limit the message states is the largest size onnxruntime accepts."""
    K = d * (k - 1) + 1
    top = (i - 1) * s + K + s - 1
    low = (i - 1) * s + K
    bad = []
    for o in range(1, top + 4):
        m = single_convt(in_shape=(1, 2, i, i), k=k, s=s, dilations=[d, d], output_padding=[op, op],
                         output_shape=[o, o])
        errs = _rule(_lint(m, f"os_{i}_{k}_{s}_{d}_{op}_{o}"), "SL001")
        ok, res = run(m, (1, 2, i, i))
        if ok == bool(errs):
            bad.append(f"output_shape={o}: onnxruntime {'ran ' + str(res) if ok else 'failed: ' + res}; "
                       f"shapelint {'SL001: ' + errs[0].message if errs else 'no SL001'}")
            continue
        if ok:
            assert res == (1, 2, o, o)
        else:
            (f,) = errs
            assert f.severity == "error" and f.node == _node(m, "ConvTranspose").name
            assert f"output_shape H={o}" in f.message and f"input H={i}" in f.message
            assert f"accepts 1…{top}" in f.message and f"only {low}…{low + s - 1}" in f.message
            assert f.details["output_shape"] == [o, o] and f.details["axis"] == 2
            assert f.details["admissible"] == [str(v) for v in range(low, low + s)]
    assert not bad, "shapelint and onnxruntime disagree:\n" + _listing(bad)


@pytest.mark.parametrize("output_shape", [[9], [9, 9, 9], [9, 9, 9, 9, 9]])
def test_sl001_output_shape_wrong_length_fails_in_ort(output_shape):
    m = single_convt(in_shape=(1, 2, 4, 4), k=3, s=2, output_shape=output_shape)
    (f,) = _rule(_lint(m, f"oslen_{len(output_shape)}"), "SL001")
    assert f.severity == "error" and f.node == _node(m, "ConvTranspose").name
    n = len(output_shape)
    assert f"output_shape {output_shape} has {n} element{'s' if n != 1 else ''}, expected 2" in f.message
    ok, msg = run(m, (1, 2, 4, 4))
    assert not ok and "output_shape" in msg, msg


@pytest.mark.parametrize("in_shape", [(1, 2, 4, 4), ("N", 2, "H", "W")])
def test_sl001_output_shape_with_batch_and_channel_fails_in_ort(in_shape):
    """output_shape of length n+2 ([N, C, H, W]): shapelint's message calls it acceptable
    ("expected 2 (spatial) or 4"), onnxruntime 1.x rejects it at session creation
    ("Attribute output_shape has incorrect size"), with fixed and with dynamic input shapes."""
    m = single_convt(in_shape=in_shape, k=3, s=2, output_shape=[1, 2, 9, 10])
    ok, msg = run(m, (1, 2, 4, 4))
    assert not ok and "incorrect size" in msg, msg
    errs = _rule(_lint(m, f"os4_{in_shape}"), "SL001")
    assert errs, f"onnxruntime rejects output_shape=[1, 2, 9, 10] ({msg}); shapelint reports no SL001"


@pytest.mark.parametrize("output_shape", [[-1, -1], [-1, 9], [9, -1]])
def test_sl001_output_shape_negative_fails_in_ort(output_shape):
    """shapelint treats -1 in output_shape as "not given"; onnxruntime rejects any negative entry
    at session creation ("Attribute output_shape must not contain negative values")."""
    m = single_convt(in_shape=(1, 2, 4, 4), k=3, s=2, output_shape=output_shape)
    ok, msg = run(m, (1, 2, 4, 4))
    assert not ok and "negative" in msg, msg
    errs = _rule(_lint(m, f"osneg_{output_shape}"), "SL001")
    assert errs, f"onnxruntime rejects output_shape={output_shape} ({msg}); shapelint reports no SL001"


@pytest.mark.parametrize("i,k,s,pads", [(4, 3, 2, (5, 5, 5, 5)), (4, 3, 2, (4, 0, 5, 0)), (1, 2, 2, (1, 0, 1, 0)),
                                        (3, 3, 1, (3, 3, 2, 2)), (2, 2, 3, (9, 9, 9, 9))])
def test_sl001_output_not_positive_fails_in_ort(i, k, s, pads):
    m = single_convt(in_shape=(1, 2, i, i), k=k, s=s, pads=list(pads))
    oh = _convt_out(i, k, s, 1, pads[0], pads[2], 0)
    ow = _convt_out(i, k, s, 1, pads[1], pads[3], 0)
    assert min(oh, ow) <= 0  # the case is what it claims
    (f,) = _rule(_lint(m, f"neg_{i}_{k}_{s}_{pads}"), "SL001")
    assert f.severity == "error" and f.node == _node(m, "ConvTranspose").name
    axis, o = ("H", oh) if oh <= 0 else ("W", ow)
    assert f"output {axis} = {o} ≤ 0" in f.message and f"input {axis}={i}" in f.message
    assert f.details["output"] == [str(oh), str(ow)]
    ok, msg = run(m, (1, 2, i, i))
    assert not ok and "<= 0" in msg, msg


def test_sl001_output_exactly_one_runs():
    """The boundary of the previous test: pads that leave exactly 1 run, and shapelint is silent."""
    m = single_convt(in_shape=(1, 2, 4, 4), k=3, s=2, pads=[4, 4, 4, 4])  # 2·3 + 3 − 8 = 1
    assert not _rule(_lint(m, "one"), "SL001")
    assert run(m, (1, 2, 4, 4)) == (True, (1, 2, 1, 1))


# =========================================================================== SL002


SAME_CASES = [  # (auto_pad, k, s, d, op, (H, W))
    ("SAME_UPPER", 3, 2, 1, 1, (4, 5)),
    ("SAME_LOWER", 3, 2, 1, 1, (4, 5)),
    ("SAME_UPPER", 1, 3, 1, 1, (4, 5)),  # K + op < s: onnxruntime gives less than i·s
    ("SAME_LOWER", 1, 3, 1, 2, (3, 7)),
    ("SAME_UPPER", 2, 3, 1, 2, (4, 5)),
    ("SAME_UPPER", 1, 2, 1, 1, (6, 2)),
    ("SAME_UPPER", 2, 4, 1, 1, (3, 3)),  # K + op = 3 < 4
    ("SAME_LOWER", 2, 2, 2, 1, (4, 5)),
]


@pytest.mark.parametrize("auto_pad,k,s,d,op,hw", SAME_CASES)
def test_sl002_same_with_output_padding_numbers(auto_pad, k, s, d, op, hw):
    """The two sizes come from the tools themselves: onnx.shape_inference and onnxruntime. When
    they differ, SL002 names both, exactly; when they agree there is nothing to warn about."""
    m = single_convt(in_shape=(1, 2) + hw, k=k, s=s, dilations=[d, d], auto_pad=auto_pad, output_padding=[op, op])
    warns = _rule(_lint(m, f"same_{auto_pad}_{k}_{s}_{d}_{op}_{hw}"), "SL002", "warning")
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False)
    onnx_dims = [d_.dim_value for d_ in inferred.graph.output[0].type.tensor_type.shape.dim][2:]
    ok, shape = run(m, (1, 2) + hw)
    assert ok, shape
    ort_dims = list(shape[2:])
    where = f"{auto_pad} k={k} s={s} d={d} op={op} input {hw}: onnx shape inference {onnx_dims}, onnxruntime {ort_dims}"
    if onnx_dims == ort_dims:
        assert not warns, f"{where} agree, but shapelint warns: {warns[0].message}"
        return
    assert len(warns) == 1, f"{where} differ, and shapelint has no SL002 warning"
    (f,) = warns
    assert f.node == _node(m, "ConvTranspose").name
    claimed_onnx = [int(v) for v in f.details["onnx_shape_inference"]]
    claimed_ort = [int(v) for v in f.details["onnxruntime"]]
    assert (claimed_onnx, claimed_ort) == (onnx_dims, ort_dims), f"{where}; shapelint says {f.message}"
    assert f"onnx shape inference says {onnx_dims[0]}, {onnx_dims[1]}" in f.message
    assert f"onnxruntime produces {ort_dims[0]}, {ort_dims[1]}" in f.message


@pytest.mark.parametrize("i,k,s,d", [(4, 3, 2, 1), (5, 3, 3, 1), (4, 2, 2, 2), (3, 4, 2, 1)])
def test_sl002_output_shape_below_admissible_runs_with_warning(i, k, s, d):
    K = d * (k - 1) + 1
    low = (i - 1) * s + K
    bad = []
    for o in range(1, low + s):
        m = single_convt(in_shape=(1, 2, i, i), k=k, s=s, dilations=[d, d], output_shape=[o, o])
        warns = _rule(_lint(m, f"below_{i}_{k}_{s}_{d}_{o}"), "SL002", "warning")
        ok, shape = run(m, (1, 2, i, i))
        assert ok and shape == (1, 2, o, o), (o, shape)  # onnxruntime crops: it runs at the asked size
        if o < low:
            if len(warns) != 1:
                bad.append(f"output_shape={o} < {low}: expected one SL002 warning, got {warns}")
                continue
            (f,) = warns
            assert f.node == _node(m, "ConvTranspose").name
            assert f"output_shape H={o} is below the admissible range {low}…{low + s - 1}" in f.message
            assert f.details["admissible"] == [str(v) for v in range(low, low + s)] and f.details["axis"] == 2
            assert f.details["output_shape"] == [o, o]
        elif warns:
            bad.append(f"output_shape={o} in {low}…{low + s - 1}: unexpected {warns[0].message}")
    assert not bad, _listing(bad)


def _admissible_options(suggestion):
    """'to pick another, set output_padding: 9 (output_padding=0), 10 (output_padding=1)'."""
    return [(int(size), int(op)) for size, op in re.findall(r"(-?\d+) \(output_padding=(\d+)\)", suggestion)]


INFO_CASES = [  # (i, k, s, d, pads, op)
    (4, 3, 2, 1, (0, 0, 0, 0), 0),
    (4, 3, 2, 1, (0, 0, 0, 0), 1),
    (5, 2, 2, 1, (0, 0, 0, 0), 0),
    (5, 4, 2, 1, (1, 1, 1, 1), 0),
    (5, 4, 2, 1, (1, 1, 2, 2), 1),
    (4, 3, 3, 1, (1, 1, 1, 1), 2),
    (4, 3, 3, 1, (0, 0, 0, 0), 1),
    (6, 3, 2, 2, (2, 2, 2, 2), 1),
    (3, 1, 4, 1, (0, 0, 0, 0), 3),
]


@pytest.mark.parametrize("i,k,s,d,pads,op", INFO_CASES)
def test_sl002_info_lists_admissible_sizes_and_chosen_is_ort(i, k, s, d, pads, op):
    m = single_convt(in_shape=(1, 2, i, i), k=k, s=s, dilations=[d, d], pads=list(pads), output_padding=[op, op])
    node = _node(m, "ConvTranspose").name
    (f,) = _rule(_lint(m, f"info_{i}_{k}_{s}_{d}_{pads}_{op}"), "SL002", "info")
    ok, shape = run(m, (1, 2, i, i))
    assert ok, shape
    assert int(f.details["chosen"]) == shape[2]
    adm = [int(v) for v in f.details["admissible"]]
    low = _convt_out(i, k, s, d, pads[0], pads[2], 0)
    assert adm == list(range(low, low + s))
    assert f"admits {s} output sizes {{{', '.join(map(str, adm))}}}" in f.message
    assert f"output_padding={op} picks {shape[2]}" in f.message
    # each listed size is what onnxruntime gives with the listed output_padding
    options = _admissible_options(f.suggestion)
    assert [size for size, _ in options] == adm
    for size, j in options:
        ok_j, shape_j = run(_set_attrs(m, node, output_padding=[j, j]), (1, 2, i, i))
        assert ok_j and shape_j[2] == size, (j, size, shape_j)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("i,k,s", [(4, 3, 2), (5, 2, 2), (4, 1, 2), (4, 3, 3), (3, 5, 2)])
def test_sl002_info_same_chosen_is_ort_and_options_are_real(auto_pad, i, k, s):
    """auto_pad SAME without output_padding: the chosen size is onnxruntime's, and every
    "size (auto_pad=NOTSET, pads b+e, output_padding=j)" the suggestion offers is what
    onnxruntime gives with those attributes."""
    m = single_convt(in_shape=(1, 2, i, i), k=k, s=s, auto_pad=auto_pad)
    node = _node(m, "ConvTranspose").name
    (f,) = _rule(_lint(m, f"infosame_{auto_pad}_{i}_{k}_{s}"), "SL002", "info")
    ok, shape = run(m, (1, 2, i, i))
    assert ok, shape
    assert int(f.details["chosen"]) == shape[2]
    assert [int(v) for v in f.details["admissible"]] == list(range((i - 1) * s + 1, i * s + 1))
    options = [tuple(map(int, o)) for o in re.findall(
        r"(\d+) \(auto_pad=NOTSET, pads (\d+)\+(\d+), output_padding=(\d+)\)", f.suggestion)]
    assert len(options) == s, f.suggestion
    wrong = []
    for size, pb, pe, j in options:
        variant = _set_attrs(m, node, auto_pad="NOTSET", pads=[pb, pb, pe, pe], output_padding=[j, j])
        ok_j, shape_j = run(variant, (1, 2, i, i))
        if not ok_j or shape_j[2] != size:
            wrong.append(f"suggestion says pads {pb}+{pe}, output_padding={j} gives {size}; onnxruntime: {shape_j}")
    assert not wrong, f"{auto_pad} i={i} k={k} s={s}: " + "; ".join(wrong)


# =========================================================================== SL003 static


def _apply_suggestion(model, suggestion):
    """Parse 'ConvTranspose 'NAME': set [pads=[…], ]output_padding=[…]' and apply it."""
    m = re.search(r"ConvTranspose '([^']+)': set (?:pads=\[([-\d, ]+)\], )?output_padding=\[([-\d, ]+)\]", suggestion)
    assert m, f"no ONNX attribute fix in the suggestion: {suggestion!r}"
    attrs = {"output_padding": _ints(m.group(3))}
    if m.group(2) is not None:
        attrs["pads"] = _ints(m.group(2))
    return _set_attrs(model, m.group(1), **attrs), (m.group(1), attrs)


STATIC_CASES = [  # unet kwargs, input (H, W)
    (dict(depth=1, down="maxpool", k_down=2), (65, 64)),  # 65 → 32 → 64: output_padding 1 on H
    (dict(depth=1, down="maxpool", k_down=2), (65, 65)),  # both axes
    (dict(depth=1, down="conv"), (65, 64)),  # 65 → 33 → 66: no output_padding, pads needed
    (dict(depth=1, down="conv"), (65, 65)),
    (dict(depth=2, down="maxpool", k_down=2), (66, 64)),  # inner level 33 vs 32
    (dict(depth=2, down="conv", stride=3, k_up=3), (20, 18)),
    (dict(depth=1, down="maxpool", k_down=3, stride=3, k_up=3, merge="add"), (65, 64)),
    (dict(depth=3, down="conv", merge="add"), (50, 48)),
]


@pytest.mark.parametrize("kw,hw", STATIC_CASES, ids=[f"{kw}-{hw}" for kw, hw in STATIC_CASES])
def test_sl003_static_mismatch_and_suggested_fix(kw, hw):
    m = unet(shape=(1, 1) + hw, **kw)
    tag = f"static_{kw}_{hw}"
    errs = _rule(_lint(m, tag), "SL003", "error")
    ok, msg = run(m, (1, 1) + hw)
    assert not ok, f"onnxruntime ran {msg}"
    assert errs, f"onnxruntime fails ({msg}), shapelint has no SL003 error"
    f = errs[0]
    a, b = (int(v) for v in f.details["sizes"])
    assert a != b
    assert f" is {a} for '" in f.message and f" but {b} for '" in f.message
    nums = _ort_mismatch_numbers(msg)
    if nums is not None and f"({f.node})" in msg:  # onnxruntime stopped at the same node
        assert nums == {a, b}, (msg, f.message)
    # every finding's suggestion (one per merge node), applied, makes the model run and shapelint silent
    assert len({g.node for g in errs}) == len(errs)
    fixed, applied = m, []
    for g in errs:
        fixed, what = _apply_suggestion(fixed, g.suggestion)
        applied.append(what)
    ok2, shape2 = run(fixed, (1, 1) + hw)
    assert ok2, f"applied {applied} from {[g.suggestion for g in errs]}; onnxruntime still fails: {shape2}"
    assert shape2[2:] == hw
    assert not _rule(_lint(fixed, tag + "_fixed"), "SL003")


# =========================================================================== SL003 dynamic


def _kw_id(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


GRID = [
    dict(depth=2, stride=2, down="conv", k_down=3, up="convtranspose", k_up=2, merge="concat"),
    dict(depth=4, stride=2, down="maxpool", k_down=2, ceil_mode=0, up="convtranspose", k_up=2, merge="concat"),
    dict(depth=3, stride=2, down="conv", k_down=3, up="convtranspose", k_up=3, up_pads=(1, 1, 1, 1),
         output_padding=(1, 1), merge="add"),
    dict(depth=2, stride=3, down="conv", k_down=3, up="convtranspose", k_up=3, output_padding=(2, 2), merge="concat"),
    dict(depth=3, stride=2, down="conv", k_down=2, pad_down=0, up="resize", merge="concat"),
    dict(depth=2, stride=3, down="maxpool", k_down=3, pad_down=1, ceil_mode=0, up="convtranspose", k_up=4,
         up_pads=(1, 1, 1, 1), merge="add"),
    dict(depth=4, stride=3, down="conv", k_down=3, pad_down=0, up="convtranspose", k_up=3, output_padding=(2, 2),
         merge="concat"),
    dict(depth=1, stride=3, down="conv", k_down=2, pad_down=0, up="convtranspose", k_up=4, up_pads=(1, 1, 1, 1),
         merge="concat"),
    dict(depth=4, stride=2, down="conv", k_down=3, pad_down=2, up="convtranspose", k_up=2, merge="add"),
    dict(depth=3, stride=2, down="conv", k_down=3, pad_down=0, up="convtranspose", k_up=3, output_padding=(1, 1),
         merge="concat"),
    dict(depth=1, stride=2, down="maxpool", k_down=2, ceil_mode=1, up="convtranspose", k_up=2, merge="concat"),
    dict(depth=3, stride=2, down="maxpool", k_down=2, ceil_mode=1, up="resize", merge="add"),
    dict(depth=2, stride=2, down="maxpool", k_down=3, pad_down=1, ceil_mode=1, up="convtranspose", k_up=3,
         up_pads=(1, 1, 1, 1), output_padding=(1, 1), merge="concat"),
    dict(depth=2, stride=3, down="maxpool", k_down=2, ceil_mode=1, up="convtranspose", k_up=3, output_padding=(2, 2),
         merge="add"),
    dict(depth=2, stride=2, down="maxpool", k_down=2, ceil_mode=0, up="convtranspose", k_up=2, merge="add"),
    dict(depth=3, stride=3, down="maxpool", k_down=2, ceil_mode=0, up="resize", merge="add"),
    dict(depth=2, stride=3, down="maxpool", k_down=2, ceil_mode=0, up="resize", merge="add"),
]
GRID += [  # run-time crop/pad of the upsampled branch
    dict(depth=4, stride=2, down="conv", k_down=3, up="convtranspose", k_up=2, merge="concat", fit="crop"),
    dict(depth=3, stride=3, down="maxpool", k_down=2, up="convtranspose", k_up=3, merge="add", fit="pad")]

# the fast tier: three models of the grid (strided conv and ConvTranspose, resize, ceil-mode pool)
GRID_PARAMS = fast_subset(GRID, {0, 4, 10}, ids=[_kw_id(kw) for kw in GRID])

_CACHE: dict = {}


def _dynamic(kw):
    """(model, path, inferred, contract, onnxruntime sweep over HS), computed once per model."""
    key = _kw_id(kw)
    if key not in _CACHE:
        m = unet(shape=(1, 1, "H", "W"), **kw)
        path = _save(m, "dyn_" + key)
        graph, inf = analyse(path)
        _CACHE[key] = (m, path, inf, contract(inf), _sweep(m, HS))
    return _CACHE[key]


def _pool_truncates(kw, h):
    """Whether some MaxPool of unet(**kw) at input h sees a padded input smaller than its window
    (ONNX formula, computed here independently of shapelint). There onnxruntime's pool output
    follows C++ truncating division, and shapelint's contract may abstain (runs() → None)."""
    if kw.get("down") != "maxpool":
        return False
    k, s = kw.get("k_down", 3), kw.get("stride", 2)
    p = kw.get("pad_down") or 0
    x = h
    for _ in range(kw.get("depth", 2)):
        if x + 2 * p < k:
            return True
        n = x + 2 * p - k
        if kw.get("ceil_mode", 0):
            out = -(-n // s) + 1
            if (out - 1) * s >= x + p:
                out -= 1
        else:
            out = n // s + 1
        x = out
    return False


def _contract_disagreements(kw, c, ort_res, label=""):
    """Sizes where contract.runs differs from onnxruntime. Abstaining (None) is a disagreement
    too: where a pool window exceeds its input, the contract follows onnxruntime's truncation."""
    bad = []
    for h in HS:
        pred = c.runs({"H": h, "W": h})
        ok, res = ort_res[h]
        if pred is not ok:
            bad.append(f"{label}H={h}{' (pool truncation)' if _pool_truncates(kw, h) else ''}: shapelint "
                       f"contract.runs={pred}, onnxruntime " + (f"ran → {res}" if ok else f"failed: {res}"))
    return bad


@pytest.mark.parametrize("kw", GRID_PARAMS)
def test_sl003_contract_equals_ort_for_every_size(kw):
    """contract.runs({H, W}) is onnxruntime's verdict at (1, 1, H, H) for every H in 1…130,
    including the sizes where a pool window exceeds its input (no abstaining)."""
    m, path, inf, c, ort_res = _dynamic(kw)
    bad = _contract_disagreements(kw, c, ort_res)
    assert not bad, (f"unet({_kw_id(kw)}), input (1,1,H,H); contract sets={ {k: v.describe(k) for k, v in c.sets.items()} }, "
                     f"undecided={c.undecided}, notes={inf.notes}\n" + _listing(bad))


WIDE_DOWN = [dict(down="conv", k_down=3), dict(down="conv", k_down=2, pad_down=0), dict(down="conv", k_down=3, pad_down=0),
             dict(down="maxpool", k_down=2, ceil_mode=0), dict(down="maxpool", k_down=2, ceil_mode=1),
             dict(down="maxpool", k_down=3, pad_down=1, ceil_mode=1)]
WIDE_UP = [dict(up="convtranspose", k_up=2), dict(up="convtranspose", k_up=3, up_pads=(1, 1, 1, 1), output_padding=(1, 1)),
           dict(up="convtranspose", k_up=4, up_pads=(1, 1, 1, 1)), dict(up="resize")]


@pytest.mark.slow
@pytest.mark.parametrize("depth,stride", [(d, s) for d in (1, 2, 3, 4) for s in (2, 3)])
def test_sl003_contract_equals_ort_wide_sweep(depth, stride):
    """The same comparison over every combination of down/up/merge variants at one depth and
    stride (48 models × 130 sizes per test), reported together."""
    bad = []
    for down in WIDE_DOWN:
        for up in WIDE_UP:
            for merge in ("concat", "add"):
                kw = dict(depth=depth, stride=stride, merge=merge, **down, **up)
                m, path, inf, c, ort_res = _dynamic(kw)
                bad += _contract_disagreements(kw, c, ort_res, f"unet({_kw_id(kw)}) ")
    assert not bad, _listing(bad)


@pytest.mark.slow
def test_sl003_grid_is_not_degenerate():
    """The grid has models that run at some sizes and fail at others, and the contract decides
    (True/False) at most sizes: a contract that abstains everywhere would pass the test above."""
    mixed = decided = total = 0
    for kw in GRID:
        m, path, inf, c, ort_res = _dynamic(kw)
        oks = {ok for ok, _ in ort_res.values()}
        mixed += oks == {True, False}
        preds = [c.runs({"H": h, "W": h}) for h in HS]
        decided += sum(p is not None for p in preds)
        total += len(preds)
    assert mixed >= len(GRID) // 2, mixed
    assert decided >= 0.8 * total, (decided, total)


def _fails_at(res, node):
    ok, msg = res
    return not ok and f"'{node}'" in msg


def _last_merge(model):
    return [n.name for n in model.graph.node if n.op_type in ("Concat", "Add")][-1]


@pytest.mark.parametrize("kw", GRID_PARAMS)
def test_sl003_finding_numbers_confirmed_by_ort(kw):
    """Per finding: at 'smallest_failing' onnxruntime fails at this very merge node, and no smaller
    size (outside the pool-truncation sizes, where shapelint abstains) fails there; at
    'example_working' onnxruntime gets past this node, and for the outermost merge the whole model
    runs."""
    m, path, inf, c, ort_res = _dynamic(kw)
    findings = _rule(lint(path), "SL003")
    fails_at_merge = [h for h in HS if not ort_res[h][0] and ("Concat node" in ort_res[h][1] or "Add node" in ort_res[h][1])]
    if fails_at_merge:
        assert findings, f"onnxruntime fails at a merge at H={fails_at_merge[:8]}…, shapelint has no SL003 finding"
    last = _last_merge(m)
    bad = []
    for f in findings:
        sf, ew = f.details.get("smallest_failing"), f.details.get("example_working")
        assert isinstance(sf, int) and sf >= 1, f.details
        r = ort_res.get(sf) or _sweep(m, [sf])[sf]
        if r[0]:
            bad.append(f"{f.node}: smallest_failing H={sf} runs in onnxruntime → {r[1]}")
        elif not _fails_at(r, f.node):
            bad.append(f"{f.node}: at smallest_failing H={sf} onnxruntime fails elsewhere: {r[1]}")
        first = next((h for h in HS if _fails_at(ort_res[h], f.node) and not _pool_truncates(kw, h)), None)
        if first is not None and first < sf:
            bad.append(f"{f.node}: smallest_failing={sf}, but onnxruntime already fails at this node at H={first}: "
                       f"{ort_res[first][1]}")
        if ew is not None:
            r = ort_res.get(ew) or _sweep(m, [ew])[ew]
            if _fails_at(r, f.node):
                bad.append(f"{f.node}: example_working H={ew} fails at this very node: {r[1]}")
            elif f.node == last and not r[0]:
                bad.append(f"{f.node} (outermost merge): example_working H={ew}, but the model fails: {r[1]}")
    assert not bad, f"unet({_kw_id(kw)}):\n" + _listing(bad)


@pytest.mark.parametrize("kw", GRID_PARAMS)
def test_sl003_pinned_input_shape_error_iff_ort_fails(kw):
    """lint(path, {'x': (1, 1, h, h)}) reports an error (SL003 at a merge, SL004 at a Conv whose
    output would be empty) exactly where onnxruntime fails at h."""
    m, path, inf, c, ort_res = _dynamic(kw)
    bad = []
    for h in range(1, 41):
        res = lint(path, {"x": (1, 1, h, h)})
        errors = [g for g in res.findings if g.severity == "error"]
        ok, out = ort_res[h]
        if ok == bool(errors):
            bad.append(f"H={h}: onnxruntime {'ran → ' + str(out) if ok else 'failed: ' + out}; shapelint "
                       + (f"errors: {[(g.rule, g.node, g.message) for g in errors]}" if errors else "no error"))
    assert not bad, f"unet({_kw_id(kw)}) pinned to (1,1,H,H):\n" + _listing(bad)


@pytest.mark.parametrize("kw", GRID_PARAMS)
def test_sl003_pinned_error_names_ort_node_and_sizes(kw):
    """Where onnxruntime fails, the first error (graph order; SL003 or SL004) is at the node
    onnxruntime stops at ("onnxruntime fails here"), and an SL003 error has the two sizes
    onnxruntime reports."""
    m, path, inf, c, ort_res = _dynamic(kw)
    order = {n.name: j for j, n in enumerate(m.graph.node)}
    bad = []
    for h in range(1, 41):
        ok, out = ort_res[h]
        if ok:
            continue
        errors = sorted([g for g in lint(path, {"x": (1, 1, h, h)}).findings
                         if g.severity == "error" and g.rule in ("SL003", "SL004")], key=lambda g: order[g.node])
        if not errors:
            continue  # the verdict test reports it
        f = errors[0]
        # onnxruntime's graph optimiser may rename a Conv it rewrites (conv12 -> conv12_nchwc)
        if not re.search(rf"Name:'{re.escape(f.node)}(_nchwc)?'", out):
            bad.append(f"H={h}{' (pool truncation)' if _pool_truncates(kw, h) else ''}: shapelint: {f.message}; "
                       f"onnxruntime: {out}")
            continue
        if f.rule == "SL004":
            continue
        nums = _ort_mismatch_numbers(out)
        sizes_ = {int(v) for v in f.details["sizes"]}
        if nums is not None and nums != sizes_:
            bad.append(f"H={h}{' (pool truncation)' if _pool_truncates(kw, h) else ''}: shapelint says "
                       f"{sorted(sizes_)} at {f.node}, onnxruntime {sorted(nums)}: {out}")
    assert not bad, f"unet({_kw_id(kw)}) pinned to (1,1,H,H):\n" + _listing(bad)
