"""How shapelint's time and memory grow with the graph: `shapelint check` on generated graphs of
1,000 to 100,000 nodes (residual blocks with a U-Net level every 50 blocks, dynamic H and W, see
scripts/make_large.py), each run as its own process, median of --repeat runs.

    python scripts/benchmark_scale.py [--sizes 1000,10000,100000] [--repeat 3] [--pools N] [--markdown]

With --pools, N MaxPools (k2 s2) come first: the contract then evaluates each size below the
pool windows by inferring the graph again, within a budget of 60,000 node inferences.

The issue's bar: 100,000 nodes in under 5 s, and 10× the nodes costs at most 12× the time.
Memory for large weights (2 GiB external, 500 MB embedded) is asserted in
tests/test_hostile_inputs.py, which prints its numbers with `pytest -s -k weights`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark import machine, run, shapelint_cmd  # noqa: E402
from make_large import make, unet_levels  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--pools", type=int, default=0, help="MaxPool k2 s2 layers in front of the blocks")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    load_before = os.getloadavg()[0]
    import onnx

    rows = []
    with tempfile.TemporaryDirectory(prefix="shapelint-scale-") as tmp:
        for n in sizes:
            m = make(n, pools=a.pools)
            path = os.path.join(tmp, f"large_{n}.onnx")
            onnx.save(m, path)
            levels = unet_levels(m)
            del m
            run(shapelint_cmd(path))  # warm-up (file cache)
            times, mems, findings = [], [], None
            for _ in range(a.repeat):
                rc, wall, mib, out, err = run(shapelint_cmd(path))
                if rc not in (0, 1):
                    print(f"{path}: shapelint failed ({rc}): {err.strip()[:200]}", file=sys.stderr)
                    return 2
                findings = out.count('"rule": "SL003"')
                times.append(wall)
                mems.append(mib)
            rows.append((n, levels, findings, statistics.median(times), statistics.median(mems),
                         os.path.getsize(path) / 1e6))
    lines = ["| nodes | U-Net levels | SL003 findings | file MB | wall s | peak RSS MiB | time ÷ previous | nodes ÷ previous |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    prev = None
    for r in rows:
        n, levels, found, t, mib, mb = r
        growth = f"{t / prev[3]:.1f}×" if prev else "–"
        nodes = f"{n / prev[0]:.0f}×" if prev else "–"
        lines.append(f"| {n:,} | {levels} | {found} | {mb:.1f} | {t:.2f} | {mib:.0f} | {growth} | {nodes} |")
        prev = r
    print("\n".join(lines))
    print()
    print(machine(load_before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
