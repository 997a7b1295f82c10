"""The command line as a user runs it: exit codes, formats, pins and unreadable input."""

import json
import os

import onnx
import pytest

from tests.onnx_models import single_convt, unet


def shapelint(*args, cwd=None):
    """The command line, in process (the fast tier): (exit code, stdout, stderr)."""
    return _cli(*args, cwd=cwd or os.getcwd())


@pytest.fixture()
def dyn_unet(tmp_path):
    path = tmp_path / "unet.onnx"
    onnx.save(unet(depth=2), str(path))
    return path


def test_dynamic_unet_warns_with_exact_sets(dyn_unet):
    rc, out, err = shapelint("check", dyn_unet)
    assert rc == 1, err
    assert "SL003 [warning] merge-mismatch at Concat" in out
    assert "it runs only for H mod 4 ∈ {0, 3}, H ≥ 3" in out
    assert "H mod 4 = 0, H ≥ 4" in out
    assert "fix: " in out and "F.pad(x" in out
    assert "| branch" in out  # the chain of shapes on both branches
    assert err == ""


def test_pinned_size_gives_error_with_both_numbers(dyn_unet):
    rc, out, _ = shapelint("check", dyn_unet, "--input-shape", "x=1,1,6,8", "--format", "json")
    assert rc == 1
    items = json.loads(out)
    errors = [f for f in items if f["severity"] == "error"]
    assert errors and errors[0]["rule"] == "SL003"
    assert errors[0]["details"]["sizes"] == ["3", "4"] or errors[0]["details"]["sizes"] == ["4", "3"]
    for key in ("file", "rule", "severity", "node", "message", "suggestion"):
        assert key in errors[0]


def test_pinned_working_size_is_clean(dyn_unet):
    rc, out, _ = shapelint("check", dyn_unet, "--input-shape", "x=1,1,8,12")
    assert rc == 0, out
    assert "SL003" not in out and "1 model checked: no findings" in out


def test_info_findings_do_not_fail(tmp_path):
    path = tmp_path / "ok.onnx"
    onnx.save(single_convt(in_shape=(1, 2, 4, 4), k=3, s=2, pads=[1, 1, 1, 1], output_padding=[1, 1]), str(path))
    rc, out, _ = shapelint("check", path, "--show-info")
    assert rc == 0
    assert "SL002 [info]" in out and "admits 2 output sizes {7, 8}" in out


def test_folder_is_walked(tmp_path, dyn_unet):
    rc, out, _ = shapelint("check", dyn_unet.parent)
    assert rc == 1 and "1 model checked" in out


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"\x00\xff" * 100 + os.urandom(200), "not a valid ONNX protobuf"),
    (b"hello, this is text\n", "not"),
])
def test_unreadable_input_is_one_line_exit_2(tmp_path, content, reason):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    rc, out, err = shapelint("check", path)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0]
    assert "Traceback" not in err


def test_missing_file_and_bad_usage(tmp_path, dyn_unet):
    rc, _, err = shapelint("check", tmp_path / "nope.onnx")
    assert rc == 2 and "nope.onnx" in err and "Traceback" not in err
    rc, _, err = shapelint("check", dyn_unet, "--input-shape", "x=1,1,a,b")
    assert rc == 2 and "--input-shape" in err
    rc, _, err = shapelint("check", dyn_unet, "--input-shape", "y=1,1,8,8")
    assert rc == 2 and "'x'" in err and "Traceback" not in err
    rc, _, err = shapelint("check", dyn_unet, "--input-shape", "x=1,1,8")
    assert rc == 2 and "rank 4" in err


def test_one_bad_model_does_not_stop_the_others(tmp_path, dyn_unet):
    bad = tmp_path / "zz_bad.onnx"
    bad.write_bytes(b"junk")
    rc, out, err = shapelint("check", tmp_path)
    assert rc == 2
    assert "SL003" in out and "zz_bad.onnx" in err


def test_unknown_op_gives_note_not_finding(tmp_path):
    from onnx import helper, TensorProto

    node = helper.make_node("FancyOp", ["x"], ["y"], domain="com.example")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "custom.onnx"
    onnx.save(m, str(path))
    rc, out, err = shapelint("check", path)
    assert rc == 0
    assert "note: 1 node(s) of op com.example.FancyOp have no shape rule" in out


def test_python_m_and_console_script_help():
    rc, out, _ = shapelint("check", "--help")
    assert rc == 0 and "--input-shape" in out and "--format" in out


