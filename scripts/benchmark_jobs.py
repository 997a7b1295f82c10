#!/usr/bin/env python3
"""-j N against -j 1 over a folder of many models, in one run (a benchmark, not a test).

    python scripts/benchmark_jobs.py [--models 50] [--repeat 3] [--copy MODEL]

Builds N U-Nets (tests/onnx_models.py) -- or N copies of MODEL -- into a temp folder and times
`shapelint check FOLDER -j 1` and `-j 2` (and -j 4), median of --repeat runs, same output required.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copy", metavar="MODEL", help="lint N copies of this model instead of generated U-Nets")
    args = ap.parse_args()
    import onnx

    from onnx_models import unet

    env = dict(os.environ, PYTHONPATH=REPO)
    with tempfile.TemporaryDirectory() as d:
        for k in range(args.models):
            dest = os.path.join(d, f"m{k:03d}.onnx")
            if args.copy:
                import shutil

                shutil.copyfile(args.copy, dest)
            else:
                onnx.save(unet(depth=2 + k % 3, channels=4 + k % 5), dest)
        outputs, rows = {}, []
        for jobs in (1, 2, 4):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "shapelint", "check", d, "-j", str(jobs), "--format", "json"],
                                   capture_output=True, text=True, env=env)
                times.append(time.perf_counter() - t)
            outputs[jobs] = p.stdout
            rows.append((jobs, statistics.median(times)))
        same = len(set(outputs.values())) == 1
        base = rows[0][1]
        print(f"{args.models} models, {os.cpu_count()} CPUs, median of {args.repeat}; same report for every -j: {same}")
        for jobs, t in rows:
            print(f"  -j {jobs}: {t:.2f} s  ({base / t:.2f}× of -j 1)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
