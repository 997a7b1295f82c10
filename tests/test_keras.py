"""Keras ``.keras`` files: the loader (zipfile + json, no Keras), the Keras shape rules, SL001/SL002
for Conv2DTranspose, and SL003 on U-Nets -- every number confirmed by Keras/TensorFlow itself.

Models are built with Keras and saved into a temporary folder; TensorFlow's verdict comes from
``keras.saving.load_model(path)`` called on real inputs (keras_models.run_in_tf, in child
processes, since TF kills the process at some sizes). When shapelint and TF disagree the test
fails and lists the sizes, TF's message and shapelint's prediction.

Building a model needs Keras (the tests that do are marked slow and tensorflow); the loader's own
tests on hand-written config.json archives need neither and run in the fast tier.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile

import pytest

from shapelint.analysis import contract
from shapelint.cli import main as cli_main
from shapelint.errors import ModelError
from shapelint.lint import analyse, lint
from shapelint.loaders import keras_loader
from shapelint.symbolic import evaluate
from tests import keras_models as km
from tests.support import child_env

HS = range(1, 49)  # square sizes swept for the dynamic U-Nets


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("keras_models")


def _rule(res, rule, severity=None):
    return [f for f in res.findings if f.rule == rule and (severity is None or f.severity == severity)]


def _listing(bad, limit=12):
    more = f"\n… and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{len(bad)} disagreement(s):\n" + "\n".join(bad[:limit]) + more


def _eval_shape(shape, env):
    return tuple(evaluate(d, env) if not isinstance(d, int) else d for d in shape)


# =========================================================================== loader


@pytest.mark.slow
@pytest.mark.tensorflow
def test_loader_reads_config_json_without_keras_tensorflow_or_numpy(folder):
    path = km.save(km.unet(depth=2), folder / "plain_unet.keras")
    code = ("import sys; from shapelint.loaders import keras_loader; g = keras_loader.load(sys.argv[1]); "
            "assert [n.op for n in g.nodes][:2] == ['Conv2D', 'MaxPooling2D'], g.nodes[:2]; "
            "bad = [m for m in ('keras', 'tensorflow', 'numpy', 'h5py') if m in sys.modules]; "
            "assert not bad, bad")
    env = child_env()
    proc = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.tensorflow
def test_ir_nodes_are_the_layers(folder):
    path = km.save(km.unet(depth=1, output_padding=None), folder / "ir_unet.keras")
    graph = keras_loader.load(path)
    assert graph.framework == "keras"
    (x,) = graph.inputs
    assert (x.name, x.shape, x.dtype) == ("x", ("N", "H", "W", 1), "float32")
    assert [(n.op, n.name) for n in graph.nodes] == [
        ("Conv2D", "enc0"), ("MaxPooling2D", "pool0"), ("Conv2D", "mid"), ("Conv2DTranspose", "up0"),
        ("Concatenate", "cat0"), ("Conv2D", "dec0")]
    assert all(n.domain == "keras" for n in graph.nodes)
    up = graph.nodes[3]
    assert up.inputs == ("mid",) and up.outputs == ("up0",)
    assert up.attr("kernel_size") == (2, 2) and up.attr("strides") == (2, 2) and up.attr("padding") == "same"
    assert up.attr("output_padding") is None and up.attr("filters") == 2
    assert graph.nodes[4].inputs == ("enc0", "up0") and graph.nodes[4].attr("axis") == -1
    assert graph.outputs == ("dec0",)
    for n in graph.nodes:
        hash(n.attrs)  # every attr value is hashable


def _archive(path, entries: dict):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return str(path)


def test_bad_archives_raise_model_error(folder, monkeypatch):
    cases = {}
    p = folder / "not_zip.keras"
    p.write_bytes(b"this is not a zip archive at all")
    cases[str(p)] = "not a zip file"
    p = folder / "h5.keras"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    cases[str(p)] = "HDF5"
    cases[_archive(folder / "no_config.keras", {"metadata.json": "{}"})] = "no config.json"
    cases[_archive(folder / "bad_json.keras", {"config.json": "{\"class_name\": "})] = "not valid JSON"
    cases[_archive(folder / "deep_json.keras", {"config.json": "[" * 100_000})] = "not valid JSON"
    cases[_archive(folder / "not_model.keras", {"config.json": json.dumps([1, 2])})] = "not a Keras object config"
    cases[_archive(folder / "subclassed.keras", {"config.json": json.dumps(
        {"module": "my_models", "class_name": "MyNet", "config": {"units": 3}})})] = "subclassed keras.Model"
    layer = {"class_name": "ReLU", "config": {"name": "r"}, "name": "r",
             "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                          "config": {"keras_history": ["ghost", 0, 0]}}], "kwargs": {}}]}
    inp = {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "x"}, "name": "x",
           "inbound_nodes": []}
    dangling = {"class_name": "Functional", "config": {"name": "m", "layers": [inp, layer],
                                                        "input_layers": ["x", 0, 0], "output_layers": ["r", 0, 0]}}
    ghost = "'ghost', which is not in the model"
    cases[_archive(folder / "dangling.keras", {"config.json": json.dumps(dangling)})] = ghost
    for path, reason in cases.items():
        with pytest.raises(ModelError, match=re.escape(reason)) as e:
            keras_loader.load(path)
        assert e.value.path == path
    # the size declared for config.json is checked before anything is decompressed
    big = _archive(folder / "big.keras", {"config.json": json.dumps({"class_name": "Functional", "pad": "x" * 5000})})
    monkeypatch.setattr(keras_loader, "MAX_CONFIG_BYTES", 1000)
    with pytest.raises(ModelError, match="declares 50"):
        keras_loader.load(big)
    # a header that understates the size: never more than the declared bytes are read
    monkeypatch.undo()
    liar = folder / "liar.keras"
    data = bytearray(open(big, "rb").read())
    cd = data.rfind(b"PK\x01\x02")  # central directory entry: uncompressed size at offset 24
    data[cd + 24:cd + 28] = (100).to_bytes(4, "little")
    lh = data.find(b"PK\x03\x04")  # local header: uncompressed size at offset 22
    data[lh + 22:lh + 26] = (100).to_bytes(4, "little")
    liar.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="config.json"):
        keras_loader.load(str(liar))


@pytest.mark.slow
@pytest.mark.tensorflow
def test_cli_reads_keras_files_and_folders(folder, capsys):
    (folder / "cli").mkdir()
    km.save(km.unet(depth=1), folder / "cli" / "a.keras")
    (folder / "cli" / "broken.keras").write_bytes(b"nope")
    code = cli_main(["check", str(folder / "cli" / "a.keras")])
    out = capsys.readouterr().out
    assert code == 1 and "SL003" in out and "cat0" in out, out
    code = cli_main(["check", str(folder / "cli")])
    captured = capsys.readouterr()
    assert code == 2 and "broken.keras" in captured.err and "not a zip file" in captured.err, captured


# =========================================================================== shapes vs TF


ZOOS = {
    "zoo_2d": (km.zoo_2d, [(1, 17, 23, 3), (1, 16, 16, 3), (1, 9, 12, 3)], ("N", "H", "W")),
    "zoo_1d": (km.zoo_1d, [(1, 17, 3), (1, 32, 3), (1, 10, 3)], ("N", "L")),
    "zoo_3d": (km.zoo_3d, [(1, 7, 9, 10, 2), (1, 8, 8, 8, 2)], ("N", "D", "H", "W")),
    "zoo_fixed": (km.zoo_fixed, [(1, 6, 8, 3), (2, 6, 8, 3)], ("N",)),
    "nested": (km.nested, [(1, 17, 20, 2), (1, 12, 12, 2)], ("N", "H", "W")),
    "sequential": (km.sequential, [(1, 32, 30, 3), (3, 32, 30, 3)], ("N",)),
}


@pytest.fixture(scope="module")
def zoo_results(folder):
    """Per zoo: (graph, inferred, TF results per input shape), with one TF run for all zoos."""
    built, jobs = {}, []
    for name, (build, shapes, _syms) in ZOOS.items():
        path = km.save(build(), folder / f"{name}.keras")
        graph, inf = analyse(path)
        built[name] = (graph, inf)
        jobs += [(path, s) for s in shapes]
    res = iter(km.run_in_tf(jobs))
    return {name: (*built[name], [(s, next(res)) for s in shapes]) for name, (_b, shapes, _s) in ZOOS.items()}


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("zoo", list(ZOOS))
def test_every_layer_shape_equals_tf(zoo, zoo_results):
    """Each model output is one layer's output: the shape shapelint infers from config.json,
    evaluated at the input size, equals the shape Keras/TF produces."""
    graph, inf, runs = zoo_results[zoo]
    syms = ZOOS[zoo][2]
    assert not inf.unknown_ops, inf.notes
    bad = []
    for in_shape, (ok, shapes) in runs:
        assert ok, f"{zoo} at {in_shape}: TF failed: {shapes}"
        env = dict(zip(syms, in_shape))
        assert len(shapes) == len(graph.outputs)
        for name, tf_shape in zip(graph.outputs, shapes):
            ours = inf.shape(name)
            got = None if ours is None else _eval_shape(ours, env)
            if got != tf_shape:
                node = inf.producer.get(name)
                bad.append(f"{zoo} input {in_shape}: {node.op if node else '?'} '{name}': shapelint {got} "
                           f"({ours}), TF {tf_shape}")
    assert not bad, _listing(bad)


@pytest.mark.slow
@pytest.mark.tensorflow
def test_nested_and_shared_layer_names(zoo_results):
    graph, inf, _ = zoo_results["nested"]
    assert [n.name for n in graph.nodes] == ["inner/inner_conv", "inner#2/inner_conv", "seq/seq_pool",
                                             "seq/seq_conv", "shared", "shared#2"]
    assert graph.outputs == ("inner/inner_conv", "inner#2/inner_conv", "seq/seq_conv", "shared#2")


# =========================================================================== SL003 on U-Nets


GRID = [
    dict(depth=4, down="maxpool", k_down=2, pad_down="valid", up="convt", k_up=2, pad_up="same"),
    dict(depth=3, down="maxpool", k_down=2, pad_down="same", up="convt", k_up=3, pad_up="same", merge="add"),
    dict(depth=3, down="conv", k_down=3, pad_down="same", up="convt", k_up=2, pad_up="same", output_padding=1),
    dict(depth=2, down="conv", k_down=3, pad_down="valid", up="convt", k_up=3, pad_up="valid"),
    dict(depth=2, down="maxpool", k_down=3, pad_down="valid", up="convt", k_up=1, pad_up="valid"),
    dict(depth=3, down="maxpool", k_down=2, pad_down="valid", up="upsample", merge="add"),
    dict(depth=2, stride=3, down="maxpool", k_down=3, pad_down="same", up="convt", k_up=3, pad_up="same",
         output_padding=2),
    dict(depth=2, stride=3, down="conv", k_down=2, pad_down="valid", up="convt", k_up=2, pad_up="valid",
         merge="add"),
]


def _kw_id(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.fixture(scope="module")
def unets(folder):
    """Per grid entry: (path, inferred, contract, TF verdict per size), one TF run for the grid."""
    built, jobs = [], []
    for kw in GRID:
        path = km.save(km.unet(**kw), folder / f"unet_{abs(hash(_kw_id(kw)))}.keras")
        graph, inf = analyse(path)
        built.append((kw, path, inf, contract(inf)))
        jobs += [(path, (1, h, h, 1)) for h in HS]
    res = km.run_in_tf(jobs)
    out = {}
    for j, (kw, path, inf, c) in enumerate(built):
        verdicts = {h: res[j * len(HS) + k] for k, h in enumerate(HS)}
        out[_kw_id(kw)] = (path, inf, c, verdicts)
    return out


def _window_exceeds(kw, h):
    """Whether some MaxPooling2D/Conv2D(padding="valid") of unet(**kw) at input h has an input
    smaller than its window (computed here, independently of shapelint). There Keras fails (Conv2D,
    and every window whose size would be negative) or gives an empty tensor (the pools at 0), as
    measured in docs/soundness-and-zoo.md; shapelint decides the failures and abstains past an
    empty tensor."""
    k, s, x = kw.get("k_down", 2), kw.get("stride", 2), h
    for _ in range(kw.get("depth", 2)):
        if kw.get("pad_down", "valid") == "valid":
            if x < k:
                return True
            x = (x - k) // s + 1
        else:
            x = -(-x // s)
    return False


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("kw", GRID, ids=[_kw_id(kw) for kw in GRID])
def test_unet_contract_equals_tf_for_every_size(kw, unets):
    """contract(inf).runs({H, W}) is Keras/TF's verdict at (1, H, H, 1) for every H in 1…48
    where every pooling/conv window fits its input (at least 30 sizes per model): the sizes
    shapelint says fail do fail, the sizes it says work do run. Where a window exceeds its input
    the contract gives the runtime's verdict or abstains (None); only there does it abstain."""
    path, inf, c, verdicts = unets[_kw_id(kw)]
    assert not c.undecided, c.undecided
    bad, compared = [], 0
    for h in HS:
        pred = c.runs({"H": h, "W": h})
        ok, res = verdicts[h]
        if pred is None:
            if not _window_exceeds(kw, h):
                bad.append(f"H={h}: contract.runs=None, but every window fits its input")
            continue
        if _window_exceeds(kw, h) and pred is not ok:
            bad.append(f"H={h}: below a window, shapelint contract.runs={pred}, TF " + (f"ran → {res}" if ok else f"failed: {res}"))
            continue
        compared += 1
        if pred is not ok:
            bad.append(f"H={h}: shapelint contract.runs={pred}, TF " + (f"ran → {res}" if ok else f"failed: {res}"))
    assert compared >= 30, compared
    assert not bad, (f"unet({_kw_id(kw)}); works for {[s.describe(n) for n, s in c.works().items()]}\n"
                     + _listing(bad))


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_unet_grid_is_not_degenerate(unets):
    mixed = sum({ok for ok, _ in v.values()} == {True, False} for _p, _i, _c, v in unets.values())
    assert mixed >= len(GRID) - 2, mixed


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
@pytest.mark.parametrize("kw", GRID, ids=[_kw_id(kw) for kw in GRID])
def test_unet_sl003_numbers_confirmed_by_tf(kw, unets):
    """Each SL003 finding's smallest failing size fails in TF at a merge, its working example
    runs, and the message names the merge layer and the skip/upsampled layers."""
    path, inf, c, verdicts = unets[_kw_id(kw)]
    findings = _rule(lint(path), "SL003")
    fails = [h for h in HS if not verdicts[h][0]]
    if not fails:
        assert not findings
        return
    assert findings, f"TF fails at H={fails[:8]}, shapelint has no SL003 finding"
    extra = {}
    for f in findings:
        assert f.op in ("Concatenate", "Add") and re.fullmatch(r"(cat|add)\d", f.node), f
        for key in ("smallest_failing", "example_working"):
            h = f.details.get(key)
            if h is not None and h not in verdicts:
                extra[h] = None
    if extra:
        more = km.tf_sweep(path, sorted(extra))
        verdicts = dict(verdicts, **{h: more[(h, h)] for h in extra})
    bad = []
    for f in findings:
        sf, ew = f.details["smallest_failing"], f.details["example_working"]
        ok, res = verdicts[sf]
        if ok:
            bad.append(f"{f.node}: smallest_failing H={sf} runs in TF → {res}")
        elif not _window_exceeds(kw, sf) and not re.search(r"Concat|concat|Add|add|[Ii]ncompatible|broadcast", res):
            bad.append(f"{f.node}: smallest_failing H={sf} fails in TF, but not at a merge: {res}")
        if ew is not None and f.node == findings[-1].node and not verdicts[ew][0]:
            bad.append(f"{f.node}: example_working H={ew} fails in TF: {verdicts[ew][1]}")
    assert not bad, _listing(bad)


