"""`shapelint contract MODEL --plot FILE.svg`: the SVG is parsed (xml.etree) and painted cell by
cell as a viewer would (document order, each rect in its group's fill); every cell's colour must be
the verdict computed here independently, from the model's JSON record (`rows`: start, modulus,
residues, also; `fixed_size_failures`; `proven`), or from `shapelint.check` pinned at that size;
the legend must name each restriction the record gives, with its rule, op and node. Writing is
whole or nothing, and never into a folder, a device or a FIFO."""

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import shapelint
from shapelint.cli import main
from shapelint.errors import one_line
from shapelint.plot import COLOURS
from tests.onnx_models import Builder, run, unet

NS = "{http://www.w3.org/2000/svg}"
REPO = Path(__file__).resolve().parents[1]
COLOUR = {v: c for v, c in COLOURS.items()}  # True runs, False fails, None abstains


# --------------------------------------------------------------------------- models


def minimum_size_model():
    """Conv k5 s2 p0 → Conv k3 s2 p0 → GlobalAveragePool: runs for H, W ≥ 9, every size above."""
    b = Builder()
    x = b.conv("x", 1, 2, k=5, s=2, p=0)
    x = b.conv(x, 2, 2, k=3, s=2, p=0)
    return b.model("x", ("N", 1, "H", "W"), b.node("GlobalAveragePool", [x]))


def abstaining_model(name="mystery"):
    """A U-Net behind an op shapelint has no shape rule for: it abstains past it."""
    m = unet(depth=2)
    for n in m.graph.node:
        n.input[:] = ["xm" if i == "x" else i for i in n.input]
    m.graph.node.insert(0, helper.make_node("Mystery", ["x"], ["xm"], name=name, domain="acme"))
    m.opset_import.append(helper.make_opsetid("acme", 1))
    return m


def joint_model():
    """x + transpose(x): H and W must agree (or one be 1); no per-dim set says so."""
    g = helper.make_graph([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2], name="tr"),
                           helper.make_node("Add", ["x", "t"], ["y"], name="add")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


# --------------------------------------------------------------------------- reading the SVG


def parse(path):
    """(root, the <g id="cells"> element, the painted grid: [[fill per size of W] per size of H])."""
    root = ET.parse(path).getroot()
    cells = root.find(f".//{NS}g[@id='cells']")
    rects = []

    def walk(el, fill):
        fill = el.get("fill", fill)
        if el.tag == f"{NS}rect":
            rects.append((int(el.get("x", 0)), int(el.get("y", 0)), int(el.get("width")), int(el.get("height")), fill))
        for child in el:
            walk(child, fill)

    walk(cells, None)
    n = int(cells.get("data-last")) - int(cells.get("data-first")) + 1
    x0, y0, w0, h0, _ = rects[0]
    assert (x0, y0, w0) == (0, 0, n)  # the first rect is the whole grid
    grid = [[None] * n for _ in range(h0)]
    for x, y, w, h, fill in rects:
        assert 0 <= x and x + w <= n and 0 <= y and y + h <= h0, (x, y, w, h)
        for row in grid[y:y + h]:
            row[x:x + w] = [fill] * w
    return root, cells, grid


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def member(row, x):
    """Whether size x is in a contract row's set, from its JSON keys alone."""
    if x < row["start"]:
        return x in row["also"]
    return x % row["modulus"] in row["residues"]


def expected(record, env):
    """The verdict the record states at sizes env ({symbol: size}): False, True or None (abstains):
    False where a dim fails, else None where a dim abstains at its size or the model is not
    proven, else True."""
    if record["fixed_size_failures"]:
        return False
    rows = {r["symbol"]: r for r in record["rows"]}
    each = [None if x in rows[s].get("abstains", ()) else member(rows[s], x) for s, x in env.items() if s in rows]
    if False in each:
        return False
    return True if record["proven"] and None not in each else None


def plot(tmp_path, capsys, model, *extra, name="m.onnx"):
    """Save, run `contract --format json --plot`, return (record, root, cells, grid, svg path)."""
    path = tmp_path / name
    onnx.save(model, str(path))
    svg = tmp_path / "out.svg"
    assert main(["contract", str(path), "--format", "json", "--plot", str(svg), *extra]) == 0
    out, err = capsys.readouterr()
    (record,) = json.loads(out)
    assert err == f"shapelint: wrote {svg} ({svg.stat().st_size} bytes)\n"
    return (record, *parse(svg), svg)


