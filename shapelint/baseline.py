"""Baselines: adopt shapelint on existing models and fail only on new findings.

A baseline is a JSON file listing, per model path (relative to the baseline's folder), the
findings present when it was written, keyed by rule, node and the finding's fingerprint (its
numbers, not its wording). Written atomically: never a partial file.
"""

from __future__ import annotations

import json
import os
import tempfile

from .errors import UsageError

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
    fd, tmp = tempfile.mkstemp(prefix=".shapelint-baseline-", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(entries)


def load(path: str) -> set:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read the baseline ({e})")
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
            raise UsageError(f"{path}: malformed baseline entry {e!r}")
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