# =========================================================================== SL001 / SL002


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_sl001_even_kernel_same_output_padding_0_fails_in_tf(folder):
    """Conv2DTranspose(kernel 2, strides 2, padding="same", output_padding=0): Keras asks TF for
    (i−1)·2, below the admissible {2i−1, 2i}; TF fails at run time for every input size ≥ 2 (at
    1, Keras's size is 0 and TF returns an empty tensor)."""
    path = km.save(km.single_convt(k=2, s=2, padding="same", output_padding=0), folder / "sl001.keras")
    res = lint(path)
    (f,) = _rule(res, "SL001")
    assert (f.severity, f.node, f.op) == ("error", "up", "Conv2DTranspose")
    assert "2·H - 2" in f.message and "{2·H - 1, 2·H}" in f.message, f.message
    assert "for every H ≥ 2" in f.message and "empty tensor" in f.message, f.message
    assert f.details["admissible"] == ["2·H - 1", "2·H"] and f.details["output_padding"] == 0
    assert "output_padding=None gives 2·H" in f.suggestion and "output_padding=1 gives 2·H - 1" in f.suggestion
    sizes = [(h, w) for h in (2, 5, 8) for w in (2, 3, 7)]
    verdicts = km.tf_sweep(path, sizes + [(1, 3), (4, 1)])
    ran = {hw: r for hw, (ok, r) in verdicts.items() if ok and hw in sizes}
    assert not ran, f"shapelint says TF rejects every size ≥ 2, but these ran: {ran}"
    for hw in ((1, 3), (4, 1)):  # Keras's size 0: an empty tensor, no error
        ok, r = verdicts[hw]
        assert ok and 0 in r[1:3], (hw, r)
    # both fixes the finding names run, with the size shapelint infers, and lint is clean
    fixes = {"None": None, "1": 1}
    assert f.details["fix"] == "output_padding=(1, 1)" and "Conv2DTranspose(..., output_padding=(1, 1))" in f.suggestion
    jobs = []
    for label, op in fixes.items():
        p = km.save(km.single_convt(k=2, s=2, padding="same", output_padding=op), folder / f"sl001_fix_{label}.keras")
        assert not _rule(lint(p), "SL001")
        graph, inf = analyse(p)
        jobs += [(p, (1, h, w, 1), inf.shape("up")) for h, w in sizes]
    for (p, shape, ours), (ok, r) in zip(jobs, km.run_in_tf([(p, s) for p, s, _ in jobs])):
        assert ok, (p, shape, r)
        assert r[0] == _eval_shape(ours, {"N": 1, "H": shape[1], "W": shape[2]}), (p, shape, r, ours)


