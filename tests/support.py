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
