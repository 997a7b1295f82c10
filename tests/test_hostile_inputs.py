"""Hostile inputs (issue 6): a model shapelint cannot read is one line on stderr, ``shapelint: PATH:
reason``, exit 2, no traceback, in bounded time and memory -- and the other models of the same
``shapelint check`` run are still linted. A hostile model shapelint *can* read gets its findings.

Every run is a real ``python -m shapelint check`` child whose peak RSS is measured (``os.wait4``)
and which is killed after a timeout."""

from __future__ import annotations

import builtins
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass

import onnx
import pytest
from onnx import TensorProto, helper

from shapelint.lint import analyse, lint
from tests.onnx_models import unet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 30  # seconds; every run below takes well under 5
MAX_RSS_MB = 150


@dataclass
class Run:
    code: int
    out: str
    err: str
    rss_mb: float
    seconds: float


# Runs the command given after the file name and writes its peak RSS (KB) to that file. A child's
# peak RSS counts its parent's memory up to exec (fork copies it, and exec records the high-water
# mark of the memory it replaces), so the command is started from this small process, not pytest.
_RSS_LAUNCHER = ("import os, sys; pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ); "
                 "_, status, usage = os.wait4(pid, 0); open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); "
                 "sys.exit(os.waitstatus_to_exitcode(status))")


def shapelint_check(*paths, fmt="json", timeout=TIMEOUT, env=None) -> Run:
    """``python -m shapelint check --format FMT PATH…`` in a child: exit code, output, peak RSS."""
    fd, rss_file = tempfile.mkstemp(suffix=".rss")
    os.close(fd)
    cmd = [sys.executable, "-c", _RSS_LAUNCHER, rss_file,
           sys.executable, "-m", "shapelint", "check", "--format", fmt,
           *(["--show-info"] if fmt == "json" else []), *map(str, paths)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT, **(env or {})}, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"shapelint check {paths} still running after {timeout} s")
    seconds = time.monotonic() - t0
    with open(rss_file) as f:
        rss_mb = int(f.read()) / 1024
    os.remove(rss_file)
    return Run(p.returncode, out.decode("utf-8", "backslashreplace"), err.decode("utf-8", "backslashreplace"),
               rss_mb, seconds)


def findings(run: Run, path) -> list:
    """(rule, severity, node, details) of the findings reported for ``path`` (not the record of a
    model that could not be read)."""
    return [(f["rule"], f["severity"], f["node"], f["details"]) for f in json.loads(run.out or "[]")
            if f["file"] == str(path) and f["rule"] is not None]