def check_cells(record, cells, grid):
    h, w = cells.get("data-h"), cells.get("data-w")
    first = int(cells.get("data-first"))
    bad = [(first + y, first + x, fill) for y, row in enumerate(grid) for x, fill in enumerate(row)
           if fill != COLOUR[expected(record, {h: first + y, w: first + x})]]
    assert not bad, bad[:10]


def check_legend(record, root, symbols):
    """Each drawn dim's set, and each restriction of it with its rule, op, node and axis."""
    said = texts(root)
    rows = {r["symbol"]: r for r in record["rows"]}
    for s in symbols:
        assert f"{s}: {rows[s]['works']}" in said, (s, said)
        for b in rows[s]["because"]:
            if b["axis"] < 0:
                line = f"{b['works']}: {b['summary']}"
            else:
                assert b["op"] in ("Concat", "Add")  # merges: SL003
                line = f"needs {b['works']}: SL003 at {b['op']} '{b['node']}' axis {b['axis']}"
            assert one_line(line) in said, (line, said)
    return said


def counts_said(said, grid):
    """The legend's counts equal the painted cells'."""
    total = sum(len(r) for r in grid)
    for v, word in ((True, "runs"), (False, "fails"), (None, "shapelint cannot tell (it abstains)")):
        n = sum(fill == COLOUR[v] for r in grid for fill in r)
        assert f"{word}: {n:,} of {total:,} sizes" in said, (word, n, said)


# --------------------------------------------------------------------------- the cells and the legend


@pytest.mark.runtime
def test_unet_mod_16_bands_at_256_sizes_are_the_contract_and_small(tmp_path, capsys):
    """A 4-level U-Net, dynamic H and W: runs only for multiples of 16. Every one of the 65,536
    cells is the record's verdict, drawn as bands (not cells): under 12 KB; the legend names each
    Concat that restricts H and W with SL003; onnxruntime agrees on a column of sizes."""
    model = unet(depth=4)
    record, root, cells, grid, svg = plot(tmp_path, capsys, model)
    assert (cells.get("data-h"), cells.get("data-w"), cells.get("data-first"), cells.get("data-last")) == \
        ("H", "W", "1", "256")
    assert [r["works"] for r in record["rows"]] == ["H mod 16 = 0, H ≥ 16", "W mod 16 = 0, W ≥ 16"]
    check_cells(record, cells, grid)
    said = check_legend(record, root, ("H", "W"))
    counts_said(said, grid)
    assert "runs: 256 of 65,536 sizes" in said
    assert len(list(cells.iter(f"{NS}rect"))) <= 1 + 2 * 16 and svg.stat().st_size < 12_000
    assert "shapelint contract: m.onnx" in said
    assert any("H = axis 2, W = axis 3" in t and "drawn at N = 1" in t for t in said), said
    for h in range(1, 34):  # the painted column W = 16 is onnxruntime's verdict
        assert (grid[h - 1][15] == COLOUR[True]) == run(model, (1, 1, h, 16))[0], h


def test_minimum_size_is_a_band_named_by_the_conv_that_would_be_empty(tmp_path, capsys):
    record, root, cells, grid, _ = plot(tmp_path, capsys, minimum_size_model(), "--range", "1:40")
    assert [r["works"] for r in record["rows"]] == ["H ≥ 9", "W ≥ 9"]
    check_cells(record, cells, grid)
    said = check_legend(record, root, ("H", "W"))
    counts_said(said, grid)
    assert "H ≥ 9: below H = 9 the output of Conv 'conv6' (ceil(H/4) - 2) is empty" in said
    assert grid[8][8] == COLOUR[True] and grid[7][39] == grid[39][7] == COLOUR[False]


def test_an_op_without_a_shape_rule_is_grey_and_named(tmp_path, capsys):
    """Past an op with no shape rule shapelint abstains: grey where the U-Net's merges cannot
    show a failure, red where they can, and the legend names the op."""
    record, root, cells, grid, _ = plot(tmp_path, capsys, abstaining_model(), "--range", "1:48")
    assert not record["proven"] and [u["node"] for u in record["unknown"]] == ["mystery"]
    check_cells(record, cells, grid)
    said = texts(root)
    counts_said(said, grid)
    (u,) = record["unknown"]
    assert f"grey: shapelint abstains past '{u['node']}' ({u['op']}): {u['reason']}" in said
    assert {f for row in grid for f in row} <= {COLOUR[None], COLOUR[False]} and COLOUR[None] in grid[0]


