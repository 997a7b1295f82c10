"""Each rule declares the detail keys that identify its findings (checks.Rule.identity). The
fingerprints baselines and SARIF keep must not move when that list moves from one global list into
the rules: on every finding the shipped models and the zoo produce, the rule's keys pick out what
the global list (as it was, below) picked out -- and the check fails when a rule forgets a key."""

import glob
import os

import pytest

from tests.support import fast_subset

from shapelint.checks import CHECKS
from shapelint.findings import IDENTITY_KEYS_ALSO, identity
from shapelint.lint import lint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the one global list every rule shared until the rules declared their own (shapelint ≤ e310212)
LEGACY_KEYS = ("axis", "symbol", "inputs", "sizes", "input_axis", "admissible", "output", "input", "chosen")


def _legacy_identity(f) -> dict:
    d = f.details or {}
    out = {k: d[k] for k in LEGACY_KEYS if k in d}
    also = d.get("also")
    if isinstance(also, list):
        out["also"] = [{k: a[k] for k in IDENTITY_KEYS_ALSO if k in a} for a in also if isinstance(a, dict)]
    return out


MODELS = sorted(glob.glob(os.path.join(ROOT, "examples", "*.onnx"))) + \
    sorted(glob.glob(os.path.join(ROOT, "zoo", "*.onnx")))[::6]


# the fast tier takes the examples and the zoo models under 100 KB; the others run in the full suite
FAST = {k for k, p in enumerate(MODELS) if os.path.getsize(p) < 100_000}


@pytest.mark.parametrize("path", fast_subset(MODELS, FAST, ids=[os.path.basename(p) for p in MODELS]))
def test_each_rules_identity_keys_keep_the_fingerprints(path):
    for f in lint(path).findings:
        assert f.identity_keys == CHECKS[f.rule].identity
        assert identity(f) == _legacy_identity(f), (f.rule, f.details)


def test_a_rule_that_forgets_a_key_is_caught():
    f = next(f for p in MODELS for f in lint(p).findings if f.rule == "SL003" and "sizes" in f.details)
    from dataclasses import replace

    forgetful = replace(f, identity_keys=tuple(k for k in f.identity_keys if k != "sizes"))
    assert identity(forgetful) != _legacy_identity(forgetful)
    assert forgetful.fingerprint() != f.fingerprint()