CT_GRID = [  # (k, s, padding, output_padding, dilation)
    (k, s, pad, op, 1)
    for k in (1, 2, 3, 4)
    for s in (1, 2, 3)
    for pad in ("same", "valid")
    for op in (None,) + tuple(range(s))
] + [(3, 1, "same", 0, 2), (2, 1, "same", 0, 2), (2, 1, "valid", None, 3), (3, 1, "same", None, 2)]


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_convtranspose_grid_sl001_iff_tf_fails_and_shapes_equal(folder):
    """Every Conv2DTranspose (k 1…4, strides 1…3, same/valid, output_padding None/0…s−1, some
    dilations), with the input size pinned: an SL001 error exactly where TF fails, and where it
    runs, the output size shapelint infers."""
    sizes = [(5, 6), (1, 2), (2, 1), (3, 3)]
    cases, jobs = [], []
    for k, s, pad, op, d in CT_GRID:
        p = km.save(km.single_convt(k=k, s=s, padding=pad, output_padding=op, dilation=d),
                    folder / f"ct_{k}_{s}_{pad}_{op}_{d}.keras")
        dynamic = bool(_rule(lint(p), "SL001", "error"))  # None spatial dims: the claim for H, W ≥ 2
        graph, inf = analyse(p)
        for hw in sizes:
            pinned = bool(_rule(lint(p, {"x": (1, hw[0], hw[1], 1)}), "SL001", "error"))
            if min(hw) >= 2:
                assert pinned == dynamic, ((k, s, pad, op, d), hw)
            cases.append(((k, s, pad, op, d), hw, pinned, inf.shape("up")))
            jobs.append((p, (1, hw[0], hw[1], 1)))
    bad = []
    for (params, hw, sl001, ours), (ok, r) in zip(cases, km.run_in_tf(jobs)):
        if ok == sl001:
            bad.append(f"k,s,padding,output_padding,dilation={params} at {hw}: SL001={sl001}, TF "
                       + (f"ran → {r[0]}" if ok else f"failed: {r[:200]}"))
        elif ok and r[0] != _eval_shape(ours, {"N": 1, "H": hw[0], "W": hw[1]}):
            bad.append(f"{params} at {hw}: shapelint {ours}, TF {r[0]}")
    assert not bad, _listing(bad)
    assert sum(c[2] for c in cases) >= 8  # the grid has SL001 cases


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.runtime
def test_sl002_lists_admissible_sizes_and_each_output_padding_is_real(folder):
    """For a stride-3 Conv2DTranspose, SL002 lists the 3 admissible sizes and the output_padding
    that selects each; building each of those layers gives that size in TF."""
    jobs, claims = [], []
    for k, pad in ((3, "same"), (2, "same"), (4, "valid")):
        p = km.save(km.single_convt(k=k, s=3, padding=pad), folder / f"sl002_{k}_{pad}.keras")
        (f,) = _rule(lint(p), "SL002")
        assert f.severity == "info" and f.node == "up"
        assert len(f.details["admissible"]) == 3 and f.details["chosen"] in f.details["admissible"]
        for size, picks in f.details["choices"]:
            for pick in picks:
                q = km.save(km.single_convt(k=k, s=3, padding=pad, output_padding=pick),
                            folder / f"sl002_{k}_{pad}_{pick}.keras")
                for h in (4, 7):
                    claims.append((k, pad, pick, size, h))
                    jobs.append((q, (1, h, h, 1)))
    assert len(claims) >= 10
    bad = []
    for (k, pad, pick, size, h), (ok, r) in zip(claims, km.run_in_tf(jobs)):
        want = evaluate(_parse(size), {"H": h})
        if not ok or r[0][1] != want:
            bad.append(f"k={k} {pad} output_padding={pick}: SL002 says {size} = {want} at H={h}; TF "
                       + (f"gives {r[0]}" if ok else f"fails: {r[:200]}"))
    assert not bad, _listing(bad)


