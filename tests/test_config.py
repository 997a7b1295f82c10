"""Configuration, each setting both ways: silenced where configured, still firing elsewhere."""

import json

import onnx
import pytest

from tests.onnx_models import unet


def check(*args, cwd):
    """The command line, in process (the fast tier), run from ``cwd``: (exit code, JSON, stderr)."""
    import contextlib
    import io
    import os

    from shapelint import cli

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(["check", *map(str, args), "--format", "json"])
    finally:
        os.chdir(here)
    return rc, (json.loads(out.getvalue()) if out.getvalue().strip() else []), err.getvalue()


@pytest.fixture()
def proj(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "legacy").mkdir()
    onnx.save(unet(depth=2), str(tmp_path / "models" / "dyn.onnx"))
    onnx.save(unet(depth=2), str(tmp_path / "legacy" / "old.onnx"))
    return tmp_path


def rules(items):
    return sorted({(i["file"].split("/")[-1], i["rule"], i["severity"]) for i in items if i["severity"] != "info"})


def test_defaults_without_config(proj):
    rc, items, _ = check("models", "legacy", cwd=proj)
    assert rc == 1
    assert rules(items) == [("dyn.onnx", "SL003", "warning"), ("old.onnx", "SL003", "warning")]


def test_pyproject_per_file_ignores_and_severity(proj):
    (proj / "pyproject.toml").write_text(
        '[tool.shapelint]\nfail-on = "error"\n[tool.shapelint.severity]\nSL003 = "error"\n'
        '[tool.shapelint.per-file-ignores]\n"legacy/*.onnx" = ["SL003"]\n')
    rc, items, _ = check("models", "legacy", cwd=proj)
    assert rc == 1
    assert rules(items) == [("dyn.onnx", "SL003", "error")]  # legacy silenced, models still firing


def test_yaml_ignore_and_fail_on(proj):
    (proj / ".shapelint.yaml").write_text("ignore: [SL002]\nfail-on: error\n")
    rc, items, _ = check("models", cwd=proj)
    assert rc == 0  # only warnings left, and fail-on is error
    assert {i["rule"] for i in items} == {"SL003"}
    rc, _, _ = check("models", "--fail-on", "warning", cwd=proj)
    assert rc == 1


def test_per_node_ignores_glob(proj):
    rc, items, _ = check("models", cwd=proj)
    all_nodes = {i["node"] for i in items if i["rule"] == "SL003"}
    assert len(all_nodes) == 2
    first = sorted(all_nodes)[0]
    (proj / ".shapelint.yaml").write_text(f'per-node-ignores:\n  "{first}": [SL003]\n')
    rc, items, _ = check("models", cwd=proj)
    nodes = {i["node"] for i in items if i["rule"] == "SL003"}
    assert nodes == all_nodes - {first}
    (proj / ".shapelint.yaml").write_text('per-node-ignores:\n  "concat*": [SL003]\n')
    rc, items, _ = check("models", cwd=proj)
    assert rc == 0 and not [i for i in items if i["rule"] == "SL003"]


def test_exit_zero_and_explicit_config(proj, tmp_path):
    rc, _, _ = check("models", "--exit-zero", cwd=proj)
    assert rc == 0
    other = tmp_path / "strict.yaml"
    other.write_text("select: [SL003]\nfail-on: info\n")
    rc, items, _ = check("models", "--config", other, cwd=proj)
    assert rc == 1 and {i["rule"] for i in items} == {"SL003"}


@pytest.mark.parametrize("content, words", [
    ("selct: [SL003]\n", "unknown key(s) selct"),
    ("fail-on: sometimes\n", "fail-on must be one of"),
    ("ignore: [SL9]\n", "'SL9' matches no rule"),
    ("severity: {SL003: fatal}\n", "severity.SL003 must be one of"),
])
def test_bad_config_is_an_error_naming_it(proj, content, words):
    (proj / ".shapelint.yaml").write_text(content)
    rc, _, err = check("models", cwd=proj)
    assert rc == 2 and words in err and ".shapelint.yaml" in err and "Traceback" not in err


@pytest.mark.runtime
def test_declared_input_contract(proj):
    """A U-Net used only at multiples of 4 is not flagged; declared multiples of 2 still are, and
    a size the declaration allows really fails in onnxruntime."""
    from tests.onnx_models import run

    (proj / ".shapelint.yaml").write_text("inputs:\n  x: {2: {multiple-of: 4}, 3: {multiple-of: 4, min: 4}}\n")
    rc, items, _ = check("models", cwd=proj)
    assert rc == 0 and not [i for i in items if i["rule"] == "SL003"]
    (proj / ".shapelint.yaml").write_text("inputs:\n  x: {2: {multiple-of: 2}, 3: {multiple-of: 2}}\n")
    rc, items, _ = check("models", cwd=proj)
    sl3 = [i for i in items if i["rule"] == "SL003"]
    assert rc == 1 and sl3
    bad = sl3[0]["details"]["smallest_failing"]
    assert bad % 2 == 0 and not run(unet(depth=2), (1, 1, bad, bad))[0]
    assert run(unet(depth=2), (1, 1, 8, 8))[0]
