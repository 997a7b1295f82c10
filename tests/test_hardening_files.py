"""Hardening II, the files that are not models: configurations and baselines are read bounded
(size before reading, regular files only, depth and numbers limited, values shown bounded in
messages), and written only to regular files or new paths. Each case must end in one line naming
the file and the reason, exit 2 -- never a traceback, a hang, a huge message or a replaced device.
In process (``cli.main``), so the family stays in the fast tier."""

import os
import stat

import onnx
import pytest

from shapelint import cli, limits
from tests.onnx_models import unet


@pytest.fixture()
def model(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(unet(depth=2), str(path))
    return path


def run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err, *needles):
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("shapelint: "), err
    assert "Traceback" not in err and len(err) < 1000, err[:2000]
    for n in needles:
        assert n in lines[0], (n, lines[0])


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "select: *i\n"

BAD_CONFIGS = {
    "alias-bomb-under-known-key": (ALIAS_BOMB, "anchors and aliases"),
    "alias-in-a-list": ("select: &s [SL003]\nignore: *s\n", "anchors and aliases"),
    "5000-digit-int": ("inputs: {x: {2: {min: " + "9" * 5000 + "}}}\n", "digits"),
    "huge-declared-min": ("inputs: {x: {2: {min: 1000000000000000000}}}\n", "MAX_DECLARED_SIZE"),
    "bool-as-min": ("inputs: {x: {2: {min: true}}}\n", "min 1"),
    "nested-30000-deep-lists": ("select: " + "[" * 30000 + "]" * 30000 + "\n", "levels deep"),
    "nested-40-deep-maps": ("select: " + "{a: " * 40 + "1" + "}" * 40 + "\n", "levels deep"),
    "not-utf8": (b"select: [\xff\xfe]\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_hostile_yaml_configuration_is_one_line(case, tmp_path, model, capsys):
    text, needle = BAD_CONFIGS[case]
    cfg = tmp_path / ".shapelint.yaml"
    (cfg.write_bytes if isinstance(text, bytes) else cfg.write_text)(text)
    rc, _out, err = run(["check", model], capsys)  # found by walking up: the message names the config
    one_line_error(rc, err, str(cfg), needle)
    rc, _out, err = run(["check", model, "--config", cfg], capsys)
    one_line_error(rc, err, str(cfg), needle)


BAD_TOML = {
    "5000-digit-int": "[tool.shapelint.inputs.x.2]\nmin = " + "9" * 5000 + "\n",
    "huge-declared-min": "[tool.shapelint.inputs.x.2]\nmin = 1_000_000_000_000_000_000\n",
    "nested-20000-deep-arrays": "[tool.shapelint]\nselect = " + "[" * 20000 + "]" * 20000 + "\n",
    "nested-20000-deep-inline-tables": "[tool.shapelint]\nselect = " + "{a = " * 20000 + "1" + "}" * 20000 + "\n",
}


@pytest.mark.parametrize("case", sorted(BAD_TOML))
def test_a_hostile_pyproject_is_one_line_blaming_it_not_the_model(case, tmp_path, model, capsys):
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text(BAD_TOML[case])
    rc, _out, err = run(["check", model], capsys)
    one_line_error(rc, err, str(cfg))
    assert "graph" not in err  # a deep config once blamed the model's graph


def test_a_big_configuration_is_refused_before_reading(tmp_path, model, capsys):
    cfg = tmp_path / ".shapelint.yaml"
    with open(cfg, "wb") as f:
        f.truncate(limits.MAX_CONFIG_BYTES + 1)  # sparse: reading it would take the bytes
    rc, _out, err = run(["check", model], capsys)
    one_line_error(rc, err, str(cfg), "over the limit")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "folder"])
def test_a_configuration_or_baseline_that_is_not_a_regular_file(target, tmp_path, model, capsys):
    """A link to /dev/zero once ran out of memory; a FIFO would block the read forever."""
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = tmp_path / "fifo"
    elif target == "folder":
        (tmp_path / "folder").mkdir()
        target = tmp_path / "folder"
    (tmp_path / "cfg.yaml").symlink_to(target)
    rc, _out, err = run(["check", model, "--config", tmp_path / "cfg.yaml"], capsys)
    one_line_error(rc, err, "cfg.yaml", "not a regular file")
    (tmp_path / "base.json").symlink_to(target)
    rc, _out, err = run(["check", model, "--baseline", tmp_path / "base.json"], capsys)
    one_line_error(rc, err, "base.json", "not a regular file")


def test_a_found_configuration_linked_out_of_its_folder_is_refused(tmp_path, model, capsys):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("ignore: [SL003]\n")
    try:
        (tmp_path / ".shapelint.yaml").symlink_to(outside)
        rc, _out, err = run(["check", model], capsys)
        one_line_error(rc, err, ".shapelint.yaml", "symbolic link out of its folder", "--config")
        rc, out, err = run(["check", model, "--config", tmp_path / ".shapelint.yaml"], capsys)
        assert rc == 0 and err == "", err  # given explicitly, it is used: SL003 ignored
    finally:
        outside.unlink()
    # a link inside the folder is followed
    (tmp_path / "real.yaml").write_text("ignore: [SL003]\n")
    (tmp_path / ".shapelint.yaml").unlink()
    (tmp_path / ".shapelint.yaml").symlink_to(tmp_path / "real.yaml")
    assert run(["check", model], capsys)[0] == 0


