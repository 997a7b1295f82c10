"""Docstrings name only functions and classes that exist: every :func:, :class: and :meth:
reference in the package resolves to a name defined in it."""

import ast
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "shapelint"
ROLE = re.compile(r":(?:func|class|meth):`~?\.?([A-Za-z_][\w.]*)`")


def defined(root: pathlib.Path) -> set:
    names = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def dangling(root: pathlib.Path) -> list:
    names = defined(root)
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        for m in ROLE.finditer(text):
            last = m.group(1).split(".")[-1]
            if last not in names:
                out.append(f"{path.name}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0)}")
    return out


def test_docstrings_name_only_what_exists():
    assert dangling(PACKAGE) == []


def test_the_scan_sees_a_dangling_name(tmp_path):
    (tmp_path / "m.py").write_text('def real():\n    """See :func:`real` and :func:`gone`."""\n')
    assert dangling(tmp_path) == ["m.py:2: :func:`gone`"]