def test_dims_that_constrain_each_other_are_drawn_cell_by_cell(tmp_path, capsys):
    """H and W of x + transpose(x) must agree, or one be 1: no per-dim set says it, so each cell
    is compared with `shapelint.check` pinned at that size (an error iff it fails)."""
    model = joint_model()
    record, root, cells, grid, _ = plot(tmp_path, capsys, model, "--range", "1:12")
    for h in range(1, 13):
        for w in range(1, 13):
            report = shapelint.check(model, input_shapes={"x": (1, 1, h, w)})
            assert grid[h - 1][w - 1] == COLOUR[not report.errors], (h, w)
    assert grid[4][4] == COLOUR[True] and grid[4][5] == COLOUR[False] and grid[0][5] == COLOUR[True]
    said = texts(root)
    assert any(t.startswith("SL003: H and W constrain each other at Add 'add' axis 2") for t in said), said


def test_a_model_that_fails_at_every_size_is_all_red_with_the_reason(tmp_path, capsys):
    """Dynamic H, W, but output_padding 2 ≥ stride 2: onnxruntime rejects it at every size."""
    b = Builder()
    y = b.convt("x", 1, 1, k=3, s=2, pads=(1, 1, 1, 1), output_padding=(2, 2))
    record, root, cells, grid, _ = plot(tmp_path, capsys, b.model("x", ("N", 1, "H", "W"), y), "--range", "1:16")
    assert {f for row in grid for f in row} == {COLOUR[False]}
    (f,) = record["fixed_size_failures"]
    assert any(t.startswith(f"every size fails: SL001 at ConvTranspose '{f['node']}': output_padding") for t in texts(root))


def test_range_one_dim_and_three_dims(tmp_path, capsys):
    # --range picks the sizes drawn
    record, _, cells, grid, _ = plot(tmp_path, capsys, unet(depth=2), "--range", "6:21")
    assert (cells.get("data-first"), cells.get("data-last"), len(grid), len(grid[0])) == ("6", "21", 16, 16)
    check_cells(record, cells, grid)
    # one spatial dim: a one-row strip
    b = Builder()
    w = b.const(np.ones((1, 1, 3), np.float32), "w")
    y = b.node("Conv", ["x", w], kernel_shape=[3], strides=[2])
    record, root, cells, grid, _ = plot(tmp_path, capsys, b.model("x", ("N", 1, "L"), y), "--range", "1:10")
    assert len(grid) == 1 and cells.get("data-h") == "L" and cells.get("data-w") == ""
    assert grid[0] == [COLOUR[member(record["rows"][0], x)] for x in range(1, 11)] and grid[0][2] == COLOUR[True]
    # three spatial dims: H and W are the last two, D is drawn at its smallest working size
    b = Builder()
    w = b.const(np.ones((1, 1, 3, 3, 3), np.float32), "w")
    y = b.node("Conv", ["x", w], kernel_shape=[3, 3, 3])
    record, root, cells, grid, _ = plot(tmp_path, capsys, b.model("x", ("N", 1, "D", "H", "W"), y), "--range", "1:8")
    assert (cells.get("data-h"), cells.get("data-w")) == ("H", "W")
    assert any("H = axis 3, W = axis 4" in t and "drawn at D = 3, N = 1" in t for t in texts(root))
    check_cells(record, cells, grid)


def test_hostile_names_are_escaped_and_the_svg_stays_well_formed(tmp_path, capsys):
    name = "my<st>&\"'ery\x1b[31m\u202e"
    record, root, cells, grid, svg = plot(tmp_path, capsys, abstaining_model(name), "--range", "1:8",
                                          name="a<b>&'\"c.onnx")
    raw = svg.read_bytes()
    assert b"\x1b" not in raw and "\u202e".encode() not in raw and b"<b>" not in raw and b"<st>" not in raw
    said = texts(root)  # (ElementTree has turned &lt; back into <)
    assert "shapelint contract: a<b>&'\"c.onnx" in said
    assert any("abstains past 'my<st>&\"'ery\\x1b[31m\\u202e' (acme.Mystery)" in t for t in said), said
    assert root.find(f"{NS}title").text.startswith("shapelint contract: a<b>&'\"c.onnx")


# --------------------------------------------------------------------------- usage and writing


