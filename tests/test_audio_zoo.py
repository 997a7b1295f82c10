"""shapelint against the 1-D audio zoo (zoo/audio/: exports of torchaudio, asteroid and speechbrain
code with onnxruntime's verdict and output shapes per input length, scripts/make_audio_zoo.py):

- the contract equals onnxruntime at every measured length, abstaining only where it names an op;
- where onnxruntime runs, every output shape shapelint states, evaluated at L, is onnxruntime's;
- pinned `check` gives an error exactly where onnxruntime fails, at sampled lengths;
- a model that runs at every length gets no warning or error;
- (slow, needs onnxruntime) a refilled graph-only model still gives the stored verdicts."""

import json
import os
import random

import pytest

from shapelint.analysis import contract, merges
from shapelint.lint import analyse, lint
from shapelint.symbolic import evaluate

HERE = os.path.dirname(os.path.abspath(__file__))
AUDIO = os.path.join(HERE, "..", "zoo", "audio")
with open(os.path.join(AUDIO, "verdicts.json")) as _f:
    TABLE = json.load(_f)

# every model takes under 0.2 s to analyse (2 cores, measured): all in the fast tier, but the pinned
# checks of these (0.2 to 0.4 s each), which run in the full run only
SLOW_PINNED = {"sb_ecapa_tdnn_ts.onnx", "sb_ecapa_tdnn_batch2_ts.onnx"}


def _models(names, slow=()):
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


def _ok(v) -> bool:
    return v["verdict"] == "ok"


def _env(entry, n):
    shape, axis = entry["input_shape"], entry["length_axis"]
    env = {d: 1 for k, d in enumerate(shape) if isinstance(d, str) and k != axis}  # the batch, as measured
    env[shape[axis]] = n
    return env


def _pinned(entry, n):
    dims = [1 if isinstance(d, str) else d for d in entry["input_shape"]]
    dims[entry["length_axis"]] = n
    return tuple(dims)


def test_the_audio_zoo_has_six_models_of_three_libraries():
    assert len(TABLE) >= 6
    for fname, entry in TABLE.items():
        assert os.path.exists(os.path.join(AUDIO, fname)), fname
        assert len(entry["lengths"]) >= 140 and all(str(n) in entry["lengths"] for n in range(1, 65)), fname


def compare(fname):
    """(lengths where the contract disagrees with onnxruntime, lengths where it abstains, lengths
    where a stated output shape differs from onnxruntime's, lengths where an output shape is not
    stated, the contract's unknowns)."""
    entry = TABLE[fname]
    graph, inf = analyse(os.path.join(AUDIO, fname))
    c = contract(inf, merges(inf))
    outs = list(graph.outputs)
    wrong, abstained, bad_shape, no_shape = [], [], [], []
    for n, v in entry["lengths"].items():
        env = _env(entry, int(n))
        got = c.runs(env)
        if got is None:
            abstained.append(int(n))
        elif got != _ok(v):
            wrong.append((n, got, v))
        if _ok(v):
            shapes = [inf.shape(o) for o in outs]
            if any(s is None or any(d is None for d in s) for s in shapes):
                no_shape.append(int(n))
                continue
            want = [[evaluate(d, env) for d in s] for s in shapes]
            if want != v["outputs"]:
                bad_shape.append((n, want, v["outputs"]))
    return wrong, abstained, bad_shape, no_shape, c.unknown


@pytest.mark.parametrize("fname", _models(sorted(TABLE)))
def test_contract_and_output_lengths_equal_onnxruntime_at_every_measured_length(fname):
    wrong, abstained, bad_shape, no_shape, unknown = compare(fname)
    if abstained or no_shape:
        print(f"{fname}: abstains at {len(abstained)} lengths, output shape unstated at {len(no_shape)}; "
              f"unknown: {[u.text() for u in unknown][:2]}")
    assert not wrong, wrong[:5]
    assert not bad_shape, bad_shape[:3]
    # an abstention is honest only where shapelint names what it could not follow
    assert not abstained or unknown, (fname, len(abstained))
    assert not no_shape or unknown, (fname, len(no_shape))
    if not unknown:
        assert not abstained


