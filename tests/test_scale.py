"""A 100,000-node graph is linted completely and exactly (times are measured by
scripts/benchmark_scale.py, not asserted here): the first U-Net level of 500 is the one SL003
finding — every later level fails only where the first already does — and its set is
onnxruntime's rule for one stride-2 stage (checked on a small copy of the same blocks)."""

import onnx
import pytest

from shapelint.lint import lint
from tests.onnx_models import run
from tests.support import load_script

make_large = load_script("make_large")
make, unet_levels = make_large.make, make_large.unet_levels


@pytest.mark.slow
def test_hundred_thousand_nodes_one_exact_finding(tmp_path):
    m = make(100_000)
    assert len(m.graph.node) >= 100_000 and unet_levels(m) == 500
    path = tmp_path / "large.onnx"
    onnx.save(m, str(path))
    del m
    res = lint(str(path))
    sl003 = [f for f in res.findings if f.rule == "SL003"]
    assert [f.node for f in sl003] == ["b50_cat"], [f.node for f in sl003]
    assert res.works == {"H": "H mod 2 = 0, H ≥ 2", "W": "W mod 2 = 0, W ≥ 2"}, res.works
    assert not [f for f in res.findings if f.severity == "error"]


@pytest.mark.runtime
def test_the_same_blocks_small_run_as_claimed(tmp_path):
    """The claim above, on the same blocks with a U-Net level every 10 (400 nodes, 10 levels), with
    onnxruntime: even sizes run, odd fail, as shapelint says for this graph too."""
    m = make(400, unet_every=10)
    assert unet_levels(m) >= 5
    assert [h for h in range(1, 13) if run(m, (1, 8, h, 6))[0]] == [2, 4, 6, 8, 10, 12]
    onnx.save(m, str(tmp_path / "small.onnx"))
    assert lint(str(tmp_path / "small.onnx")).works == {"H": "H mod 2 = 0, H ≥ 2", "W": "W mod 2 = 0, W ≥ 2"}


@pytest.mark.slow
@pytest.mark.runtime
def test_deep_pools_in_a_large_graph_abstain_below_the_windows_and_say_so(tmp_path):
    """20,000 nodes behind 3 MaxPools (k2 s2): evaluating each size below the pool windows would
    cost 7 sizes × the graph, over the budget, so the whole-model line abstains there and says so;
    above, the set is exact. The same blocks small (≈ 400 nodes) are evaluated everywhere, and
    onnxruntime agrees with that contract at every H in 1…40."""
    from shapelint.analysis import contract
    from shapelint.lint import analyse

    big = make(20_000, pools=3)
    path = tmp_path / "large.onnx"
    onnx.save(big, str(path))
    del big
    res = lint(str(path))
    assert res.works["H"].startswith("H mod 16 ∈ {0, 1, 2, 3, 4, 5, 6, 7}, H ≥ 16 (H = 1…7, where a pool window "
                                     "exceeds its input, not evaluated"), res.works
    m = make(400, unet_every=10, pools=3)
    onnx.save(m, str(tmp_path / "small.onnx"))
    c = contract(analyse(str(tmp_path / "small.onnx"))[1])
    assert not c.unevaluated
    got = {h: c.runs({"H": h, "W": 16}) for h in range(1, 41)}
    want = {h: run(m, (1, 8, h, 16))[0] for h in range(1, 41)}
    assert got == want, {h: (got[h], want[h]) for h in got if got[h] != want[h]}
