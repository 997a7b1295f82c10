#!/usr/bin/env python3
"""Compare shapelint's verdicts with a runtime's, size for size.

    python scripts/compare_verdicts.py MODELS_DIR VERDICTS.json [--pinned]

VERDICTS.json maps a model file name to {"input": NAME, "input_shape": [...],
"sizes": {"HxW": "ok" | "fail" | {"verdict": ...}}} (the layout of
shared/corpus/onnxruntime_verdicts.json). For every size, shapelint predicts "ok" when every merge
holds, in two independent ways: from the symbolic contract (the exact sets of H and W), and -- with
--pinned -- by re-running inference with --input-shape pinned to that size, as a user would.
Prints one line per model and every disagreement; exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from shapelint.analysis import contract, merges  # noqa: E402
from shapelint.lint import analyse, lint  # noqa: E402


def _verdict(v) -> str:
    if isinstance(v, dict):
        v = v.get("verdict") or v.get("status")
    return "ok" if str(v).startswith("ok") else "fail"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models")
    ap.add_argument("verdicts")
    ap.add_argument("--pinned", action="store_true", help="also lint every size with --input-shape pinned")
    args = ap.parse_args(argv)
    with open(args.verdicts) as f:
        table = json.load(f)
    total_bad = 0
    for fname, entry in table.items():
        path = os.path.join(args.models, fname)
        if not os.path.exists(path):
            print(f"{fname}: missing, skipped")
            continue
        graph, inf = analyse(path)
        c = contract(inf, merges(inf))
        inp = entry["input"]
        shape = next(t.shape for t in graph.inputs if t.name == inp)
        sym_h, sym_w = shape[2], shape[3]
        bad = []
        n = 0
        for size, v in entry["sizes"].items():
            h, w = (int(x) for x in size.split("x"))
            want = _verdict(v)
            env = {sym_h: h, sym_w: w}
            pred = c.runs(env)
            got = {True: "ok", False: "fail", None: "not analysed"}[pred]
            n += 1
            if pred is None:
                bad.append(f"  {size}: runtime {want}, shapelint: not analysed (a pooling window exceeds its input)")
            elif got != want:
                bad.append(f"  {size}: runtime {want}, shapelint contract {got}")
            if args.pinned:
                pinned = [d if isinstance(d, int) else None for d in shape]
                pinned = [1 if d is None and k == 0 else d for k, d in enumerate(pinned)]
                pinned[2], pinned[3] = h, w
                if any(d is None for d in pinned):
                    continue
                res = lint(path, {inp: tuple(pinned)}, select={"SL003"})
                got_p = "fail" if any(f.severity == "error" for f in res.findings) else "ok"
                if got_p != want:
                    bad.append(f"  {size}: runtime {want}, shapelint --input-shape {got_p}")
        sets = "; ".join(f"{s.describe(name)}" for name, s in sorted(c.works().items()) if not s.is_everything())
        print(f"{fname}: {n} sizes, {len(bad)} disagreements; works for: {sets or 'every size'}"
              + (f"; undecided merges: {len(c.undecided)}" if c.undecided else ""))
        for line in bad:
            print(line)
        total_bad += len(bad)
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
