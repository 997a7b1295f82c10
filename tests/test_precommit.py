"""pre-commit: the hooks in .pre-commit-hooks.yaml, run for real by pre-commit, and Git LFS pointers.

The checkout as it is on disk (tracked and untracked files, .gitignore honoured; it need not be a
git repository: .ci/run tests a plain copy) is committed to a bare scratch repository, and a
scratch git repository uses it as a hook repository: `pre-commit try-repo`, and a
.pre-commit-config.yaml with `repo: <path>` / `rev: <sha>` installed as the git pre-commit hook,
so that `git commit` itself is what the hook blocks or lets through. pre-commit builds the hook's
environment with pip (network to the package registry only); PRE_COMMIT_HOME is a temporary folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import yaml

from shapelint.lfs import NOTE, is_lfs_pointer, pointer_file
from tests.onnx_models import unet

ROOT = Path(__file__).resolve().parents[1]
OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
POINTER = f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 5242880\n"


def write_pointer(path: Path, text: str = POINTER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


# ---------------------------------------------------------------------------------------------
# shapelint.lfs on its own


def sized_pointer(n: int) -> str:
    """A well-formed pointer of exactly n bytes (an extension line with a long name makes up the size)."""
    head = "version https://git-lfs.github.com/spec/v1\next-0-"
    tail = f" sha256:{'b' * 64}\n" + POINTER.split("\n", 1)[1]
    text = head + "x" * (n - len(head) - len(tail)) + tail
    assert len(text.encode()) == n
    return text


@pytest.mark.parametrize("text", [
    POINTER,
    sized_pointer(1023),
    POINTER.replace("\n", "\r\n"),
    # an extension line sorts before oid (the spec keeps keys sorted after `version`)
    f"version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{'b' * 64}\noid sha256:{OID}\nsize 12\n",
    f"version https://hawser.github.com/spec/v1\noid sha256:{OID}\nsize 12\n",  # pre-1.0 pointers
    POINTER.rstrip("\n"),  # no final newline
    f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 0\n",
])
def test_pointer_recognised(tmp_path, text):
    assert is_lfs_pointer(write_pointer(tmp_path / "x.onnx", text))
    assert is_lfs_pointer(str(tmp_path / "x.onnx"))


@pytest.mark.parametrize("text", [
    "",
    "version https://git-lfs.github.com/spec/v1\n",  # no oid, no size
    f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\n",  # no size
    "version https://git-lfs.github.com/spec/v1\nsize 12\n",  # no oid
    f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID[:-1]}\nsize 12\n",  # short oid
    f"version https://git-lfs.github.com/spec/v1\noid md5:{OID}\nsize 12\n",
    f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize twelve\n",
    f"version https://example.com/spec/v9\noid sha256:{OID}\nsize 12\n",
    f"\nversion https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12\n",
    f"# version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12\n",
    sized_pointer(1024),  # a well-formed pointer of 1024 bytes: Git LFS never reads one that large
])
def test_not_a_pointer(tmp_path, text):
    assert not is_lfs_pointer(write_pointer(tmp_path / "x.onnx", text))


def test_models_dirs_and_missing_files_are_not_pointers(tmp_path):
    onnx.save(unet(depth=2, shape=(1, 1, 64, 64)), str(tmp_path / "good.onnx"))
    assert not is_lfs_pointer(tmp_path / "good.onnx")
    assert not is_lfs_pointer(ROOT / "examples" / "unet_dynamic.onnx")
    assert not is_lfs_pointer(tmp_path)
    assert not is_lfs_pointer(tmp_path / "missing.onnx")
    big = tmp_path / "big.onnx"  # a pointer's text at the start of a file of 1 MiB
    big.write_bytes(POINTER.encode().ljust(1 << 20, b"\0"))
    assert not is_lfs_pointer(big)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "x.onnx")  # opening it would block: only regular files are read
    assert not is_lfs_pointer(tmp_path / "x.onnx")


def test_pointer_file_for_models_and_savedmodels(tmp_path):
    p = write_pointer(tmp_path / "x.onnx")
    assert pointer_file(p) == str(p)
    sm = tmp_path / "sm"
    write_pointer(sm / "saved_model.pb")
    assert pointer_file(sm) == str(sm / "saved_model.pb")  # a SavedModel is linted as its folder
    assert pointer_file(sm / "saved_model.pb") == str(sm / "saved_model.pb")
    assert pointer_file(tmp_path) is None  # a folder that is not a SavedModel
    onnx.save(unet(depth=2, shape=(1, 1, 64, 64)), str(tmp_path / "good.onnx"))
    assert pointer_file(tmp_path / "good.onnx") is None


# ---------------------------------------------------------------------------------------------
# the hook manifest


def manifest() -> dict:
    with open(ROOT / ".pre-commit-hooks.yaml") as f:
        return {h["id"]: h for h in yaml.safe_load(f)}


def matches(hook: dict, name: str) -> bool:
    return re.search(hook.get("files", ""), name) is not None  # as pre-commit applies `files`


def _extra(name: str) -> list:
    """The requirements of the project's extra NAME, from pyproject.toml."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"][name]


