"""What a framework means lives in its dialect module (shapelint/frameworks/) and its loader:
nothing else asks which framework or IR domain a node is from. The SL001/SL002 modules are still
one per framework (checks/convtranspose*.py) -- the last place that does, listed here so the list
can only shrink."""

import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "shapelint"
BRANCH = re.compile(r"domain ==|\.domain in|domain !=|domain not in|framework ==|framework in|framework !=")
STILL_PER_FRAMEWORK = {"checks/convtranspose.py", "checks/convtranspose_tf.py", "checks/convtranspose_tflite.py",
                       "checks/convtranspose_keras.py"}


def branches(root: pathlib.Path) -> dict:
    """file (relative to root) -> lines that branch on a domain or framework, outside the dialects
    and the loaders."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("frameworks/", "loaders/")):
            continue
        hits = [f"{k}: {line.strip()}" for k, line in enumerate(path.read_text().splitlines(), 1)
                if BRANCH.search(line)]
        if hits:
            out[rel] = hits
    return out


def test_only_dialects_and_loaders_branch_on_the_framework():
    found = branches(PACKAGE)
    assert set(found) <= STILL_PER_FRAMEWORK, {k: v for k, v in found.items() if k not in STILL_PER_FRAMEWORK}


def test_the_scan_sees_a_branch(tmp_path):
    (tmp_path / "frameworks").mkdir()
    (tmp_path / "frameworks" / "tf.py").write_text('if node.domain == "tf":\n    pass\n')
    (tmp_path / "analysis.py").write_text('x = 1\nif inf.graph.framework == "onnx":\n    pass\n')
    assert branches(tmp_path) == {"analysis.py": ['2: if inf.graph.framework == "onnx":']}