def assert_errors(run: Run, expected: dict):
    """stderr is exactly one line per unreadable model, ``shapelint: PATH: reason``, in order."""
    assert "Traceback" not in run.err, run.err
    lines = run.err.splitlines()
    assert len(lines) == len(expected), run.err
    for line, (path, reason) in zip(lines, expected.items()):
        assert line.startswith(f"shapelint: {path}: "), line
        assert re.search(reason, line[len(f"shapelint: {path}: "):]), (reason, line)
    assert run.code == (2 if expected else run.code)
    assert run.rss_mb < MAX_RSS_MB and run.seconds < 20, (run.rss_mb, run.seconds)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A U-Net with a dynamic H and W: two SL003 warnings (it runs only for H, W mod 4 = 0)."""
    folder = tmp_path_factory.mktemp("good")
    path = folder / "good.onnx"
    onnx.save(unet(depth=2, channels=4), str(path))
    expected = [(f.rule, f.severity, f.node) for f in lint(str(path)).findings]
    assert [x for x in expected if x[0] == "SL003"] == [("SL003", "warning", "concat12"),
                                                        ("SL003", "warning", "concat18")]
    return path, expected


def assert_good_linted(run: Run, good):
    path, expected = good
    assert [(r, s, n) for r, s, n, _ in findings(run, path)] == expected


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- unreadable files


def test_garbage_files_are_one_line_each_and_the_good_model_is_still_linted(tmp_path, good):
    bad = {
        _write(tmp_path / "empty.onnx", b""): "empty file",
        _write(tmp_path / "random.onnx", random.Random(1).randbytes(4096)): "not a valid ONNX protobuf",
        _write(tmp_path / "text.onnx", b"name: model\nthis is a text file, not a model\n"): "not a valid ONNX protobuf",
        _write(tmp_path / "zeros.onnx", bytes(1000)): "not a valid ONNX protobuf",
        # a deep varint, a length past the end, a group: each a wire-format error, not a crash
        _write(tmp_path / "varint.onnx", b"\x08" + b"\xff" * 20): "varint longer",
        _write(tmp_path / "length.onnx", b"\x3a\xff\xff\xff\xff\x0f" + bytes(10)): "runs past the end",
        _write(tmp_path / "group.onnx", b"\x3b\x3c"): "wire type 3",
    }
    run = shapelint_check(good[0], *bad, tmp_path / "missing.onnx")
    assert_errors(run, {**bad, tmp_path / "missing.onnx": "cannot read: No such file or directory"})
    assert_good_linted(run, good)


def test_a_model_cut_at_every_sixteenth_is_refused(tmp_path, good):
    data = good[0].read_bytes()
    cuts = {}
    for k in range(16):
        p = _write(tmp_path / f"cut{k:02d}.onnx", data[:len(data) * k // 16])
        cuts[p] = "empty file" if k == 0 else "not a valid ONNX protobuf"
    run = shapelint_check(*cuts, good[0])
    assert_errors(run, cuts)
    assert_good_linted(run, good)


def test_a_model_cut_after_its_graph_is_refused_not_read_as_opset_1(tmp_path):
    m = unet(depth=2)
    graph_only = onnx.ModelProto(ir_version=m.ir_version, graph=m.graph)  # the bytes before opset_import
    assert m.SerializeToString().startswith(graph_only.SerializeToString())
    p = _write(tmp_path / "no_opset.onnx", graph_only.SerializeToString())
    assert_errors(shapelint_check(p), {p: r"no opset_import, which IR version \d+ requires \(a truncated file\?\)"})


def test_flipped_bytes_give_one_line_or_the_lint_protobuf_itself_reads(tmp_path, good):
    """36 copies with 1-8 random bits flipped (seeded). Each is refused in one line, or linted
    exactly as onnx's own full protobuf parse of the same bytes reads it."""
    data = good[0].read_bytes()
    rng = random.Random(6)
    paths = []
    for k in range(36):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        paths.append(_write(tmp_path / f"flip{k:02d}.onnx", bytes(b)))
    run = shapelint_check(*paths, good[0])
    assert_good_linted(run, good)
    refused = {}
    for line in run.err.splitlines():
        m = re.fullmatch(r"shapelint: (.*?\.onnx): (.+)", line)
        assert m, line
        refused[m.group(1)] = m.group(2)
    assert len(refused) == len(run.err.splitlines()), run.err  # one line per file
    assert "Traceback" not in run.err and run.code == (2 if refused else 1)
    assert 0 < len(refused) < len(paths), refused  # both outcomes occur with this seed
    compared = 0
    for p in paths:
        if str(p) in refused:
            continue
        try:  # the same bytes, fully parsed by protobuf and saved again
            reference = onnx.load_from_string(p.read_bytes())
        except Exception:
            continue  # protobuf refuses a field shapelint does not read (value_info, a doc string)
        q = tmp_path / "reference" / p.name
        q.parent.mkdir(exist_ok=True)
        onnx.save(reference, str(q))
        ours = [(r, s, n, json.dumps(d, sort_keys=True)) for r, s, n, d in findings(run, p)]
        theirs = [(f.rule, f.severity, f.node, json.dumps(f.details, sort_keys=True, default=str))
                  for f in lint(str(q)).findings]
        assert ours == theirs, p
        compared += 1
    assert compared >= 5, compared


