"""1-D sequence models (issue 14, item 5): LSTM / GRU / RNN shape rules and their run-time checks,
the Reshape element-count check on a ConvTasNet-like model, each confirmed with onnxruntime at
every length of a sweep: where the contract says a size runs, it runs with the inferred output
shapes; where it says fails, onnxruntime fails; where shapelint abstains, it names the op."""

import numpy as np
import pytest

from shapelint.analysis import contract, merges
from shapelint.lint import analyse, lint
from shapelint.symbolic import SizeSet, evaluate
from tests import onnx_models as om

RNG = np.random.default_rng(0)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _i64(b, values):
    return b.const(np.array(values, np.int64))


def _save(model, tmp_path, name="m.onnx"):
    import onnx

    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


def _outputs(b, y_names, model):
    """Every output of the recurrent node as a graph output (Y, Y_h, and LSTM's Y_c)."""
    from onnx import TensorProto, helper

    for extra in y_names[1:]:
        model.graph.output.append(helper.make_tensor_value_info(extra, TensorProto.FLOAT, None))
    return model


def _recurrent(b, x, op, hidden, size, direction="forward", extra_inputs=(), **attrs):
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    w = b.const(RNG.standard_normal((dirs, g * hidden, size)).astype(np.float32) * 0.1, "W")
    r = b.const(RNG.standard_normal((dirs, g * hidden, hidden)).astype(np.float32) * 0.1, "R")
    bias = b.const(np.zeros((dirs, 2 * g * hidden), np.float32), "B")
    n_out = 3 if op == "LSTM" else 2
    y = b.node(op, [x, w, r, bias, *extra_inputs], n_out=n_out, hidden_size=hidden, direction=direction, **attrs)
    return [y] + [f"{y}_out{j}" for j in range(1, n_out)]


def conv_recurrent(op="LSTM", direction="bidirectional"):
    """x[N, 2, L] → Conv1d(2→6, k=3, s=2, p=1) → [L', N, 6] → op (hidden 5): runs at every N, L."""
    b = om.Builder()
    w = b.const(RNG.standard_normal((6, 2, 3)).astype(np.float32) * 0.1, "w")
    c = b.node("Conv", ["x", w], kernel_shape=[3], strides=[2], pads=[1, 1])
    t = b.node("Transpose", [c], perm=[2, 0, 1])
    ys = _recurrent(b, t, op, 5, 6, direction)
    return _outputs(b, ys, b.model("x", ("N", 2, "L"), ys[0]))


def crnn(op="GRU"):
    """A CRNN: x[1, 1, F, T] → Conv2d(1→2, k=3, s=2, p=1) → [1, 2·F', T'] → [T', 1, 2·F'] → op whose
    W was traced at F = 16 (input size 2·8 = 16): onnxruntime runs only at F ∈ {15, 16}."""
    b = om.Builder()
    c = b.conv("x", 1, 2, k=3, s=2, p=1)
    t = b.node("Transpose", [c], perm=[3, 0, 1, 2])
    t = b.node("Reshape", [t, _i64(b, [0, 0, -1])])
    ys = _recurrent(b, t, op, 4, 16)
    return _outputs(b, ys, b.model("x", (1, 1, "F", "T"), ys[0]))


def traced_state(op="LSTM"):
    """x[N, 2, L] → [L, N, 2] → op with a constant initial_h (and initial_c) traced at batch 1:
    onnxruntime runs only at N = 1 ("Input initial_h must have shape {1,2,3}")."""
    b = om.Builder()
    t = b.node("Transpose", ["x"], perm=[2, 0, 1])
    h0 = b.const(np.zeros((1, 1, 3), np.float32), "h0")
    extra = ["", h0] + ([b.const(np.zeros((1, 1, 3), np.float32), "c0")] if op == "LSTM" else [])
    ys = _recurrent(b, t, op, 3, 2, extra_inputs=extra)
    return _outputs(b, ys, b.model("x", ("N", 2, "L"), ys[0]))


def state_from_shape(op="GRU"):
    """initial_h = zeros expanded to [1, N, 3] with N read from x's shape at run time (what
    exporters write for a dynamic batch): runs at every N and L."""
    b = om.Builder()
    t = b.node("Transpose", ["x"], perm=[2, 0, 1])
    n = b.node("Slice", [b.node("Shape", [t]), _i64(b, [1]), _i64(b, [2])])
    shape = b.node("Concat", [_i64(b, [1]), n, _i64(b, [3])], axis=0)
    h0 = b.node("Expand", [b.const(np.zeros((1, 1, 1), np.float32)), shape])
    ys = _recurrent(b, t, op, 3, 2, extra_inputs=["", h0])
    return _outputs(b, ys, b.model("x", ("N", 2, "L"), ys[0]))


