"""The Keras advice of SL003, confirmed in Keras: the code shapelint prints is taken from the
finding's text and run as pasted, in U-Nets with dynamic H and W, at every H in 1…64 (W = H) and
at 64 sizes with W ≠ H (W = 7·H mod 64 + 1, every W once).

Two U-Nets of depth 3: with MaxPooling2D (valid, rounding down: the upsampled branch is *smaller*
than the skip, 2·floor(H/2) ≤ H) and with strided Conv2D (same, rounding up: *larger*). Without the
advice the model fails exactly where shapelint's contract says, at a merge; with it, every size
runs and the output has the input's H and W -- except where a pool window exceeds its input
(H or W < 8 in the MaxPool U-Net), where TensorFlow with oneDNN fails at the MaxPool itself
(shapelint abstains on those sizes). At pinned sizes the advice is exact Keras layers
(ZeroPadding2D / Cropping2D with the amounts), pasted per merge."""

import re
import textwrap

import pytest

from shapelint.analysis import contract
from shapelint.lint import analyse, lint
from tests import keras_models as km

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow, pytest.mark.runtime]

MODELS = {"maxpool": dict(depth=3, down="maxpool"),
          "strided": dict(depth=3, down="conv", k_down=3, pad_down="same")}
SIZES = [(h, h) for h in range(1, 65)] + [(h, (7 * h) % 64 + 1) for h in range(1, 65)]
PINNED = SIZES[:64] + SIZES[64::4]  # one Keras model per size: every H, and every fourth W ≠ H
CHANNELS = 2  # keras_models.unet's default


def window_exceeds(kind: str, h: int, w: int) -> bool:
    """A 2×2 valid pool of the MaxPool U-Net (depth 3) gets an input below 2: H or W < 8."""
    return kind == "maxpool" and min(h, w) < 8


def at_pool(kind: str, h: int, w: int, res: str) -> bool:
    """A failure at a MaxPool whose window exceeds its input (TF with oneDNN rejects it)."""
    return window_exceeds(kind, h, w) and "MaxPool" in res


def advice(suggestion: str) -> str:
    """The code block that ends the dynamic advice: its trailing indented lines, dedented."""
    lines = suggestion.splitlines()
    k = len(lines)
    while k and lines[k - 1].startswith("    "):
        k -= 1
    assert k < len(lines), suggestion
    return textwrap.dedent("\n".join(lines[k:]))


def static_advice(suggestion: str):
    """(merge name, the statements) of the fixed-size advice, or None."""
    m = re.search(r"in the model code, before '(\w+)': (u = keras\.layers\.\w+\(.*?\)\(u\)"
                  r"(?:; u = keras\.layers\.\w+\(.*?\)\(u\))?)", suggestion)
    return (m.group(1), m.group(2)) if m else None


@pytest.fixture(scope="module")
def unets(tmp_path_factory):
    """kind -> (kwargs, path, contract, SL003 findings, TF's verdicts without the advice)."""
    out = {}
    for kind, kw in MODELS.items():
        path = km.save(km.unet(**kw), tmp_path_factory.mktemp(kind) / f"{kind}.keras")
        _graph, inf = analyse(path)
        findings = [f for f in lint(path).findings if f.rule == "SL003"]
        out[kind] = (kw, path, contract(inf), findings, km.tf_sweep(path, SIZES))
    return out


@pytest.mark.parametrize("kind", MODELS)
def test_without_the_advice_keras_fails_exactly_where_shapelint_says(kind, unets):
    """Where shapelint decides, its contract is Keras's verdict, and each failure is at a merge
    (or, where a pool window exceeds its input, at that pool, which TF reaches first); the U-Net
    is not degenerate (most sizes fail)."""
    kw, path, c, findings, without = unets[kind]
    bad, decided = [], 0
    for (h, w), (ok, res) in without.items():
        pred = c.runs({"H": h, "W": w})
        if pred is None:
            continue
        decided += 1
        if pred is not ok:
            bad.append(f"H={h}, W={w}: shapelint says {pred}, Keras " + ("ran" if ok else f"failed: {res}"))
        elif not ok and "Concatenate" not in res and not at_pool(kind, h, w, res):
            bad.append(f"H={h}, W={w}: Keras fails, but not at a merge: {res}")
    assert not bad, "\n".join(bad[:20])
    assert decided >= 110 and sum(not ok for ok, _ in without.values()) >= 100, decided


