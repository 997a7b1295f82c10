"""Mutation fuzzing of shapelint's model reading: corrupt and hostile models, lint them, and
require either a normal Result or shapelint's own clean error (``ModelError``, which the CLI
prints as one line and exits 2 on) -- any other exception is a crash, and so is a lint over its
time bound or a process over its memory bound.

Families of mutants (``--families``; FAMILIES gives their shares):

- ``bytes``: examples/*.onnx, U-Nets built by tests/onnx_models.py and any ``--model FILE``,
  mutated byte by byte (flip bits, insert, delete, overwrite, splice with another seed, truncate)
  and through the protobuf wire format (no schema: a field duplicated, dropped or moved, a varint
  overwritten with a huge or negative value, a length prefix changed).
- ``onnx-names``, ``keras-names``, ``tflite-names``: node, tensor, initializer, value_info and
  layer names, dim_params, ops, domains and the model's name replaced by hostile strings
  (HOSTILE: workflow commands after a newline, ESC/OSC sequences, ``\r``, U+2028/2029, bidi and
  C1 controls, bytes that are not UTF-8, 1 MB names), renamed consistently (then the verdict must
  be the original's), one occurrence only, made equal to another name, twins that differ only by
  an escape (``"a\n"`` and ``"a\\n"``), or emptied. Every such mutant also runs one command and
  format of OUTPUT_COMMANDS in-process, and its stdout and stderr must hold no raw control, bidi or
  separator character and no line beginning with ``::`` but --format github's own commands.
- ``onnx-counts``, ``keras-counts``, ``tflite-counts``: many inputs to a Concat, many outputs,
  many nodes (up to and over shapelint.limits.MAX_NODES), huge ranks (over limits.MAX_RANK),
  attribute lists of 10^5+ values, strides/kernels/dilations/pads/axes of 0, -1, 2^31, 2^62,
  Keras call and tensor indices of 10^9, Sequentials of 50k+ layers of one name, TFLite tensors
  of one name.
- ``onnx-nesting``, ``keras-nesting``: If/Loop bodies nested up to 20,000 deep (a new node, or
  an attribute of a node the analysis reads), input types and unknown fields nested deep, Keras
  models nested in models up to 5,000 deep.

    PYTHONPATH=. python scripts/fuzz_mutations.py -n 100000 -j 2 --cli-every 50 --out /tmp/fuzz_mutations

runs 100,000 mutants in 2 processes and prints a summary (outcomes per family, crashes with
their exception and location, the slowest lint, the peak RSS); every problem mutant is kept in
``--out`` with a .txt that says how to reproduce it. Bounds: ``--timeout`` seconds plus
``--per-mb`` per MB of the mutant (of a .keras file's config.json) plus ``--per-item`` per item
a count mutation added (nodes, layers, inputs, dims: work linear in them is allowed, a hang or a
quadratic blow-up is not), and ``--mem-mb`` of peak RSS (each worker's address space is capped
just above, so a runaway allocation is a MemoryError, not the machine's memory). ``--cli-every 50`` also runs ``python
-m shapelint check`` (text and --format github, a hostile file name for name mutants) on every
50th mutant in a child and requires exit 0, 1 or 2 with no traceback and safe output. Exit
status 1 when any problem was found. Lints run with SHAPELINT_STRICT=1 (unless set otherwise), as
the test suite's do: an IndexError or TypeError in a rule is a crash, not a note.
"""

from __future__ import annotations

import argparse
import collections
import copy
import glob
import io
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
# as in the test suite: Python's own errors in a rule (IndexError, TypeError…) are bugs that fail,
# not notes about a malformed node (shapelint.infer.CAUGHT); SHAPELINT_STRICT=0 to lint as users do
os.environ.setdefault("SHAPELINT_STRICT", "1")

from shapelint import limits  # noqa: E402
from shapelint.errors import ModelError  # noqa: E402
from shapelint.lint import lint  # noqa: E402

HUGE = [0, 1, 127, 128, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53, 2**63 - 1, 2**63, 2**64 - 1,
        (-1) % 2**64, (-(2**31)) % 2**64, (-(2**63)) % 2**64]


# --------------------------------------------------------------------------- seeds


def seeds(extra=()) -> list:
    """(name, bytes) of every seed model."""
    out = []
    for p in sorted(glob.glob(os.path.join(ROOT, "examples", "*.onnx"))) + list(extra):
        with open(p, "rb") as f:
            out.append((os.path.basename(p), f.read()))
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        from onnx_models import single_convt, unet
    finally:
        sys.path.pop(0)
    built = {
        "unet_convt_concat.onnx": unet(depth=2),
        "unet_maxpool_resize_add.onnx": unet(depth=3, down="maxpool", k_down=2, up="resize", merge="add"),
        "unet_crop_opset13.onnx": unet(depth=2, fit="crop", opset=13),
        "unet_pad_static.onnx": unet(depth=2, fit="pad", shape=(1, 1, 65, 64)),
        "unet_stride3_ceil_opset11.onnx": unet(depth=2, stride=3, down="maxpool", k_down=2, ceil_mode=1, k_up=3,
                                               output_padding=(2, 2), opset=11),
        "convt_output_shape.onnx": single_convt(k=3, s=2, output_shape=[9, 9]),
    }
    out += [(name, m.SerializeToString()) for name, m in built.items()]
    return out


# --------------------------------------------------------------------------- protobuf wire format


def _varint(buf, i, end):
    v = shift = 0
    while i < end and shift < 70:
        b = buf[i]
        v |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return v, i
        shift += 7
    raise ValueError("bad varint")


def _encode_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf: bytes, start=0, end=None, depth=0, out=None) -> list:
    """Every field the bytes parse as, nested messages included (a length-delimited field is
    taken as a message when it parses as one): (start, end, wire type, value start, value end)."""
    end = len(buf) if end is None else end
    out = [] if out is None else out
    i, found = start, []
    try:
        while i < end:
            key, j = _varint(buf, i, end)
            wt = key & 7
            if key >> 3 == 0:
                raise ValueError("field 0")
            if wt == 0:
                _, k = _varint(buf, j, end)
                found.append((i, k, 0, j, k))
            elif wt == 1:
                k = j + 8
                found.append((i, k, 1, j, k))
            elif wt == 5:
                k = j + 4
                found.append((i, k, 5, j, k))
            elif wt == 2:
                n, j2 = _varint(buf, j, end)
                k = j2 + n
                found.append((i, k, 2, j, j2))  # value start/end here: the length prefix
            else:
                raise ValueError("wire type")
            if k > end:
                raise ValueError("overrun")
            i = k
    except ValueError:
        return out
    out.extend(found)
    if depth < 12:
        for f in found:
            if f[2] == 2:
                fields(buf, f[4], f[1], depth + 1, out)
    return out


# --------------------------------------------------------------------------- mutations


def _flip(rng, b, _others):
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return "flip"


def _overwrite(rng, b, _others):
    i = rng.randrange(len(b))
    n = rng.randint(1, 8)
    b[i:i + n] = bytes(rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)]) for _ in range(n))
    return "overwrite"


def _insert(rng, b, _others):
    i = rng.randrange(len(b) + 1)
    b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return "insert"


def _delete(rng, b, _others):
    i = rng.randrange(len(b))
    del b[i:i + rng.randint(1, 32)]
    return "delete"


def _truncate(rng, b, _others):
    del b[rng.randrange(len(b)):]
    return "truncate"


def _splice(rng, b, others):
    o = rng.choice(others)
    i, j = sorted(rng.randrange(len(o) + 1) for _ in range(2))
    k = rng.randrange(len(b) + 1)
    b[k:k + rng.randint(0, 64)] = o[i:j]
    return "splice"


def _length(rng, b, _others):
    """A length prefix changed in place (the bytes after it are then read differently)."""
    fs = [f for f in fields(bytes(b)) if f[2] == 2]
    if not fs:
        return _flip(rng, b, _others)
    f = rng.choice(fs)
    n, _ = _varint(b, f[3], f[4])
    new = rng.choice([0, 1, n - 1, n + 1, n * 2, 2**31 - 1, 2**32 + n, 2**63, rng.randrange(n + 2)])
    b[f[3]:f[4]] = _encode_varint(max(new, 0))
    return "length"


# structure-aware mutations work on a tree of fields and re-serialize it, so every enclosing
# length prefix stays consistent and the mutant gets past the protobuf parser


def parse_tree(buf: bytes, depth=0):
    """The bytes as a list of fields [number, wire type, payload] (payload: an int, bytes, or for
    a length-delimited field that parses as a message, a list of fields), or None."""
    out, i, end = [], 0, len(buf)
    try:
        while i < end:
            key, i = _varint(buf, i, end)
            num, wt = key >> 3, key & 7
            if num == 0:
                return None
            if wt == 0:
                v, i = _varint(buf, i, end)
            elif wt in (1, 5):
                n = 8 if wt == 1 else 4
                v, i = bytes(buf[i:i + n]), i + n
            elif wt == 2:
                n, i = _varint(buf, i, end)
                v, i = bytes(buf[i:i + n]), i + n
                sub = parse_tree(v, depth + 1) if depth < 12 and v else None
                if sub:
                    v = sub
            else:
                return None
            if i > end:
                return None
            out.append([num, wt, v])
    except ValueError:
        return None
    return out


def serialize(tree) -> bytes:
    out = bytearray()
    for num, wt, v in tree:
        if wt == -1:  # (_raw: bytes as they are)
            out += v
            continue
        out += _encode_varint(num << 3 | wt)
        if wt == 0:
            out += _encode_varint(v)
        elif wt == 2:
            body = serialize(v) if isinstance(v, list) else v
            out += _encode_varint(len(body)) + body
        else:
            out += v
    return bytes(out)


def _raw(data: bytes) -> list:
    """A tree entry serialize() writes as it is (bytes appended to a message: more fields)."""
    return [0, -1, data]


def _nodes(tree, acc=None):
    """(containing list, index) of every field in the tree."""
    acc = [] if acc is None else acc
    for k, f in enumerate(tree):
        acc.append((tree, k))
        if isinstance(f[2], list):
            _nodes(f[2], acc)
    return acc


def _lists(tree, acc=None):
    acc = [tree] if acc is None else acc
    for f in tree:
        if isinstance(f[2], list):
            acc.append(f[2])
            _lists(f[2], acc)
    return acc


def _structured(fn):
    def mutation(rng, b, others):
        tree = parse_tree(bytes(b))
        if not tree:
            return _flip(rng, b, others)
        name = fn(rng, tree, others)
        b[:] = serialize(tree)
        return name
    mutation.__name__ = fn.__name__
    return mutation


def _pick(rng, tree, wt=None):
    cands = [(lst, k) for lst, k in _nodes(tree) if wt is None or lst[k][1] == wt]
    return rng.choice(cands) if cands else None


