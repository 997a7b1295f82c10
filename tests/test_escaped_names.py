"""Hardening II, names: a model's names (nodes, tensors, dim_params, Keras layers) and file names
holding workflow commands, ESC sequences, carriage returns, line separators and bidi controls are
shown escaped by every command and every format. The test greps all the output for raw control
characters and for a line that begins with ``::`` other than the workflow commands ``--format
github`` writes on purpose. In process (``cli.main``): fast tier."""

import json
import re

import onnx
import pytest

from shapelint import cli, escape
from tests.onnx_models import unet
from tests.test_hostile_inputs import _keras_unet_config, _zip

HOSTILE = [
    "\n::error file=pwned.py,line=1::owned",
    "\n::add-mask::secret",
    "\x1b]0;title\x07\x1b[2J",
    "\r::warning::fake",
    "a\u2028::notice::b",
    "\u202egnp.exe",
    "\x85next\u2029line",
    "tab\tand\\backslash",
    "\ud800" if False else "zero\u200bwidth",
]
# what may never reach the terminal or the log (\n ends lines; \t is harmless)
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")


def _rename(model: onnx.ModelProto, k: int) -> onnx.ModelProto:
    """Every node, every tensor and the dynamic dims get a hostile name (consistently)."""
    names = {}

    def new(old):
        if not old:
            return old
        if old not in names:
            names[old] = f"{old}{HOSTILE[len(names) % len(HOSTILE)]}{k}"
        return names[old]

    g = model.graph
    for n in g.node:
        n.name = new(n.name or n.output[0] + "_node")
        n.input[:] = [new(i) for i in n.input]
        n.output[:] = [new(o) for o in n.output]
    for t in list(g.input) + list(g.output) + list(g.value_info):
        t.name = new(t.name)
        for d in t.type.tensor_type.shape.dim:
            if d.dim_param:
                d.dim_param = new(d.dim_param)
    for t in g.initializer:
        t.name = new(t.name)
    return model


def models(tmp_path):
    out = []
    for k, m in enumerate([unet(depth=2), unet(depth=2, shape=(1, 1, 65, 65)), unet(depth=1, merge="add")]):
        path = tmp_path / f"m{k}{HOSTILE[k].strip()}.onnx"  # hostile file names too
        onnx.save(_rename(m, k), str(path))
        out.append(path)
    cfg = _keras_unet_config()
    rename = {"x": "x" + HOSTILE[0], "pool": "pool" + HOSTILE[2], "up": "up" + HOSTILE[5], "cat": "cat" + HOSTILE[3]}
    text = json.dumps(cfg)
    for old, new in rename.items():
        text = text.replace(f'"{old}"', json.dumps(new))
    out.append(_zip(tmp_path / f"k{HOSTILE[4]}.keras", {"config.json": text}))
    return out


def assert_safe(text: str, github: bool = False):
    raw = RAW.findall(text)
    assert not raw, (raw[:5], text[:3000])
    for line in text.split("\n"):
        if line.lstrip().startswith("::"):
            assert github and re.match(r"::(error|warning|notice) [^\n]*::", line), line


def run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "concise", "markdown"])
def test_every_format_shows_hostile_names_escaped(fmt, tmp_path, capsys):
    paths = models(tmp_path)
    rc, out, err = run(["check", *paths, "--format", fmt, "--show-info"], capsys)
    assert rc == 1, err
    assert_safe(out, github=fmt == "github")
    assert_safe(err)
    if fmt in ("json", "sarif"):
        data = json.loads(out)  # valid JSON, and valid UTF-8
        out.encode("utf-8")
        if fmt == "json":
            assert {f["node"] for f in data if f["rule"] == "SL003"} >= {escape.name("concat" + HOSTILE[0])} or \
                any("\\n::error" in f["node"] for f in data), [f["node"] for f in data]
    # the names are there, escaped, not dropped
    assert "\\n::error file=pwned.py" in out.replace("\\\\n", "\\n") or "%0A::error" in out, out[:2000]


def test_contract_explain_and_fix_show_names_escaped(tmp_path, capsys):
    paths = models(tmp_path)
    for path in paths:
        for argv in (["contract", path], ["contract", path, "--format", "json"], ["explain", path]):
            rc, out, err = run(argv, capsys)
            assert rc in (0, 2), (argv, err)
            assert_safe(out)
            assert_safe(err)
    for path in paths[:3]:
        rc, out, err = run(["fix", path, "--diff"], capsys)
        assert_safe(out)
        assert_safe(err)


def test_escaping_is_injective_and_keeps_the_graph(tmp_path):
    """Two names that differ only by an escape must stay two tensors, or a merge of two different
    tensors could be read as one (a wrong verdict, not just a wrong display)."""
    for a, b in (("x\n", "x\\n"), ("\\x1b", "\x1b"), ("a\\\\", "a\\")):
        assert escape.name(a) != escape.name(b)
    import shapelint

    plain = shapelint.check(unet(depth=2))
    hostile = shapelint.check(_rename(unet(depth=2), 0))
    assert [(f.rule, f.severity, f.message.count("\n")) for f in hostile.findings] == \
        [(f.rule, f.severity, f.message.count("\n")) for f in plain.findings]
    def dims(works):  # the sizes, whatever the dims are called
        return sorted(re.sub(r"‹[^›]*›|\b[HW]\b", "D", w) for w in works.values())

    assert dims(hostile.works) == dims(plain.works) == ["D mod 4 = 0, D ≥ 4"] * 2


