"""shapelint against the zoo (zoo/, exports of public architecture code with onnxruntime's verdicts):
the contract equals onnxruntime at every measured size, abstaining only where it names an op it
could not follow; pinned `check` gives an error exactly where onnxruntime fails, at sampled sizes;
a model that runs at every size gets no warning or error."""

import json
import os
import random

import pytest

from shapelint.analysis import contract, merges
from shapelint.lint import analyse, lint

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.join(HERE, "..", "zoo")
with open(os.path.join(ZOO, "verdicts.json")) as _f:
    TABLE = json.load(_f)


# the models whose analysis takes more than about 0.3 s (up to 6 s, measured on 2 cores): only in
# the full run
HEAVY = {"hf_beit_ts.onnx", "hf_swin_ts.onnx", "hf_upernet_convnext_dynamo.onnx", "smp_pan_resnet18_ts.onnx",
         "smp_pspnet_resnet18_dynamo.onnx", "smp_upernet_resnet18_dynamo.onnx", "timm_swin_tiny_ts.onnx",
         "tv_swin_t_ts.onnx"}


def _models(names, fast=None):
    """``names`` as parameters: the HEAVY ones, and any not in ``fast`` when it is given, marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY or (fast is not None and n not in fast) else n
            for n in names]


def test_heavy_models_are_in_the_zoo():
    assert HEAVY <= set(TABLE), HEAVY - set(TABLE)


def _ok(v) -> bool:
    return (v if isinstance(v, str) else v.get("verdict", "fail")) == "ok"


def _env(shape, h, w):
    env = {d: 1 for d in shape[:-2] if isinstance(d, str)}  # the batch, as measured
    env.update({shape[-2]: h, shape[-1]: w})
    return env


@pytest.mark.parametrize("fname", _models(sorted(TABLE), fast=sorted(TABLE)[::3]))  # the fast tier: every third
def test_contract_equals_onnxruntime_at_every_measured_size(fname):
    entry = TABLE[fname]
    graph, inf = analyse(os.path.join(ZOO, fname))
    shape = next(t.shape for t in graph.inputs if t.name == entry["input"])
    c = contract(inf, merges(inf))
    wrong, abstained = [], 0
    for size, v in entry["sizes"].items():
        h, w = map(int, size.split("x"))
        got = c.runs(_env(shape, h, w))
        if got is None:
            abstained += 1
        elif got != _ok(v):
            wrong.append((size, got, v))
    assert not wrong, wrong[:5]
    # an abstention is honest only where shapelint names what it could not follow
    assert abstained == 0 or c.unknown, (fname, abstained)
    if not c.unknown:
        assert abstained == 0


SAMPLE = sorted(TABLE)[::3]


@pytest.mark.slow
@pytest.mark.parametrize("fname", SAMPLE)
def test_pinned_check_errors_exactly_where_onnxruntime_fails(fname):
    entry = TABLE[fname]
    path = os.path.join(ZOO, fname)
    rng = random.Random(fname)
    sizes = rng.sample(sorted(entry["sizes"]), 4)
    for size in sizes:
        h, w = map(int, size.split("x"))
        pinned = [1 if not d.isdigit() else int(d) for d in entry["input_shape"]]
        pinned[-2:] = [h, w]
        res = lint(path, {entry["input"]: tuple(pinned)})
        errors = [f for f in res.findings if f.severity == "error"]
        unknown = [f for f in res.findings if f.rule == "SL005"]
        if unknown and not errors:
            continue  # abstains, and says so
        assert bool(errors) == (not _ok(entry["sizes"][size])), (fname, size, errors[:1], entry["sizes"][size])


EVERYWHERE = [f for f, e in sorted(TABLE.items()) if all(_ok(v) for v in e["sizes"].values())]


@pytest.mark.parametrize("fname", _models(EVERYWHERE))
def test_no_warning_or_error_on_models_that_run_at_every_size(fname):
    res = lint(os.path.join(ZOO, fname))
    assert not [f for f in res.findings if f.severity in ("error", "warning")], res.findings[:2]
