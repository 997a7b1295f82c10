"""No module of the package uses another module's private names (``_x``): what modules share is
public, so a private name can change without looking elsewhere."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "shapelint"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, target) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(root: pathlib.Path = PACKAGE) -> list:
    """(file:line, what) for every private name one module takes from another."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        modules = set()  # local names bound to modules of the package
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(module, is_package, node.level, node.module) if node.level else (node.module or "")
                if not source.startswith("shapelint"):
                    continue
                for alias in node.names:
                    if _private(alias.name):
                        found.append((f"{path.name}:{node.lineno}", f"from {source} import {alias.name}"))
                    candidate = f"{source}.{alias.name}"
                    if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or \
                            (PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").exists():
                        modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("shapelint") and alias.asname:
                        modules.add(alias.asname)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in modules and _private(node.attr):
                found.append((f"{path.name}:{node.lineno}", f"{node.value.id}.{node.attr}"))
    return found


def test_no_module_uses_another_modules_private_names():
    assert private_uses() == []


def test_the_check_sees_a_private_import(tmp_path):
    pkg = tmp_path / "shapelint"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def _hidden():\n    return 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..a import _hidden\nfrom .. import a as mod\nx = mod._hidden()\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, pkg
    try:
        got = private_uses(pkg)
    finally:
        PACKAGE = saved
    assert ("b.py:1", "from shapelint.a import _hidden") in got
    assert ("b.py:3", "mod._hidden") in got