def test_names_that_are_not_utf8_are_read_with_their_bytes_escaped(tmp_path, good):
    """protobuf hands back the raw bytes of a string field that is not UTF-8: a node name and a
    node's op_type with such bytes are read, not a crash of the whole batch. A name keeps its bytes
    (shown ``\\xff``: two names that differ there stay two tensors); an op_type is read with
    replacement characters."""
    data = good[0].read_bytes()
    name, op = b"\x1a\x08concat12", b"\x22\x06Concat"  # NodeProto.name, NodeProto.op_type
    assert data.count(name) == 1 and data.count(op) == 2
    head, _, tail = data.replace(name, b"\x1a\x08concat1\xff").rpartition(op)  # the second Concat's op
    p = _write(tmp_path / "latin1.onnx", head + b"\x22\x06Conca\xff" + tail)
    run = shapelint_check(p, good[0])
    assert run.code == 1 and run.err == ""
    assert_good_linted(run, good)
    # the first Concat is named with its byte escaped; the second is an unknown op, its merge not judged
    assert [(r, s, n) for r, s, n, _ in findings(run, p) if r == "SL003"] == [("SL003", "warning", "concat1\\xff")]


def test_special_paths(tmp_path, good):
    (tmp_path / "folder.onnx").mkdir()
    os.mkfifo(tmp_path / "fifo.onnx")  # opening it for reading would block: the timeout proves it is not
    newline = _write(tmp_path / "new\nline.onnx", b"\x07junk")
    unicode = tmp_path / "ünï cödé 模型.onnx"
    shutil.copy(good[0], unicode)
    undecodable = tmp_path / os.fsdecode(b"\xff\xfe-latin1.onnx")
    shutil.copy(good[0], undecodable)
    # a folder named x.onnx is searched like any folder: alone, nothing found is the one error
    run = shapelint_check(tmp_path / "folder.onnx", fmt="text")
    assert run.code == 2 and run.err == f"shapelint: no model files found in {tmp_path / 'folder.onnx'}\n"
    # a strict UTF-8 stdout (any UTF-8 locale but C.UTF-8) and a file name that is not UTF-8
    for fmt in ("text", "json"):
        run = shapelint_check(tmp_path / "fifo.onnx", newline, unicode, undecodable, fmt=fmt,
                              env={"PYTHONIOENCODING": "utf-8:strict"})
        assert_errors(run, {tmp_path / "fifo.onnx": "^not a regular file$",
                            str(newline).replace("\n", "\\n"): "not a valid ONNX protobuf"})
        if fmt == "json":
            items = json.loads(run.out)
            # undecodable bytes and control characters are escaped: the JSON is valid UTF-8
            escaped = str(undecodable).replace("\udcff", "\\xff").replace("\udcfe", "\\xfe")
            assert {f["file"] for f in items if f["rule"]} == {str(unicode), escaped}
            run.out.encode("utf-8")  # (strict: no lone surrogate left)
            # the unreadable ones are records too, with the reason
            assert {f["file"]: f["name"] for f in items if f["rule"] is None} == {
                str(tmp_path / "fifo.onnx"): "unreadable", str(newline).replace("\n", "\\n"): "unreadable"}
            assert [(r, s, n) for r, s, n, _ in findings(run, unicode)] == good[1]
        else:
            assert f"{unicode}: the whole model runs only for H mod 4 = 0" in run.out
            assert "\\xff\\xfe-latin1.onnx: the whole model runs only for H mod 4 = 0" in run.out
            assert run.out.rstrip().endswith("2 models checked: 4 warnings (4 info findings hidden; "
                                             "--show-info lists them)")


# --------------------------------------------------------------------------- .keras archives


def _zip(path, entries: dict):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def _keras_config(layers, inputs, outputs) -> dict:
    return {"class_name": "Functional", "config": {"name": "m", "layers": layers, "input_layers": inputs,
                                                   "output_layers": outputs}}