def test_manifest_hooks():
    hooks = manifest()
    assert set(hooks) == {"shapelint", "shapelint-keras", "shapelint-tensorflow"}
    for h in hooks.values():
        assert h["language"] == "python" and h["entry"] == "shapelint check"
        assert h.get("pass_filenames", True)
    onnx_hook, keras_hook, tf_hook = hooks["shapelint"], hooks["shapelint-keras"], hooks["shapelint-tensorflow"]
    # the ONNX and Keras hooks install the project alone (one shared environment)
    assert not onnx_hook.get("additional_dependencies") and not keras_hook.get("additional_dependencies")
    # the SavedModel/TFLite hook installs the project's own extra (pre-commit runs
    # `pip install . <additional_dependencies>` in its clone of this repository), which is the
    # flatbuffers runtime and not TensorFlow
    assert tf_hook["additional_dependencies"] == [".[tensorflow]"]
    light = _extra("tensorflow")
    assert [re.split(r"[<>=!~ ;\[]", r)[0] for r in light] == ["flatbuffers"], light
    assert _extra("tflite") == light

    hook_of = {"model.onnx": onnx_hook, "a/b/unet.onnx": onnx_hook, "UNET.ONNX": onnx_hook,
               "m.keras": keras_hook, "a/M.KERAS": keras_hook,
               "a/m.tflite": tf_hook, "M.TFLITE": tf_hook, "saved_model.pb": tf_hook,
               "export/1/saved_model.pb": tf_hook}
    for name, hook in hook_of.items():
        assert [h["id"] for h in hooks.values() if matches(h, name)] == [hook["id"]], name
    for name in ("model.onnx.txt", "onnx", "x.pb", "my_saved_model.pb", "saved_model.pbtxt",
                 "export/1/variables/variables.index", "keras.py", "model.h5", "m.keras.bak", "tflite"):
        assert not any(matches(h, name) for h in hooks.values()), name


# ---------------------------------------------------------------------------------------------
# pre-commit for real: every test that uses a hook environment is marked slow (pre-commit builds
# it with pip, 15-20 s)


