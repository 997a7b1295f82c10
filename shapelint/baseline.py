"""Baselines: adopt shapelint on existing models and fail only on new findings.

A baseline is a JSON file listing, per model path (relative to the baseline's folder), the
findings present when it was written, keyed by rule, node and the finding's fingerprint (its
numbers, not its wording). Written atomically: never a partial file.
"""

from __future__ import annotations

import json
import os

from .errors import UsageError
from .files import read_bounded, write_atomic
from .limits import MAX_BASELINE_BYTES

# 2: details number axes one way (the tensor's own axis) and list admissible sizes one way, so the
# fingerprints of ONNX SL001/SL002 findings changed; a version-1 file is refused, with the remedy
VERSION = 2


def _key(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def write(results, dest: str) -> int:
    root = os.path.dirname(os.path.abspath(dest))
    entries = sorted({(_key(f.file, root), f.rule, f.node, f.fingerprint()) for r in results for f in r.findings})
    data = {"version": VERSION, "tool": "shapelint",
            "findings": [{"file": p, "rule": rule, "node": node, "fingerprint": fp} for p, rule, node, fp in entries]}
    write_atomic(dest, (json.dumps(data, indent=2) + "\n").encode("utf-8"), "baseline")
    return len(entries)


def load(path: str) -> set:
    raw = read_bounded(path, MAX_BASELINE_BYTES, "baseline")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError, MemoryError) as e:  # Unicode/JSONDecodeError; too deep a nesting
        raise UsageError(f"{path}: cannot read the baseline ({str(e)[:200]})")
    if isinstance(data, dict) and data.get("version") == 1 and data.get("tool") == "shapelint":
        raise UsageError(f"{path}: a baseline from an older shapelint (version 1), whose fingerprints differ: "
                         f"write it again with --write-baseline")
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("findings"), list):
        raise UsageError(f"{path}: not a shapelint baseline (version {VERSION})")
    root = os.path.dirname(os.path.abspath(path))
    out = set()
    for e in data["findings"]:
        try:
            out.add((os.path.normpath(os.path.join(root, e["file"])), e["rule"], e["node"], e["fingerprint"]))
        except (KeyError, TypeError):
            raise UsageError(f"{path}: malformed baseline entry {repr(e)[:200]}")
    return out


def filter_new(results, known: set) -> int:
    """Drop the findings the baseline knows; returns how many were dropped."""
    dropped = 0
    for r in results:
        keep = []
        for f in r.findings:
            if (os.path.normpath(os.path.abspath(f.file)), f.rule, f.node, f.fingerprint()) in known:
                dropped += 1
            else:
                keep.append(f)
        r.findings[:] = keep
    return dropped