def _layer(cls, name, config, *inbound):
    args = [{"class_name": "__keras_tensor__", "config": {"keras_history": [i, 0, 0]}} for i in inbound]
    return {"class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [{"args": args if len(args) != 2 else [args], "kwargs": {}}] if inbound else []}


def _keras_unet_config() -> dict:
    """x (None, None, 1) → MaxPooling2D 2 → Conv2DTranspose 2 'same' → Concatenate with x:
    H and W must be even (SL003)."""
    conv_t = {"filters": 1, "kernel_size": [2, 2], "strides": [2, 2], "padding": "same",
              "output_padding": None, "dilation_rate": [1, 1], "data_format": "channels_last"}
    layers = [_layer("InputLayer", "x", {"batch_shape": [None, None, None, 1]}),
              _layer("MaxPooling2D", "pool", {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid",
                                              "data_format": "channels_last"}, "x"),
              _layer("Conv2DTranspose", "up", conv_t, "pool"),
              _layer("Concatenate", "cat", {"axis": -1}, "x", "up")]
    return _keras_config(layers, [["x", 0, 0]], [["cat", 0, 0]])


def test_keras_unet_config_is_linted(tmp_path):
    """The hand-written config the tests below start from is a model shapelint lints."""
    p = _zip(tmp_path / "unet.keras", {"config.json": json.dumps(_keras_unet_config())})
    run = shapelint_check(p)
    assert run.code == 1 and run.err == ""
    assert [(r, s, n) for r, s, n, _ in findings(run, p) if r == "SL003"] == [("SL003", "warning", "cat")]


def _bomb_body(head: bytes, n_spaces: int) -> tuple:
    """(raw deflate stream, crc32) of ``head`` then ``n_spaces`` spaces (whitespace is valid JSON).
    A full flush resets the compressor, so every 64 MiB chunk of spaces deflates to the same bytes:
    compressed once, repeated."""
    chunk = b" " * (64 << 20)
    assert n_spaces % len(chunk) == 0
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = z.compress(head) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(n_spaces // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    return start + block * (n_spaces // len(chunk)) + z.flush(), crc


def _zip_one(path, name: bytes, body: bytes, crc: int, declared: int):
    """A zip archive of one deflated entry whose headers declare ``declared`` bytes (the truth, or a lie)."""
    sizes = crc.to_bytes(4, "little") + len(body).to_bytes(4, "little") + declared.to_bytes(4, "little")
    local = (b"PK\x03\x04" + (20).to_bytes(2, "little") + bytes(2) + (8).to_bytes(2, "little") + bytes(4)
             + sizes + len(name).to_bytes(2, "little") + bytes(2) + name)
    central = (b"PK\x01\x02" + (20).to_bytes(2, "little") * 2 + bytes(2) + (8).to_bytes(2, "little") + bytes(4)
               + sizes + len(name).to_bytes(2, "little") + bytes(16) + name)  # offset 0
    end = (b"PK\x05\x06" + bytes(4) + (1).to_bytes(2, "little") * 2 + len(central).to_bytes(4, "little")
           + (len(local) + len(body)).to_bytes(4, "little") + bytes(2))
    path.write_bytes(local + body + central + end)
    return path


@pytest.mark.slow
def test_keras_zip_bombs_are_refused_without_inflating(tmp_path, good):
    """config.json = a valid Keras config followed by 4 GiB - 1 of spaces (valid JSON, ~4 MB
    compressed). Declared honestly it is refused from its header; with a header that claims 1 KB,
    reading stops one byte past shapelint's limit: either way memory stays bounded."""
    head = json.dumps(_keras_unet_config()).encode()
    n = (4 << 30) - (64 << 20)  # a multiple of the 64 MiB chunk, under the 4 GiB of a plain zip
    body, crc = _bomb_body(head, n)
    honest = _zip_one(tmp_path / "honest.keras", b"config.json", body, crc, len(head) + n)
    liar = _zip_one(tmp_path / "liar.keras", b"config.json", body, crc, 1024)
    assert os.path.getsize(honest) < 8 << 20
    with zipfile.ZipFile(honest) as z:  # a real archive: zipfile reads the start of the real JSON
        with z.open("config.json") as f:
            assert f.read(len(head)) == head and f.read(1 << 20) == b" " * (1 << 20)
    not_keras = _zip(tmp_path / "photos.keras", {"a.jpg": b"\xff\xd8" + bytes(100), "b.txt": b"hello"})
    run = shapelint_check(honest, liar, not_keras, good[0])
    assert_errors(run, {honest: rf"config.json declares {len(head) + n} bytes, more than the 64 MB limit",
                        liar: r"cannot extract config.json \(Bad CRC-32",  # stopped at the 1 KB claimed
                        not_keras: r"not a .keras archive: no config.json in it \(entries: a.jpg, b.txt\)"})
    assert_good_linted(run, good)
    assert run.seconds < 10


def test_lambda_code_in_a_keras_config_is_never_run(tmp_path):
    """A Lambda layer's function, serialized as Keras does (marshal + base64), that would create a
    file: exec'd here it does; linted, it does not."""
    import base64
    import marshal
    import types

    marker = tmp_path / "lambda_ran"

    def payload(x, marker=str(marker)):
        open(marker, "w").write("ran")
        return x

    code = base64.b64encode(marshal.dumps(payload.__code__)).decode()
    fn = {"class_name": "__lambda__", "config": {"code": code, "defaults": [str(marker)], "closure": None}}
    config = _keras_unet_config()
    layers = config["config"]["layers"]
    layers.insert(2, _layer("Lambda", "lam", {"function": fn, "output_shape": None, "arguments": {}}, "pool"))
    layers[3]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["lam", 0, 0]  # up ← lam
    p = _zip(tmp_path / "lambda.keras", {"config.json": json.dumps(config)})
    run = shapelint_check(p, fmt="text")
    assert not marker.exists(), "linting ran the Lambda's code"
    assert run.code == 0 and run.err == "", run
    assert ("note: Lambda layer 'lam' holds Python code (serialized bytecode or a function reference): shapelint "
            "never deserializes or runs it, so the output shape is unknown") in run.out
    # the payload is live: rebuilt from the archive's bytes and called, it writes the marker
    with zipfile.ZipFile(p) as z:
        stored = json.loads(z.read("config.json"))["config"]["layers"][2]["config"]["function"]["config"]
    types.FunctionType(marshal.loads(base64.b64decode(stored["code"])), {"open": open},
                       argdefs=tuple(stored["defaults"]))(0)
    assert marker.read_text() == "ran"


# --------------------------------------------------------------------------- external data


def _with_external_data(m: onnx.ModelProto, location: str, offset_step=0) -> onnx.ModelProto:
    """Every 4-D weight of ``m`` stored as external data at ``location``."""
    m = onnx.ModelProto.FromString(m.SerializeToString())
    for k, t in enumerate(m.graph.initializer):
        if len(t.dims) != 4:
            continue
        length = len(t.raw_data)
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str(k * offset_step)), ("length", str(length))):
            t.external_data.add(key=key, value=value)
    return m