@_structured
def _huge_varint(rng, tree, _others):
    got = _pick(rng, tree, 0)
    if got is None:
        return "varint(none)"
    lst, k = got
    lst[k][2] = rng.choice(HUGE + [rng.getrandbits(64)])
    return "varint"


@_structured
def _packed(rng, tree, _others):
    """An element of a packed repeated int (dims, ints attributes) set to a huge or negative value."""
    cands = [(lst, k) for lst, k in _nodes(tree) if lst[k][1] == 2 and isinstance(lst[k][2], bytes) and lst[k][2]]
    if not cands:
        return "packed(none)"
    lst, k = rng.choice(cands)
    vals, i, body = [], 0, lst[k][2]
    try:
        while i < len(body):
            v, i = _varint(body, i, len(body))
            vals.append(v)
    except ValueError:
        return "packed(not varints)"
    vals[rng.randrange(len(vals))] = rng.choice(HUGE + [rng.getrandbits(64)])
    lst[k][2] = b"".join(_encode_varint(v) for v in vals)
    return "packed"


@_structured
def _duplicate(rng, tree, _others):
    lst, k = _pick(rng, tree)
    for _ in range(rng.randint(1, 3)):
        lst.insert(k, copy.deepcopy(lst[k]))
    return "duplicate"


@_structured
def _drop(rng, tree, _others):
    lst, k = _pick(rng, tree)
    del lst[k]
    return "drop"


@_structured
def _move(rng, tree, _others):
    lst, k = _pick(rng, tree)
    f = lst.pop(k)
    dest = rng.choice(_lists(tree))
    dest.insert(rng.randrange(len(dest) + 1), f)
    return "move"


@_structured
def _renumber(rng, tree, _others):
    lst, k = _pick(rng, tree)
    lst[k][0] = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 14, 20, 21, rng.randint(1, 1000)])
    return "renumber"


@_structured
def _graft(rng, tree, others):
    """A field of another seed (a node, an attribute, a tensor) inserted anywhere in this one."""
    other = parse_tree(rng.choice(others))
    if not other:
        return "graft(none)"
    src, k = _pick(rng, other)
    dest = rng.choice(_lists(tree))
    dest.insert(rng.randrange(len(dest) + 1), copy.deepcopy(src[k]))
    return "graft"


@_structured
def _bytes(rng, tree, _others):
    """A string or raw payload shortened, emptied, repeated or made invalid UTF-8 (lengths stay
    consistent)."""
    cands = [(lst, k) for lst, k in _nodes(tree) if lst[k][1] == 2 and isinstance(lst[k][2], bytes)]
    if not cands:
        return "bytes(none)"
    lst, k = rng.choice(cands)
    v = lst[k][2]
    lst[k][2] = rng.choice([b"", v[:rng.randint(0, max(len(v) - 1, 0))], v + b"\xff\xfe", b"\xc3(" + v,
                            v * rng.randint(2, 4)])
    return "bytes"


BYTE_LEVEL = [_flip, _overwrite, _insert, _delete, _truncate, _splice, _length]
STRUCTURED = [_huge_varint, _packed, _duplicate, _drop, _move, _renumber, _graft, _bytes]
MUTATIONS = BYTE_LEVEL + STRUCTURED * 2  # most mutants should get past the protobuf parser


def mutate(rng: random.Random, data: bytes, others: list) -> tuple:
    """One mutant: 1–3 mutations stacked. (bytes, names of the mutations)."""
    b = bytearray(data)
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if not b:
            break
        names.append(rng.choice(MUTATIONS)(rng, b, others))
    return bytes(b), names


# --------------------------------------------------------------------------- hostile names
#
# What a name in a model can hold to attack a terminal or a CI log (shapelint/escape.py is the
# policy): workflow commands after a newline, ESC/OSC/DCS sequences, carriage returns, C1
# controls, line/paragraph separators, bidi controls, invisible characters, bytes that are not
# UTF-8, backslash spellings of all of these, and the empty name.

