"""Baselines: known findings silenced, new ones still reported; the file is written atomically."""

import json
import subprocess
import sys

import onnx

from tests.onnx_models import unet


def run(*args, cwd):
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", *map(str, args), "--format", "json"],
                       capture_output=True, text=True, cwd=cwd)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else []), p.stderr


def test_baseline_silences_known_and_reports_new(tmp_path):
    onnx.save(unet(depth=2), str(tmp_path / "a.onnx"))
    rc, items, err = run("a.onnx", "--write-baseline", "base.json", cwd=tmp_path)
    assert rc == 1 and "wrote" in err
    base = json.loads((tmp_path / "base.json").read_text())
    assert {e["rule"] for e in base["findings"]} >= {"SL003"} and all(e["file"] == "a.onnx" for e in base["findings"])
    rc, items, _ = run("a.onnx", "--baseline", "base.json", cwd=tmp_path)
    assert rc == 0 and items == []
    # a new model, and a changed one: their findings are new
    onnx.save(unet(depth=2, shape=(1, 1, 65, 65)), str(tmp_path / "b.onnx"))
    rc, items, _ = run("a.onnx", "b.onnx", "--baseline", "base.json", cwd=tmp_path)
    assert rc == 1 and {i["file"] for i in items} == {"b.onnx"} and any(i["severity"] == "error" for i in items)
    onnx.save(unet(depth=3), str(tmp_path / "a.onnx"))
    rc, items, _ = run("a.onnx", "--baseline", "base.json", cwd=tmp_path)
    assert rc == 1 and [i for i in items if i["rule"] == "SL003"]


def test_bad_baseline_is_exit_2(tmp_path):
    onnx.save(unet(depth=1), str(tmp_path / "a.onnx"))
    (tmp_path / "base.json").write_text("{not json")
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", "a.onnx", "--baseline", "base.json"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and "base.json" in p.stderr and "Traceback" not in p.stderr


def test_a_version_1_baseline_is_refused_with_the_remedy(tmp_path):
    """Version 2 changed the fingerprints of ONNX SL001/SL002 findings (axes and admissible sizes
    listed one way): an old file is refused in one line that says what to do, not half-matched."""
    onnx.save(unet(depth=1), str(tmp_path / "a.onnx"))
    rc, _items, _err = run("a.onnx", "--write-baseline", "base.json", cwd=tmp_path)
    data = json.loads((tmp_path / "base.json").read_text())
    assert data["version"] == 2
    data["version"] = 1
    (tmp_path / "base.json").write_text(json.dumps(data))
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", "a.onnx", "--baseline", "base.json"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "base.json" in p.stderr and "version 1" in p.stderr and "--write-baseline" in p.stderr