class _Opened:
    """Records every path opened through builtins.open, io.open and os.open."""

    def __init__(self, monkeypatch):
        self.paths = []
        for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
            real = getattr(module, name)

            def spy(file, *a, _real=real, **k):
                if isinstance(file, (str, bytes, os.PathLike)):
                    self.paths.append(os.path.realpath(file))
                return _real(file, *a, **k)

            monkeypatch.setattr(module, name, spy)


def test_external_data_outside_the_model_folder_is_never_opened(tmp_path, monkeypatch, good):
    """Locations that escape the model's folder -- ``../``, absolute paths, a symlink in the
    folder -- all point at FIFOs: opening one for reading would block, so finishing within the
    timeout proves none was opened; in-process, no open() call names them."""
    outside = tmp_path / "outside"
    models = tmp_path / "models"
    outside.mkdir()
    models.mkdir()
    os.mkfifo(outside / "secret")
    os.mkfifo(outside / "absolute")
    os.symlink(outside / "secret", models / "link.bin")
    m = unet(depth=2, channels=4)
    cases = {"dotdot.onnx": "../outside/secret", "absolute.onnx": str(outside / "absolute"),
             "symlink.onnx": "link.bin", "passwd.onnx": "/etc/passwd", "deep.onnx": "../" * 40 + "etc/shadow"}
    paths = []
    for name, location in cases.items():
        onnx.save(_with_external_data(m, location), str(models / name))
        paths.append(models / name)
    run = shapelint_check(*paths)
    assert run.code == 1 and run.err == "", run.err
    for p in paths:
        assert [(r, s, n) for r, s, n, _ in findings(run, p)] == good[1], p
    opened = _Opened(monkeypatch)
    for p in paths:
        assert [(f.rule, f.severity, f.node) for f in lint(str(p)).findings] == good[1]
    monkeypatch.undo()
    assert sorted(set(opened.paths)) == sorted(os.path.realpath(p) for p in paths), opened.paths


