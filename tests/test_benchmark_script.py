"""scripts/benchmark.py end to end on one small example model: 1 run, shapelint and onnx's strict
infer_shapes only (the tools every test environment has), Markdown table checked cell by cell."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCRIPT = os.path.join(REPO, "scripts", "benchmark.py")
MODEL = os.path.join("examples", "bad_output_padding.onnx")  # relative: the script's children run elsewhere
TIME_MB = r"(\d+\.\d\d) s / (\d+) MB"


@pytest.mark.slow
def test_benchmark_table_on_one_example_model():
    p = subprocess.run([sys.executable, SCRIPT, MODEL, "--repeat", "1", "--tools", "shapelint,infer_shapes",
                        "--markdown"], capture_output=True, text=True, timeout=120,
                       cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    start = lines.index("## ONNX") + 2
    end = lines.index("", start)
    header, rule, *rows = lines[start:end]  # the table: header, rule, one line per model
    cols = lambda ln: [c.strip() for c in ln.strip("|").split("|")]  # noqa: E731
    assert cols(header) == ["model", "nodes", "shapelint", "infer_shapes strict", "ratio", "weights read"]
    assert len(cols(rule)) == 6
    assert len(rows) == 1
    name, nodes, shapelint, infer, ratio, weights = cols(rows[0])
    assert (name, nodes, weights) == ("bad_output_padding.onnx", "1", "no")
    s_time, s_mb = map(float, re.fullmatch(TIME_MB, shapelint).groups())
    i_time, i_mb, call = map(float, re.fullmatch(TIME_MB + r" \(call (\d+\.\d{3}) s\)", infer).groups())
    assert 0 < s_time < 30 and 0 < i_time < 30 and 0 <= call <= i_time
    assert 5 < s_mb < 2000 and 5 < i_mb < 2000  # MiB of a whole Python process, not KiB or bytes
    t_ratio, m_ratio = map(float, re.fullmatch(r"(\d+\.\d)× / (\d+\.\d)×", ratio).groups())
    # the ratios are infer_shapes' over shapelint's, up to the rounding of the cells (0.01 s, 1 MB, 0.1×)
    assert (i_time - 0.005) / (s_time + 0.005) - 0.05 <= t_ratio <= (i_time + 0.005) / (s_time - 0.005) + 0.05
    assert (i_mb - 0.5) / (s_mb + 0.5) - 0.05 <= m_ratio <= (i_mb + 0.5) / (s_mb - 0.5) + 0.05
    assert "polygraphy" not in header and "symbolic" not in header
    assert "(no SavedModel" in p.stdout
    machine = next(ln for ln in lines if ln.startswith("Machine: "))
    assert re.search(r"\d+ cores, [\d.]+ GiB RAM, .*Python 3\.\d+\.\d+; shapelint \S+.*onnx \d", machine), machine


def test_benchmark_refuses_a_tool_list_without_shapelint():
    p = subprocess.run([sys.executable, SCRIPT, MODEL, "--tools", "infer_shapes"], capture_output=True, text=True,
                       cwd=REPO, timeout=60)
    assert p.returncode == 2 and "shapelint must be one of the tools" in p.stderr