def test_jobs_give_the_same_report_and_survive_a_bad_model(tmp_path):
    for k in range(6):
        onnx.save(unet(depth=1 + k % 2), str(tmp_path / f"m{k}.onnx"))
    (tmp_path / "m9.onnx").write_bytes(b"junk")
    rc1, out1, err1 = shapelint("check", tmp_path, "-j", "1", "--format", "json")
    rc2, out2, err2 = shapelint("check", tmp_path, "-j", "2", "--format", "json")
    assert rc1 == rc2 == 2 and out1 == out2 and json.loads(out1)
    assert "m9.onnx" in err1 and "m9.onnx" in err2 and "Traceback" not in err2


def test_colour_only_on_a_terminal_and_never_with_no_color(dyn_unet, monkeypatch):
    from shapelint.lint import lint
    from shapelint.report import text, use_colour

    res = [lint(str(dyn_unet))]
    assert "\033[" in text(res, colour=True) and "\033[" not in text(res, colour=False)

    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())
    rc, out, _ = shapelint("check", dyn_unet)  # a pipe, not a terminal
    assert "\033[" not in out


@pytest.mark.runtime
def test_contract_command_states_the_exact_sets(dyn_unet):
    from tests.onnx_models import run

    rc, out, _ = shapelint("contract", dyn_unet, "--format", "json")
    assert rc == 0
    (record,) = json.loads(out)
    rows = {r["axis"]: r for r in record["rows"]}
    assert rows[2]["input"] == "x" and rows[2]["modulus"] == 4 and rows[2]["residues"] == [0] and rows[2]["min"] == 4
    assert rows[3]["works"] == "W mod 4 = 0, W ≥ 4"
    m = unet(depth=2)
    for h in range(1, 14):
        assert run(m, (1, 1, h, 4))[0] == (h % 4 == 0), h
    rc, out, _ = shapelint("contract", dyn_unet)
    assert "x, axis 2 (H): H mod 4 = 0, H ≥ 4" in out


def test_an_internal_error_is_one_line_and_the_batch_goes_on(tmp_path, monkeypatch, capsys):
    """A bug of ours on one model (here: lint raising RuntimeError for it) gives one line naming
    the file, exit 2, and the other model is still linted and reported."""
    import shapelint.cli as cli

    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    onnx.save(unet(depth=2), str(good))
    onnx.save(unet(depth=1), str(bad))
    real = cli.lint

    def flaky(path, *a, **kw):
        if str(path).endswith("bad.onnx"):
            raise RuntimeError("boom")
        return real(path, *a, **kw)

    monkeypatch.setattr(cli, "lint", flaky)
    rc = cli.main(["check", str(good), str(bad)])
    out, err = capsys.readouterr()
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.onnx" in lines[0] and "internal error (RuntimeError: boom)" in lines[0], err
    assert "Traceback" not in err and "SL003" in out and "good.onnx" in out


# --------------------------------------------------------------------------- ruff-grade flags


def _cli(*args, cwd):
    """The command line in this process (as `python -m shapelint` runs it): (exit code, stdout, stderr)."""
    import contextlib
    import io

    from shapelint.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as e:  # argparse: usage errors, --version
                rc = e.code
    finally:
        os.chdir(here)
    return rc, out.getvalue(), err.getvalue()


def _rules_of(stdout: str) -> set:
    return {f["rule"] for f in json.loads(stdout)}


@pytest.fixture
def dyn_repo(tmp_path):
    """A folder with a dynamic U-Net (SL003 warnings, SL002 infos) and a config raising SL003 to
    an error and ignoring SL002 in one node glob."""
    onnx.save(unet(depth=2), str(tmp_path / "m.onnx"))
    (tmp_path / ".shapelint.yaml").write_text("severity:\n  SL003: error\n")
    return tmp_path


def test_select_on_the_command_line_keeps_the_rest_of_the_config(dyn_repo):
    rc, out, _ = _cli("check", "m.onnx", "--select", "SL003", "--format", "json", cwd=dyn_repo)
    found = json.loads(out)
    assert rc == 1 and {f["rule"] for f in found} == {"SL003"}
    assert {f["severity"] for f in found} == {"error"}  # the config's severity still applies


def test_ignore_and_extend_select_merge_with_the_config(dyn_repo):
    (dyn_repo / ".shapelint.yaml").write_text("select: [SL003]\n")
    _, out, _ = _cli("check", "m.onnx", "--format", "json", "--show-info", cwd=dyn_repo)
    assert _rules_of(out) == {"SL003"}
    _, out, _ = _cli("check", "m.onnx", "--format", "json", "--show-info", "--extend-select", "SL002", cwd=dyn_repo)
    assert _rules_of(out) == {"SL002", "SL003"}
    rc, out, _ = _cli("check", "m.onnx", "--format", "json", "--ignore", "SL003", cwd=dyn_repo)
    assert rc == 0 and _rules_of(out) == set()


