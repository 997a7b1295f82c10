"""What a framework means lives in its dialect module (shapelint/frameworks/) and its loader:
nothing else asks which framework or IR domain a node is from -- not even SL001/SL002, one module
each for every framework (checks/invalid_convtranspose.py, checks/ambiguous_convtranspose.py)."""

import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "shapelint"
BRANCH = re.compile(r"domain ==|\.domain in|domain !=|domain not in|framework ==|framework in|framework !=")


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
    assert branches(PACKAGE) == {}


def test_the_scan_sees_a_branch(tmp_path):
    (tmp_path / "frameworks").mkdir()
    (tmp_path / "frameworks" / "tf.py").write_text('if node.domain == "tf":\n    pass\n')
    (tmp_path / "analysis.py").write_text('x = 1\nif inf.graph.framework == "onnx":\n    pass\n')
    assert branches(tmp_path) == {"analysis.py": ['2: if inf.graph.framework == "onnx":']}


def test_every_dialect_with_transposed_convolutions_states_sl001_sl002_facts():
    """SL001/SL002 read each dialect's record; a framework whose transposed convolutions had no
    readers would pass them silently."""
    from shapelint.frameworks import DIALECTS

    for d in DIALECTS.values():
        if d.transposed_ops or d.self_sized_transposed_ops:
            assert d.transposed_rejects is not None or not d.transposed_ops, d.name
            assert d.transposed_choices is not None, d.name