# --------------------------------------------------------------------------- hostile graphs


def _ld(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _nested_if(depth: int) -> bytes:
    """A NodeProto ``If`` whose then_branch holds an ``If``… ``depth`` deep (protobuf's own
    encoder refuses more than 100 levels, so the bytes are written here: onnx.proto numbers)."""
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["o"])], "leaf", [],
                             [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)]).SerializeToString()
    out_vi = helper.make_tensor_value_info("o", TensorProto.FLOAT, None).SerializeToString()
    graph = leaf
    for d in range(depth):
        op = "If" if d % 2 else "Loop"
        attrs = ([_ld(1, b"then_branch") + _varint(20 << 3) + _varint(5) + _ld(6, graph),
                  _ld(1, b"else_branch") + _varint(20 << 3) + _varint(5) + _ld(6, leaf)] if op == "If" else
                 [_ld(1, b"body") + _varint(20 << 3) + _varint(5) + _ld(6, graph)])
        node = _ld(1, b"c") + _ld(2, b"o") + _ld(3, f"{op.lower()}{d}".encode()) + _ld(4, op.encode())
        node += b"".join(_ld(5, a) for a in attrs)
        if d == depth - 1:
            return node
        graph = _ld(1, node) + _ld(2, f"g{d}".encode()) + _ld(12, out_vi)


def test_hostile_graphs(tmp_path, good):
    """Cycles are refused in one line; nested subgraphs, recursive local functions, custom domains
    and any opset are linted (the U-Net's findings, plus a note for what is not inferred)."""
    base = unet(depth=2, channels=4)
    bad = {}
    for name, nodes in {
        "self_loop.onnx": [helper.make_node("Add", ["x", "y"], ["y"], name="loop")],
        "cycle.onnx": [helper.make_node("Relu", ["b"], ["a"], name="r1"), helper.make_node("Relu", ["a"], ["b"], name="r2"),
                       helper.make_node("Add", ["x", "a"], ["y"], name="add")],
    }.items():
        m = onnx.ModelProto.FromString(base.SerializeToString())
        m.graph.node.extend(nodes)
        onnx.save(m, str(tmp_path / name))
        bad[tmp_path / name] = "feeds itself: the graph has a cycle" if "self" in name else "cycle through node 'r1'"
    lintable = {}
    # If/Loop bodies nested 500 deep, appended to the U-Net's graph (protobuf merges the repeated field)
    base_with_c = onnx.ModelProto.FromString(base.SerializeToString())
    base_with_c.graph.input.append(helper.make_tensor_value_info("c", TensorProto.BOOL, []))
    deep = tmp_path / "deep.onnx"
    deep.write_bytes(base_with_c.SerializeToString() + _ld(7, _ld(1, _nested_if(500))))
    lintable[deep] = []
    # a model-local function that calls itself, and one that calls it: the node is a custom op
    m = onnx.ModelProto.FromString(base.SerializeToString())
    m.opset_import.append(helper.make_opsetid("local", 1))
    rec = helper.make_function("local", "Rec", ["a"], ["b"], [helper.make_node("Rec", ["a"], ["b"], domain="local")],
                               [helper.make_opsetid("local", 1)])
    outer = helper.make_function("local", "Outer", ["a"], ["b"], [helper.make_node("Rec", ["a"], ["b"], domain="local")],
                                 [helper.make_opsetid("local", 1)])
    m.functions.extend([rec, outer])
    m.graph.node.append(helper.make_node("Outer", [m.graph.node[-1].output[0]], ["fn_out"], domain="local", name="call"))
    onnx.save(m, str(tmp_path / "functions.onnx"))
    lintable[tmp_path / "functions.onnx"] = ["1 node(s) in custom domain 'local': their outputs are not inferred"]
    # an unknown domain, even with an op name shapelint knows
    m = onnx.ModelProto.FromString(base.SerializeToString())
    m.opset_import.append(helper.make_opsetid("com.evil", 3))
    for n in m.graph.node:
        if n.op_type == "ConvTranspose" and n.name == "convtranspose17":
            n.domain = "com.evil"
    onnx.save(m, str(tmp_path / "custom.onnx"))
    for opset in (1, 99):
        onnx.save(unet(depth=2, channels=4, opset=opset), str(tmp_path / f"opset{opset}.onnx"))
        lintable[tmp_path / f"opset{opset}.onnx"] = []

    run = shapelint_check(*bad, *lintable, tmp_path / "custom.onnx", good[0])
    assert_errors(run, bad)
    assert_good_linted(run, good)
    for p in lintable:  # the U-Net's findings, whatever surrounds it
        assert [(r, s, n) for r, s, n, _ in findings(run, p) if r != "SL005"] == good[1], p
    # what shapelint cannot follow it names (SL005), and then claims no size runs: the nested If
    assert [(r, s, n) for r, s, n, _ in findings(run, deep) if r == "SL005"] == [("SL005", "info", "if499")]
    # the second ConvTranspose in a custom domain: its merge is not judged, the first one is
    assert [(r, s, n) for r, s, n, _ in findings(run, tmp_path / "custom.onnx")] == [
        ("SL002", "info", "convtranspose11"), ("SL003", "warning", "concat12"), ("SL005", "info", "convtranspose17")]
    text = shapelint_check(deep, tmp_path / "functions.onnx", fmt="text")
    assert text.code == 1 and text.err == ""
    for p, notes in lintable.items():
        for note in notes:
            assert f"{p}: note: {note}" in text.out
    graph, _ = analyse(str(deep))
    assert [n.name for n in graph.nodes if n.op in ("If", "Loop")] == ["if499"]  # the top level only
    assert run.seconds < 10