def test_prefixes_work_on_the_command_line(dyn_repo):
    _, out, _ = _cli("check", "m.onnx", "--format", "json", "--show-info", "--select", "SL00", "--ignore", "SL003",
                     cwd=dyn_repo)
    assert _rules_of(out) == {"SL002"}
    rc, _, err = _cli("check", "m.onnx", "--select", "SL9", cwd=dyn_repo)
    assert rc == 2 and "'SL9' matches no rule" in err and err.count("\n") == 1


def test_statistics_counts_per_rule(dyn_repo):
    from collections import Counter

    rc, out, _ = _cli("check", "m.onnx", "--statistics", "--show-info", cwd=dyn_repo)
    rows = [line.split("\t") for line in out.splitlines()]
    _, js, _ = _cli("check", "m.onnx", "--format", "json", "--show-info", cwd=dyn_repo)
    counts = Counter(f["rule"] for f in json.loads(js))
    assert rc == 1 and counts == {"SL002": 2, "SL003": 2}
    assert rows == [["    2", "SL002", "ambiguous-convtranspose"], ["    2", "SL003", "merge-mismatch"]]


def test_quiet_prints_findings_only(dyn_repo):
    _, loud, _ = _cli("check", "m.onnx", cwd=dyn_repo)
    rc, quiet, _ = _cli("check", "m.onnx", "-q", cwd=dyn_repo)
    assert rc == 1 and "model checked" in loud and "model checked" not in quiet
    assert "SL003 [error]" in quiet and "note:" not in quiet


def test_default_path_is_the_current_folder(dyn_repo):
    rc, out, _ = _cli("check", "--format", "json", cwd=dyn_repo)
    assert rc == 1 and {f["file"] for f in json.loads(out)} == {"m.onnx"}


def test_no_abbreviations_and_did_you_mean(dyn_repo):
    rc, _, err = _cli("check", "m.onnx", "--form", "json", cwd=dyn_repo)
    assert rc == 2 and "unrecognized arguments: --form" in err and "did you mean --format?" in err
    rc, _, err = _cli("check", "m.onnx", "--formt", "json", cwd=dyn_repo)
    assert rc == 2 and "did you mean --format?" in err
    rc, _, err = _cli("chek", "m.onnx", cwd=dyn_repo)
    assert rc == 2 and "did you mean check?" in err


@pytest.mark.parametrize("command", ["check", "contract", "fix", "rule", "explain"])
def test_version_on_every_subcommand(command, tmp_path):
    from shapelint import __version__

    rc, out, _ = _cli(command, "--version", cwd=tmp_path)
    assert rc == 0 and out.strip() == f"shapelint {__version__}"


def test_show_info_governs_json_and_sarif_too(dyn_repo):
    (dyn_repo / ".shapelint.yaml").unlink()
    for fmt in ("json", "sarif"):
        _, quiet, _ = _cli("check", "m.onnx", "--format", fmt, cwd=dyn_repo)
        _, full, _ = _cli("check", "m.onnx", "--format", fmt, "--show-info", cwd=dyn_repo)
        if fmt == "json":
            assert _rules_of(quiet) == {"SL003"} and _rules_of(full) == {"SL002", "SL003"}
        else:
            levels = [{r["level"] for r in json.loads(out)["runs"][0]["results"]} for out in (quiet, full)]
            assert levels == [{"warning"}, {"warning", "note"}]  # SARIF notes only when asked


def test_json_reports_an_unreadable_model_as_a_record(dyn_repo):
    (dyn_repo / "junk.onnx").write_bytes(b"\x07not a model")
    rc, out, err = _cli("check", "junk.onnx", "m.onnx", "--format", "json", cwd=dyn_repo)
    items = json.loads(out)
    (bad,) = [f for f in items if f["file"] == "junk.onnx"]
    assert rc == 2 and bad["rule"] is None and bad["name"] == "unreadable" and bad["severity"] == "error"
    assert "not a valid ONNX protobuf" in bad["message"] and "junk.onnx" in err
    assert {f["rule"] for f in items if f["file"] == "m.onnx"} == {"SL003"}


def test_top_level_help_names_the_python_api(tmp_path):
    rc, out, _ = _cli("--help", cwd=tmp_path)
    assert rc == 0 and "shapelint.check(model)" in out and "shapelint.contract(model)" in out
    import shapelint

    assert callable(shapelint.check) and callable(shapelint.contract)  # what the help names exists