def _parse(text: str):
    """'3·H - 1' → the expression, through shapelint's own arithmetic."""
    from shapelint.symbolic import add, mul, sym

    m = re.fullmatch(r"(?:(\d+)·)?H(?: ([+-]) (\d+))?", text)
    assert m, text
    e = mul(sym("H"), int(m.group(1) or 1))
    return add(e, (1 if m.group(2) == "+" else -1) * int(m.group(3))) if m.group(2) else e


# =========================================================================== Lambda


@pytest.mark.slow
@pytest.mark.tensorflow
def test_lambda_layer_is_never_deserialized_or_run(folder):
    marker = folder / "lambda_ran.txt"
    path = km.save(km.lambda_model(str(marker)), folder / "lambda.keras")
    if marker.exists():
        marker.unlink()  # Keras ran the lambda once while building the model
    with zipfile.ZipFile(path) as z:
        config = z.read("config.json").decode()
    assert "__lambda__" in config and '"code"' in config  # the lambda's bytecode is in the file
    res = lint(path)
    assert not marker.exists(), "linting ran the Lambda's code"
    assert any(n.startswith("Lambda layers 'lam', 'lam_fn' hold Python code") and "never deserializes or runs" in n
               and "unknown" in n for n in res.notes), res.notes
    graph, inf = analyse(path)
    assert inf.shape("conv") is not None and inf.shape("lam") is None and inf.shape("lam_fn") is None
    assert not _rule(res, "SL003")  # the merge after the lambda is not guessed
    assert any("merge node(s) not checked" in n for n in res.notes), res.notes
    assert not marker.exists()
    with pytest.raises(ValueError, match="(?i)lambda"):  # Keras itself refuses it in safe mode
        import keras

        keras.saving.load_model(path)
    assert not marker.exists()


