#!/usr/bin/env python3
"""Compare shapelint's verdicts with a runtime's, size for size.

    python scripts/compare_verdicts.py MODELS_DIR VERDICTS.json [--pinned]

VERDICTS.json maps a model file name to {"input": NAME, "input_shape": [...],
"sizes": {"HxW": "ok" | "fail" | {"verdict": ...}}} (the layout of
shared/corpus/onnxruntime_verdicts.json), or, for 1-D models (zoo/audio/verdicts.json), to
{"input", "input_shape", "length_axis": K, "lengths": {"L": {"verdict": ...}}}. For every size,
shapelint predicts "ok" when every run-time check holds, in two independent ways: from the
symbolic contract (the exact sets of H and W), and -- with --pinned -- by re-running inference with
--input-shape pinned to that size, as a user would (an error finding of any rule means "fail").
Where shapelint abstains (something on the way was not inferred) the size counts as an abstention,
not a disagreement. The spatial axes are the last two unless the entry says "spatial_axes" (zoo/tf:
NHWC, [1, 2]); other dynamic dims (the batch) are 1. A verdict "empty" (the runtime ran without an
error but an output has 0 elements: zoo/tf) is not a failure: a contract "fails" or a pinned error
there disagrees, a contract "runs" does not. Where the entry's "onednn_sizes" gives another verdict
at a size (TF_ENABLE_ONEDNN_OPTS=1), shapelint's answer must agree with both.
Prints one line per model, every disagreement and a total; exits 1 when there is any disagreement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from shapelint.analysis import contract, merges  # noqa: E402
from shapelint.findings import ABSTENTION_RULES  # noqa: E402
from shapelint.lint import analyse, lint  # noqa: E402


def _verdict(v) -> str:
    if isinstance(v, dict):
        v = v.get("verdict") or v.get("status")
    return "ok" if str(v).startswith("ok") else "empty" if v == "empty" else "fail"


def _agrees(pred: str, wants: set) -> bool:
    """Whether shapelint's "ok" (runs / no error) or "fail" fits every runtime verdict in ``wants``."""
    return all(w == pred or (w == "empty" and pred == "ok") for w in wants)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models")
    ap.add_argument("verdicts")
    ap.add_argument("--pinned", action="store_true", help="also lint every size with --input-shape pinned")
    args = ap.parse_args(argv)
    with open(args.verdicts) as f:
        table = json.load(f)
    total_bad = total_abstained = total_sizes = 0
    for fname, entry in table.items():
        path = os.path.join(args.models, fname)
        if not os.path.exists(path):
            print(f"{fname}: missing, skipped")
            continue
        graph, inf = analyse(path)
        c = contract(inf, merges(inf))
        inp = entry["input"]
        shape = next(t.shape for t in graph.inputs if t.name == inp)
        if "lengths" in entry:  # 1-D (zoo/audio): one axis, keys are lengths
            axes = (entry["length_axis"],)
            sizes = {(int(n),): v for n, v in entry["lengths"].items()}
        else:
            axes = tuple(entry.get("spatial_axes", (len(shape) - 2, len(shape) - 1)))
            sizes = {tuple(int(x) for x in size.split("x")): v for size, v in entry["sizes"].items()}
        syms = [shape[a] for a in axes]
        # the other dims as the runtime was run: batch 1, the rest as declared
        others = {d: 1 for k, d in enumerate(shape) if isinstance(d, str) and k not in axes}
        bad, abstained = [], []
        n = 0
        for dims, v in sizes.items():
            size = "x".join(map(str, dims))
            wants = {_verdict(v), _verdict(entry.get("onednn_sizes", {}).get(size, v))}
            want = "/".join(sorted(wants))
            env = {**others, **dict(zip(syms, dims))} if all(isinstance(s, str) for s in syms) else None
            pred = c.runs({k: x for k, x in env.items()}) if env is not None else None
            n += 1
            if pred is None:
                abstained.append(size)
            elif not _agrees({True: "ok", False: "fail"}[pred], wants):
                bad.append(f"  {size}: runtime {want}, shapelint contract {'ok' if pred else 'fail'}")
            if args.pinned:
                pinned = [1 if isinstance(d, str) else d for d in shape]
                for a, x in zip(axes, dims):
                    pinned[a] = x
                if any(d is None for d in pinned):
                    continue
                res = lint(path, {inp: tuple(pinned)})
                if any(f.rule in ABSTENTION_RULES or (f.rule == "SL004" and f.severity == "warning")
                       for f in res.findings) and not any(f.severity == "error" for f in res.findings):
                    continue  # abstains pinned too (an SL004 warning: a window the runtime may run empty)
                got_p = "fail" if any(f.severity == "error" for f in res.findings) else "ok"
                if not _agrees(got_p, wants):
                    bad.append(f"  {size}: runtime {want}, shapelint --input-shape {got_p}")
        sets = "; ".join(f"{s.describe(name)}" for name, s in sorted(c.works().items()) if not s.is_everything())
        print(f"{fname}: {n} sizes, {len(bad)} disagreements, {len(abstained)} abstentions; works for: "
              f"{sets or 'every size'}"
              + (f"; undecided merges: {len(c.undecided)}" if c.undecided else "")
              + (f"; unknown: {c.unknown[0].text()}" if c.unknown else ""))
        for line in bad:
            print(line)
        total_bad += len(bad)
        total_abstained += len(abstained)
        total_sizes += n
    print(f"total: {len(table)} models, {total_sizes} sizes, {total_bad} disagreements, {total_abstained} abstentions")
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
