"""TensorFlow's own schemas, the reference the project's are compared with (tests/test_tf_schemas.py):
its protobuf classes (``saved_model_pb2``) and TFLite's generated flatbuffer schema
(``schema_py_generated.py``), read from the installed ``tensorflow`` package *without* running
``tensorflow/__init__`` (seconds and hundreds of MB), so that the fast tier can use them.

The generated ``*_pb2`` modules import each other as ``tensorflow.core.…``; while they load, bare
package modules stand in for ``tensorflow``, ``tensorflow.core`` and its sub-packages, and every
``sys.modules`` entry added is removed afterwards, so a later real ``import tensorflow`` in the
same process runs normally (the descriptors it registers again in protobuf's default pool are
identical). TensorFlow is in the test extra: without it these fail with the extra's ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

from tests.support import require

_CACHE: dict = {}


def tf_dir() -> str:
    """The installed tensorflow package's folder (found without importing it)."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        require("tensorflow")  # raises the test extra's ImportError
    return list(spec.submodule_search_locations)[0]


def saved_model_pb2():
    """tensorflow.core.protobuf.saved_model_pb2 (TensorFlow's real message classes)."""
    if "saved_model" in _CACHE:
        return _CACHE["saved_model"]
    if "tensorflow" in sys.modules and hasattr(sys.modules["tensorflow"], "__version__"):
        mod = importlib.import_module("tensorflow.core.protobuf.saved_model_pb2")
        _CACHE["saved_model"] = mod
        return mod
    root = tf_dir()
    before = set(sys.modules)
    stubs = {
        "tensorflow": root,
        "tensorflow.core": os.path.join(root, "core"),
        "tensorflow.core.framework": os.path.join(root, "core", "framework"),
        "tensorflow.core.protobuf": os.path.join(root, "core", "protobuf"),
    }
    try:
        for name, path in stubs.items():
            m = types.ModuleType(name)
            m.__path__ = [path]
            sys.modules[name] = m
        mod = importlib.import_module("tensorflow.core.protobuf.saved_model_pb2")
    finally:
        # forget only TensorFlow's names; the protobuf runtime modules loaded meanwhile stay
        for name in set(sys.modules) - before:
            if name == "tensorflow" or name.startswith("tensorflow."):
                del sys.modules[name]
    _CACHE["saved_model"] = mod
    return mod


def tflite_schema_path() -> str:
    return os.path.join(tf_dir(), "lite", "python", "schema_py_generated.py")


def tflite_schema():
    """tensorflow/lite/python/schema_py_generated.py, loaded by path (the whole generated file:
    the readers, the object API and the builders the tests write models with)."""
    if "tflite" in _CACHE:
        return _CACHE["tflite"]
    spec = importlib.util.spec_from_file_location("_tests_tflite_schema", tflite_schema_path())
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _CACHE["tflite"] = mod
    return mod


def tensorflow_version() -> str:
    """The installed TensorFlow's version, from its dist-info (no import)."""
    from importlib.metadata import version

    return version("tensorflow")