def git_env(tmp: Path) -> dict:
    """The environment for git and pre-commit: no GIT_* or PRE_COMMIT_* leaking in from outside (a
    git hook running this test, SKIP=…), no PYTHONPATH (the hook must run its own install), a
    temporary PRE_COMMIT_HOME, an identity for commits, no colour."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PRE_COMMIT")) and k not in ("PYTHONPATH", "SKIP", "VIRTUAL_ENV")}
    config = {"user.name": "shapelint test", "user.email": "test@example.invalid", "commit.gpgsign": "false",
              "init.defaultBranch": "main", "core.autocrlf": "false", "advice.detachedHead": "false"}
    env["GIT_CONFIG_COUNT"] = str(len(config))  # GIT_CONFIG_KEY_n survives pre-commit's own git env filter
    for n, (k, v) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"] = k, v
    env["PRE_COMMIT_HOME"] = str(tmp / "pre-commit-home")
    env["PRE_COMMIT_COLOR"] = "never"
    env["NO_COLOR"] = "1"
    return env


def run(cmd, cwd, env, timeout=300) -> tuple[int, str]:
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout


def ok(cmd, cwd, env) -> str:
    rc, out = run(cmd, cwd, env)
    assert rc == 0, f"{' '.join(map(str, cmd))} failed ({rc}):\n{out}"
    return out


PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.fail("git is needed to test the pre-commit hooks")
    if importlib.util.find_spec("pre_commit") is None:
        pytest.fail('pre-commit is not installed: pip install ".[test]"')
    return git_env(tmp_path_factory.mktemp("precommit"))


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory, env) -> tuple[str, str]:
    """(path, sha): the checkout's files as they are on disk, committed to a bare repository.

    `pre-commit try-repo` on the checkout itself would see only committed, staged and modified
    tracked files (its shadow commit runs `git add -u`), so new files would be missing, and the
    copy .ci/run tests is no git repository at all."""
    tmp = tmp_path_factory.mktemp("hookrepo")
    bare = tmp / "shapelint.git"
    excludes = tmp / "excludes"  # in case the checkout has no .gitignore (never a venv or caches)
    excludes.write_text(".git\n.venv/\nvenv/\n__pycache__/\n*.egg-info/\n.pytest_cache/\nbuild/\ndist/\n")
    ok(["git", "init", "-q", "--bare", bare], tmp, env)
    g = ["git", f"--git-dir={bare}", f"--work-tree={ROOT}", "-c", f"core.excludesFile={excludes}"]
    ok([*g, "add", "-A"], tmp, env)
    ok([*g, "commit", "-q", "--no-verify", "-m", "snapshot of the checkout under test"], tmp, env)
    sha = ok(["git", f"--git-dir={bare}", "rev-parse", "HEAD"], tmp, env).strip()
    files = ok(["git", f"--git-dir={bare}", "ls-tree", "-r", "--name-only", sha], tmp, env).split()
    assert ".pre-commit-hooks.yaml" in files and "pyproject.toml" in files, files
    return str(bare), sha


def model_files(folder: Path) -> dict:
    onnx.save(unet(depth=2, shape=(1, 1, 65, 65)), str(folder / "bad.onnx"))  # 65 → 33 → 17 → 34 ≠ 33
    onnx.save(unet(depth=2, shape=(1, 1, 64, 64)), str(folder / "good.onnx"))
    return {"bad": "bad.onnx", "good": "good.onnx"}


def direct_findings(cwd: Path, name: str) -> list:
    """The finding lines `shapelint check NAME` prints when run directly (not through pre-commit)."""
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", name], cwd=cwd, capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, NO_COLOR="1"))
    assert p.returncode == 1, p.stdout + p.stderr
    lines = [line for line in p.stdout.splitlines() if line.strip() and " checked: " not in line]
    assert any(f"{name}: SL003 [error] merge-mismatch at Concat" in line for line in lines), p.stdout
    return lines


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, env, hook_repo) -> Path:
    """A git repository with a .pre-commit-config.yaml naming the hook repository by path and sha,
    installed as its git pre-commit hook. The first commit builds the hook's environment."""
    repo, sha = hook_repo
    d = tmp_path_factory.mktemp("scratch")
    ok(["git", "init", "-q", d], d, env)
    (d / ".pre-commit-config.yaml").write_text(yaml.safe_dump(
        {"repos": [{"repo": repo, "rev": sha, "hooks": [{"id": "shapelint"}]}]}, sort_keys=False))
    ok([*PRE_COMMIT, "install"], d, env)
    ok(["git", "add", ".pre-commit-config.yaml"], d, env)
    ok(["git", "commit", "-q", "-m", "pre-commit config"], d, env)
    model_files(d)
    return d


def head(d: Path, env) -> str:
    return ok(["git", "rev-parse", "HEAD"], d, env).strip()


def commit(d: Path, env, *names) -> tuple[int, str]:
    """`git add NAMES && git commit`: the installed pre-commit hook runs on the staged files. A
    refused commit leaves the index as it was."""
    ok(["git", "add", "--", *names], d, env)
    rc, out = run(["git", "commit", "-m", "add " + " ".join(names)], d, env)
    if rc != 0:
        ok(["git", "reset", "-q", "--", *names], d, env)
    return rc, out


@pytest.mark.slow
def test_try_repo_blocks_mismatch_and_passes_good_model(env, hook_repo, tmp_path):
    """`pre-commit try-repo <hook repo> shapelint --files …`, as a user tries the hook out (it
    builds a fresh environment each time: once, on both files)."""
    repo, sha = hook_repo
    ok(["git", "init", "-q", tmp_path], tmp_path, env)
    names = model_files(tmp_path)
    ok(["git", "add", "--", *names.values()], tmp_path, env)
    rc, out = run([*PRE_COMMIT, "try-repo", repo, "shapelint", "--ref", sha, "--verbose",
                   "--files", names["bad"], names["good"]], tmp_path, env)
    assert rc == 1, out
    assert re.search(r"shapelint \(ONNX\)\.+Failed", out), out
    assert "exit code: 1" in out, out
    for line in direct_findings(tmp_path, names["bad"]):
        assert line in out, f"missing {line!r} in:\n{out}"
    assert "good.onnx: SL" not in out, out  # the good model has no finding of its own


