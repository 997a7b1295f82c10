"""TensorFlow's protobuf schemas (SavedModel, GraphDef) and TFLite's flatbuffer schema, read from
the installed ``tensorflow`` package *without* running ``tensorflow/__init__`` (which costs
seconds and hundreds of MB).

The generated ``*_pb2`` modules import each other as ``tensorflow.core.…``; while they load, bare
package modules stand in for ``tensorflow``, ``tensorflow.core`` and its sub-packages, and every
``sys.modules`` entry added is removed afterwards, so a later real ``import tensorflow`` in the
same process runs normally (the descriptors it registers again are identical).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

_CACHE: dict = {}

EXTRA = 'pip install "shapelint[tensorflow]"'


class TensorFlowMissing(ImportError):
    pass


def _tf_dir() -> str:
    try:
        spec = importlib.util.find_spec("tensorflow")
    except (ImportError, ValueError):  # a broken or blocked installation
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise TensorFlowMissing(f"TensorFlow is not installed (its schemas are needed): {EXTRA}")
    return list(spec.submodule_search_locations)[0]


def saved_model_pb2():
    """tensorflow.core.protobuf.saved_model_pb2, loaded privately."""
    if "saved_model" in _CACHE:
        return _CACHE["saved_model"]
    if "tensorflow" in sys.modules and hasattr(sys.modules["tensorflow"], "__version__"):
        mod = importlib.import_module("tensorflow.core.protobuf.saved_model_pb2")
        _CACHE["saved_model"] = mod
        return mod
    root = _tf_dir()
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
    except ImportError as e:
        raise TensorFlowMissing(f"cannot read TensorFlow's SavedModel schema ({e}): {EXTRA}")
    finally:
        # forget only TensorFlow's names; the protobuf runtime modules loaded meanwhile stay
        for name in set(sys.modules) - before:
            if name == "tensorflow" or name.startswith("tensorflow."):
                del sys.modules[name]
    _CACHE["saved_model"] = mod
    return mod


def tflite_schema():
    """TFLite's flatbuffer schema (tensorflow/lite/python/schema_py_generated.py), loaded by path."""
    if "tflite" in _CACHE:
        return _CACHE["tflite"]
    root = _tf_dir()
    path = os.path.join(root, "lite", "python", "schema_py_generated.py")
    if not os.path.exists(path):
        raise TensorFlowMissing(f"this TensorFlow has no TFLite schema at {path}: {EXTRA}")
    spec = importlib.util.spec_from_file_location("_shapelint_tflite_schema", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except ImportError as e:
        raise TensorFlowMissing(f"cannot read TFLite's schema ({e}): pip install flatbuffers")
    _CACHE["tflite"] = mod
    return mod