def test_extreme_dims(tmp_path):
    """2^63 - 1, 2^62, zero and negative input dims: exact arithmetic, no overflow, no crash."""
    expect = {
        # H = 2^63 - 1 (odd): conv /2 → 2^62, conv /2 → 2^61, up → 2^62 fits, up → 2^63 ≠ 2^63 - 1
        (2 ** 63 - 1, 6): [("SL003", "error", "concat12", 3, ["3", "4"]),
                           ("SL003", "error", "concat18", 2, [str(2 ** 63 - 1), str(2 ** 63)])],
        (2 ** 62, 6): [("SL003", "error", "concat12", 3, ["3", "4"])],
        (0, 8): [("SL004", "error", "conv3", 2, None)],
    }
    paths = {}
    for (h, w), want in expect.items():
        p = tmp_path / f"h{h}_w{w}.onnx"
        onnx.save(unet(depth=2, channels=2, shape=(1, 1, h, w)), str(p))
        paths[p] = want
    # a negative dim is not a size: it is read as a named dynamic dim
    neg = tmp_path / "negative.onnx"
    onnx.save(unet(depth=2, channels=2, shape=(1, 1, -5, -1)), str(neg))
    # an initializer claiming 2^62 elements (no data) beside the graph
    m = unet(depth=2, channels=2, shape=(1, 1, 8, 8))
    huge = helper.make_tensor("huge", TensorProto.FLOAT, [2 ** 62, 0, -3], [])
    m.graph.initializer.append(huge)
    onnx.save(m, str(tmp_path / "huge_init.onnx"))
    run = shapelint_check(*paths, neg, tmp_path / "huge_init.onnx")
    assert run.code == 1 and run.err == ""
    for p, want in paths.items():
        got = [(r, s, n, d.get("axis"), d.get("sizes")) for r, s, n, d in findings(run, p) if r != "SL002"]
        assert got == want, (p, got)
    assert [(r, s, n) for r, s, n, _ in findings(run, neg) if r == "SL003"] == [
        ("SL003", "warning", "concat12"), ("SL003", "warning", "concat18")]
    without = tmp_path / "without" / "huge_init.onnx"
    without.parent.mkdir()
    onnx.save(unet(depth=2, channels=2, shape=(1, 1, 8, 8)), str(without))
    assert [(r, s, n) for r, s, n, _ in findings(run, tmp_path / "huge_init.onnx")] == [
        (f.rule, f.severity, f.node) for f in lint(str(without)).findings] == [
        ("SL002", "info", "convtranspose11"), ("SL002", "info", "convtranspose17")]


