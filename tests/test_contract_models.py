"""`shapelint contract` over many models (files and folders, as `check` takes them): one JSON list
with an object per model, the same keys for every model, a failure at fixed sizes stated with its
rule and message (not an empty list), and an unreadable model as one line and a record, exit 2,
while the others are still reported. Each claimed failure is confirmed with onnxruntime."""

import json

import onnx
import pytest

from shapelint.cli import main
from tests.onnx_models import run, single_convt, unet

KEYS = {"file", "inputs", "outputs", "rows", "fixed_size_failures", "proven", "unknown"}


@pytest.fixture()
def models(tmp_path):
    """A folder with a dynamic U-Net, the same U-Net at 1×1×65×65 (its skip Concat fails), one at
    64×64 (runs), a dynamic ConvTranspose with output_padding 2 ≥ stride 2 (rejected at every
    size), and a file that is not a model."""
    d = tmp_path / "models"
    d.mkdir()
    made = {"a_dyn.onnx": unet(depth=2), "b_65.onnx": unet(depth=2, shape=(1, 1, 65, 65)),
            "c_64.onnx": unet(depth=2, shape=(1, 1, 64, 64)),
            "d_op.onnx": single_convt(in_shape=(1, 2, "H", "W"), k=3, s=2, pads=[1, 1, 1, 1], output_padding=[2, 2])}
    for name, m in made.items():
        onnx.save(m, str(d / name))
    (d / "e_junk.onnx").write_bytes(b"not a model")
    return d, made


@pytest.mark.runtime
def test_many_models_are_one_json_list_with_fixed_size_failures(models, capsys):
    d, made = models
    assert main(["contract", str(d), "--format", "json"]) == 2  # one model could not be read
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith(f"shapelint: {d / 'e_junk.onnx'}: not a valid ONNX protobuf"), err
    records = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads(out)}
    assert list(records) == ["a_dyn.onnx", "b_65.onnx", "c_64.onnx", "d_op.onnx", "e_junk.onnx"]
    assert records.pop("e_junk.onnx") == {"file": str(d / "e_junk.onnx"), "error": line.removeprefix("shapelint: ")}
    assert all(set(r) == KEYS for r in records.values())
    dyn, b65, c64, op = (records[k] for k in ("a_dyn.onnx", "b_65.onnx", "c_64.onnx", "d_op.onnx"))
    # dynamic: the rows, nothing failing whatever the sizes; onnxruntime runs at a size they allow
    assert [r["works"] for r in dyn["rows"]] == ["H mod 4 = 0, H ≥ 4", "W mod 4 = 0, W ≥ 4"]
    assert dyn["fixed_size_failures"] == [] and run(made["a_dyn.onnx"], (1, 1, 8, 12))[0]
    # fixed at 65: no rows, but the failing merge with SL003's own message (was `[]`)
    assert b65["rows"] == [] and b65["inputs"] == [{"name": "x", "shape": [1, 1, 65, 65]}]
    first = b65["fixed_size_failures"][0]
    assert (first["rule"], first["op"], first["node"], first["axes"]) == ("SL003", "Concat", "concat12", [2, 3])
    assert "33 for 'conv6'" in first["message"] and "34 for 'convtranspose11'" in first["message"]
    ok, msg = run(made["b_65.onnx"], (1, 1, 65, 65))
    assert not ok and "concat12" in msg
    # fixed at 64: runs
    assert c64["rows"] == [] and c64["fixed_size_failures"] == [] and run(made["c_64.onnx"], (1, 1, 64, 64))[0]
    # dynamic, but an attribute onnxruntime rejects at every size: SL001, and no size works
    (bad,) = op["fixed_size_failures"]
    assert bad["rule"] == "SL001" and bad["op"] == "ConvTranspose" and "output_padding [2, 2]" in bad["message"]
    assert all(r["works"].startswith("no ") for r in op["rows"])
    assert not any(run(made["d_op.onnx"], (1, 2, h, h))[0] for h in (4, 7, 8))


def test_text_reports_each_model_and_exit_0_when_every_model_was_read(models, capsys):
    d, _ = models
    (d / "e_junk.onnx").unlink()
    assert main(["contract", str(d / "b_65.onnx"), str(d / "c_64.onnx"), str(d / "a_dyn.onnx")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    blocks = out.rstrip("\n").split("\n\n")  # one block per model, in the order given
    assert [b.split(":", 1)[0] for b in blocks] == [str(d / n) for n in ("b_65.onnx", "c_64.onnx", "a_dyn.onnx")]
    assert blocks[0].startswith(f"{d / 'b_65.onnx'}: fails at its fixed sizes (SL003): Concat 'concat12': "
                                f"non-concat axis 2 is 33 for 'conv6'")
    assert blocks[1] == f"{d / 'c_64.onnx'}: runs at its fixed sizes (it has no dynamic input dim)"
    assert f"{d / 'a_dyn.onnx'}: x, axis 2 (H): H mod 4 = 0, H ≥ 4" in blocks[2]


def test_dynamic_model_rejected_at_every_size_says_so_in_text(models, capsys):
    d, _ = models
    assert main(["contract", str(d / "d_op.onnx")]) == 0
    out = capsys.readouterr().out
    assert f"{d / 'd_op.onnx'}: fails at every size (SL001): ConvTranspose 'convtranspose2': output_padding" in out
    assert "every size of every dynamic input dim works" not in out


def test_no_model_found_and_unreadable_alone_exit_2_with_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["contract", str(tmp_path / "empty")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"shapelint: no model files found in {tmp_path / 'empty'}\n"
    assert main(["contract", str(tmp_path / "missing.onnx"), "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and "missing.onnx" in err
    (record,) = json.loads(out)
    assert record == {"file": str(tmp_path / "missing.onnx"), "error": err.strip().removeprefix("shapelint: ")}


def test_names_with_control_characters_are_escaped_in_text(tmp_path, capsys):
    """A node named with an escape sequence and a newline: the text line stays one line, escaped."""
    m = unet(depth=2, shape=(1, 1, 65, 65))
    for n in m.graph.node:
        if n.name == "concat12":
            n.name = "concat\x1b[31m\nX"
    onnx.save(m, str(tmp_path / "m.onnx"))
    assert main(["contract", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "concat\\x1b[31m\\nX" in out
    assert all(line.startswith(str(tmp_path)) for line in out.splitlines())
