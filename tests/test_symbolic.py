"""Exact symbolic dims: canonical forms, and sets of sizes checked against brute force."""

import itertools

import pytest

from shapelint import sizes
from shapelint.symbolic import (
    BroadcastPred,
    EqualPred,
    SizeSet,
    bcast,
    ceildiv,
    evaluate,
    floordiv,
    maximum,
    minimum,
    mul,
    solve,
    sym,
)

H = sym("H")


@pytest.mark.parametrize("expr, text", [
    (floordiv(floordiv(H, 2), 2), "floor(H/4)"),
    (ceildiv(ceildiv(H, 2), 2), "ceil(H/4)"),
    (sizes.conv_out(H, 3, 2, 1, 1, 1), "ceil(H/2)"),           # k3 s2 p1
    (sizes.conv_out(H, 7, 2, 1, 3, 3), "ceil(H/2)"),           # resnet stem
    (sizes.conv_out(H, 2, 2, 1, 0, 0), "floor(H/2)"),          # k2 s2 p0, MaxPool 2
    (floordiv(mul(H, 2) + 2, 4), "ceil(H/2)"),                 # gcd reduced
    (sizes.onnx_convtranspose_out(ceildiv(H, 2), 4, 2, 1, 1, 1, 0), "2·ceil(H/2)"),
])
def test_canonical_forms(expr, text):
    assert str(expr) == text


def test_floor_identities_hold_numerically():
    exprs = [floordiv(floordiv(H + 3, 2) + 1, 3), ceildiv(mul(H, 3) + 1, 6), floordiv(H, 1) - 2]
    refs = [lambda h: ((h + 3) // 2 + 1) // 3, lambda h: -(-(3 * h + 1) // 6), lambda h: h - 2]
    for e, ref in zip(exprs, refs):
        for h in range(-40, 200):
            assert evaluate(e, {"H": h}) == ref(h), (str(e), h)


def _brute(dims, pred, lo=1, hi=400):
    return {h for h in range(lo, hi) if pred.concrete(dims, {"H": h})}


def _members(s: SizeSet, hi=400):
    return {h for h in range(1, hi) if h in s}


CHAINS = []
for depth, (k, s, p) in itertools.product((1, 2, 3, 4), ((3, 2, 1), (2, 2, 0), (3, 3, 1), (5, 2, 2), (3, 2, 0))):
    x = H
    levels = [x]
    for _ in range(depth):
        x = sizes.conv_out(x, k, s, 1, p, p)
        levels.append(x)
    CHAINS.append((f"d{depth}k{k}s{s}p{p}", levels, s))


@pytest.mark.parametrize("name, levels, s", CHAINS, ids=[c[0] for c in CHAINS])
def test_unet_skip_sets_equal_brute_force(name, levels, s):
    """Decoder ×s from level j+1 against the skip at level j, as Concat and as Add."""
    for j in range(len(levels) - 1):
        up, skip = mul(levels[j + 1], s), levels[j]
        for pred in (EqualPred(), BroadcastPred()):
            got = solve([up, skip], pred, "H")
            assert _members(got) == _brute([up, skip], pred), (name, j, type(pred).__name__, got)


def test_nested_broadcasts_equal_brute_force():
    e4, e8, e16 = ceildiv(H, 4), ceildiv(H, 8), ceildiv(H, 16)
    m1 = bcast(mul(e16, 2), e8)
    m2 = bcast(mul(m1, 2), e4)
    for dims in ([mul(m1, 2), e4], [mul(m2, 4), mul(e4, 4)], [maximum(H, 7), minimum(H, 20)]):
        for pred in (EqualPred(), BroadcastPred()):
            assert _members(solve(dims, pred, "H")) == _brute(dims, pred)


def test_describe_states_modulus_residues_and_minimum():
    levels = CHAINS[[c[0] for c in CHAINS].index("d4k3s2p1")][1]
    # skips at ceil(H/2), ceil(H/4), ceil(H/8), as in a LinkNet after its stem
    total = SizeSet.everything()
    for j in (1, 2, 3):
        total = total.intersect(solve([mul(levels[j + 1], 2), levels[j]], EqualPred(), "H"))
    assert total.describe("H") == "H mod 16 ∈ {0, 15}, H ≥ 15"
    assert total.first_missing() == 1
    assert [h for h in range(1, 70) if h in total] == [15, 16, 31, 32, 47, 48, 63, 64]
    # and with the full-resolution skip too, only multiples of 16
    full = total.intersect(solve([mul(levels[1], 2), levels[0]], EqualPred(), "H"))
    assert full.describe("H") == "H mod 16 = 0, H ≥ 16"


def test_affine_mismatch_has_isolated_solution():
    # 2H vs H + 10 agree only at H = 10
    assert _members(solve([mul(H, 2), H + 10], EqualPred(), "H")) == {10}