@pytest.mark.parametrize("fname", _models(sorted(TABLE), SLOW_PINNED))
def test_pinned_check_errors_exactly_where_onnxruntime_fails(fname):
    entry = TABLE[fname]
    path = os.path.join(AUDIO, fname)
    rng = random.Random(fname)
    oks = sorted(n for n, v in entry["lengths"].items() if _ok(v))
    fails = sorted(n for n, v in entry["lengths"].items() if not _ok(v))
    for n in rng.sample(oks, min(2, len(oks))) + rng.sample(fails, min(2, len(fails))):
        res = lint(path, {entry["input"]: _pinned(entry, int(n))})
        errors = [f for f in res.findings if f.severity == "error"]
        if [f for f in res.findings if f.rule == "SL005"] and not errors:
            continue  # abstains, and says so
        assert bool(errors) == (not _ok(entry["lengths"][n])), (fname, n, errors[:1], entry["lengths"][n])


EVERYWHERE = [f for f, e in sorted(TABLE.items()) if all(_ok(v) for v in e["lengths"].values())]


@pytest.mark.parametrize("fname", _models(EVERYWHERE))
def test_no_warning_or_error_on_models_that_run_at_every_length(fname):
    res = lint(os.path.join(AUDIO, fname))
    assert not [f for f in res.findings if f.severity in ("error", "warning")], res.findings[:2]


@pytest.mark.slow
@pytest.mark.runtime
@pytest.mark.parametrize("fname", sorted(TABLE))
def test_refilled_model_gives_the_stored_verdicts(fname, tmp_path):
    pytest.importorskip("onnxruntime")
    from tests import zoo_util

    entry = TABLE[fname]
    rng = random.Random(fname)
    oks = sorted(n for n, v in entry["lengths"].items() if _ok(v))
    fails = sorted(n for n, v in entry["lengths"].items() if not _ok(v))
    sample = rng.sample(oks, min(2, len(oks))) + rng.sample(fails, min(2, len(fails)))
    refilled = str(tmp_path / fname)
    zoo_util.with_random_weights(os.path.join(AUDIO, fname), refilled, seed=1)
    got = zoo_util.run_shapes(refilled, [_pinned(entry, int(n)) for n in sample])
    for n in sample:
        res, shapes = got[",".join(map(str, _pinned(entry, int(n))))]
        want = entry["lengths"][n]
        assert (res == "ok") == _ok(want), (n, res, want)
        if _ok(want):
            assert shapes == want["outputs"], (n, shapes, want)


@pytest.mark.slow
@pytest.mark.runtime
def test_ecapa_traced_at_batch_2_runs_only_at_batch_2(tmp_path):
    """The zoo measures batch 1, where ECAPA-TDNN traced at batch 2 fails at every length (its
    attentive pooling concatenates a tensor of the traced batch): the contract says N ∈ {2}, L ≥ 5;
    here it is held to onnxruntime at other batches."""
    from tests import zoo_util

    fname = "sb_ecapa_tdnn_batch2_ts.onnx"
    graph, inf = analyse(os.path.join(AUDIO, fname))
    c = contract(inf, merges(inf))
    refilled = str(tmp_path / fname)
    zoo_util.with_random_weights(os.path.join(AUDIO, fname), refilled, seed=1)
    shapes = [(2, 4, 20), (2, 5, 20), (2, 200, 20), (3, 200, 20), (1, 200, 20)]
    got = zoo_util.run_shapes(refilled, shapes)
    for n, length, f in shapes:
        ran = got[f"{n},{length},{f}"][0] == "ok"
        assert c.runs({"N": n, "L": length}) is ran, (n, length, got[f"{n},{length},{f}"])