@pytest.mark.parametrize("kind", MODELS)
def test_the_printed_fit_layer_makes_every_size_run(kind, unets):
    """The FitTo layer, exec'd from the finding's text at every merge as printed (class and the
    `u = FitTo()(u, skip)` line), in a Functional model with None H, W: every size runs, with the
    input's H and W at the output; where a pool window exceeds its input, the MaxPool fails first,
    as it does without the layer."""
    kw, path, c, findings, without = unets[kind]
    assert findings
    codes = {advice(f.suggestion) for f in findings}
    assert len(codes) == 1, codes
    code = codes.pop()
    assert "keras.ops.pad" in code and "u = FitTo()(u, skip)" in code, code
    res = km.run_built_unet([(dict(kw, fit=code), (1, h, w, 1)) for h, w in SIZES])
    bad = [f"H={h}, W={w}: {r}" for (h, w), (ok, r) in zip(SIZES, res)
           if (not ok or r[0] != (1, h, w, CHANNELS)) and not (not ok and at_pool(kind, h, w, r))]
    assert not bad, "\n".join(bad[:20])
    runs = sum(ok for ok, _ in res)
    assert runs == sum(not window_exceeds(kind, h, w) for h, w in SIZES), runs


@pytest.mark.parametrize("kind", MODELS)
def test_fixed_size_advice_states_the_exact_layers(kind, unets):
    """At each size pinned with input_shapes (every H = W, and 16 sizes W ≠ H), every SL003 finding states Keras layers with the
    amounts (e.g. ZeroPadding2D(((0, 1), (0, 0)))); pasted before their merges, the model runs
    at that size with its H and W. A size without a finding runs as it is."""
    kw, path, c, findings, without = unets[kind]
    jobs, expect_plain = [], []
    for h, w in PINNED:
        found = [f for f in lint(path, {"x": (1, h, w, 1)}).findings if f.rule == "SL003"]
        if not found:
            expect_plain.append((h, w))
            continue
        fit = dict(static_advice(f.suggestion) or (f.node, None) for f in found)
        assert None not in fit.values(), [f.suggestion for f in found]
        jobs.append(((h, w), fit))
    res = km.run_built_unet([(dict(kw, fit=fit), (1, h, w, 1)) for (h, w), fit in jobs])
    bad = [f"H={h}, W={w} with {fit}: {r}" for ((h, w), fit), (ok, r) in zip(jobs, res)
           if (not ok or r[0] != (1, h, w, CHANNELS)) and not (not ok and at_pool(kind, h, w, r))]
    bad += [f"H={h}, W={w}: no finding, yet Keras fails: {without[(h, w)][1]}" for h, w in expect_plain
            if not without[(h, w)][0] and not at_pool(kind, h, w, without[(h, w)][1])]
    assert not bad, "\n".join(bad[:20])
    layers = " ".join(" ".join(fit.values()) for _hw, fit in jobs)
    assert "ZeroPadding2D" in layers if kind == "maxpool" else "Cropping2D" in layers, layers
    assert len(jobs) >= 60, len(jobs)


def test_the_printed_tf_lines_crop_or_pad_by_the_sign(tmp_path):
    """The TF advice (SavedModels, TFLite) as a Keras U-Net exported to a SavedModel prints it: its
    lines, run as printed in a tf.function with None sizes, fit u to skip at every pair of sizes
    1…12 on H and W, larger and smaller: the skip's shape, u's values where both exist, zeros where
    u was padded."""
    import numpy as np
    import tensorflow as tf

    from tests.tf_models import keras_unet

    path = tmp_path / "unet"
    keras_unet(depth=2).export(str(path))
    found = [f for f in lint(str(path)).findings if f.rule == "SL003"]
    assert found and all("tf.pad" in f.suggestion for f in found), [f.suggestion for f in found]
    code = advice(found[0].suggestion)
    spec = tf.TensorSpec([None, None, None, 2], tf.float32)

    @tf.function(input_signature=[spec, spec], autograph=False)
    def fit(u, skip):
        ns = {"tf": tf, "u": u, "skip": skip}
        exec(code, ns)
        return ns["u"]

    rng = np.random.default_rng(0)
    bad = []
    for hu in range(1, 13):
        for hs in range(1, 13):
            wu, ws = 13 - hu, (hs * 5) % 12 + 1
            u = rng.standard_normal((1, hu, wu, 2)).astype(np.float32)
            skip = np.zeros((1, hs, ws, 2), np.float32)
            y = fit(u, skip).numpy()
            h, w = min(hu, hs), min(wu, ws)
            want = np.zeros_like(skip)
            want[:, :h, :w] = u[:, :h, :w]
            if y.shape != skip.shape or not np.array_equal(y, want):
                bad.append(f"u {u.shape}, skip {skip.shape}: {y.shape}")
    assert not bad, bad[:10]
