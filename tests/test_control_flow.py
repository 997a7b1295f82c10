"""ONNX If: followed into the branch taken where the condition is decided (a constant, or computed
from static ranks or from pinned sizes), so the branch's ops and run-time checks are the model's;
an If whose condition depends on the input sizes, or whose branch was not read, abstains naming
the node and why. Every verdict is compared with onnxruntime."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from shapelint.analysis import contract, merges
from shapelint.findings import ABSTENTION_RULES
from shapelint.lint import analyse, lint
from shapelint.symbolic import evaluate

ort = pytest.importorskip("onnxruntime")

LENGTHS = range(1, 41)


def _branch(name, node, out):
    return h.make_graph([node], name, [], [h.make_tensor_value_info(out, T.FLOAT, [None, None, None])])


def if_model(cond="rank", merge_when_true=True, nested=False, clash=False):
    """x [N, 1, L] -> Conv1d(k=16, s=8) 'enc' -> ConvTranspose1d(k=16, s=8) 'dec' -> y (8·floor(L/8)),
    then If 'branch': one branch adds y and x (holds only where 8·floor(L/8) = L), the other passes y.
    ``cond``: "rank" (rank(x) = 3: decided), "mod" (L mod 8 = 0: depends on L)."""
    nodes = [h.make_node("Conv", ["x", "W"], ["c"], strides=[8], name="enc"),
             h.make_node("ConvTranspose", ["c", "Wt"], ["y"], strides=[8], name="dec"),
             h.make_node("Shape", ["x"], ["sx"], name="shape")]
    inits = [nh.from_array(np.full((4, 1, 16), 0.1, np.float32), "W"),
             nh.from_array(np.full((4, 1, 16), 0.1, np.float32), "Wt")]
    if cond == "rank":
        nodes += [h.make_node("Size", ["sx"], ["rank"], name="rank"),
                  h.make_node("Equal", ["rank", "three"], ["cond"], name="is3")]
        inits.append(nh.from_array(np.array(3, np.int64), "three"))
    elif cond == "cast":  # asteroid's `if values_to_pad:` -- Cast(L mod 8, to=bool): true when L mod 8 ≠ 0
        nodes += [h.make_node("Gather", ["sx", "two"], ["L"], axis=0, name="getL"),
                  h.make_node("Mod", ["L", "eight"], ["r"], name="mod"),
                  h.make_node("Cast", ["r"], ["cond"], to=T.BOOL, name="nonzero")]
        inits += [nh.from_array(np.array(2, np.int64), "two"), nh.from_array(np.array(8, np.int64), "eight")]
    else:
        nodes += [h.make_node("Gather", ["sx", "two"], ["L"], axis=0, name="getL"),
                  h.make_node("Mod", ["L", "eight"], ["r"], name="mod"),
                  h.make_node("Equal", ["r", "zero"], ["cond"], name="divisible")]
        inits += [nh.from_array(np.array(2, np.int64), "two"), nh.from_array(np.array(8, np.int64), "eight"),
                  nh.from_array(np.array(0, np.int64), "zero")]
    merge = h.make_node("Add", ["y", "x"], ["c" if clash else "t_out"], name="merge")
    if nested:  # the merge inside an If inside the branch
        inner = h.make_node("If", ["cond"], ["t_out"], name="inner",
                            then_branch=_branch("then", merge, "t_out"),
                            else_branch=_branch("else", h.make_node("Identity", ["y"], ["i_out"], name="ipass"), "i_out"))
        merging = _branch("then", inner, "t_out")
    else:
        merging = _branch("then", merge, "c" if clash else "t_out")
    passing = _branch("else", h.make_node("Identity", ["y"], ["e_out"], name="pass"), "e_out")
    nodes.append(h.make_node("If", ["cond"], ["z"], name="branch",
                             then_branch=merging if merge_when_true else passing,
                             else_branch=passing if merge_when_true else merging))
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["N", 1, "L"])],
                     [h.make_tensor_value_info("z", T.FLOAT, [None, None, None])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _save(tmp_path, m, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(m.SerializeToString())
    return str(path)


def _ort_ok(path) -> dict:
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    out = {}
    for n in LENGTHS:
        try:
            out[n] = s.run(None, {"x": np.zeros((1, 1, n), np.float32)})[0].shape
        except Exception:  # noqa: BLE001 - onnxruntime's own failure
            out[n] = None
    return out


def _contract(path):
    _, inf = analyse(path)
    return contract(inf, merges(inf)), inf


@pytest.mark.parametrize("merge_when_true", [True, False], ids=["merging-branch", "passing-branch"])
def test_a_decided_if_is_followed_into_its_branch_and_equals_onnxruntime(tmp_path, merge_when_true):
    path = _save(tmp_path, if_model("rank", merge_when_true))
    c, inf = _contract(path)
    assert "branch" not in inf.lost and not any(n.op == "If" for n in inf.graph.nodes)
    assert any(n.name == "merge" for n in inf.graph.nodes) == merge_when_true  # the branch's checks are the model's
    runs = _ort_ok(path)
    assert {n: c.runs({"N": 1, "L": n}) for n in LENGTHS} == {n: runs[n] is not None for n in LENGTHS}
    assert sum(r is not None for r in runs.values()) == (4 if merge_when_true else 25)  # L mod 8 = 0 / L ≥ 16
    # the output's length as stated equals onnxruntime's, where it runs
    z = inf.shape("z")
    for n, shape in runs.items():
        if shape is not None:
            assert evaluate(z[2], {"L": n}) == shape[2], n


@pytest.mark.parametrize("cond, producer", [("mod", "Equal 'divisible'"), ("cast", "Cast 'nonzero'")])
def test_an_if_on_the_input_size_abstains_unpinned_and_is_followed_pinned(tmp_path, cond, producer):
    path = _save(tmp_path, if_model(cond))
    c, inf = _contract(path)
    op, why = inf.lost["branch"]
    assert op == "If" and f"'cond', from {producer}" in why and "depends on the input sizes" in why
    assert "branch" not in inf.failed  # a well-formed node, not a malformed one
    big = [n for n in LENGTHS if n >= 16]
    assert all(c.runs({"N": 1, "L": n}) is None for n in big)  # never "runs" past it
    runs = _ort_ok(path)
    for n in LENGTHS:  # pinned, the condition is decided: error ⇔ onnxruntime fails
        res = lint(path, {"x": (1, 1, n)})
        assert not any(f.rule in ABSTENTION_RULES for f in res.findings), n
        assert any(f.severity == "error" for f in res.findings) == (runs[n] is None), n


def test_the_branch_taken_at_a_pinned_size_decides_the_verdict(tmp_path):
    """Merging when L mod 8 ≠ 0 fails at every such L ≥ 16: pinned check says so, onnxruntime agrees."""
    path = _save(tmp_path, if_model("mod", merge_when_true=False))
    runs = _ort_ok(path)
    assert [n for n in LENGTHS if runs[n] is not None] == [16, 24, 32, 40]
    for n in (16, 17, 23, 24):
        errors = [f for f in lint(path, {"x": (1, 1, n)}).findings if f.severity == "error"]
        assert bool(errors) == (runs[n] is None), n
        if errors:
            assert errors[0].node == "merge", errors


@pytest.mark.parametrize("kind, node, why", [
    ("nested", "inner", "was not read"),  # an If inside a branch: one level is read
    ("clash", "branch", "defines a name the graph already has"),  # a branch redefining an outer tensor
])
def test_an_if_that_cannot_be_followed_abstains_naming_it(tmp_path, kind, node, why):
    path = _save(tmp_path, if_model("rank", nested=kind == "nested", clash=kind == "clash"))
    c, inf = _contract(path)
    op, reason = inf.lost[node]
    assert op == "If" and why in reason
    assert all(c.runs({"N": 1, "L": n}) is None for n in range(16, 41))


def test_names_inside_a_branch_are_escaped(tmp_path):
    m = if_model("rank", merge_when_true=True)
    branch = m.graph.node[-1]
    then = next(a for a in branch.attribute if a.name == "then_branch").g
    then.node[0].name = "merge\x1b[31m\n::error::pwned"
    path = _save(tmp_path, m)
    res = lint(path)
    text = "\n".join(f.message for f in res.findings) + "\n".join(f.node for f in res.findings)
    assert "merge\\x1b[31m\\n::error::pwned" in text and "\x1b" not in text and "\n::" not in text
    onnx.checker.check_model(m)  # (a valid model)


def test_fix_does_not_rewrite_a_node_inside_a_branch(tmp_path, capsys):
    from shapelint import cli

    path = _save(tmp_path, if_model("rank"))
    dest = tmp_path / "fixed.onnx"
    assert cli.main(["fix", path, "-o", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "merge: cannot fix SL003: the node is inside an If branch" in err and not dest.exists()


@pytest.mark.parametrize("chain", [8, 9])
def test_ifs_decided_one_after_another_are_followed_up_to_the_limit(tmp_path, chain):
    """Each If's condition reads the previous If's output (its rank), so it is decided only once
    that one was followed: one more inference pass per If, limits.MAX_IF_ROUNDS passes in all."""
    from shapelint import limits

    assert limits.MAX_IF_ROUNDS == 8
    nodes, inits, prev = [], [nh.from_array(np.array(3, np.int64), "three")], "x"
    for k in range(chain):
        nodes += [h.make_node("Shape", [prev], [f"s{k}"], name=f"shape{k}"),
                  h.make_node("Size", [f"s{k}"], [f"r{k}"], name=f"rank{k}"),
                  h.make_node("Equal", [f"r{k}", "three"], [f"c{k}"], name=f"is3_{k}"),
                  h.make_node("If", [f"c{k}"], [f"o{k}"], name=f"if{k}",
                              then_branch=_branch("then", h.make_node("Relu", [prev], [f"t{k}"], name=f"relu{k}"),
                                                  f"t{k}"),
                              else_branch=_branch("else", h.make_node("Identity", [prev], [f"e{k}"], name=f"id{k}"),
                                                  f"e{k}"))]
        prev = f"o{k}"
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["N", 1, "L"])],
                     [h.make_tensor_value_info(prev, T.FLOAT, [None, None, None])], inits)
    path = _save(tmp_path, h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    c, inf = _contract(path)
    followed = [k for k in range(chain) if any(n.name == f"relu{k}" for n in inf.graph.nodes)]
    assert followed == list(range(min(chain, 8)))
    if chain == 8:
        assert not inf.lost and c.runs({"N": 1, "L": 5}) is True and str(inf.shape(prev)[2]) == "L"
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        assert sess.run(None, {"x": np.ones((1, 1, 5), np.float32)})[0].shape == (1, 1, 5)  # onnxruntime agrees
    else:
        op, why = inf.lost["if8"]
        assert op == "If" and "MAX_IF_ROUNDS" in why and c.runs({"N": 1, "L": 5}) is None
