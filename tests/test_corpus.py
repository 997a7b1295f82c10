"""Third-party models (not in this repository): the sizes shapelint says work equal onnxruntime's
verdicts, size for size, unpinned and pinned. The folder comes from $SHAPELINT_CORPUS (default
../shared/corpus next to the checkout); the tests are skipped where it is absent."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.environ.get("SHAPELINT_CORPUS", os.path.join(HERE, "..", "..", "shared", "corpus"))
VERDICTS = os.path.join(CORPUS, "onnxruntime_verdicts.json")
pytestmark = pytest.mark.skipif(not os.path.exists(VERDICTS), reason=f"no corpus at {CORPUS}")
SCRIPT = os.path.join(HERE, "..", "scripts", "compare_verdicts.py")


def test_contract_equals_onnxruntime_verdicts_size_for_size():
    p = subprocess.run([sys.executable, SCRIPT, CORPUS, VERDICTS, "--pinned"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(VERDICTS) as f:
        table = json.load(f)
    for name, entry in table.items():
        line = next(l for l in p.stdout.splitlines() if l.startswith(name))
        assert f"{len(entry['sizes'])} sizes, 0 disagreements" in line, line
    assert "H mod 8 ∈ {0, 7}, H ≥ 7" in p.stdout  # MONAI
    assert "H mod 32 ∈ {0, 31}, H ≥ 31" in p.stdout  # Linknet


def test_no_error_finding_on_sam_decoder():
    from shapelint.lint import lint

    path = os.path.join(CORPUS, "sam_vit_b_mask_decoder_ts.onnx")
    if not os.path.exists(path):
        pytest.skip("SAM decoder not in the corpus")
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