@pytest.mark.parametrize("fmt", ["sarif", "json", "github", "markdown", "text", "concise"])
def test_a_file_name_that_is_not_utf8(fmt, tmp_path, capsys, monkeypatch):
    """SARIF once raised UnicodeEncodeError on such a name; every format is now valid UTF-8, the
    SARIF URI percent-encodes the bytes on disk, and the others show them as \\xff."""
    import os

    folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/models\xff")
    os.mkdir(folder)
    onnx.save(unet(depth=2), os.path.join(folder, os.fsdecode(b"m\xfe.onnx")))
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(["check", os.fsdecode(b"models\xff"), "--format", fmt], capsys)
    assert rc == 1, err
    out.encode("utf-8")  # strict: no lone surrogate
    assert_safe(out, github=fmt == "github")
    if fmt == "sarif":
        result = json.loads(out)["runs"][0]["results"][0]
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models%FF/m%FE.onnx"
    elif fmt == "json":
        assert {f["file"] for f in json.loads(out)} == {"models\\xff/m\\xfe.onnx"}
    elif fmt == "markdown":  # (a backslash doubled in a table cell renders as one)
        assert "models\\\\xff/m\\\\xfe.onnx" in out
    else:
        assert "models\\xff/m\\xfe.onnx" in out


def _savedmodel(folder, names: dict):
    """A TF1-style SavedModel written with shapelint's own schema (no TensorFlow): x → MaxPool 2 →
    ConcatV2 with x on channels (H and W must be even: SL003), every name from ``names``."""
    from shapelint.loaders.savedmodel_schema import message_class

    sm = message_class("SavedModel")()
    mg = sm.meta_graphs.add()
    g = mg.graph_def
    x = g.node.add(name=names["x"], op="Placeholder")
    x.attr["dtype"].type = 1
    for d in (-1, -1, -1, 1):
        x.attr["shape"].shape.dim.add(size=d)
    pool = g.node.add(name=names["pool"], op="MaxPool", input=[names["x"]])
    pool.attr["ksize"].list.i.extend([1, 2, 2, 1])
    pool.attr["strides"].list.i.extend([1, 2, 2, 1])
    pool.attr["padding"].s = b"VALID"
    pool.attr["T"].type = 1
    axis = g.node.add(name=names["axis"], op="Const")
    axis.attr["dtype"].type = 3
    axis.attr["value"].tensor.dtype = 3
    axis.attr["value"].tensor.int_val.append(3)
    cat = g.node.add(name=names["cat"], op="ConcatV2", input=[names["x"], names["pool"], names["axis"]])
    cat.attr["N"].i = 2
    cat.attr["T"].type = 1
    sig = mg.signature_def["serving_default"]
    sig.inputs["x"].name = names["x"] + ":0"
    sig.inputs["x"].dtype = 1
    for d in (-1, -1, -1, 1):
        sig.inputs["x"].tensor_shape.dim.add(size=d)
    sig.outputs["y"].name = names["cat"] + ":0"
    sig.outputs["y"].dtype = 1
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(sm.SerializeToString())
    return folder


def test_savedmodel_names_are_escaped_in_every_format(tmp_path, capsys):
    """Without colons (TF's own tensor references use them) the model is read as the plain one and
    its SL003 is shown with escaped names; with workflow commands in the names the references do not
    resolve, and shapelint abstains on the output it cannot follow -- it never calls that clean."""
    plain = _savedmodel(tmp_path / "plain", {k: k for k in ("x", "pool", "axis", "cat")})
    rc, out, _err = run(["check", plain, "--format", "concise"], capsys)
    assert rc == 1 and "SL003" in out  # the model is what the test means it to be
    no_colons = {"x": "x" + HOSTILE[2], "pool": "pool\u2028next\u202e", "axis": "axis\x85", "cat": "cat\r\n" + HOSTILE[5]}
    commands = {"x": "x" + HOSTILE[2], "pool": "pool" + HOSTILE[0], "axis": "axis" + HOSTILE[4], "cat": "cat" + HOSTILE[3]}
    for k, names in enumerate((no_colons, commands)):
        model = _savedmodel(tmp_path / (f"sm{k}" + HOSTILE[6]), names)
        for fmt in ("text", "json", "sarif", "github", "concise", "markdown"):
            rc, out, err = run(["check", model, "--format", fmt, "--show-info"], capsys)
            assert_safe(out, github=fmt == "github")
            assert_safe(err)
            if names is no_colons:
                assert rc == 1 and "SL003" in out, (fmt, out)
            else:
                assert rc == 0 and "SL005" in out + err or "unknown" in out, (fmt, out)
        rc, out, err = run(["check", model], capsys)
        assert ("\\r\\n" if names is no_colons else "abstains") in out, out
        for argv in (["contract", model], ["contract", model, "--format", "json"]):
            rc, out, err = run(argv, capsys)
            assert_safe(out)
            assert_safe(err)