@pytest.mark.slow
def test_mismatch_blocks_the_commit(env, scratch):
    before = head(scratch, env)
    rc, out = commit(scratch, env, "bad.onnx")
    assert rc != 0, out
    assert re.search(r"shapelint \(ONNX\)\.+Failed", out), out
    for line in direct_findings(scratch, "bad.onnx"):  # the finding, as the user would see it
        assert line in out, f"missing {line!r} in:\n{out}"
    assert head(scratch, env) == before  # nothing committed


@pytest.mark.slow
def test_good_model_commits(env, scratch):
    before = head(scratch, env)
    rc, out = commit(scratch, env, "good.onnx")
    assert rc == 0, out
    assert re.search(r"shapelint \(ONNX\)\.+Passed", out), out
    assert head(scratch, env) != before


@pytest.mark.slow
def test_non_model_files_skip_the_hook(env, scratch):
    (scratch / "notes.txt").write_text("not a model\n")
    rc, out = commit(scratch, env, "notes.txt")
    assert rc == 0, out
    assert re.search(r"shapelint \(ONNX\)\.+\(no files to check\)Skipped", out), out


@pytest.mark.slow
def test_onnx_hook_environment_has_no_tensorflow(env, scratch):
    """The environment pre-commit built for the ONNX hook has shapelint and onnx, not TensorFlow."""
    pythons = sorted(Path(env["PRE_COMMIT_HOME"]).glob("repo*/py_env-*/bin/python"))
    assert pythons, sorted(p.name for p in Path(env["PRE_COMMIT_HOME"]).iterdir())
    probe = ("import importlib.util as u; "
             "print([m for m in ('shapelint', 'onnx', 'tensorflow') if u.find_spec(m)])")
    for py in pythons:
        assert ok([py, "-c", probe], scratch, env).strip() == "['shapelint', 'onnx']"


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