def test_keras2_format_config_is_read(folder):
    """inbound_nodes as Keras 2 wrote them: [[[layer, node, tensor, kwargs], ...]]."""
    def layer(cls, name, inbound, **cfg):
        return {"class_name": cls, "config": dict(cfg, name=name), "name": name,
                "inbound_nodes": [[[i, 0, 0, {}] for i in inbound]] if inbound else []}

    config = {"class_name": "Functional", "config": {"name": "k2", "layers": [
        layer("InputLayer", "x", [], batch_input_shape=[None, None, None, 3]),
        layer("Conv2D", "c", ["x"], filters=4, kernel_size=[3, 3], strides=[2, 2], padding="valid",
              data_format="channels_last", dilation_rate=[1, 1]),
        layer("Conv2DTranspose", "u", ["c"], filters=4, kernel_size=[3, 3], strides=[2, 2], padding="valid",
              output_padding=None, data_format="channels_last", dilation_rate=[1, 1]),
        layer("Concatenate", "cat", ["x", "u"], axis=-1),
    ], "input_layers": [["x", 0, 0]], "output_layers": [["cat", 0, 0]]}}
    path = _archive(folder / "keras2.keras", {"config.json": json.dumps(config)})
    graph, inf = analyse(path)
    assert [n.name for n in graph.nodes] == ["c", "u", "cat"]
    assert str(inf.shape("c")[1]) == "ceil(H/2) - 1" and str(inf.shape("u")[1]) == "2·ceil(H/2) - 1"
    (f,) = _rule(lint(path), "SL003")
    assert f.node == "cat" and f.details["works"] == "H mod 2 = 1, H ≥ 3", f.details
