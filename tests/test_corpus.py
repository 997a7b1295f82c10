"""Third-party models (not in this repository): the sizes shapelint says work equal onnxruntime's
verdicts, size for size, unpinned and pinned. The folder comes from $SHAPELINT_CORPUS (default
../shared/corpus next to the checkout).

Unlike TensorFlow or onnxruntime (test dependencies: a test that needs one fails without it), the
corpus is third-party data that is not in the repository and that a checkout may legitimately not
have, so it is the one thing the tests skip without -- and only when SHAPELINT_CORPUS is unset and
the default folder is absent, with a reason that says so. When SHAPELINT_CORPUS is set, it names
the corpus this run must test: a missing folder or verdict table is an error, and so is a model
missing from it."""

import json
import os
import subprocess
import sys

import pytest

from tests.zoo_util import with_random_weights

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.environ.get("SHAPELINT_CORPUS") or os.path.join(HERE, "..", "..", "shared", "corpus")
VERDICTS = os.path.join(CORPUS, "onnxruntime_verdicts.json")
if os.environ.get("SHAPELINT_CORPUS") and not os.path.isfile(VERDICTS):
    pytest.fail(f"SHAPELINT_CORPUS={CORPUS!r}, but {VERDICTS!r} does not exist: point it at the corpus folder, or "
                "unset it to skip the corpus tests", pytrace=False)
pytestmark = pytest.mark.skipif(not os.path.isfile(VERDICTS), reason=f"no corpus at {CORPUS} (SHAPELINT_CORPUS is "
                                "unset): set SHAPELINT_CORPUS to the corpus folder to run these tests")
SCRIPT = os.path.join(HERE, "..", "scripts", "compare_verdicts.py")


@pytest.mark.slow
def test_contract_equals_onnxruntime_verdicts_size_for_size():
    p = subprocess.run([sys.executable, SCRIPT, CORPUS, VERDICTS, "--pinned"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(VERDICTS) as f:
        table = json.load(f)
    for name, entry in table.items():
        line = next(l for l in p.stdout.splitlines() if l.startswith(name))
        assert f"{len(entry['sizes'])} sizes, 0 disagreements, 0 abstentions" in line, line
    assert "H mod 8 ∈ {0, 7}, H ≥ 7" in p.stdout  # MONAI
    assert "H mod 32 ∈ {0, 31}, H ≥ 31" in p.stdout  # Linknet


def test_no_error_finding_on_sam_decoder():
    from shapelint.lint import lint

    path = os.path.join(CORPUS, "sam_vit_b_mask_decoder_ts.onnx")
    assert os.path.exists(path), f"the corpus at {CORPUS} has no SAM decoder (sam_vit_b_mask_decoder_ts.onnx)"
    res = lint(path)
    assert not [f for f in res.findings if f.severity in ("error", "warning")], res.findings
    # it has two stride-2 ConvTranspose: both named at info severity with their admissible sizes
    infos = [f for f in res.findings if f.rule == "SL002"]
    assert len(infos) == 2 and all("admits 2 output sizes" in f.message for f in infos)


def test_strict_onnx_shape_inference_passes_what_shapelint_flags():
    import onnx

    from shapelint.lint import lint

    for name in ("monai_unet_dyn_ts.onnx", "smp_linknet_resnet18_dyn_ts.onnx"):
        path = os.path.join(CORPUS, name)
        onnx.shape_inference.infer_shapes(onnx.load(path, load_external_data=False), strict_mode=True)
        assert any(f.rule == "SL003" for f in lint(path).findings), (name, lint(path).findings)


@pytest.mark.slow
@pytest.mark.runtime
@pytest.mark.parametrize("name", ["monai_unet_dyn_ts.onnx", "smp_linknet_resnet18_dyn_ts.onnx",
                                  "ch_PP-OCRv4_det_infer.onnx"])
def test_fixed_corpus_model_runs_at_every_size_and_matches_where_it_ran(name, tmp_path):
    """`shapelint fix` on the real models (refilled with random weights): the fixed model runs at
    every square size 16…130, including each size onnxruntime_verdicts.json says the original
    fails at, and gives the original's outputs wherever the original runs."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    with open(VERDICTS) as f:
        verdicts = json.load(f)[name]["sizes"]
    src, dst = str(tmp_path / name), str(tmp_path / ("fixed_" + name))
    with_random_weights(os.path.join(CORPUS, name), src)
    p = subprocess.run([sys.executable, "-m", "shapelint", "fix", src, "-o", dst], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and "re-linted, 0 SL001/SL003 finding(s) left" in p.stdout, p.stdout + p.stderr
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    s1 = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
    s2 = ort.InferenceSession(dst, opts, providers=["CPUExecutionProvider"])
    inp = s1.get_inputs()[0]
    channels = onnx.load(src, load_external_data=False).graph.input[0].type.tensor_type.shape.dim[1].dim_value
    rng = np.random.default_rng(1)
    failed_before, bad = 0, []
    for h in range(16, 131):
        x = rng.standard_normal((1, channels, h, h)).astype(np.float32)
        try:
            y1 = s1.run(None, {inp.name: x})
        except Exception:
            y1 = None
            failed_before += 1
        if (y1 is not None) != (verdicts[f"{h}x{h}"] == "ok"):
            bad.append(f"H={h}: the refilled original {'runs' if y1 is not None else 'fails'}, the verdicts say "
                       f"{verdicts[f'{h}x{h}']}")
        try:
            y2 = s2.run(None, {inp.name: x})
        except Exception as e:
            bad.append(f"H={h}: the fixed model fails: {str(e).splitlines()[0][:200]}")
            continue
        if y1 is not None and not all(a.shape == b.shape and np.allclose(a, b, atol=1e-4) for a, b in zip(y1, y2)):
            bad.append(f"H={h}: outputs differ from the original's")
    assert not bad, "\n".join(bad[:20])
    assert failed_before >= 20, failed_before
