"""HRNet-like graphs (scripts/make_hrnet.py): parallel resolution branches whose exchange units
sum every branch brought to every other's resolution. The contract is exact on them (checked with
onnxruntime on a small one), and the shortcuts that make it fast on 2,000 nodes give the answers
of the plain computation: vectorised evaluation is evaluate() at each size, a remembered solve is
the solve, and W's sets are H's where the structure is the same."""

import onnx
import pytest

from shapelint import symbolic as S
from shapelint.analysis import contract, merges
from shapelint.lint import analyse
from shapelint.symbolic import (
    BroadcastPred, EqualPred, Invalid, PositivePred, bcast, ceildiv, evaluate, evaluate_many, floordiv, maximum,
    mul, sym)
from tests.onnx_models import run
from tests.support import load_script

make_hrnet = load_script("make_hrnet")
make, make_nodes = make_hrnet.make, make_hrnet.make_nodes


def _outcome(e, env):
    try:
        return evaluate(e, env)
    except Invalid:
        return "invalid"
    except KeyError as k:
        return ("missing", k.args[0])


def _as_outcome(v):
    if isinstance(v, S.Mark):
        return "invalid" if v.missing is None else ("missing", v.missing)
    return v


def _exprs():
    H, W = sym("H"), sym("W")
    a = bcast(mul(2, ceildiv(H, 8)), ceildiv(H, 4))
    return [H, ceildiv(H, 4), a, ceildiv(a, 2), bcast(mul(4, ceildiv(H, 16)), a), mul(a, ceildiv(H, 2)),
            maximum(floordiv(H, 3), 5) + a, bcast(a, W), mul(H, W) + 1, bcast(ceildiv(H, 2), 1)]


def test_evaluate_many_is_evaluate_at_each_size():
    xs = range(1, 200)
    memo: dict = {}
    for e in _exprs():
        got = [_as_outcome(v) for v in evaluate_many(e, "H", xs, memo)]
        assert got == [_outcome(e, {"H": x}) for x in xs], e


def test_remembered_solve_is_the_solve_and_w_is_h():
    H, W = sym("H"), sym("W")
    for make_dims in (lambda s: [bcast(mul(2, ceildiv(s, 8)), ceildiv(s, 4))],
                      lambda s: [ceildiv(s, 4), mul(2, ceildiv(s, 8))],
                      lambda s: [ceildiv(bcast(mul(2, ceildiv(s, 8)), ceildiv(s, 4)), 2), ceildiv(s, 8)]):
        for pred in (EqualPred(), BroadcastPred(), PositivePred()):
            plain = S._solve(make_dims(H), pred, "H", 1)
            assert S.solve(make_dims(H), pred, "H") == plain
            assert S.solve(make_dims(H), pred, "H") == plain  # remembered
            assert S.solve(make_dims(W), pred, "W") == S._solve(make_dims(W), pred, "W", 1) == plain


@pytest.mark.runtime
def test_small_hrnet_contract_is_onnxruntime(tmp_path):
    m = make((1, 1, 1, 0), blocks=1)
    path = tmp_path / "hrnet_small.onnx"
    onnx.save(m, str(path))
    _, inf = analyse(str(path))
    c = contract(inf, merges(inf))
    for h in range(1, 41):
        said = c.runs({"H": h, "W": 32})
        if said is not None:
            assert said == run(m, (1, 3, h, 32))[0], h


@pytest.mark.slow
def test_hrnet_2000_nodes_solves_each_structure_once(tmp_path, monkeypatch):
    m = make_nodes(2000)
    assert len(m.graph.node) >= 2000
    path = tmp_path / "hrnet.onnx"
    onnx.save(m, str(path))
    del m
    calls = []
    plain = S._solve

    def counted(dims, holds, name, low):
        calls.append((tuple(S._rename(d, name) for d in dims), type(holds), low))
        return plain(dims, holds, name, low)

    monkeypatch.setattr(S, "_SOLVED", {})
    monkeypatch.setattr(S, "_solve", counted)
    from shapelint.reasons import restrictions

    _, inf = analyse(str(path))
    found = merges(inf)
    c = contract(inf, found)
    why = restrictions(inf, found, c.works())
    assert set(why) == {"H", "W"}
    assert len(calls) == len(set(calls)), "a structure was solved twice"