# --------------------------------------------------------------------------- memory at scale


def _need_disk(folder, nbytes):
    free = shutil.disk_usage(folder).free
    if free < nbytes + (1 << 30):
        pytest.skip(f"needs {nbytes >> 20} MB free on {folder}, has {free >> 20} MB")


def test_two_gigabytes_of_external_weights_in_under_150_mb(tmp_path, good):
    """Every weight of the U-Net, and a 2 GiB tensor, point into a sparse 2 GiB weights.bin."""
    size = 2 << 30
    with open(tmp_path / "weights.bin", "wb") as f:
        f.truncate(size)  # a hole: no disk used, but 2 GiB to anyone who reads it
    m = _with_external_data(unet(depth=2, channels=4), "weights.bin", offset_step=1 << 20)
    big = TensorProto(name="big", data_type=TensorProto.FLOAT, dims=[size // 4])
    big.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(size))):
        big.external_data.add(key=key, value=value)
    m.graph.initializer.append(big)
    path = tmp_path / "external.onnx"
    onnx.save(m, str(path))
    run = shapelint_check(path)
    assert run.code == 1 and run.err == ""
    assert [(r, s, n) for r, s, n, _ in findings(run, path)] == good[1]
    assert run.rss_mb < MAX_RSS_MB, run.rss_mb
    print(f"2 GiB external weights: peak RSS {run.rss_mb:.0f} MB, {run.seconds:.2f} s")


def _embedded_model(path, payload_bytes: int):
    """The U-Net with one more initializer of ``payload_bytes`` of raw_data, written without
    building it in memory: ModelProto{graph{initializer: big}} then the U-Net's bytes (protobuf
    concatenation merges the graphs), the payload a sparse hole of zeros."""
    header = (_ld(8, b"big") + _varint(1 << 3) + _varint(payload_bytes // 4) + _varint(2 << 3) + _varint(1)
              + _varint((9 << 3) | 2) + _varint(payload_bytes))  # name, dims, data_type FLOAT, raw_data
    tensor_len = len(header) + payload_bytes
    graph_field = _varint((5 << 3) | 2) + _varint(tensor_len)  # GraphProto.initializer
    model_field = _varint((7 << 3) | 2) + _varint(len(graph_field) + tensor_len)  # ModelProto.graph
    tail = unet(depth=2, channels=4).SerializeToString()
    with open(path, "wb") as f:
        f.write(model_field + graph_field + header)
        f.seek(payload_bytes, os.SEEK_CUR)
        f.write(tail)
    return path


def test_embedded_weights_are_never_held_in_memory(tmp_path, good):
    # the construction is an ONNX model, as onnx itself reads it (here with a 1 KB payload)
    small = onnx.load(str(_embedded_model(tmp_path / "small.onnx", 1024)))
    assert small.graph.initializer[0].name == "big" and len(small.graph.initializer[0].raw_data) == 1024
    assert len(small.graph.node) == len(unet(depth=2, channels=4).graph.node)
    size = 500 << 20
    _need_disk(tmp_path, 0)  # sparse: only the metadata is written
    path = _embedded_model(tmp_path / "embedded.onnx", size)
    assert os.path.getsize(path) > size
    run = shapelint_check(path)
    assert run.code == 1 and run.err == ""
    assert [(r, s, n) for r, s, n, _ in findings(run, path)] == good[1]
    assert run.rss_mb < 100, run.rss_mb  # a fifth of the file
    graph, _ = analyse(str(path))
    assert graph.constants["big"].shape == (size // 4,) and graph.constants["big"].values() is None
    print(f"500 MB embedded weights: peak RSS {run.rss_mb:.0f} MB, {run.seconds:.2f} s")