def seq_lens(op="RNN", lens=(4, 6)):
    """sequence_lens traced as a constant [4, 6]: onnxruntime needs N = 2 and L ≥ 6 ("Invalid
    value/s in sequence_lens. All values must be >= 0 and <= seq_length")."""
    b = om.Builder()
    t = b.node("Transpose", ["x"], perm=[2, 0, 1])
    s = b.const(np.array(lens, np.int32), "lens")
    ys = _recurrent(b, t, op, 3, 2, extra_inputs=[s])
    return _outputs(b, ys, b.model("x", ("N", 2, "L"), ys[0]))


def convtasnet_like(stride=8, k=16):
    """torchaudio's ConvTasNet as traced at a length that is a multiple of the stride: encoder
    Conv1d(1→4, k=16, s=8, p=8) → ReLU → decoder ConvTranspose1d(4→1, k=16, s=8, p=8), whose output
    has 8·floor(L/8) samples, then ``view(batch, 1, L)`` with L read from the input: the Reshape's
    element count holds only at L mod 8 = 0."""
    b = om.Builder()
    w = b.const(RNG.standard_normal((4, 1, k)).astype(np.float32) * 0.1, "w")
    e = b.node("Relu", [b.node("Conv", ["x", w], kernel_shape=[k], strides=[stride], pads=[k // 2, k // 2])])
    wt = b.const(RNG.standard_normal((4, 1, k)).astype(np.float32) * 0.1, "wt")
    d = b.node("ConvTranspose", [e, wt], kernel_shape=[k], strides=[stride], pads=[k // 2, k // 2])
    sh = b.node("Shape", ["x"])
    target = b.node("Concat", [b.node("Slice", [sh, _i64(b, [0]), _i64(b, [1])]), _i64(b, [1]),
                               b.node("Slice", [sh, _i64(b, [2]), _i64(b, [3])])], axis=0)
    y = b.node("Reshape", [d, target])
    return b.model("x", ("N", 1, "L"), y, out_rank=3)


MODELS = {
    "lstm_bidirectional": lambda: conv_recurrent("LSTM", "bidirectional"),
    "gru_forward": lambda: conv_recurrent("GRU", "forward"),
    "rnn_reverse": lambda: conv_recurrent("RNN", "reverse"),
    "crnn_gru": lambda: crnn("GRU"),
    "crnn_lstm": lambda: crnn("LSTM"),
    "traced_state_lstm": lambda: traced_state("LSTM"),
    "traced_state_rnn": lambda: traced_state("RNN"),
    "state_from_shape_gru": lambda: state_from_shape("GRU"),
    "seq_lens_rnn": lambda: seq_lens("RNN"),
    "seq_lens_lstm": lambda: seq_lens("LSTM"),
    "convtasnet_like": convtasnet_like,
    "padded_no_crop": lambda: padded_no_crop(),  # defined below
}


def _sizes(model):
    """(symbol -> size) environments of the sweep and the input shape at each."""
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    syms = [d for d in dims if isinstance(d, str)]
    if syms == ["N", "L"] and model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 1:
        grid = [{"N": n, "L": x} for n in (1, 2) for x in range(1, 401)]  # ConvTasNet: every L in 1..400
    elif syms == ["N", "L"]:
        grid = [{"N": n, "L": x} for n in (1, 2, 3) for x in range(1, 41)]
    else:
        grid = [{"F": f, "T": t} for f in range(1, 25) for t in (1, 2, 5, 9)]
    return [(env, tuple(env[d] if isinstance(d, str) else d for d in dims)) for env in grid]


def _run_all(model, shape):
    """onnxruntime at ``shape``: (True, every output's shape) or (False, the error)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    try:
        outs = sess.run(None, {"x": RNG.standard_normal(shape).astype(np.float32)})
        return True, [tuple(o.shape) for o in outs]
    except Exception as e:  # onnxruntime raises several exception types
        return False, str(e).splitlines()[0][:300]


@pytest.mark.slow
@pytest.mark.runtime
@pytest.mark.parametrize("name", list(MODELS))
def test_contract_and_shapes_equal_onnxruntime_at_every_length(name, tmp_path):
    model = MODELS[name]()
    _g, inf = analyse(_save(model, tmp_path))
    c = contract(inf, merges(inf))
    assert not c.unknown, c.unknown
    outs = [o.name for o in model.graph.output]
    bad, ran, failed = [], 0, 0
    for env, shape in _sizes(model):
        ok, got = _run_all(model, shape)
        pred = c.runs(env)
        if pred is not ok:
            bad.append((env, pred, got))
        elif ok:
            ran += 1
            want = [tuple(evaluate(d, env) for d in inf.shape(o)) for o in outs]
            if want != got:
                bad.append((env, want, got))
        else:
            failed += 1
    assert not bad, bad[:5]
    assert ran  # compared both ways where the model also fails somewhere
    assert failed or name in ("lstm_bidirectional", "gru_forward", "rnn_reverse", "state_from_shape_gru", "padded_no_crop")


def _works(model, tmp_path) -> dict:
    _g, inf = analyse(_save(model, tmp_path))
    c = contract(inf, merges(inf))
    assert not c.unknown, c.unknown
    return c.works()


def _only(*sizes):
    return SizeSet(1, frozenset(), max(sizes) + 1, frozenset(sizes))


EVERY = SizeSet(1, frozenset({0}), 1, frozenset())


def test_contracts_of_sequence_models(tmp_path):
    """The sets the runtime sweep above confirms, computed in process (the fast tier's share)."""
    assert _works(convtasnet_like(), tmp_path) == {"L": SizeSet(8, frozenset({0}), 1, frozenset())}
    assert _works(crnn("GRU"), tmp_path) == {"F": _only(15, 16), "T": EVERY}
    assert _works(traced_state("LSTM"), tmp_path) == {"N": _only(1)}
    assert _works(seq_lens("RNN"), tmp_path) == {"N": _only(2), "L": SizeSet(1, frozenset({0}), 6, frozenset())}
    assert _works(conv_recurrent("LSTM", "bidirectional"), tmp_path) == {"N": EVERY, "L": EVERY}


def test_recurrent_output_shapes_are_exact(tmp_path):
    _g, inf = analyse(_save(conv_recurrent("LSTM", "bidirectional"), tmp_path))
    node = next(n for n in inf.graph.nodes if n.op == "LSTM")
    env = {"N": 3, "L": 11}
    got = [tuple(evaluate(d, env) for d in inf.shape(o)) for o in node.outputs]
    assert got == [(6, 2, 3, 5), (2, 3, 5), (2, 3, 5)]  # onnxruntime's, at L=11 → L' = 6


@pytest.mark.parametrize("attrs, words", [({"layout": 1}, "layout=1"), ({"hidden_size": None}, "hidden_size")])
def test_recurrent_op_onnxruntime_rejects_abstains_naming_it(attrs, words, tmp_path):
    """onnxruntime 1.32 refuses layout=1 and a missing hidden_size when the session is created;
    shapelint abstains there, naming the node (never "runs")."""
    from onnx import helper

    model = conv_recurrent("GRU", "forward")
    node = next(n for n in model.graph.node if n.op_type == "GRU")
    kept = [a for a in node.attribute if a.name not in attrs]
    del node.attribute[:]
    node.attribute.extend(kept + [helper.make_attribute(k, v) for k, v in attrs.items() if v is not None])
    path = _save(model, tmp_path)
    _g, inf = analyse(path)
    c = contract(inf, merges(inf))
    assert [u.node for u in c.unknown] == [node.name] and words in c.unknown[0].reason, c.unknown
    assert c.runs({"N": 1, "L": 8}) is None
    (note,) = [f for f in lint(path).findings if f.rule == "SL005"]
    assert note.node == node.name


@pytest.mark.runtime
@pytest.mark.parametrize("build, bad, good, words", [
    (lambda: crnn("GRU"), (1, 1, 20, 5), (1, 1, 16, 5), "Input W must have shape"),
    (lambda: traced_state("LSTM"), (2, 2, 5), (1, 2, 5), "Input initial_h must have shape"),
    (lambda: seq_lens("RNN"), (1, 2, 7), (2, 2, 7), "Input sequence_lens must have shape"),
    (lambda: seq_lens("LSTM"), (2, 2, 5), (2, 2, 6), "Invalid value/s in sequence_lens"),
])
def test_pinned_recurrent_failure_is_an_error_with_onnxruntimes_words(build, bad, good, words, tmp_path):
    from shapelint.frameworks.onnx import RUNTIME_WORDS

    model = build()
    path = _save(model, tmp_path)
    ok, err = _run_all(model, bad)
    assert not ok and words in err, err
    errors = [f for f in lint(path, {"x": bad}).findings if f.severity == "error"]
    node = next(n for n in model.graph.node if n.op_type in GATES)
    assert errors and errors[0].node == node.name and words in errors[0].message, errors
    assert words in RUNTIME_WORDS.values()
    assert _run_all(model, good)[0] and not [f for f in lint(path, {"x": good}).findings if f.severity == "error"]


def cropped(op):
    """x[N, 2, L] → x[:, :, 4:] → [L − 4, N, 2] → op: below L = 5 the sequence is empty."""
    b = om.Builder()
    s = b.node("Slice", ["x", _i64(b, [4]), _i64(b, [(1 << 63) - 1]), _i64(b, [2])])  # x[..., 4:] as torch exports it
    ys = _recurrent(b, b.node("Transpose", [s], perm=[2, 0, 1]), op, 3, 2)
    return _outputs(b, ys, b.model("x", ("N", 2, "L"), ys[0]))


_RUN_IN_CHILD = """
import sys, numpy as np, onnx, onnxruntime as ort
m = onnx.load(sys.argv[1])
s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
print([o.shape for o in s.run(None, {"x": np.zeros((1, 2, int(sys.argv[2])), np.float32)})])
"""


@pytest.mark.slow
@pytest.mark.runtime
@pytest.mark.parametrize("op", ["GRU", "LSTM", "RNN"])
def test_empty_sequence_gru_aborts_others_run(op, tmp_path):
    """onnxruntime 1.32 aborts the process on a GRU over an empty sequence ("terminate called
    without an active exception"); LSTM and RNN return empty Y. Run in a child process."""
    import subprocess
    import sys

    model = cropped(op)
    path = _save(model, tmp_path)
    _g, inf = analyse(path)
    c = contract(inf, merges(inf))
    assert not c.unknown, c.unknown
    verdicts = {}
    for length in (1, 3, 4, 5, 9):
        p = subprocess.run([sys.executable, "-c", _RUN_IN_CHILD, path, str(length)], capture_output=True, text=True)
        verdicts[length] = c.runs({"N": 1, "L": length})
        assert (p.returncode == 0) is verdicts[length], (length, p.returncode, p.stderr[-300:])
    assert [x for x, v in verdicts.items() if not v] == ([1, 3, 4] if op == "GRU" else [])
    assert c.works().get("L", EVERY) == (SizeSet(1, frozenset({0}), 5, frozenset()) if op == "GRU" else EVERY)


def padded_no_crop(block=80, stride=8, k=16):
    """asteroid-style: the input padded at the end to a multiple of 80 (pad = (80 − L mod 80) mod 80
    from the run-time shape), encoder Conv1d(k=16, s=8) and decoder ConvTranspose1d(k=16, s=8),
    no crop: runs at every L and returns 80·ceil(L/80) samples, not L."""
    b = om.Builder()
    length = b.node("Slice", [b.node("Shape", ["x"]), _i64(b, [2]), _i64(b, [3])])
    rem = b.node("Mod", [length, _i64(b, [block])])
    pad = b.node("Mod", [b.node("Sub", [_i64(b, [block]), rem]), _i64(b, [block])])
    pads = b.node("Concat", [_i64(b, [0, 0, 0, 0, 0]), pad], axis=0)
    p = b.node("Pad", ["x", pads], mode="constant")
    w = b.const(RNG.standard_normal((4, 1, k)).astype(np.float32) * 0.1, "w")
    e = b.node("Relu", [b.node("Conv", [p, w], kernel_shape=[k], strides=[stride])])
    wt = b.const(RNG.standard_normal((4, 1, k)).astype(np.float32) * 0.1, "wt")
    y = b.node("ConvTranspose", [e, wt], kernel_shape=[k], strides=[stride])
    return b.model("x", ("N", 1, "L"), y, out_rank=3)



def _contract_cli(path, *flags):
    import contextlib
    import io

    from shapelint.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["contract", path, *flags])
    return rc, out.getvalue()


def test_contract_states_the_length_rule_and_output_lengths(tmp_path):
    """ConvTasNet-like: "L mod 8 = 0" with the Reshape as the reason; asteroid-like padding without
    a crop runs everywhere and returns 80·ceil(L/80) samples, which the contract prints; an
    output whose dims are the input's gets no such line."""
    import json

    rc, text = _contract_cli(_save(convtasnet_like(), tmp_path, "tasnet.onnx"))
    assert rc == 0 and "(L): L mod 8 = 0, L ≥ 8" in text and "because Reshape" in text, text
    path = _save(padded_no_crop(), tmp_path, "pad.onnx")
    rc, text = _contract_cli(path)
    assert "every L ≥ 1" in text and text.rstrip().endswith(": [N, 1, 80·ceil(L/80)]"), text
    rc, text = _contract_cli(path, "--format", "json")
    (record,) = json.loads(text)
    assert [o["shape"] for o in record["outputs"]] == [["N", 1, "80·ceil(L/80)"]]
    rc, text = _contract_cli(_save(traced_state("RNN"), tmp_path, "rnn.onnx"))
    assert "output" not in text, text  # [L, 1, N, 3]: the input's own dims


def with_if():
    """asteroid's ``_unsqueeze_to_3d`` as torch.onnx writes it when the rank test is not folded: an
    If on Shape(x)'s size, whose branches hold the tensors. Their shapes are not in the IR (the
    loader empties subgraphs), so shapelint abstains at the If, naming it: no size "runs"."""
    from onnx import TensorProto, helper

    b = om.Builder()
    rank = b.node("Size", [b.node("Shape", ["x"])])
    cond = b.node("Equal", [rank, b.const(np.array(2, np.int64))])
    out_t, out_e = helper.make_tensor_value_info("t", TensorProto.FLOAT, None), \
        helper.make_tensor_value_info("e", TensorProto.FLOAT, None)
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    then = helper.make_graph([helper.make_node("Unsqueeze", ["x", "one"], ["t"])], "then", [], [out_t], [one])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [out_e])
    y3 = b.node("If", [cond], then_branch=then, else_branch=other)
    b.nodes[-1].name = "unsqueeze_to_3d"
    w = b.const(RNG.standard_normal((4, 1, 16)).astype(np.float32) * 0.1, "w")
    y = b.node("Conv", [y3, w], kernel_shape=[16], strides=[8], pads=[8, 8])
    return b.model("x", ("N", 1, "L"), y, out_rank=3)


@pytest.mark.runtime
def test_an_if_on_the_rank_is_followed_and_equals_onnxruntime(tmp_path):
    model = with_if()
    path = _save(model, tmp_path)
    _g, inf = analyse(path)
    c = contract(inf, merges(inf))
    assert not c.unknown and not any(n.op == "If" for n in inf.graph.nodes)
    for x in (1, 8, 9, 64):
        assert c.runs({"N": 1, "L": x}) is om.run(model, (1, 1, x))[0] is True, x
    assert not [f for f in lint(path).findings if f.rule == "SL005"]


# --------------------------------------------------------------------------- Keras


def keras_recurrent_zoo():
    """Every recurrent layer form on a (None, 3) sequence, each output a model output."""
    from tests import keras_models as km

    keras = km._keras()
    L = keras.layers
    x = keras.Input((None, 3), name="seq")
    outs = [
        L.LSTM(4, return_sequences=True, name="lstm_seq")(x),
        L.LSTM(4, name="lstm_last")(x),
        *L.GRU(5, return_sequences=True, return_state=True, name="gru_state")(x),
        L.SimpleRNN(2, go_backwards=True, name="rnn_backwards")(x),
        L.Bidirectional(L.LSTM(3, return_sequences=True), name="bi_concat")(x),
        L.Bidirectional(L.GRU(3), merge_mode="sum", name="bi_sum")(x),
        *L.Bidirectional(L.LSTM(2, return_state=True), name="bi_state")(x),
        L.LSTM(3, return_sequences=True, name="after_conv")(L.Conv1D(4, 3, strides=2, name="conv")(x)),
    ]
    return keras.Model(x, outs, name="keras_recurrent")


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_keras_recurrent_shapes_equal_tf(tmp_path):
    from tests import keras_models as km

    path = km.save(keras_recurrent_zoo(), tmp_path / "rec.keras")
    graph, inf = analyse(path)
    assert not inf.unknown_ops and not inf.lost, (inf.notes, inf.lost)
    (sym,) = [d for d in graph.inputs[0].shape if isinstance(d, str) and d != graph.inputs[0].shape[0]]
    sizes = [(2, t, 3) for t in (3, 4, 5, 8, 13)]
    runs = km.run_in_tf([(path, s) for s in sizes])
    bad = []
    for shape, (ok, got) in zip(sizes, runs):
        assert ok, got
        env = {graph.inputs[0].shape[0]: shape[0], sym: shape[1]}
        ours = [tuple(evaluate(d, env) for d in inf.shape(o)) for o in graph.outputs]
        if ours != [tuple(s) for s in got]:
            bad.append((shape, ours, got))
    assert not bad, bad
    c = contract(inf, merges(inf))
    assert not c.unknown and c.runs(env) is True, c.unknown


# --------------------------------------------------------------------------- torch exports

DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_torch_exported_sequence_contracts():
    """torch.onnx exports (scripts/make_seq_models.py): the ConvTasNet-like model's final Reshape
    (view(batch, sources, num_padded_frames), traced at L = 800) needs L mod 8 = 0 — the element
    counts 16·N·floor(L/8) and 2·N·L are compared per symbol after N cancels; the LSTM's output
    reshape [seq, N, 2, 6] → [0, 0, -1] is 12 and nothing is unknown."""
    _g, inf = analyse(str(DATA / "tasnet_like_ts.onnx"))
    c = contract(inf, merges(inf))
    works = c.works()
    assert not c.unknown and not c.joint() and works["L"] == SizeSet(8, frozenset({0}), 1, frozenset()), works
    assert works.get("N", EVERY) == EVERY
    rc, text = _contract_cli(str(DATA / "tasnet_like_ts.onnx"))
    assert "(L): L mod 8 = 0, L ≥ 8" in text and "because Reshape '/Reshape_2'" in text, text
    _g, inf = analyse(str(DATA / "bilstm_gru_ts.onnx"))
    c = contract(inf, merges(inf))
    assert not c.unknown and c.works().get("L") == SizeSet(1, frozenset({0}), 16, frozenset()), (c.unknown, c.works())


@pytest.mark.slow
@pytest.mark.runtime
@pytest.mark.parametrize("name", ["tasnet_like_ts", "bilstm_gru_ts"])
def test_torch_exported_sequence_models_equal_onnxruntime(name):
    import onnx

    model = onnx.load(str(DATA / f"{name}.onnx"))
    _g, inf = analyse(str(DATA / f"{name}.onnx"))
    c = contract(inf, merges(inf))
    bad, counts = [], {True: 0, False: 0}
    for n in (1, 2):
        for length in range(1, 401):
            ok, got = _run_all(model, (n, 1, length))
            env = {"N": n, "L": length}
            if c.runs(env) is not ok:
                bad.append((env, ok, got))
            elif ok and [tuple(evaluate(d, env) for d in inf.shape("y"))] != got:
                bad.append((env, inf.shape("y"), got))
            counts[ok] += 1
    assert not bad, bad[:5]
    assert counts == ({True: 100, False: 700} if name == "tasnet_like_ts" else {True: 770, False: 30})


def reshape_after_crop():
    """x[..., 4:] then Reshape [0, -1, 0]: below L = 5 the copied length is 0, and onnxruntime
    rejects a -1 beside an empty dim ("size != 0 ... cannot be reshaped"), although the element
    counts (0 and 0) agree."""
    b = om.Builder()
    s = b.node("Slice", ["x", _i64(b, [4]), _i64(b, [(1 << 63) - 1]), _i64(b, [2])])
    y = b.node("Reshape", [s, _i64(b, [0, -1, 0])])
    return b.model("x", ("N", 2, "L"), y, out_rank=3)


@pytest.mark.runtime
def test_reshape_minus_one_beside_an_empty_dim_fails(tmp_path):
    model = reshape_after_crop()
    _g, inf = analyse(_save(model, tmp_path))
    c = contract(inf, merges(inf))
    verdicts = {length: om.run(model, (1, 2, length))[0] for length in (1, 4, 5, 6, 9)}
    assert verdicts == {1: False, 4: False, 5: True, 6: True, 9: True}
    assert {x: c.runs({"N": 1, "L": x}) for x in verdicts} == verdicts