def test_refusals_are_one_line_and_exit_2(tmp_path, capsys):
    dyn, fixed = tmp_path / "dyn.onnx", tmp_path / "fixed.onnx"
    onnx.save(unet(depth=2), str(dyn))
    onnx.save(unet(depth=2, shape=(1, 1, 64, 64)), str(fixed))
    os.mkfifo(tmp_path / "fifo.svg")
    (tmp_path / "folder.svg").mkdir()
    small = ("--range", "1:8")
    cases = {(str(dyn), *small, "--plot", str(tmp_path / "folder.svg")): "not a regular file",
             (str(dyn), *small, "--plot", "/dev/null"): "not a regular file",
             (str(dyn), *small, "--plot", str(tmp_path / "fifo.svg")): "not a regular file",
             (str(dyn), *small, "--plot", str(tmp_path / "no" / "such.svg")): "no folder",
             (str(dyn), str(fixed), "--plot", str(tmp_path / "two.svg")): "--plot draws one model; 2 were given",
             (str(fixed), "--plot", str(tmp_path / "f.svg")): "--plot: no dynamic spatial input dim to draw "
                                                              "(inputs: 'x' [1, 1, 64, 64])",
             (str(dyn), "--plot", str(tmp_path / "r.svg"), "--range", "0:9"): "--range '0:9'",
             (str(dyn), "--plot", str(tmp_path / "r.svg"), "--range", "9:x"): "--range '9:x'"}
    for argv, said in cases.items():
        assert main(["contract", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and said in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dyn.onnx", "fifo.svg", "fixed.onnx", "folder.svg"]
    assert list((tmp_path / "folder.svg").iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, capsys, monkeypatch):
    onnx.save(unet(depth=2), str(tmp_path / "m.onnx"))
    target = tmp_path / "out.svg"
    target.write_text("old picture")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    assert main(["contract", str(tmp_path / "m.onnx"), "--plot", str(target), "--range", "1:8"]) == 2
    assert "cannot write the plot: No space left on device" in capsys.readouterr().err
    assert target.read_text() == "old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "out.svg"]
    monkeypatch.undo()
    assert main(["contract", str(tmp_path / "m.onnx"), "--plot", str(target), "--range", "1:8"]) == 0
    assert target.read_text().startswith("<svg ")


def test_the_example_in_docs_is_what_the_code_draws_and_is_linked(tmp_path, capsys):
    """docs/contract-unet.svg is `shapelint contract examples/unet_dynamic.onnx --range 1:64 --plot …`
    as the code draws it today, and the README and docs/contracts-and-fix.md link it."""
    out = tmp_path / "contract-unet.svg"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        assert main(["contract", "examples/unet_dynamic.onnx", "--range", "1:64", "--plot", str(out)]) == 0
    finally:
        os.chdir(cwd)
    capsys.readouterr()
    assert out.read_text(encoding="utf-8") == (REPO / "docs" / "contract-unet.svg").read_text(encoding="utf-8")
    assert re.search(r"\]\(docs/contract-unet\.svg\)", (REPO / "README.md").read_text(encoding="utf-8"))
    assert re.search(r"\]\(contract-unet\.svg\)", (REPO / "docs" / "contracts-and-fix.md").read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.tensorflow
def test_keras_unet_picks_h_and_w_from_the_channels_last_layout(tmp_path, capsys):
    """A Keras U-Net with None spatial dims (NHWC): H is axis 1, W axis 2; cells are the record's."""
    from tests import keras_models

    path = keras_models.save(keras_models.unet(depth=2), tmp_path / "unet.keras")
    svg = tmp_path / "k.svg"
    assert main(["contract", str(path), "--format", "json", "--plot", str(svg), "--range", "1:40"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    root, cells, grid = parse(svg)
    rows = {r["symbol"]: r for r in record["rows"]}
    h, w = cells.get("data-h"), cells.get("data-w")
    assert (rows[h]["axis"], rows[w]["axis"]) == (1, 2)
    check_cells(record, cells, grid)
    assert {f for row in grid for f in row} == set(COLOUR.values())
    assert [rows[h]["abstains"], rows[w]["abstains"]] == [[1, 2, 3]] * 2  # a pool window larger than its input
    # the runtime runs the 2×2 pools into an empty tensor there (measured: docs/soundness-and-zoo.md)
    assert any(t.startswith("grey at H = 1, 2, 3: a window larger than its input gives an empty tensor")
               for t in texts(root))