HOSTILE = [
    b"\n::error file=pwned.py,line=1::owned", b"\n::add-mask::secret", b"\n::warning title=t::w",
    b"\n::notice::n", b"\n::stop-commands::token", b"\n::set-output name=a::b", b"::error::at the start",
    b"\r::notice::carriage", b"\r\n::group::g", b"\n\n::endgroup::",
    b"\x1b[2J\x1b[H\x1b[31mred", b"\x1b]0;title\x07", b"\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    b"\x1bP+q\x1b\\", b"\x1b[6n", b"\x1bc",
    "\u0085next".encode(), "\u009b31m".encode(), "\u009d0;t\u009c".encode(), "\u0080\u009f".encode(),
    "line\u2028sep".encode(), "para\u2029sep".encode(), "\u202egnp.exe".encode(), "\u2066iso\u2069".encode(),
    "\u2067\u2068x\u2069".encode(), "\u200e\u200f\u061c".encode(), "\u202a\u202b\u202c\u202d".encode(),
    "zero\u200bwidth\ufeff".encode(), "soft\u00adhyphen".encode(), "\U000e0041tag\U000e007f".encode(),
    "\u2060\u2061\u206f".encode(), "\ufff9ann\ufffb".encode(), "\u180emongolian".encode(),
    b"nul\x00byte", b"del\x7f", b"bell\x07", b"back\x08space", b"\x0b\x0cvt", b"tab\there", b"\x1f\x01",
    b"back\\slash", b"\\n", b"\\x1b", b"\\u2028", b"%0A::error::pct", b"%25%0D",
    b"\xff", b"\x80lone", b"\xc3(", b"\xed\xa0\x80surrogate", b"\xed\xb3\xbflow", b"\xc0\x80overlong",
    b"\xf4\x90\x80\x80", b"\xfe\xfe\xff\xff",
    "\ufffe\uffff".encode(), "\ud7ff\ue000".encode(), "\u00a0\u3000".encode(),
    b" ", b"\n", b"::", b":", b"'", b'"', b"{}", b"%s%n", b"$(touch /tmp/x)",
]
# names that differ only by an escape: two tensors that must stay two
TWINS = [(b"t\n", b"t\\n"), (b"t\x1b", b"t\\x1b"), (b"t\\", b"t\\\\"), ("t\u2028".encode(), b"t\\u2028"),
         (b"t\xff", b"t\\xff"), (b"t\xff", b"t\xfe"), (b"t\r", b"t\\r"), (b"t\t", b"t\\t"),
         ("t\u202e".encode(), b"t\\u202e"), (b"\x00", b"\\x00"), (b"t\x00", b"t")]
LONG = 1 << 20  # a 1 MB name

# what may never reach the terminal or the log: tests/test_escaped_names.py's RAW (a test checks
# that this one covers it), \n ends lines and \t is harmless
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")
_OUR_COMMAND = re.compile(r"::(error|warning|notice) [^\n]*::")


def unsafe_output(text: str, github: bool = False):
    """Why ``text`` (a command's stdout or stderr) is unsafe to print, or None: a raw control,
    bidi or separator character, or a line that begins with ``::`` other than the workflow
    commands ``--format github`` writes on purpose."""
    m = RAW.search(text)
    if m:
        return f"raw {m.group()!r} in output: {text[max(0, m.start() - 60):m.start() + 20]!r}"
    for ln in text.split("\n"):
        if ln.lstrip().startswith("::") and not (github and _OUR_COMMAND.match(ln)):
            return f"a line begins with '::': {ln[:120]!r}"
    return None


def hostile(rng, old: bytes, tag: int, long: bool = False) -> bytes:
    """A hostile spelling of the name ``old``: a hostile part before, inside, after or instead of
    it, and ``~tag`` at the end so that the names of one renaming stay distinct."""
    h = rng.choice(HOSTILE)
    if long:
        h = (h or b"A") * (LONG // max(len(h), 1) + 1)
        h = h[:LONG]
    form = rng.randrange(4)
    t = b"~%d" % tag
    if form == 0:
        return old + h + t
    if form == 1:
        return h + old + t
    if form == 2:
        return old[:len(old) // 2] + h + old[len(old) // 2:] + t
    return h + t


def _pick_size(rng, cheap, heavy):
    """A count: one of ``cheap``, or with HEAVY on, sometimes one of ``heavy`` (a run near or over
    a limit of shapelint.limits, each costing seconds)."""
    if HEAVY and heavy and rng.random() < HEAVY_SHARE:
        return rng.choice(heavy)
    return rng.choice(cheap)


HEAVY = True  # run() sets it: the CI sample keeps to the cheap sizes
HEAVY_SHARE = 0.015  # of the count and nesting mutations: ~0.5% of a run's mutants, seconds to a minute each


# --------------------------------------------------------------------------- ONNX, by field number
#
# The tree of parse_tree, walked with onnx.proto's field numbers. parse_tree takes any
# length-delimited field that parses as a message for one; a string field that did is turned back
# into bytes (_b), a message field left as bytes is parsed (_sub).

M_GRAPH = 7
G_NODE, G_NAME, G_INIT, G_INPUT, G_OUTPUT, G_VALUE_INFO = 1, 2, 5, 11, 12, 13
N_INPUT, N_OUTPUT, N_NAME, N_OP, N_ATTR, N_DOMAIN = 1, 2, 3, 4, 5, 7
A_NAME, A_I, A_S, A_G, A_INTS, A_GRAPHS, A_TYPE = 1, 3, 4, 6, 8, 11, 20
T_DIMS, T_NAME = 1, 8
INTS = 7  # AttributeProto.AttributeType.INTS
INT = 2
VARIADIC = (b"Concat", b"Sum", b"Max", b"Min", b"Mean", b"Add")
SPATIAL = (b"strides", b"pads", b"kernel_shape", b"dilations", b"output_padding", b"output_shape")


def _b(v) -> bytes:
    return serialize(v) if isinstance(v, list) else v


def _sub(f):
    """Field ``f``'s payload as a list of fields (parsed and stored in place), or None."""
    if isinstance(f[2], list):
        return f[2]
    if f[1] != 2:
        return None
    t = parse_tree(f[2]) if f[2] else []
    if t is None:
        return None
    f[2] = t
    return t


def _ld(num: int, payload: bytes) -> bytes:
    return _encode_varint(num << 3 | 2) + _encode_varint(len(payload)) + payload


def _vf(num: int, v: int) -> bytes:
    return _encode_varint(num << 3) + _encode_varint(v)


def _graphs(tree, depth=0):
    """Every graph in a model tree, subgraphs (If/Loop bodies) included."""
    for f in tree:
        if f[0] == M_GRAPH and f[1] == 2:
            g = _sub(f)
            if g is not None:
                yield g
                yield from _subgraphs(g, depth)


def _subgraphs(g, depth):
    if depth > 8:
        return
    for f in g:
        if f[0] != G_NODE or f[1] != 2:
            continue
        for af in _sub(f) or ():
            if af[0] != N_ATTR or af[1] != 2:
                continue
            for gf in _sub(af) or ():
                if gf[0] in (A_G, A_GRAPHS) and gf[1] == 2:
                    sub = _sub(gf)
                    if sub is not None:
                        yield sub
                        yield from _subgraphs(sub, depth + 1)


def _main_graph(tree):
    return next((g for g in _graphs(tree)), None)


def _nodes_of(g) -> list:
    return [f for f in g if f[0] == G_NODE and f[1] == 2 and _sub(f) is not None]


def _get(msg, num):
    return [f for f in msg if f[0] == num]


def _onnx_slots(tree) -> list:
    """Every name in an ONNX model: (kind, field); kinds tensor (node inputs/outputs,
    initializers, graph inputs/outputs/value_info), node, dim (dim_param), graph, op, domain,
    attr (an attribute's name), string (a STRING attribute)."""
    slots = []
    for g in _graphs(tree):
        for f in g:
            if f[1] != 2:
                continue
            if f[0] == G_NAME:
                slots.append(("graph", f))
            elif f[0] == G_NODE:
                for nf in _sub(f) or ():
                    if nf[1] != 2:
                        continue
                    kind = {N_INPUT: "tensor", N_OUTPUT: "tensor", N_NAME: "node", N_OP: "op",
                            N_DOMAIN: "domain"}.get(nf[0])
                    if kind:
                        slots.append((kind, nf))
                    elif nf[0] == N_ATTR:
                        for af in _sub(nf) or ():
                            if af[0] == A_NAME and af[1] == 2:
                                slots.append(("attr", af))
                            elif af[0] == A_S and af[1] == 2:
                                slots.append(("string", af))
            elif f[0] == G_INIT:
                slots += [("tensor", tf) for tf in _sub(f) or () if tf[0] == T_NAME and tf[1] == 2]
            elif f[0] in (G_INPUT, G_OUTPUT, G_VALUE_INFO):
                for vf in _sub(f) or ():
                    if vf[0] == 1 and vf[1] == 2:
                        slots.append(("tensor", vf))
                    elif vf[0] == 2 and vf[1] == 2:
                        slots += [("dim", d) for d in _dims(vf) if d[0] == 2]
    return slots


def _shape_of_type(type_field):
    """The TensorShapeProto field list of a TypeProto field (tensor_type.shape), or None."""
    for tt in _sub(type_field) or ():
        if tt[0] == 1 and tt[1] == 2:
            for sh in _sub(tt) or ():
                if sh[0] == 2 and sh[1] == 2:
                    return _sub(sh)
    return None


def _dims(type_field) -> list:
    """The value fields (dim_value, dim_param) of every dim of a TypeProto field."""
    out = []
    for d in _shape_of_type(type_field) or ():
        if d[0] == 1 and d[1] == 2:
            out += [x for x in _sub(d) or () if x[0] in (1, 2)]
    return out


def _rename(rng, slots, kind: str, k: int, long: bool = False) -> bool:
    """Rename ``k`` names of ``kind`` everywhere they occur, each to a hostile spelling. Whether
    the renaming is injective (the graph is unchanged but for its names)."""
    taken = {_b(f[2]) for _, f in slots}
    names = sorted({_b(f[2]) for kd, f in slots if kd == kind and _b(f[2])})
    if not names:
        return False
    chosen = names if k <= 0 else rng.sample(names, min(k, len(names)))
    mapping = {old: hostile(rng, old, t, long and t == 0) for t, old in enumerate(chosen)}
    for kd, f in slots:
        if kd == kind and _b(f[2]) in mapping:
            f[2] = mapping[_b(f[2])]
    new = list(mapping.values())
    return len(set(new)) == len(new) and not set(new) & taken


NAME_KINDS = ["tensor"] * 4 + ["node"] * 2 + ["dim"] * 2 + ["graph", "op", "domain", "attr", "string"]


def _onnx_names(rng, tree, _others) -> tuple:
    """A name mutation of an ONNX model: (its name, whether the graph is unchanged but for names)."""
    slots = _onnx_slots(tree)
    if not slots:
        return "names(none)", False
    how = rng.choice(["rename", "rename", "rename-all", "rename-all", "one", "collide", "twins", "empty", "long"])
    if how in ("rename", "rename-all", "long"):
        kind = rng.choice(["tensor", "node", "dim"] if how != "rename" else NAME_KINDS)
        # renaming an op, a domain or an attribute changes what the node is: not an invariant
        same = _rename(rng, slots, kind, 0 if how == "rename-all" else rng.randint(1, 3), long=how == "long")
        return f"names:{how}:{kind}", same and kind in ("tensor", "node", "dim", "graph")
    if how == "one":  # one occurrence only: an edge broken, a dim untied
        kind, f = rng.choice(slots)
        f[2] = hostile(rng, _b(f[2]), 0, long=rng.random() < 0.1)
        return f"names:one:{kind}", False
    if how == "collide":  # a name set to another name of the model
        kind, f = rng.choice(slots)
        f[2] = _b(rng.choice(slots)[1][2])
        return f"names:collide:{kind}", False
    if how == "twins":  # two tensors (or dims, or nodes) named alike but for an escape
        kind = rng.choice(["tensor", "tensor", "dim", "node"])
        names = sorted({_b(f[2]) for kd, f in slots if kd == kind and _b(f[2])})
        taken = {_b(f[2]) for _, f in slots}
        a, b = rng.choice(TWINS)
        if len(names) < 2 or a in taken or b in taken:
            return f"names:twins(none):{kind}", False
        x, y = rng.sample(names, 2)
        for kd, f in slots:
            if kd == kind and _b(f[2]) in (x, y):
                f[2] = a if _b(f[2]) == x else b
        return f"names:twins:{kind}", a != b
    # empty: some names, or every name of a kind, emptied
    kind = rng.choice(NAME_KINDS)
    fs = [f for kd, f in slots if kd == kind]
    for f in (fs if rng.random() < 0.3 else rng.sample(fs, min(len(fs), rng.randint(1, 3)))):
        f[2] = b""
    return f"names:empty:{kind}", False


# ----- ONNX counts


def _node_named(rng, g, ops=None):
    nodes = _nodes_of(g)
    if ops:
        pref = [f for f in nodes if any(_b(x[2]) in ops for x in f[2] if x[0] == N_OP)]
        nodes = pref or nodes
    return rng.choice(nodes) if nodes else None


def _tensor_names(g) -> list:
    out = []
    for f in _nodes_of(g):
        out += [_b(x[2]) for x in f[2] if x[0] in (N_INPUT, N_OUTPUT) and x[1] == 2]
    for f in g:
        if f[0] in (G_INPUT, G_INIT) and f[1] == 2:
            out += [_b(x[2]) for x in _sub(f) or () if x[0] == (1 if f[0] == G_INPUT else T_NAME) and x[1] == 2]
    return [n for n in dict.fromkeys(out) if n]


def _sint(v: int) -> int:
    """An int64 as protobuf encodes it (two's complement, 64 bits)."""
    return v % (1 << 64)


VALUES = [0, -1, -2, 1, 2, 3, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, -(2**63), 10**9, -(10**9)]


def _onnx_counts(rng, tree, _others) -> tuple:
    """A count mutation of an ONNX model: many inputs, outputs, nodes (up to and over
    limits.MAX_NODES), dims (over limits.MAX_RANK), attribute values, graph inputs, initializers;
    strides, kernels, dilations, pads, groups and axes of 0, -1, 2^31, 2^62…"""
    g = _main_graph(tree)
    if g is None or not _nodes_of(g):
        return "counts(none)", False
    how = rng.choice(["inputs", "outputs", "nodes", "nodes", "rank", "const-rank", "attr-list", "attr-value",
                      "attr-value", "graph-io", "initializers"])
    if how == "inputs":  # a Concat (or any variadic node) with many inputs
        node = _node_named(rng, g, VARIADIC)
        n = _pick_size(rng, [2, 10, 100, 1000, 10**4], [10**5, 10**6])
        names = _tensor_names(g)
        ins = [x for x in node[2] if x[0] == N_INPUT]
        mode = rng.choice(["same", "cycle", "fresh"])
        if mode == "same" and ins:
            extra = _ld(N_INPUT, _b(rng.choice(ins)[2])) * n
        elif mode == "cycle" and names:
            extra = b"".join(_ld(N_INPUT, x) for x in names) * (n // len(names) + 1)
        else:
            mode = "fresh"
            extra = b"".join(_ld(N_INPUT, b"in%d" % k) for k in range(min(n, 10**5)))
        node[2].append(_raw(extra))
        return f"counts:inputs:{mode}:{n}", False
    if how == "outputs":
        node = _node_named(rng, g)
        n = _pick_size(rng, [2, 10, 1000, 10**4], [10**5, 10**6, 3 * 10**6])
        fresh = rng.random() < 0.5 and n <= 10**6
        extra = (b"".join(_ld(N_OUTPUT, b"out%d" % k) for k in range(n)) if fresh
                 else _ld(N_OUTPUT, b"dup_out") * n)
        node[2].append(_raw(extra))
        return f"counts:outputs:{'fresh' if fresh else 'same'}:{n}", False
    if how == "nodes":
        have = len(_nodes_of(g))
        n = _pick_size(rng, [1, 10, 100, 1000, 10**4],
                       [10**5, limits.MAX_NODES - have, limits.MAX_NODES + 1 - have, 2 * limits.MAX_NODES, 10**7])
        mode = rng.choice(["copies", "chain", "empty"]) if n < 10**7 else "empty"
        if mode == "copies":  # one node again and again: many producers of one tensor
            extra = _ld(G_NODE, serialize(_node_named(rng, g)[2])) * n
        elif mode == "chain":  # a chain of n Relus from a tensor of the graph, to a new graph output
            prev = rng.choice(_tensor_names(g) or [b"x"])
            parts = []
            for k in range(n):
                out = b"c%d" % k
                parts.append(_ld(G_NODE, _ld(N_INPUT, prev) + _ld(N_OUTPUT, out) + _ld(N_OP, b"Relu")))
                prev = out
            extra = b"".join(parts) + _ld(G_OUTPUT, _ld(1, prev))
        else:  # empty nodes: 2 bytes each
            extra = _ld(G_NODE, b"") * n
        g.append(_raw(extra))
        return f"counts:nodes:{mode}:{n}", False
    if how == "rank":  # a graph input (or output) of huge rank
        types = [vf for f in g if f[0] in (G_INPUT, G_OUTPUT) and f[1] == 2 for vf in _sub(f) or ()
                 if vf[0] == 2 and vf[1] == 2]
        shapes = [s for s in (_shape_of_type(t) for t in types) if s]
        if not shapes:
            return "counts:rank(none)", False
        shape = rng.choice(shapes)
        dims = [d for d in shape if d[0] == 1]
        n = _pick_size(rng, [limits.MAX_RANK - len(dims), limits.MAX_RANK + 1 - len(dims), 100, 1000, 10**4],
                       [10**5, 10**6, 5 * 10**6])
        kind = rng.choice(["copy", "params", "values"])
        if kind == "copy" and dims:
            extra = _ld(1, _b(rng.choice(dims)[2])) * n
        elif kind == "params":
            extra = b"".join(_ld(1, _ld(2, b"d%d" % k)) for k in range(min(n, 10**6)))
        else:
            extra = _ld(1, _vf(1, rng.choice([1, 2, 0]))) * n
        shape.append(_raw(extra))
        return f"counts:rank:{kind}:{n}", False
    if how == "const-rank":  # an initializer (a constant) of huge rank
        inits = [f for f in g if f[0] == G_INIT and f[1] == 2 and _sub(f) is not None]
        if not inits:
            return "counts:const-rank(none)", False
        t = rng.choice(inits)
        n = _pick_size(rng, [limits.MAX_RANK + 1, 100, 10**4], [10**5, 10**6])
        v = rng.choice([1, 0, 2, _sint(-1), 2**62])
        t[2] = [x for x in t[2] if x[0] != T_DIMS] + [[T_DIMS, 2, _encode_varint(v) * n]]
        return f"counts:const-rank:{n}", False
    if how == "attr-list":  # strides/pads/... of n values
        node = _node_named(rng, g, (b"Conv", b"ConvTranspose", b"MaxPool", b"AveragePool", b"Resize", b"Pad",
                                    b"Slice", b"Reshape", b"Transpose"))
        n = _pick_size(rng, [0, 1, 2, 3, 4, 5, 8, 100, 10**4], [10**5, 10**6, 10**7])
        name = rng.choice(SPATIAL + (b"axes", b"perm", b"sizes"))
        v = _encode_varint(_sint(rng.choice([1, 2, 0, -1, 3, 2**31, 2**62])))
        attr = _ld(A_NAME, name) + _vf(A_TYPE, INTS) + _ld(A_INTS, v * n)
        node[2] = [x for x in node[2] if not (x[0] == N_ATTR and _attr_name(x) == name)] + [[N_ATTR, 2, attr]]
        return f"counts:attr-list:{name.decode()}:{n}", False
    if how == "attr-value":  # a stride, kernel, dilation, pad, group or axis of 0, -1, 2^31, 2^62…
        node = _node_named(rng, g, (b"Conv", b"ConvTranspose", b"MaxPool", b"AveragePool", b"Concat", b"Resize"))
        attrs = [x for x in node[2] if x[0] == N_ATTR and _sub(x) is not None]
        v = rng.choice(VALUES)
        if attrs and rng.random() < 0.7:
            a = rng.choice(attrs)
            ints = [x for x in a[2] if x[0] == A_INTS]
            one = [x for x in a[2] if x[0] == A_I and x[1] == 0]
            if ints:  # every element, or one
                f = rng.choice(ints)
                vals = _unpack(_b(f[2])) if f[1] == 2 else [f[2]]
                if vals is None:
                    return "counts:attr-value(unpacked)", False
                if rng.random() < 0.5:
                    vals = [_sint(v)] * len(vals)
                elif vals:
                    vals[rng.randrange(len(vals))] = _sint(v)
                f[1], f[2] = 2, b"".join(_encode_varint(x) for x in vals)
            elif one:
                one[0][2] = _sint(v)
            return f"counts:attr-value:{_attr_name(a).decode('utf-8', 'replace')}={v}", False
        name = rng.choice(SPATIAL + (b"group", b"axis", b"ceil_mode"))
        if name in (b"group", b"axis", b"ceil_mode"):
            attr = _ld(A_NAME, name) + _vf(A_TYPE, INT) + _vf(A_I, _sint(v))
        else:
            attr = _ld(A_NAME, name) + _vf(A_TYPE, INTS) + _ld(A_INTS, _encode_varint(_sint(v)) * 2)
        node[2] = [x for x in node[2] if not (x[0] == N_ATTR and _attr_name(x) == name)] + [[N_ATTR, 2, attr]]
        return f"counts:attr-value:{name.decode()}={v}", False
    if how == "graph-io":  # one graph input or output listed n times
        ios = [f for f in g if f[0] in (G_INPUT, G_OUTPUT) and f[1] == 2]
        if not ios:
            return "counts:graph-io(none)", False
        f = rng.choice(ios)
        n = _pick_size(rng, [2, 100, 10**4], [10**5, 10**6])
        g.append(_raw(_ld(f[0], _b(f[2])) * n))
        return f"counts:graph-io:{n}", False
    n = _pick_size(rng, [10, 1000, 10**4], [10**5, 10**6])  # many initializers
    g.append(_raw(b"".join(_ld(G_INIT, _vf(T_DIMS, 1) + _vf(2, 7) + _ld(T_NAME, b"w%d" % k)) for k in range(n))))
    return f"counts:initializers:{n}", False


def _attr_name(f) -> bytes:
    for x in _sub(f) or ():
        if x[0] == A_NAME and x[1] == 2:
            return _b(x[2])
    return b""


def _unpack(body: bytes):
    vals, i = [], 0
    try:
        while i < len(body):
            v, i = _varint(body, i, len(body))
            vals.append(v)
    except ValueError:
        return None
    return vals


# ----- ONNX nesting


def nest(core: bytes, levels: int, wrappers) -> bytes:
    """``core`` wrapped ``levels`` times, built inside out in linear time (protobuf's own encoder
    refuses more than 100 levels). ``wrappers(k)``: one level, outermost first, as
    [(field number, bytes before the inner message, bytes after it)]."""
    heads, tails, length = [], [], len(core)
    for k in range(levels):
        for num, pre, post in reversed(wrappers(k)):
            lead = _encode_varint(num << 3 | 2) + _encode_varint(len(pre) + length + len(post)) + pre
            heads.append(lead)
            tails.append(post)
            length += len(lead) + len(post)
    return b"".join(reversed(heads)) + core + b"".join(tails)


_TYPE_LEVELS = {  # TypeProto: sequence_type {elem_type}, optional_type {elem_type}, map_type {key_type, value_type}
    "sequence": [(4, b"", b""), (1, b"", b"")],
    "optional": [(9, b"", b""), (1, b"", b"")],
    "map": [(5, _vf(1, 7), b""), (2, b"", b"")],
}


def _onnx_nesting(rng, tree, _others) -> tuple:
    """If/Loop bodies nested deep (a new node, or an attribute of a node the analysis reads), a
    graph input's type nested deep, an unknown field nested deep."""
    g = _main_graph(tree)
    if g is None or not _nodes_of(g):
        return "nesting(none)", False
    how = rng.choice(["subgraph", "subgraph", "subgraph-attr", "type", "unknown"])
    d = _pick_size(rng, [1, 2, 10, 50, 99, 100, 101, 200, 500], [1000, 5000, 20000])
    if how.startswith("subgraph"):
        op = rng.choice([b"If", b"Loop"])
        attr = b"then_branch" if op == b"If" else b"body"
        leaf = _ld(G_NODE, _ld(N_INPUT, b"x") + _ld(N_OUTPUT, b"o") + _ld(N_OP, b"Identity")) + _ld(G_OUTPUT, _ld(1, b"o"))
        cond = rng.choice(_tensor_names(g) or [b"c"])

        def level(k):  # a node in a graph: the node, its attribute, the attribute's graph (with an output)
            return [(G_NODE, _ld(N_INPUT, cond) + _ld(N_OUTPUT, b"o") + _ld(N_NAME, b"nest%d" % k) + _ld(N_OP, op), b""),
                    (N_ATTR, _ld(A_NAME, attr) + _vf(A_TYPE, 5), b""), (A_G, b"", _ld(G_OUTPUT, _ld(1, b"o")))]

        body = nest(leaf, d, level)  # graph content whose first field is the outermost node
        if how == "subgraph":
            g.append(_raw(body))
        else:
            target = _node_named(rng, g)
            target[2].append(_raw(_ld(N_ATTR, _ld(A_NAME, b"extra") + _vf(A_TYPE, 5) + _ld(A_G, body))))
        return f"nesting:{how}:{op.decode()}:{d}", False
    if how == "type":  # a graph input typed sequence(optional(map(…(tensor))))
        ins = [f for f in g if f[0] == G_INPUT and f[1] == 2 and _sub(f) is not None]
        if not ins:
            return "nesting:type(none)", False
        vi = rng.choice(ins)
        old = [x for x in vi[2] if x[0] == 2]
        core = _b(old[0][2]) if old else _ld(1, _vf(1, 1))
        kinds = [rng.choice(sorted(_TYPE_LEVELS)) for _ in range(8)]
        vi[2] = [x for x in vi[2] if x[0] != 2] + [[2, 2, nest(core, d, lambda k: _TYPE_LEVELS[kinds[k % 8]])]]
        return f"nesting:type:{d}", False
    blob = nest(b"", d, lambda k: [(99, b"", b"")])  # an unknown field 99 holding itself, d deep
    where = rng.choice(["node", "input", "model"])
    if where == "node":
        _node_named(rng, g)[2].append(_raw(blob))
    elif where == "input":
        ins = [f for f in g if f[0] == G_INPUT and f[1] == 2 and _sub(f) is not None]
        if not ins:
            return "nesting:unknown(none)", False
        rng.choice(ins)[2].append(_raw(blob))
    else:
        tree.append(_raw(blob))
    return f"nesting:unknown:{where}:{d}", False


# --------------------------------------------------------------------------- Keras (.keras: config.json)
#
# Seeds: config.json of models Keras itself saved (tests/data/fuzz_keras/, written by
# tests/keras_models.py: U-Nets, a nested model, a Sequential, the 2-D layer zoo). A mutant is
# the config, changed as a dict (or as text, for nesting deeper than json.dumps can write), in a
# fresh zip archive.

KERAS_SEEDS = os.path.join(ROOT, "tests", "data", "fuzz_keras")


def keras_seeds() -> list:
    """(name, config.json text) of every Keras seed."""
    out = []
    for p in sorted(glob.glob(os.path.join(KERAS_SEEDS, "*.json"))):
        with open(p, encoding="utf-8") as f:
            out.append((os.path.basename(p)[:-5] + ".keras", f.read()))
    return out


def keras_archive(config_text: str) -> bytes:
    """A .keras zip archive holding ``config_text`` as config.json (and no weights)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("config.json", config_text.encode("utf-8", "surrogatepass"))
        z.writestr("metadata.json", '{"keras_version": "3.15.1"}')
    return buf.getvalue()


def _k_models(cfg, depth=0):
    """Every model (a dict whose config holds layers) in a Keras config, nested ones too."""
    c = cfg.get("config") if isinstance(cfg, dict) else None
    if depth > 80 or not isinstance(c, dict) or not isinstance(c.get("layers"), list):
        return
    yield cfg
    for layer in c["layers"]:
        yield from _k_models(layer, depth + 1)


def _k_layers(model) -> list:
    return [x for x in model["config"]["layers"] if isinstance(x, dict)]


def _k_name(layer):
    c = layer.get("config")
    return layer.get("name") if "name" in layer else (c.get("name") if isinstance(c, dict) else None)


def _k_set_name(layer, new):
    if "name" in layer:
        layer["name"] = new
    if isinstance(layer.get("config"), dict):
        layer["config"]["name"] = new


def _k_refs(model) -> list:
    """Every [layer, call, tensor] reference of a model (keras_history in its layers' calls,
    input_layers, output_layers): the lists themselves, to change in place."""
    refs = []

    def walk(v, d=0):
        if d > 100:
            return
        if isinstance(v, dict):
            h = (v.get("config") or {}).get("keras_history") if v.get("class_name") == "__keras_tensor__" else None
            if isinstance(h, list) and len(h) == 3:
                refs.append(h)
                return
            for x in v.values():
                walk(x, d + 1)
        elif isinstance(v, list):
            if len(v) in (3, 4) and isinstance(v[0], str) and not isinstance(v[1], (list, dict)):
                refs.append(v)
                return
            for x in v:
                walk(x, d + 1)

    for layer in _k_layers(model):
        walk(layer.get("inbound_nodes"))
    walk(model["config"].get("input_layers"))
    walk(model["config"].get("output_layers"))
    return refs


def _k_hostile(rng, old: str, tag: int, long=False) -> str:
    return hostile(rng, old.encode("utf-8", "surrogateescape"), tag, long).decode("utf-8", "surrogateescape")


def _k_rename(rng, model, k: int, long=False) -> bool:
    """Rename ``k`` layers of one model (all: k = 0) and every reference to them; whether the
    renaming is injective."""
    layers = [x for x in _k_layers(model) if isinstance(_k_name(x), str) and _k_name(x)]
    names = sorted({_k_name(x) for x in layers})
    if not names:
        return False
    chosen = names if k <= 0 else rng.sample(names, min(k, len(names)))
    mapping = {old: _k_hostile(rng, old, t, long and t == 0) for t, old in enumerate(chosen)}
    for x in layers:
        if _k_name(x) in mapping:
            _k_set_name(x, mapping[_k_name(x)])
    for r in _k_refs(model):
        if r[0] in mapping:
            r[0] = mapping[r[0]]
    new = set(mapping.values())
    return len(new) == len(mapping) and not new & set(names)


_K_STRINGS = ("class_name", "module", "registered_name", "dtype", "padding", "data_format", "interpolation",
              "activation", "name")


def _keras_names(rng, cfg) -> tuple:
    models = list(_k_models(cfg))
    if not models:
        return "keras-names(none)", False, cfg
    how = rng.choice(["rename", "rename", "rename-all", "rename-all", "one", "collide", "twins", "empty", "long",
                      "strings"])
    if how in ("rename", "rename-all", "long"):
        same = True
        for m in (models if how == "rename-all" else [rng.choice(models)]):
            same = _k_rename(rng, m, 0 if how == "rename-all" else rng.randint(1, 3), long=how == "long") and same
        if rng.random() < 0.3 and isinstance(cfg.get("config"), dict):  # the model's own name
            cfg["config"]["name"] = _k_hostile(rng, str(cfg["config"].get("name")), 99)
        return f"keras-names:{how}", same, cfg
    m = rng.choice(models)
    layers = [x for x in _k_layers(m) if isinstance(_k_name(x), str)]
    refs = _k_refs(m)
    if not layers:
        return f"keras-names:{how}(none)", False, cfg
    if how == "one":  # a layer renamed, its references not (or one reference, not the layer)
        if refs and rng.random() < 0.5:
            r = rng.choice(refs)
            r[0] = _k_hostile(rng, str(r[0]), 0)
        else:
            x = rng.choice(layers)
            _k_set_name(x, _k_hostile(rng, _k_name(x), 0))
        return "keras-names:one", False, cfg
    if how == "collide":
        x, y = rng.choice(layers), rng.choice(layers)
        _k_set_name(x, _k_name(y))
        return "keras-names:collide", False, cfg
    if how == "twins":
        if len(layers) < 2:
            return "keras-names:twins(none)", False, cfg
        a, b = (s.decode("utf-8", "surrogateescape") for s in rng.choice(TWINS))
        taken = {_k_name(x) for x in layers}
        if a in taken or b in taken or a == b or not a or not b:
            return "keras-names:twins(none)", False, cfg
        x, y = rng.sample(sorted(taken), 2)
        mapping = {x: a, y: b}
        for layer in layers:
            if _k_name(layer) in mapping:
                _k_set_name(layer, mapping[_k_name(layer)])
        for r in refs:
            if r[0] in mapping:
                r[0] = mapping[r[0]]
        return "keras-names:twins", True, cfg
    if how == "empty":
        for x in rng.sample(layers, min(len(layers), rng.randint(1, 3))):
            _k_set_name(x, "")
        return "keras-names:empty", False, cfg
    # other strings the output shows: class names (op names), modules, dtypes, paddings…
    x = rng.choice(layers)
    key = rng.choice(_K_STRINGS)
    where = x if key in ("class_name", "module", "registered_name") else x.get("config")
    if isinstance(where, dict):
        where[key] = _k_hostile(rng, str(where.get(key)), 0)
    return f"keras-names:strings:{key}", False, cfg


_K_INDEX = [10**9, -1, limits.MAX_OUTPUTS_PER_LAYER, limits.MAX_OUTPUTS_PER_LAYER - 1, limits.MAX_NODES + 1,
            2**63, 10**30, 1.5, "0", None, True, [], 1, 2]
_K_ATTRS = ("strides", "kernel_size", "pool_size", "dilation_rate", "size", "padding", "cropping", "output_padding",
            "filters", "axis", "target_shape", "depth_multiplier", "groups", "units", "height", "width", "dims")
_K_VALUES = [0, -1, 2**31, 2**62, 10**30, -(2**63), 1.5, "3", None, [], True, {"a": 1}, [[1, 2], [3, 4]],
             [0, 0], [-1, -1], [2**31, 2**31], [2**62, 1], [1, 2, 3], [1.5, 2], ["2", "2"], float("nan")]


def _keras_counts(rng, cfg) -> tuple:
    how = rng.choice(["index", "index", "sequential", "inputs", "calls", "attr", "attr", "attr", "rank"])
    models = list(_k_models(cfg))
    if how == "sequential":  # n layers of one name (the de-duplication), up to and over MAX_NODES
        n = _pick_size(rng, [10, 100, 1000, 5000], [50_000, 200_000, limits.MAX_NODES + 1])
        cls = rng.choice(["ReLU", "Activation", "Conv2D", "MaxPooling2D", "Dropout"] if n <= 5000 else
                         ["ReLU", "Dropout"])
        layer = {"class_name": cls, "config": {"name": rng.choice(["r", "", "r#2"]), "activation": "relu",
                                               "filters": 1, "kernel_size": [3, 3], "padding": "same",
                                               "pool_size": [2, 2], "strides": [1, 1], "rate": 0.5}}
        layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, None, None, 1]}}]
        return f"keras-counts:sequential:{cls}:{n}", False, {
            "class_name": "Sequential", "config": {"name": "s", "layers": layers + [layer] * n}}
    functional = [m for m in models if "output_layers" in m["config"]]
    if how == "index":
        refs = [r for m in models for r in _k_refs(m)]
        if not refs:
            return "keras-counts:index(none)", False, cfg
        r = rng.choice(refs)
        k = rng.choice([1, 2])
        if k < len(r):
            r[k] = rng.choice(_K_INDEX)
        return f"keras-counts:index:{k}={r[k] if k < len(r) else None!r}", False, cfg
    if how in ("inputs", "calls"):
        cands = [x for m in functional for x in _k_layers(m) if x.get("inbound_nodes")]
        if how == "inputs":
            cands = [x for x in cands if x.get("class_name") in ("Concatenate", "Add", "Multiply", "Average",
                                                                   "Maximum", "Minimum")] or cands
        if not cands:
            return f"keras-counts:{how}(none)", False, cfg
        x = rng.choice(cands)
        if how == "inputs":  # a merge called on n tensors
            n = _pick_size(rng, [3, 10, 100, 10**4], [10**5, 3 * 10**5])
            call = x["inbound_nodes"][0]
            args = call.get("args") if isinstance(call, dict) else None
            if not (isinstance(args, list) and args):
                return "keras-counts:inputs(none)", False, cfg
            tensors = args[0] if isinstance(args[0], list) else args
            if not tensors:
                return "keras-counts:inputs(none)", False, cfg
            tensors.extend([rng.choice(tensors)] * n)
            return f"keras-counts:inputs:{n}", False, cfg
        n = _pick_size(rng, [2, 10, 100, 1000], [10**4, 10**5])  # a layer called n times (shared)
        x["inbound_nodes"] = x["inbound_nodes"] * n
        return f"keras-counts:calls:{n}", False, cfg
    if how == "attr":
        layers = [x for m in models for x in _k_layers(m) if isinstance(x.get("config"), dict)]
        spatial = [x for x in layers if any(k in x["config"] for k in _K_ATTRS)] or layers
        if not spatial:
            return "keras-counts:attr(none)", False, cfg
        x = rng.choice(spatial)
        keys = [k for k in _K_ATTRS if k in x["config"]] or list(_K_ATTRS)
        key = rng.choice(keys)
        if rng.random() < 0.2:  # a list of n values
            n = _pick_size(rng, [3, 100, 10**4], [10**5, 10**6])
            x["config"][key] = [rng.choice([1, 2, 0, -1, 2**31])] * n
            return f"keras-counts:attr:{x.get('class_name')}:{key}:{n}", False, cfg
        v = x["config"][key] = rng.choice(_K_VALUES)
        return f"keras-counts:attr:{x.get('class_name')}:{key}={_short_repr(v)}", False, cfg
    # an input of huge rank, or huge dims
    inputs = [x for m in models for x in _k_layers(m) if x.get("class_name") == "InputLayer"
              and isinstance(x.get("config"), dict)]
    if not inputs:
        return "keras-counts:rank(none)", False, cfg
    x = rng.choice(inputs)
    if rng.random() < 0.5:
        n = _pick_size(rng, [limits.MAX_RANK, limits.MAX_RANK + 1, 1000, 10**4], [10**5, 10**6])
        x["config"]["batch_shape"] = [None] * n if rng.random() < 0.5 else [None] + [2] * (n - 1)
        return f"keras-counts:rank:{n}", False, cfg
    shape = x["config"].get("batch_shape") or [None, None, None, 1]
    if isinstance(shape, list) and shape:
        shape[rng.randrange(len(shape))] = rng.choice([0, -1, 2**31, 2**62, 10**30, 1.5, "H", True])
    x["config"]["batch_shape"] = shape
    return "keras-counts:dims", False, cfg


def _short_repr(v) -> str:
    s = repr(v)
    return s if len(s) <= 24 else f"list of {len(v)}" if isinstance(v, list) else s[:24]


def _keras_nesting(rng, cfg, text: str) -> tuple:
    """The seed model inside d models (Functional or Sequential, each calling the next), written as
    text in linear time: d is not bounded by json.dumps's recursion."""
    d = _pick_size(rng, [1, 2, 10, 30, limits.MAX_NESTING - 1, limits.MAX_NESTING, limits.MAX_NESTING + 1, 100],
                   [200, 1000, 5000])
    models = list(_k_models(cfg))
    inputs = [x for x in _k_layers(models[0]) if x.get("class_name") == "InputLayer"] if models else []
    shape = json.dumps((inputs[0].get("config") or {}).get("batch_shape") if inputs else [None, None, None, 1])
    inner_functional = cfg.get("class_name") != "Sequential"
    body = text.strip()[1:-1]  # the seed object's members
    heads, tails = [], []
    kinds = []
    for k in range(d):
        functional = rng.random() < 0.5
        kinds.append("F" if functional else "S")
        if functional:
            heads.append(f'"class_name": "Functional", "config": {{"name": "f{k}", "input_layers": [["in{k}", 0, 0]], '
                         f'"output_layers": [["m{k}", {1 if inner_functional else 0}, 0]], "layers": [{{"class_name": '
                         f'"InputLayer", "name": "in{k}", "config": {{"batch_shape": {shape}, "name": "in{k}"}}, '
                         f'"inbound_nodes": []}}, {{')
            tails.append(f', "name": "m{k}", "inbound_nodes": [{{"args": [{{"class_name": "__keras_tensor__", '
                         f'"config": {{"keras_history": ["in{k}", 0, 0]}}}}], "kwargs": {{}}}}]}}]}}')
        else:
            heads.append(f'"class_name": "Sequential", "config": {{"name": "s{k}", "layers": [{{"class_name": '
                         f'"InputLayer", "config": {{"batch_shape": {shape}, "name": "in{k}"}}}}, {{')
            tails.append(f', "name": "m{k}"}}]}}')
        inner_functional = functional
    return f"keras-nesting:{d}", False, "{" + "".join(reversed(heads)) + body + "".join(tails) + "}"


# --------------------------------------------------------------------------- TFLite (written with the schema)
#
# A small fixed-size U-Net level written with TFLite's flatbuffer schema (tests/tflite_models.py:
# no converter, no TensorFlow runtime): x → MAX_POOL_2D → TRANSPOSE_CONV → CONCATENATION with x,
# whose tensors get hostile names, or huge counts.

_TM = None


def _tflite_module():
    global _TM
    if _TM is None:
        from tests import tflite_models

        _TM = tflite_models
    return _TM


def tflite_unet(names=(b"x", b"pooled", b"up_shape", b"up_w", b"up", b"cat"), size=65, ch=2, stride=2,
                extra_tensors=(), concat_inputs=1, rank=0, subgraphs=0) -> bytes:
    """x [1, s, s, C] → pool 2 → transpose conv ×stride → concat with x (SL003 at an odd size)."""
    tm = _tflite_module()
    S = tm.S
    h = -(-size // 2)
    out = 2 * h if stride == 2 else 8
    x_shape = (1, size, size, ch) if not rank else (1,) * rank
    tensors = [
        (names[0], x_shape, "float32", None, None),
        (names[1], (1, h, h, ch), "float32", None, None),
        (names[2], (4,), "int32", [1, out, out, ch], None),
        (names[3], (ch, 2, 2, ch), "float32", [0.0] * (ch * 4 * ch), None),
        (names[4], (1, out, out, ch), "float32", None, None),
        (names[5], (1, out, out, 2 * ch), "float32", None, None),
    ] + list(extra_tensors)
    ops = [
        ("MAX_POOL_2D", [0], [1], tm.options("Pool2DOptions", padding=S.Padding.SAME, strideW=2, strideH=2,
                                             filterWidth=2, filterHeight=2), None),
        ("TRANSPOSE_CONV", [2, 3, 1], [4], tm.options("TransposeConvOptions", padding=S.Padding.SAME, strideW=stride,
                                                      strideH=stride), None),
        ("CONCATENATION", [4] + [0] * concat_inputs, [5], tm.options("ConcatenationOptions", axis=3), None),
    ]
    return tm.raw_model(tensors, ops, [0], [5], extra_subgraphs=subgraphs)


TFLITE_NAMES = (b"x", b"pooled", b"up_shape", b"up_w", b"up", b"cat")


def _tflite_names(rng) -> tuple:
    """(mutation, model bytes, the same model with plain names or None)."""
    names = list(TFLITE_NAMES)
    how = rng.choice(["rename-all", "rename-all", "rename", "collide", "twins", "empty", "long"])
    if how in ("rename-all", "rename", "long"):
        ks = range(6) if how == "rename-all" else rng.sample(range(6), rng.randint(1, 3))
        for t, k in enumerate(ks):
            names[k] = hostile(rng, names[k], t, long=how == "long" and t == 0)
        same = len(set(names)) == 6
    elif how == "collide":
        i, j = rng.sample(range(6), 2)
        names[i] = names[j]
        same = False
    elif how == "twins":
        a, b = rng.choice(TWINS)
        i, j = rng.sample(range(6), 2)
        names[i], names[j] = a, b
        same = a != b
    else:
        for k in rng.sample(range(6), rng.randint(1, 6)):
            names[k] = b""
        same = False
    size = rng.choice([64, 65])
    return f"tflite-names:{how}", tflite_unet(tuple(names), size=size), tflite_unet(size=size) if same else None


def _tflite_counts(rng) -> tuple:
    how = rng.choice(["same-names", "rank", "inputs", "strides", "subgraphs"])
    if how == "same-names":  # n more tensors of one name (the de-duplication)
        n = _pick_size(rng, [100, 1000, 2000], [10**4, 6 * 10**4, 2 * 10**5])
        name = rng.choice([b"x", b"t", b""])
        return f"tflite-counts:same-names:{n}", tflite_unet(extra_tensors=[(name, (1,), "float32", None, None)] * n), None
    if how == "rank":
        n = _pick_size(rng, [limits.MAX_RANK, limits.MAX_RANK + 1, 1000, 10**4], [10**5, 10**6])
        return f"tflite-counts:rank:{n}", tflite_unet(rank=n), None
    if how == "inputs":
        n = _pick_size(rng, [2, 100, 10**4], [10**5, 5 * 10**5])
        return f"tflite-counts:inputs:{n}", tflite_unet(concat_inputs=n), None
    if how == "strides":
        s = rng.choice([0, -1, 1, 3, limits.MAX_TRANSPOSED_STRIDE, limits.MAX_TRANSPOSED_STRIDE + 1, 2**31 - 1,
                        -(2**31), 10**9])
        return f"tflite-counts:strides={s}", tflite_unet(stride=s), None
    n = _pick_size(rng, [1, 10, 100], [10**4, 10**5])
    return f"tflite-counts:subgraphs:{n}", tflite_unet(subgraphs=n), None


# --------------------------------------------------------------------------- families

# name: mutants per 100 in a run with every family
FAMILIES = {"bytes": 40, "onnx-names": 13, "onnx-counts": 11, "onnx-nesting": 5, "keras-names": 10,
            "keras-counts": 10, "keras-nesting": 4, "tflite-names": 4, "tflite-counts": 3}
NEW_FAMILIES = tuple(f for f in FAMILIES if f != "bytes")
NAME_FAMILIES = ("onnx-names", "keras-names", "tflite-names")
_ONNX = {"onnx-names": _onnx_names, "onnx-counts": _onnx_counts, "onnx-nesting": _onnx_nesting}
_KERAS = {"keras-names": _keras_names, "keras-counts": _keras_counts}


@dataclass
class Mutant:
    family: str
    seed: str
    suffix: str
    data: bytes
    muts: list
    reference: bytes | None = None  # the same model but for its names: the verdict must be the same
    work: int = 0  # bytes shapelint reads (a .keras archive's config.json inflated), if more than the file's

    def size(self) -> int:
        return max(len(self.data), self.work)

    def items(self) -> float:
        """What the mutations added: the count that ends a count or nesting mutation's name
        (``counts:nodes:chain:600000``; a value is written ``=v``, not counted). Nodes, layers,
        inputs, outputs, calls, tensors and levels count whole; dims and attribute values,
        which cost microseconds, count 1/100."""
        total = 0.0
        for m in self.muts:
            head, _, n = m.rpartition(":")
            if n.isdigit():
                cheap = any(k in head for k in (":rank", ":const-rank", ":attr-list", "keras-counts:attr:"))
                total += int(n) / (100 if cheap else 1)
        return total

    def label(self) -> str:
        return f"{self.family} {self.seed} {'+'.join(self.muts)}"


class Corpus:
    def __init__(self, extra=()):
        self.any = seeds(extra)  # byte-level mutations take any file
        self.onnx = [(n, d) for n, d in self.any if n.endswith(".onnx")]
        self.blobs = [d for _, d in self.any]
        self.keras = keras_seeds()


def make_mutant(rng: random.Random, family: str, corpus: Corpus) -> Mutant:
    if family == "bytes":
        name, data = corpus.any[rng.randrange(len(corpus.any))]
        mutant, muts = mutate(rng, data, corpus.blobs)
        return Mutant(family, name, os.path.splitext(name)[1], mutant, muts)
    if family in _ONNX:
        name, data = corpus.onnx[rng.randrange(len(corpus.onnx))]
        tree = parse_tree(data)
        muts, same = [], True
        for _ in range(rng.choice([1, 1, 1, 2])):
            m, s = _ONNX[family](rng, tree, corpus.blobs)
            muts.append(m)
            same = same and s
        return Mutant(family, name, ".onnx", serialize(tree), muts, data if same else None)
    if family.startswith("keras-"):
        name, text = corpus.keras[rng.randrange(len(corpus.keras))]
        cfg = json.loads(text)
        if family == "keras-nesting":
            m, _, nested = _keras_nesting(rng, cfg, text)
            return Mutant(family, name, ".keras", keras_archive(nested), [m], work=len(nested))
        muts, same = [], True
        for _ in range(rng.choice([1, 1, 1, 2])):
            m, s, cfg = _KERAS[family](rng, cfg)
            muts.append(m)
            same = same and s
        text_out = json.dumps(cfg)
        return Mutant(family, name, ".keras", keras_archive(text_out), muts, keras_archive(text) if same else None,
                      work=len(text_out))
    m, data, reference = (_tflite_names if family == "tflite-names" else _tflite_counts)(rng)
    return Mutant(family, "tflite_unet", ".tflite", data, [m], reference)


# --------------------------------------------------------------------------- running


class Slow(BaseException):
    """The time bound (a BaseException: shapelint's own ``except Exception`` must not catch it)."""


def _alarm(_sig, _frame):
    raise Slow()


def lint_one(path: str, timeout: float) -> tuple:
    """(outcome, detail): outcome "ok", "model_error", "recursion" (the CLI reports it as a
    one-line error too), "slow", "memory" or "crash"."""
    outcome, detail, _ = lint_result(path, timeout)
    return outcome, detail


def lint_result(path: str, timeout: float) -> tuple:
    """(outcome, detail, the Result or None)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        res = lint(path)
        if res.error:
            return "model_error", res.error, None
        return "ok", len(res.findings), res
    except ModelError as e:
        if "\n" in str(e):
            return "crash", f"ModelError message spans lines: {str(e)[:200]!r}", None
        return "model_error", str(e)[:200], None
    except Slow:
        return "slow", f"over {timeout:.1f} s", None
    except RecursionError:
        return "recursion", "RecursionError", None
    except MemoryError:
        return "memory", "MemoryError (over the address-space limit)", None
    except Exception as e:  # anything else is a crash
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{os.path.relpath(fr.filename, ROOT)}:{fr.lineno}" for fr in reversed(tb)
                      if "shapelint" in fr.filename), f"{tb[-1].filename}:{tb[-1].lineno}")
        return "crash", f"{type(e).__name__} at {where}: {str(e)[:160]}", None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def verdict(res) -> tuple:
    """What a renaming must not change: the findings' rules and severities, and how many notes."""
    return tuple(sorted((f.rule, f.severity) for f in res.findings)), len(res.notes)


# every command and format the output oracle runs in-process (``shapelint …`` on one model)
OUTPUT_COMMANDS = [("check", "--show-info"), ("check", "--format", "github", "--show-info"),
                   ("check", "--format", "json", "--show-info"), ("check", "--format", "sarif"),
                   ("check", "--format", "concise"), ("check", "--format", "markdown", "--show-info"),
                   ("check", "--statistics"), ("contract",), ("contract", "--format", "json"), ("explain",)]


def judge_output(argv, rc, out: str, err: str):
    """Why a command's run is wrong, or None: an exit code but 0, 1, 2; a traceback or an
    internal error; exit 2 with other than one line; unsafe output; invalid JSON."""
    if rc not in (0, 1, 2):
        return "cli_fail", f"exit {rc}: {err.strip()[-200:]!r}"
    if "Traceback" in err or "internal error" in err:
        return "cli_fail", f"{err.strip().splitlines()[-1][:200]!r}"
    if rc == 2 and len(err.strip().splitlines()) != 1:
        return "cli_fail", f"exit 2 with {len(err.strip().splitlines())} stderr lines: {err[:200]!r}"
    github = "github" in argv
    bad = unsafe_output(out, github) or unsafe_output(err)
    if bad:
        return "unsafe_output", f"{' '.join(a for a in argv if a.startswith('-') or a.isalpha())}: {bad}"
    if ("json" in argv or "sarif" in argv) and out.strip():
        try:
            json.loads(out)
            out.encode("utf-8")
        except (ValueError, UnicodeEncodeError) as e:
            return "unsafe_output", f"{' '.join(argv[:3])}: invalid JSON ({str(e)[:120]})"
    return None


def cli_inprocess(path: str, command: tuple, timeout: float) -> tuple:
    """``shapelint COMMAND PATH …`` through cli.main, stdout and stderr captured: (outcome, detail)."""
    from shapelint import cli

    argv = [command[0], path, *command[1:]]
    out, err = io.StringIO(), io.StringIO()
    streams = sys.stdout, sys.stderr
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        sys.stdout, sys.stderr = out, err
        try:
            rc = cli.main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
    except Slow:
        return "slow", f"shapelint {command[0]} over {timeout:.1f} s"
    except MemoryError:
        return "memory", f"shapelint {command[0]}: MemoryError"
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{os.path.relpath(fr.filename, ROOT)}:{fr.lineno}" for fr in reversed(tb)
                      if "shapelint" in fr.filename), "?")
        return "cli_fail", f"shapelint {command[0]}: {type(e).__name__} at {where}: {str(e)[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        sys.stdout, sys.stderr = streams
    return judge_output(argv, rc, out.getvalue(), err.getvalue()) or ("output_ok", rc)


# Runs the command after the file name and writes its peak RSS (KB) to that file. A child's peak RSS
# counts its parent's memory up to exec, so the CLI is started from this small process, not from a
# worker (as tests/test_hostile_inputs.py does).
_RSS_LAUNCHER = ("import os, sys; pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ); "
                 "_, status, usage = os.wait4(pid, 0); open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); "
                 "sys.exit(os.waitstatus_to_exitcode(status))")


def cli_one(path: str, timeout: float) -> tuple:
    """``python -m shapelint check PATH``, in text and ``--format github``, each in a child:
    (outcome, detail, the children's peak RSS in MB)."""
    rss = 0.0
    fd, rss_file = tempfile.mkstemp(suffix=".rss")
    os.close(fd)
    try:
        for fmt in ((), ("--format", "github")):
            argv = ["check", *fmt, path]
            p = subprocess.Popen([sys.executable, "-c", _RSS_LAUNCHER, rss_file, sys.executable, "-m", "shapelint",
                                  *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=dict(os.environ, PYTHONPATH=ROOT), start_new_session=True)
            try:
                out, err = p.communicate(timeout=timeout * 3 + 20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()
                return "cli_fail", f"CLI {' '.join(fmt) or 'text'} timed out", rss
            try:
                with open(rss_file) as f:
                    rss = max(rss, int(f.read() or 0) / 1024)
            except (OSError, ValueError):
                pass
            out, err = (x.decode("utf-8", "surrogateescape") for x in (out, err))
            bad = judge_output(argv, p.returncode, out, err)
            if bad:
                return (*bad, rss)
        return "cli_ok", p.returncode, rss
    finally:
        os.unlink(rss_file)


def _safe_file_name(rng) -> bytes:
    """A hostile file name (no slash, no NUL: the file system's own rules)."""
    h = rng.choice(HOSTILE).replace(b"/", b"").replace(b"\x00", b"")
    return b"m" + h[:100]


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


class _Watchdog:
    """A lint stuck in C code (where SIGALRM cannot interrupt it) for ``hard`` seconds: the mutant
    is saved, the hang reported on stderr, and the worker exits (the run reports a dead worker)."""

    def __init__(self, out_dir, worker):
        self.out_dir, self.worker = out_dir or tempfile.gettempdir(), worker
        self.deadline, self.mutant = None, None
        threading.Thread(target=self._watch, daemon=True).start()

    def arm(self, seconds, mutant):
        self.mutant, self.deadline = mutant, time.monotonic() + seconds

    def disarm(self):
        self.deadline = None

    def _watch(self):
        while True:
            time.sleep(1)
            if self.deadline is not None and time.monotonic() > self.deadline:
                m = self.mutant
                os.makedirs(self.out_dir, exist_ok=True)
                saved = os.path.join(self.out_dir, f"hang_w{self.worker}{m.suffix}")
                with open(saved, "wb") as f:
                    f.write(m.data)
                print(f"fuzz_mutations: worker {self.worker} HANG on {m.label()}: saved {saved}", file=sys.stderr,
                      flush=True)
                os._exit(3)


def run(n: int, seed: int, timeout: float, out_dir: str | None, cli_every: int = 0, extra_seeds=(),
        worker: int = 0, families=("bytes",), heavy: bool = True, per_mb: float = 5.0, mem_mb: float = 2048,
        output_share: float = 0.1, progress: int = 0, watchdog: bool = False, per_item: float = 4e-3,
        exclude=()) -> dict:
    """Lint ``n`` mutants (deterministic for a seed) of the given ``families``; a summary dict.

    Bounds: a lint over ``timeout`` + ``per_mb`` seconds per MB of the mutant + ``per_item``
    seconds per item a count mutation added (nodes, layers, inputs, dims: shapelint's work is
    linear in them; a node with a dynamic finding costs ~1 ms, 3 ms on a busy machine) is "slow";
    a peak RSS over
    ``mem_mb`` is "memory". ``exclude``: mutations whose name starts so are drawn again. Every mutant of a name family (and ``output_share`` of the
    others) also runs one command of OUTPUT_COMMANDS in-process, whose output is checked; a
    renaming's verdict is compared with the original's; every ``cli_every``-th mutant runs the CLI
    in a child, in text and --format github. ``heavy``: also counts near and over the limits."""
    global HEAVY
    HEAVY = heavy
    rng = random.Random(seed)
    corpus = Corpus(extra_seeds)
    weights = [FAMILIES[f] for f in families]
    outcomes: collections.Counter = collections.Counter()
    per_family: dict = {f: collections.Counter() for f in families}
    kinds: collections.Counter = collections.Counter()
    problems: dict = {}  # detail -> first example
    verdicts: dict = {}
    slowest = (0.0, None, 0)
    max_rss, max_rss_by = _rss_mb(), "start"
    max_child_rss = 0.0
    dog = _Watchdog(out_dir, worker) if watchdog else None
    parent = os.getppid()
    tmp = tempfile.mkdtemp(prefix="shapelint_mut_")
    started = time.time()

    def problem(oc, det, m, k):
        key = f"{oc}: {det}"
        if key not in problems:
            saved = None
            if out_dir:
                os.makedirs(out_dir, exist_ok=True)
                saved = os.path.join(out_dir, f"{oc}_w{worker}_{k}_{m.seed.replace('.', '_')}{m.suffix}")
                with open(saved, "wb") as f:
                    f.write(m.data)
                with open(saved + ".txt", "w") as f:
                    f.write(f"{key}\n{m.label()}\nmutant {k} of run seed {seed}\n"
                            f"reproduce: PYTHONPATH={ROOT} python -m shapelint check {saved}\n")
            problems[key] = dict(family=m.family, seed_model=m.seed, mutations=m.muts, mutant=k, run_seed=seed,
                                 saved=saved, count=0)
        problems[key]["count"] += 1

    def summary(done):
        return dict(mutants=done, seed=seed, outcomes=dict(outcomes),
                    families={f: dict(c) for f, c in per_family.items()}, kinds=dict(sorted(kinds.items())),
                    problems=problems, slowest_s=round(slowest[0], 3), slowest=slowest[1], slowest_bytes=slowest[2],
                    max_rss_mb=round(max_rss), max_rss=max_rss_by, max_cli_rss_mb=round(max_child_rss),
                    seconds=round(time.time() - started, 1))

    try:
        for k in range(n):
            if watchdog and os.getppid() != parent:  # the run was stopped: a worker does not outlive it
                os._exit(1)
            family = rng.choices(families, weights)[0] if len(families) > 1 else families[0]
            try:
                with _uncapped():  # the memory bound is shapelint's, not the generator's (a 600,001-layer config)
                    m = make_mutant(rng, family, corpus)
                    for _ in range(50):
                        if not any(x.startswith(tuple(exclude)) for x in m.muts):
                            break
                        m = make_mutant(rng, family, corpus)
            except Exception as e:  # the harness's own failure (e.g. memory left by a mutant): noted, the run goes on
                import gc

                gc.collect()
                key = f"harness: {type(e).__name__} making a {family} mutant: {str(e)[:120]}"
                problems.setdefault(key, dict(family=family, mutant=k, run_seed=seed, count=0))["count"] += 1
                outcomes["harness"] += 1
                continue
            kinds[f"{family} " + ":".join(m.muts[0].split(":")[:2])] += 1
            path = os.path.join(tmp, "m" + m.suffix)
            with open(path, "wb") as f:
                f.write(m.data)
            bound = timeout + per_mb * m.size() / (1 << 20) + per_item * m.items()
            if dog:
                dog.arm(max(60.0, 10 * bound), m)
            t0 = time.perf_counter()
            outcome, detail, res = lint_result(path, bound)
            dt = time.perf_counter() - t0
            if outcome in ("ok", "model_error", "recursion") and dt > bound:
                outcome, detail = "slow", f"{dt:.1f} s, over {bound:.1f} s"
            if dt > slowest[0]:
                slowest = (dt, f"{m.label()} (mutant {k} of seed {seed})", len(m.data))
            results = [(outcome, detail)]

            def rss_check(step):
                nonlocal max_rss, max_rss_by
                rss = _rss_mb()
                if rss > max_rss:
                    max_rss, max_rss_by = rss, f"{step}: {m.label()} (mutant {k} of seed {seed}, {m.size() >> 10} KB)"
                    if rss > mem_mb:
                        results.append(("memory", f"{step}: peak RSS {rss:.0f} MB, over {mem_mb:.0f} MB"))

            rss_check("lint")
            if res is not None and m.reference is not None:  # a renaming: the verdict of the original
                key = hash(m.reference)
                if key not in verdicts:
                    ref_path = os.path.join(tmp, "ref" + m.suffix)
                    with open(ref_path, "wb") as f:
                        f.write(m.reference)
                    oc, _, ref = lint_result(ref_path, timeout)
                    verdicts[key] = verdict(ref) if ref is not None else None
                if verdicts[key] is not None:
                    got = verdict(res)
                    results.append(("same_verdict", None) if got == verdicts[key] else
                                   ("verdict_changed", f"{m.family}: {verdicts[key]} became {got}"))
            if family in NAME_FAMILIES or rng.random() < output_share:
                command = rng.choice(OUTPUT_COMMANDS)
                results.append(cli_inprocess(path, command, 3 * bound))
                rss_check(" ".join(command))
            if cli_every and k % cli_every == 0:
                cli_path = path
                if family in NAME_FAMILIES:  # a hostile file name too
                    cli_path = os.path.join(tmp, os.fsdecode(_safe_file_name(rng) + m.suffix.encode()))
                    shutil.copyfile(path, cli_path)
                oc, det, child = cli_one(cli_path, bound)
                results.append((oc, det))
                if cli_path != path:
                    os.unlink(cli_path)
                if child > max_child_rss:
                    max_child_rss = child
                    if child > mem_mb:
                        results.append(("memory", f"CLI peak RSS {child:.0f} MB, over {mem_mb:.0f} MB"))
            if dog:
                dog.disarm()
            for oc, det in results:
                outcomes[oc] += 1
                per_family[family][oc] += 1
                if oc in PROBLEMS:
                    problem(oc, det, m, k)
            if progress and (k + 1) % progress == 0:
                rate = (k + 1) / (time.time() - started)
                print(f"fuzz_mutations: worker {worker}: {k + 1}/{n} mutants, {rate:.1f}/s, {len(problems)} problem(s), "
                      f"slowest {slowest[0]:.1f} s, max RSS {max_rss:.0f} MB (CLI {max_child_rss:.0f} MB)",
                      file=sys.stderr, flush=True)
                if out_dir:
                    os.makedirs(out_dir, exist_ok=True)
                    with open(os.path.join(out_dir, f"worker{worker}.json"), "w") as f:
                        json.dump(summary(k + 1), f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    return summary(n)


PROBLEMS = ("crash", "slow", "memory", "cli_fail", "unsafe_output", "verdict_changed")


def _limit_memory(mem_mb: float) -> None:
    """The address space of this process capped at what it has now plus ``mem_mb`` and 512 MB:
    an allocation past the memory bound fails with MemoryError (a "memory" outcome) rather than
    taking the machine's memory."""
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
    except (OSError, StopIteration, ValueError):
        return
    _CAP_MB[0] = mem_mb
    limit = vm + int((mem_mb + 512) * (1 << 20))
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


class _uncapped:
    """The address-space cap of _limit_memory lifted while the harness makes a mutant: a large
    count mutant after a lint that left the heap fragmented failed with MemoryError in the
    generator (1 of 100,000 in a long run), which is the harness's memory, not shapelint's."""

    def __enter__(self):
        self.capped = _CAP_MB[0] is not None
        if self.capped:
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))

    def __exit__(self, *exc):
        if self.capped:  # capped again from what the process holds now (the bound on the lint is its peak RSS)
            _limit_memory(_CAP_MB[0])
        return False


_CAP_MB: list = [None]  # the worker's --mem-mb once _limit_memory capped it


def _worker(kwargs):
    _limit_memory(kwargs["mem_mb"])
    return run(**kwargs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10000, help="mutants in all (default 10000)")
    ap.add_argument("-j", type=int, default=1, help="processes")
    ap.add_argument("--seed", dest="run_seed", type=int, default=0, help="random seed (worker k uses seed + k)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per lint (default 10), plus --per-mb")
    ap.add_argument("--per-mb", type=float, default=5.0, help="seconds more per MB of the mutant, or of a .keras "
                    "file's config.json (default 5: work linear in the input's size is allowed, a hang is not)")
    ap.add_argument("--per-item", type=float, default=4e-3, help="seconds more per item a count mutation added "
                    "(nodes, layers, inputs, dims; default 0.004: a node with a dynamic finding costs ~1 ms, 3 ms "
                    "on 2 cores under a load of 6)")
    ap.add_argument("--mem-mb", type=float, default=2048, help="peak RSS bound per process in MB (default 2048)")
    ap.add_argument("--exclude", action="append", default=[], metavar="MUTATION",
                    help="draw again mutations whose name starts so (repeatable), e.g. tflite-counts:same-names")
    ap.add_argument("--families", default=",".join(FAMILIES),
                    help=f"comma-separated mutation families (default all: {', '.join(FAMILIES)})")
    ap.add_argument("--light", action="store_true", help="no counts near or over shapelint's limits (fast)")
    ap.add_argument("--cli-every", type=int, default=0, help="also run the CLI (text and --format github) on "
                    "every N-th mutant, in a child")
    ap.add_argument("--output-share", type=float, default=0.1, help="share of the mutants outside the name "
                    "families whose output is checked in-process (name families: all)")
    ap.add_argument("--model", action="append", default=[], help="another seed model (repeatable)")
    ap.add_argument("--out", help="folder to keep crashing/slow mutants in (and per-worker progress)")
    ap.add_argument("--progress", type=int, default=1000, help="a progress line every N mutants per worker")
    ap.add_argument("--json", help="write the summary here")
    args = ap.parse_args(argv)
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        ap.error(f"unknown families {unknown}: choose from {', '.join(FAMILIES)}")
    t0 = time.time()
    per = [args.n // args.j + (1 if w < args.n % args.j else 0) for w in range(args.j)]
    jobs = [dict(n=per[w], seed=args.run_seed + w, timeout=args.timeout, out_dir=args.out, cli_every=args.cli_every,
                 extra_seeds=tuple(args.model), worker=w, families=families, heavy=not args.light,
                 per_mb=args.per_mb, mem_mb=args.mem_mb, output_share=args.output_share, progress=args.progress,
                 watchdog=True, per_item=args.per_item, exclude=tuple(args.exclude)) for w in range(args.j)]
    dead = []
    if args.j == 1:
        parts = [_worker(jobs[0])]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        parts = []
        with ProcessPoolExecutor(args.j, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_worker, job) for job in jobs]
            for w, fut in enumerate(futures):
                try:
                    parts.append(fut.result())
                except BrokenProcessPool as e:
                    dead.append(f"worker {w}: {e} (a hang: see stderr and --out)")
    outcomes: collections.Counter = collections.Counter()
    families_out: dict = {}
    kinds: collections.Counter = collections.Counter()
    problems: dict = {}
    for p in parts:
        outcomes.update(p["outcomes"])
        kinds.update(p["kinds"])
        for f, c in p["families"].items():
            families_out.setdefault(f, collections.Counter()).update(c)
        for k, v in p["problems"].items():
            if k in problems:
                problems[k]["count"] += v["count"]
            else:
                problems[k] = v
    for d in dead:
        problems[f"worker died: {d}"] = dict(count=1)
    slowest = max(parts, key=lambda p: p["slowest_s"]) if parts else {}
    rss = max(parts, key=lambda p: p["max_rss_mb"]) if parts else {}
    summary = dict(mutants=sum(p["mutants"] for p in parts), processes=args.j, seed=args.run_seed,
                   families_run=families, heavy=not args.light, timeout_s=args.timeout, per_mb_s=args.per_mb,
                   per_item_s=args.per_item, excluded=args.exclude,
                   mem_mb=args.mem_mb, seconds=round(time.time() - t0, 1), outcomes=dict(outcomes),
                   families={f: dict(c) for f, c in families_out.items()},
                   slowest_lint_s=slowest.get("slowest_s"), slowest=slowest.get("slowest"),
                   slowest_bytes=slowest.get("slowest_bytes"), max_rss_mb=rss.get("max_rss_mb"),
                   max_rss=rss.get("max_rss"), max_cli_rss_mb=max((p["max_cli_rss_mb"] for p in parts), default=None),
                   kinds=dict(sorted(kinds.items())), problems=problems)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
