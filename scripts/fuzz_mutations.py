"""Mutation fuzzing of shapelint's model reading: corrupt serialized models, lint them, and
require either a normal Result or shapelint's own clean error (``ModelError``, which the CLI
prints as one line and exits 2 on) -- any other exception is a crash, and so is a lint slower
than ``--timeout`` seconds.

Seeds: examples/*.onnx, U-Nets built by tests/onnx_models.py, and any ``--seed FILE`` (a .onnx,
.tflite or .keras file). Mutations are byte-level (flip bits, insert, delete, overwrite, splice
with another seed, truncate) and protobuf-aware (the wire format is walked, no schema: a field
is duplicated, dropped or moved, a varint is overwritten with a huge or negative value, a length
prefix is changed).

    PYTHONPATH=. python scripts/fuzz_mutations.py -n 100000 -j 2 --out /tmp/fuzz_mutations

runs 100,000 mutants in 2 processes and prints a summary (outcomes, crashes with their
exception and location); every crashing or slow mutant is kept in ``--out`` with a file that
says how to reproduce it. ``--cli-every 50`` also runs the CLI (``python -m shapelint check``)
on every 50th mutant and requires exit 0, 1 or 2 with no traceback. Exit status 1 when any
crash, slow lint or CLI failure was found.
"""

from __future__ import annotations

import argparse
import collections
import copy
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

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
        out += _encode_varint(num << 3 | wt)
        if wt == 0:
            out += _encode_varint(v)
        elif wt == 2:
            body = serialize(v) if isinstance(v, list) else v
            out += _encode_varint(len(body)) + body
        else:
            out += v
    return bytes(out)


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


# --------------------------------------------------------------------------- running


class Slow(Exception):
    pass


def _alarm(_sig, _frame):
    raise Slow()


def lint_one(path: str, timeout: float) -> tuple:
    """(outcome, detail): outcome "ok", "model_error", "recursion" (the CLI reports it as a
    one-line error too), "slow" or "crash"."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        res = lint(path)
        if res.error:
            return "model_error", res.error
        return "ok", len(res.findings)
    except ModelError as e:
        if "\n" in str(e):
            return "crash", f"ModelError message spans lines: {str(e)[:200]!r}"
        return "model_error", str(e)[:200]
    except Slow:
        return "slow", f"over {timeout} s"
    except RecursionError:
        return "recursion", "RecursionError"
    except Exception as e:  # anything else is a crash
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{os.path.relpath(fr.filename, ROOT)}:{fr.lineno}" for fr in reversed(tb)
                      if "shapelint" in fr.filename), f"{tb[-1].filename}:{tb[-1].lineno}")
        return "crash", f"{type(e).__name__} at {where}: {str(e)[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def cli_one(path: str, timeout: float) -> tuple:
    try:
        p = subprocess.run([sys.executable, "-m", "shapelint", "check", path], capture_output=True, text=True,
                           timeout=timeout * 10 + 10, env=dict(os.environ, PYTHONPATH=ROOT))
    except subprocess.TimeoutExpired:
        return "cli_fail", "CLI timed out"
    if p.returncode not in (0, 1, 2) or "Traceback" in p.stderr:
        return "cli_fail", f"exit {p.returncode}: {p.stderr.strip().splitlines()[-1][:200] if p.stderr.strip() else ''}"
    if p.returncode == 2 and len(p.stderr.strip().splitlines()) != 1:
        return "cli_fail", f"exit 2 with {len(p.stderr.strip().splitlines())} stderr lines: {p.stderr[:200]!r}"
    return "cli_ok", p.returncode


def run(n: int, seed: int, timeout: float, out_dir: str | None, cli_every: int = 0, extra_seeds=(),
        worker: int = 0) -> dict:
    """Lint ``n`` mutants (deterministic for a seed); a summary dict."""
    rng = random.Random(seed)
    corpus = seeds(extra_seeds)
    blobs = [d for _, d in corpus]
    outcomes: collections.Counter = collections.Counter()
    by_mutation: collections.Counter = collections.Counter()
    problems: dict = {}  # detail -> first example
    slowest = (0.0, None)
    tmp = tempfile.mkdtemp(prefix="shapelint_mut_")
    try:
        for k in range(n):
            name, data = corpus[rng.randrange(len(corpus))]
            mutant, muts = mutate(rng, data, blobs)
            path = os.path.join(tmp, "m" + os.path.splitext(name)[1])
            with open(path, "wb") as f:
                f.write(mutant)
            t0 = time.perf_counter()
            outcome, detail = lint_one(path, timeout)
            dt = time.perf_counter() - t0
            if dt > slowest[0]:
                slowest = (dt, f"{name} {'+'.join(muts)} (mutant {k} of seed {seed})")
            results = [(outcome, detail)]
            if cli_every and k % cli_every == 0:
                results.append(cli_one(path, timeout))
            for oc, det in results:
                outcomes[oc] += 1
                if oc in ("crash", "slow", "cli_fail"):
                    by_mutation["+".join(muts)] += 1
                    key = f"{oc}: {det}"
                    if key not in problems:
                        saved = None
                        if out_dir:
                            os.makedirs(out_dir, exist_ok=True)
                            saved = os.path.join(out_dir, f"{oc}_w{worker}_{k}_{name}")
                            with open(saved, "wb") as f:
                                f.write(mutant)
                        problems[key] = dict(seed_model=name, mutations=muts, mutant=k, run_seed=seed, saved=saved,
                                             count=0)
                    problems[key]["count"] += 1
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return dict(mutants=n, seed=seed, outcomes=dict(outcomes), problems=problems,
                slowest_s=round(slowest[0], 3), slowest=slowest[1])


def _worker(args):
    return run(*args)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10000, help="mutants in all (default 10000)")
    ap.add_argument("-j", type=int, default=1, help="processes")
    ap.add_argument("--seed", dest="run_seed", type=int, default=0, help="random seed (worker k uses seed + k)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per lint (default 5)")
    ap.add_argument("--cli-every", type=int, default=0, help="also run the CLI on every N-th mutant")
    ap.add_argument("--model", action="append", default=[], help="another seed model (repeatable)")
    ap.add_argument("--out", help="folder to keep crashing/slow mutants in")
    ap.add_argument("--json", help="write the summary here")
    args = ap.parse_args(argv)
    t0 = time.time()
    per = [args.n // args.j + (1 if w < args.n % args.j else 0) for w in range(args.j)]
    jobs = [(per[w], args.run_seed + w, args.timeout, args.out, args.cli_every, tuple(args.model), w)
            for w in range(args.j)]
    if args.j == 1:
        parts = [_worker(jobs[0])]
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.j) as pool:
            parts = pool.map(_worker, jobs)
    outcomes: collections.Counter = collections.Counter()
    problems: dict = {}
    for p in parts:
        outcomes.update(p["outcomes"])
        for k, v in p["problems"].items():
            if k in problems:
                problems[k]["count"] += v["count"]
            else:
                problems[k] = v
    slowest = max(parts, key=lambda p: p["slowest_s"])
    summary = dict(mutants=args.n, processes=args.j, seed=args.run_seed, seconds=round(time.time() - t0, 1),
                   outcomes=dict(outcomes), slowest_lint_s=slowest["slowest_s"], slowest=slowest["slowest"],
                   problems=problems)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
