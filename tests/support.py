"""What test modules share besides the model builders: the repository's root, the environment for
child processes that import ``tests.*``, scripts/ modules loaded by path, the test extra's
dependencies imported when first used (a missing one fails the test that needs it, naming the
extra, and never skips it), and parameter lists split between the fast tier and the slow one."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_env(**extra) -> dict:
    """os.environ for a child ``python`` that imports ``tests.*`` (and this checkout's shapelint):
    the repository's root first in PYTHONPATH."""
    path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


def load_script(name: str):
    """scripts/NAME.py as a module, loaded once from its file (scripts/ is no package and is never
    put on sys.path); registered in sys.modules under NAME, the name its sibling scripts use."""
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == _script_path(name):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _script_path(name))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _script_path(name: str) -> str:
    return os.path.join(REPO, "scripts", name + ".py")


def require(name: str):
    """``import NAME``, or an ImportError that says the test extra provides it (TensorFlow, Keras,
    onnxruntime, ... are test dependencies: a test that needs one fails without it)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ImportError(f"{name} is needed by this test and is part of the test extra "
                          f"(pip install \".[test]\"): {e}") from e


class LazyModule:
    """A module imported on first attribute access (``tf = LazyModule("tensorflow")``), so that
    collecting a TensorFlow test module does not import TensorFlow: the fast tier
    (``pytest -m "not slow"``) never pays for it."""

    def __init__(self, name: str):
        self.__dict__["_name"] = name

    def __getattr__(self, attr):
        if attr.startswith("_"):  # pytest's collection probes module globals (__test__, _pytestfixturefunction, ...)
            raise AttributeError(attr)
        return getattr(require(self.__dict__["_name"]), attr)

    def __repr__(self):
        return f"<LazyModule {self.__dict__['_name']!r}>"


def fast_subset(values, fast, ids=None) -> list:
    """``values`` for ``pytest.mark.parametrize``, the ones at the indices in ``fast`` in the fast
    tier and every other one marked slow (``pytest`` with no ``-m`` runs them all). A value is
    one argument, or a tuple of them when the parametrize names several."""
    out = []
    for k, v in enumerate(values):
        marks = () if k in fast else (pytest.mark.slow,)
        args = v if isinstance(v, tuple) else (v,)
        out.append(pytest.param(*args, marks=marks, id=None if ids is None else ids[k]))
    return out


# --------------------------------------------------------------------------- the details schema

_SCALARS = (str, int, float, bool, type(None))


def _json_plain(v) -> bool:
    if isinstance(v, _SCALARS):
        return True
    if isinstance(v, list):
        return all(_json_plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _json_plain(x) for k, x in v.items())
    return False


def schema_errors(f, rank=None) -> list:
    """What in a finding's details breaks the schema (empty: nothing)."""
    d, errs = f.details, []
    if not _json_plain(d):
        errs.append("details hold something JSON does not (a tuple, an expression object)")
    if "axis" in d and f.rule in ("SL001", "SL002", "SL003", "SL004"):
        # a transposed conv's axis is a spatial one: past the batch axis (and C, for NCHW)
        first = 1 if f.rule in ("SL001", "SL002") else 0
        if not isinstance(d["axis"], int) or d["axis"] < first:
            errs.append(f"axis {d['axis']!r} is not the tensor's own axis")
        elif rank is not None and d["axis"] >= rank:
            errs.append(f"axis {d['axis']} is past the tensor's rank {rank}")
    if "admissible" in d:
        a = d["admissible"]
        if not (isinstance(a, list) and len(a) >= 1 and all(isinstance(x, str) for x in a)):
            errs.append(f"admissible {a!r} is not the list of every admissible size as strings")
        elif "chosen" in d and not isinstance(d["chosen"], str):
            errs.append("chosen is not a string like the admissible sizes")
    for k in ("also",):
        if k in d and not (isinstance(d[k], list) and all(isinstance(x, dict) for x in d[k])):
            errs.append(f"{k} is not a list of records")
    return errs


def check_details(findings, inf, graph) -> None:
    """Fail when a finding's details break the schema (schema_errors), counting its axis against
    the rank of its node's first output."""
    outputs = {n.name: n.outputs[0] for n in graph.nodes if n.outputs}
    for f in findings:
        s = inf.shape(outputs[f.node]) if f.node in outputs else None
        errs = schema_errors(f, len(s) if s is not None else None)
        assert not errs, (f"{f.rule} on '{f.node}' breaks the details schema: {errs}", f.details)