BAD_BASELINES = {
    "nested-100000-deep": "[" * 100000 + "]" * 100000,
    "not-json": "{version: 2",
    "not-utf8": b'{"version": 2, "findings": ["\xff"]}',
    "entry-of-the-wrong-type": '{"version": 2, "tool": "shapelint", "findings": [' + '"x",' * 10000 + '"x"]}',
}


@pytest.mark.parametrize("case", sorted(BAD_BASELINES))
def test_a_hostile_baseline_is_one_line(case, tmp_path, model, capsys):
    base = tmp_path / "base.json"
    data = BAD_BASELINES[case]
    (base.write_bytes if isinstance(data, bytes) else base.write_text)(data)
    rc, _out, err = run(["check", model, "--baseline", base], capsys)
    one_line_error(rc, err, str(base))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_write_baseline_never_replaces_a_device(tmp_path, model, capsys):
    before = os.stat("/dev/full")
    rc, _out, err = run(["check", model, "--write-baseline", "/dev/full"], capsys)
    one_line_error(rc, err, "/dev/full", "character device")
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_write_baseline_targets(tmp_path, model, capsys):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for dest, needle in ((tmp_path / "fifo", "FIFO"), (tmp_path / "dir", "folder")):
        rc, _out, err = run(["check", model, "--write-baseline", dest], capsys)
        one_line_error(rc, err, str(dest), needle)
    # a link to a regular file: the target is rewritten, the link stays a link
    (tmp_path / "real.json").write_text("old")
    os.chmod(tmp_path / "real.json", 0o640)
    (tmp_path / "link.json").symlink_to("real.json")
    rc, _out, err = run(["check", model, "--write-baseline", tmp_path / "link.json"], capsys)
    assert rc == 1 and "wrote 4 finding(s)" in err, err  # 1: the findings are still there
    assert os.path.islink(tmp_path / "link.json") and '"version": 2' in (tmp_path / "real.json").read_text()
    assert stat.S_IMODE(os.stat(tmp_path / "real.json").st_mode) == 0o640  # permissions kept
    # a dangling link: its target is created
    (tmp_path / "dangling.json").symlink_to("new.json")
    assert run(["check", model, "--write-baseline", tmp_path / "dangling.json"], capsys)[0] == 1
    assert (tmp_path / "new.json").is_file() and os.path.islink(tmp_path / "dangling.json")
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".shapelint-")]  # no temporary left


def test_jobs_are_capped_by_files_and_cpus():
    assert limits.jobs(1000, 2, cpus=64) == 2
    assert limits.jobs(1000, 10_000, cpus=2) == 2 * limits.MAX_JOBS_PER_CPU
    assert limits.jobs(3, 10, cpus=8) == 3
    assert limits.jobs(0, 10, cpus=8) == 1


def test_the_command_line_starts_no_more_processes_than_files(tmp_path, model, capsys, monkeypatch):
    import concurrent.futures

    started = []

    class Recording(concurrent.futures.ThreadPoolExecutor):  # threads: the same map, no forking
        def __init__(self, max_workers=None, **kw):
            started.append(max_workers)
            super().__init__(max_workers=max_workers)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Recording)
    onnx.save(unet(depth=2), str(tmp_path / "n.onnx"))
    rc, _out, err = run(["check", model, tmp_path / "n.onnx", "-j", "1000"], capsys)
    assert rc == 1 and started == [2], (started, err)


def test_a_folder_walk_does_not_follow_links_out_of_the_folder(tmp_path, capsys):
    """``passwd.onnx -> /etc/passwd`` once was read (and its first line quoted); a link inside the
    folder is linted; a link named on the command line is the user's choice."""
    tree = tmp_path / "models"
    tree.mkdir()
    onnx.save(unet(depth=2), str(tree / "real.onnx"))
    (tree / "passwd.onnx").symlink_to("/etc/passwd")
    (tree / "alias.onnx").symlink_to("real.onnx")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    onnx.save(unet(depth=2), str(outside / "far.onnx"))
    (tree / "far").symlink_to(outside)
    rc, out, err = run(["check", tree, "--format", "concise"], capsys)
    assert rc == 1
    assert "passwd.onnx: note: a symbolic link out of" in err and "/etc/passwd" in err and "root:" not in err + out
    assert "far: note: a symbolic link out of" in err
    assert "alias.onnx" in out and "real.onnx" in out and "far.onnx" not in out
    rc, out, err = run(["check", tree, "--follow-links", "--format", "concise"], capsys)
    assert rc == 2 and "passwd.onnx" in err  # followed: /etc/passwd is not a model (one line)
    rc, out, err = run(["check", tree, "--quiet", "--format", "concise"], capsys)
    assert "note" not in err
