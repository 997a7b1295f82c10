"""One schema for every finding's ``details``, whatever the rule or framework: ``axis`` is the
axis of the tensor the finding is about, counted over all its dims (N, C, H, W for ONNX; N, H, W, C
for TF), never a spatial index; ``admissible`` lists every admissible size, as strings (dims may
be expressions). Checked on every finding of the example models, the zoo, and the ONNX, TF, Keras
and TFLite models the tests build."""

import glob
import json
import os

import pytest

from shapelint.lint import lint
from tests.support import fast_subset, schema_errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def _models():
    out = sorted(glob.glob(os.path.join(ROOT, "examples", "*.onnx"))) + sorted(glob.glob(os.path.join(ROOT, "zoo", "*.onnx")))
    return out


MODELS = _models()


# the examples in the fast tier, the zoo in the full run
@pytest.mark.parametrize("path", fast_subset(MODELS, set(range(6)), ids=[os.path.basename(p) for p in MODELS]))
def test_every_finding_of_the_examples_and_the_zoo_fits_the_schema(path):
    # (tests/conftest.py checks every finding any test produces the same way, with the tensor's rank)
    for f in lint(path).findings:
        assert schema_errors(f) == [], (f.rule, f.node, json.dumps(f.details, default=repr)[:300])


def test_onnx_transposed_findings_number_axes_like_every_other_rule(tmp_path):
    """The ONNX SL001/SL002 findings once gave H as axis 0 (a spatial index) while SL003 gave it as
    axis 2, and admissible as an int pair [low, high]."""
    import onnx

    from tests.onnx_models import single_convt

    path = str(tmp_path / "ct.onnx")
    onnx.save(single_convt((1, 1, 5, 7), k=3, s=2, output_shape=[20, 13]), path)
    found = lint(path).findings
    assert found and all(schema_errors(f, 4) == [] for f in found)
    (err,) = [f for f in found if f.rule == "SL001"]
    assert err.details["axis"] == 2 and err.details["admissible"] == ["11", "12"]


def test_the_schema_sees_a_spatial_index_and_a_pair():
    from shapelint.findings import Finding

    bad = Finding("SL002", "ambiguous-convtranspose", "info", "m.onnx", "ct", "ConvTranspose", "m", "f",
                  details={"axis": 0, "admissible": [11, 12]})
    assert len(schema_errors(bad, 4)) == 2
