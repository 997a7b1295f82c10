"""shapelint fix: the fixed model runs in onnxruntime where the original failed, gives the same
outputs where the original ran, is clean for SL003, and its external weights stay untouched."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from onnx_models import RNG, unet
from shapelint.lint import lint

VARIANTS = [dict(depth=2), dict(depth=3, down="maxpool", k_down=2), dict(depth=2, merge="add"),
            dict(depth=2, up="resize"), dict(depth=3, k_up=3, up_pads=(1, 1, 1, 1)), dict(depth=2, stride=3, k_up=3)]


def _session(m):
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _fix(src, dst, *extra):
    return subprocess.run([sys.executable, "-m", "shapelint", "fix", str(src), *extra, *(["-o", str(dst)] if dst else [])],
                          capture_output=True, text=True)


@pytest.mark.parametrize("kw", VARIANTS, ids=[str(v) for v in VARIANTS])
def test_fixed_model_runs_everywhere_and_matches_where_the_original_ran(kw, tmp_path):
    m = unet(**kw)
    src, dst = tmp_path / "m.onnx", tmp_path / "fixed.onnx"
    onnx.save(m, str(src))
    p = _fix(src, dst)
    assert p.returncode == 0 and "crop and pad" in p.stdout and "re-linted, 0 SL003 finding(s) left" in p.stdout
    assert not [f for f in lint(str(dst)).findings if f.rule == "SL003"]
    s1, s2 = _session(m), _session(onnx.load(str(dst)))
    failed_before = 0
    for h in range(9, 41):
        x = RNG.standard_normal((1, 1, h, h + 2)).astype(np.float32)
        try:
            y1 = s1.run(None, {"x": x})[0]
        except Exception:
            y1 = None
            failed_before += 1
        y2 = s2.run(None, {"x": x})[0]  # the fixed model runs at every size
        if y1 is not None:
            assert y1.shape == y2.shape and np.allclose(y1, y2, atol=1e-5), h
    assert failed_before > 0


def test_external_weights_stay_byte_for_byte_and_diff_writes_nothing(tmp_path):
    m = unet(depth=2, channels=16)
    src = tmp_path / "m.onnx"
    onnx.save_model(m, str(src), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
                    size_threshold=64)
    digest = hashlib.sha256((tmp_path / "w.bin").read_bytes()).hexdigest()
    p = _fix(src, None, "--diff")
    assert p.returncode == 0 and "crop and pad" in p.stdout and sorted(os.listdir(tmp_path)) == ["m.onnx", "w.bin"]
    (tmp_path / "out").mkdir()
    p = _fix(src, tmp_path / "out" / "fixed.onnx")  # elsewhere: the weights would not be found
    assert p.returncode == 2 and "same folder" in p.stderr and not os.listdir(tmp_path / "out")
    p = _fix(src, tmp_path / "fixed.onnx")
    assert p.returncode == 0
    assert hashlib.sha256((tmp_path / "w.bin").read_bytes()).hexdigest() == digest
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))  # with its weights, from the same w.bin
    x = RNG.standard_normal((1, 1, 13, 13)).astype(np.float32)
    assert _session(fixed).run(None, {"x": x})[0].shape == (1, 16, 13, 13)