@pytest.mark.slow
@pytest.mark.tensorflow
def test_keras_and_tensorflow_hooks_need_no_tensorflow(env, scratch):
    """The Keras hook and the SavedModel/TFLite hook, run by pre-commit on a .keras and a .tflite
    model that break SL003: both fail with the findings shapelint prints directly. Their
    environments have neither TensorFlow nor Keras; the Keras hook shares the ONNX hook's, and the
    SavedModel/TFLite hook's (the `tensorflow` extra) is under 10 MB larger. (The models are built
    with Keras and TensorFlow's schema in this process, not in the hooks.)"""
    from tests import keras_models as K
    from tests import tflite_models as M

    K.save(K.unet(depth=2), scratch / "bad.keras")
    M.save(M.fixed_skip_model(65), str(scratch), "bad.tflite")
    cfg = yaml.safe_load((scratch / ".pre-commit-config.yaml").read_text())
    cfg["repos"][0]["hooks"] = [{"id": "shapelint-keras"}, {"id": "shapelint-tensorflow"}]
    (scratch / "tf-hooks.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    ok(["git", "add", "--", "bad.keras", "bad.tflite"], scratch, env)
    try:
        rc, out = run([*PRE_COMMIT, "run", "--config", "tf-hooks.yaml", "--files", "bad.keras", "bad.tflite"],
                      scratch, env)
    finally:
        ok(["git", "reset", "-q", "--", "bad.keras", "bad.tflite"], scratch, env)
    assert rc == 1, out
    assert re.search(r"shapelint \(Keras\)\.+Failed", out), out
    assert re.search(r"shapelint \(SavedModel, TFLite\)\.+Failed", out), out
    for name, severity in (("bad.keras", "warning"), ("bad.tflite", "error")):
        p = subprocess.run([sys.executable, "-m", "shapelint", "check", name], cwd=scratch, capture_output=True,
                           text=True, timeout=120, env=dict(os.environ, NO_COLOR="1"))
        lines = [line for line in p.stdout.splitlines() if line.strip() and " checked: " not in line]
        assert any(f"{name}: SL003 [{severity}]" in line for line in lines), p.stdout
        for line in lines:
            assert line in out, f"missing {line!r} in:\n{out}"

    probe = ("import importlib.util as u; "
             "print([m for m in ('shapelint', 'flatbuffers', 'tensorflow', 'keras') if u.find_spec(m)])")
    found = [(ok([py, "-c", probe], scratch, env).strip(), py.parents[1])
             for py in sorted(Path(env["PRE_COMMIT_HOME"]).glob("repo*/py_env-*/bin/python"))]
    assert {modules for modules, _ in found} == {"['shapelint']", "['shapelint', 'flatbuffers']"}, found
    core = min(_du_mb(d) for modules, d in found if modules == "['shapelint']")
    light = max(_du_mb(d) for modules, d in found if "flatbuffers" in modules)
    assert 0 < light - core < 10, (core, light)


# ---------------------------------------------------------------------------------------------
# LFS pointers in the command line and in the hook


def test_check_has_the_lfs_pointers_option():
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert "--lfs-pointers" in p.stdout, p.stdout


def shapelint(*args, cwd):
    p = subprocess.run([sys.executable, "-m", "shapelint", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, timeout=120, env=dict(os.environ, NO_COLOR="1"))
    return p.returncode, p.stdout, p.stderr


def test_cli_skips_pointer_with_a_note(tmp_path):
    write_pointer(tmp_path / "x.onnx")
    rc, out, err = shapelint("check", "x.onnx", cwd=tmp_path)
    assert rc == 0, out + err
    assert [line for line in (out + err).splitlines() if NOTE in line and "x.onnx" in line], out + err
    rc, out, err = shapelint("check", "x.onnx", "--lfs-pointers=skip", "--format", "json", cwd=tmp_path)
    assert rc == 0 and json.loads(out) == [], out + err  # the note never breaks the JSON on stdout
    assert NOTE in err


def test_cli_fails_on_pointer_when_asked(tmp_path):
    write_pointer(tmp_path / "x.onnx")
    rc, out, err = shapelint("check", "--lfs-pointers=fail", "x.onnx", cwd=tmp_path)
    assert rc == 2, out + err
    lines = err.splitlines()
    assert len(lines) == 1 and "x.onnx" in lines[0] and "Git LFS pointer" in lines[0], err


def test_cli_pointer_beside_models(tmp_path):
    """A pointer does not hide the other models' findings; fail mode adds exit 2 on top."""
    model_files(tmp_path)
    write_pointer(tmp_path / "x.onnx")
    rc, out, err = shapelint("check", "bad.onnx", "x.onnx", "good.onnx", cwd=tmp_path)
    assert rc == 1 and "bad.onnx: SL003 [error]" in out and NOTE in out + err, out + err
    rc, out, err = shapelint("check", "--lfs-pointers=fail", ".", cwd=tmp_path)  # a folder walk finds it too
    assert rc == 2 and "bad.onnx: SL003 [error]" in out, out + err
    assert [line for line in err.splitlines() if "x.onnx" in line and "Git LFS pointer" in line], err


@pytest.mark.slow
def test_cli_savedmodel_pointer(tmp_path):
    """A SavedModel whose saved_model.pb is a pointer: skipped, before any TensorFlow schema is needed."""
    write_pointer(tmp_path / "export" / "saved_model.pb")
    for arg in ("export", "export/saved_model.pb", "."):
        rc, out, err = shapelint("check", arg, cwd=tmp_path)
        assert rc == 0 and NOTE in out + err and "saved_model.pb" in out + err, (arg, out, err)
        rc, out, err = shapelint("check", "--lfs-pointers=fail", arg, cwd=tmp_path)
        assert rc == 2 and len(err.splitlines()) == 1 and "saved_model.pb" in err, (arg, out, err)


@pytest.mark.slow
def test_hook_skips_lfs_pointer_and_fails_when_asked(env, scratch):
    write_pointer(scratch / "x.onnx")
    before = head(scratch, env)
    rc, out = commit(scratch, env, "x.onnx")
    assert rc == 0, out  # the default: skipped, the commit goes through
    assert re.search(r"shapelint \(ONNX\)\.+Passed", out), out
    assert head(scratch, env) != before
    # pre-commit shows a passing hook's output only with --verbose (or `verbose: true`)
    rc, out = run([*PRE_COMMIT, "run", "shapelint", "--verbose", "--files", "x.onnx"], scratch, env)
    assert rc == 0 and NOTE in out and "x.onnx" in out, out
    # `args: [--lfs-pointers=fail]` in the config: the same hook environment, now failing
    cfg = yaml.safe_load((scratch / ".pre-commit-config.yaml").read_text())
    cfg["repos"][0]["hooks"][0]["args"] = ["--lfs-pointers=fail"]
    (scratch / "strict.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    rc, out = run([*PRE_COMMIT, "run", "--config", "strict.yaml", "--files", "x.onnx"], scratch, env)
    assert rc == 1 and re.search(r"shapelint \(ONNX\)\.+Failed", out), out
    assert "exit code: 2" in out and [line for line in out.splitlines() if "x.onnx" in line and NOTE in line], out
