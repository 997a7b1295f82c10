"""The model zoo (zoo/, made by scripts/make_zoo.py): graph-only exports of public architecture code
with onnxruntime's verdict per input size, measured on the models with their weights. Here: the files
are what zoo/verdicts.json and zoo/README.md say, and -- refilled with seeded random weights -- a
sample of them still gets the stored verdicts from the installed onnxruntime."""

import json
import os
import random

import onnx
import pytest

from tests.zoo_util import VERDICTS, ZOO, run_sizes, verdict, with_random_weights


def _table():
    with open(VERDICTS) as f:
        return json.load(f)


def _model_files():
    return sorted(f for f in os.listdir(ZOO) if f.endswith(".onnx"))


def test_every_model_file_has_a_verdict_entry_and_back():
    table = _table()
    assert _model_files() == sorted(table), set(_model_files()) ^ set(table)
    assert len(table) >= 40
    assert sum(e["exporter"] == "dynamo" for e in table.values()) >= 8
    assert {e["exporter"] for e in table.values()} == {"torchscript", "dynamo"}


@pytest.mark.parametrize("fname", _model_files())
def test_model_loads_graph_only_and_its_entry_covers_145_sizes(fname):
    entry = _table()[fname]
    m = onnx.load(os.path.join(ZOO, fname), load_external_data=False)
    inputs = {i.name: i for i in m.graph.input}
    assert entry["input"] in inputs
    dims = [d.dim_param or str(d.dim_value) for d in inputs[entry["input"]].type.tensor_type.shape.dim]
    assert dims == entry["input_shape"] and dims[2:] == ["H", "W"], dims
    # graph only: no tensor over 1 KB is stored in the file, and its external data file is gone
    big = [t for t in m.graph.initializer if t.data_location != onnx.TensorProto.EXTERNAL and len(t.raw_data) > 1024]
    assert not big, [t.name for t in big]
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer) or any(
        a.t.data_location == onnx.TensorProto.EXTERNAL for n in m.graph.node for a in n.attribute if a.type == a.TENSOR)
    assert not [f for f in os.listdir(ZOO) if f.startswith(fname) and f != fname]
    sizes = entry["sizes"]
    assert len(sizes) >= 145
    assert all(f"{h}x{h}" in sizes for h in range(16, 131))
    for size, v in sizes.items():
        h, w = (int(x) for x in size.split("x"))
        assert 16 <= h <= 130 and 16 <= w <= 130, size
        assert v == "ok" or (v["verdict"] == "fail" and 0 < len(v["error"]) <= 200), (size, v)
    for key in ("library", "version", "build", "exporter"):
        assert entry[key], key


def test_zoo_is_small_and_its_readme_names_every_model():
    total = sum(os.path.getsize(os.path.join(ZOO, f)) for f in os.listdir(ZOO))
    assert total < 15 * 2**20, total
    with open(os.path.join(ZOO, "README.md")) as f:
        readme = f.read()
    for fname in _table():
        assert f"`{fname}`" in readme, fname


def test_zoo_has_models_that_run_everywhere_somewhere_and_at_one_size():
    counts = {f: sum(v == "ok" for v in e["sizes"].values()) for f, e in _table().items()}
    total = {f: len(e["sizes"]) for f, e in _table().items()}
    assert any(counts[f] == total[f] for f in counts)
    assert any(0 < counts[f] < total[f] // 4 for f in counts)
    assert any(counts[f] == 1 for f in counts)


def _sample():
    """6 models (by a fixed seed, at least one of each exporter) and ~10 sizes each, half of them
    ok and half failing where the model has both."""
    table = _table()
    rng = random.Random(20240611)
    names = sorted(table)
    picked = rng.sample(names, 6)
    for exporter in ("torchscript", "dynamo"):
        if not any(table[n]["exporter"] == exporter for n in picked):
            picked[-1] = rng.choice([n for n in names if table[n]["exporter"] == exporter])
    out = []
    for name in picked:
        sizes = table[name]["sizes"]
        oks = sorted(s for s, v in sizes.items() if v == "ok")
        fails = sorted(s for s, v in sizes.items() if v != "ok")
        k_ok = min(len(oks), max(5, 10 - len(fails)))
        chosen = rng.sample(oks, k_ok) + rng.sample(fails, min(len(fails), 10 - k_ok))
        out.append((name, chosen))
    return out


@pytest.mark.runtime
@pytest.mark.slow
@pytest.mark.parametrize("name,sizes", _sample(), ids=[n for n, _ in _sample()])
def test_refilled_model_gets_the_stored_verdicts(name, sizes, tmp_path):
    entry = _table()[name]
    channels = int(entry["input_shape"][1])
    refilled = tmp_path / name
    with_random_weights(os.path.join(ZOO, name), refilled, seed=0)
    got = run_sizes(refilled, channels, [tuple(int(x) for x in size.split("x")) for size in sizes])
    bad = []
    for size in sizes:
        want = verdict(entry["sizes"][size])
        if ("ok" if got[size] == "ok" else "fail") != want:
            bad.append(f"{size}: stored {want}, onnxruntime now {'ok' if got[size] == 'ok' else 'fail: ' + got[size]}")
    assert not bad, "\n".join(bad)
    assert len(sizes) >= 5


@pytest.mark.runtime
@pytest.mark.slow
def test_a_size_that_kills_onnxruntime_is_a_failure_and_the_others_still_run(tmp_path):
    """SqueezeNet 1.1 at 16x16: onnxruntime's process dies of SIGFPE (as measured with the weights);
    run_sizes records it and runs the sizes after it in a fresh process."""
    name = "tv_squeezenet1_1_ts.onnx"
    assert name in _table(), f"{name} is no longer in the zoo: this test needs a model that kills onnxruntime"
    stored = _table()[name]["sizes"]
    assert "crashed" in stored["16x16"]["error"]
    refilled = tmp_path / name
    with_random_weights(os.path.join(ZOO, name), refilled, seed=0)
    got = run_sizes(refilled, 3, [(17, 17), (16, 16), (64, 64)])
    assert got["17x17"] == "ok" and got["64x64"] == "ok", got
    assert got["16x16"] == "onnxruntime crashed: SIGFPE", got  # the signal named (zoo_util._death)
