"""Mutation fuzzing in CI: fixed, seeded sets of corrupted and hostile models
(scripts/fuzz_mutations.py), each linted in-process within a time and memory bound. Every mutant
gives a normal Result or shapelint's own ModelError (the CLI's one-line message and exit 2);
anything else is a crash. A second sample draws from the name, count and nesting families: a
renamed model's verdict must be the original's, and every command's output over hostile names
must hold no raw control character and no line that begins with ``::``.

The long run (≥ 100,000 mutants of every family, two processes, the CLI on every 50th)::

    PYTHONPATH=. python scripts/fuzz_mutations.py -n 100000 -j 2 --cli-every 50 --out /tmp/fuzz_mutations
"""

from __future__ import annotations

import random

import pytest

from tests.support import load_script
from tests.test_escaped_names import RAW

fm = load_script("fuzz_mutations")

N = 600
N_NEW = 300  # ~30 s on 2 busy cores


@pytest.fixture(scope="module")
def summary():
    return fm.run(N, seed=20240601, timeout=5.0, out_dir=None, cli_every=150, families=("bytes",))


@pytest.fixture(scope="module")
def new_summary():
    """The name, count and nesting families, at the cheap sizes (the long run adds counts near and
    over shapelint.limits, seconds each)."""
    return fm.run(N_NEW, seed=20261130, timeout=10.0, out_dir=None, cli_every=60, families=fm.NEW_FAMILIES,
                  heavy=False)


@pytest.mark.slow
def test_mutants_never_crash_shapelint(summary):
    assert not summary["problems"], "\n".join(f"{k}: {v}" for k, v in summary["problems"].items())
    assert summary["slowest_s"] < 5.0, summary


@pytest.mark.slow
def test_mutants_reach_past_the_parser(summary):
    """Not degenerate: most mutants parse and are analysed, some are rejected cleanly, and the
    CLI ran on a sample."""
    oc = summary["outcomes"]
    assert oc.get("ok", 0) >= N // 2, oc
    assert oc.get("model_error", 0) >= N // 20, oc
    assert oc.get("cli_ok", 0) == len(range(0, N, 150)), oc


@pytest.mark.slow
def test_name_count_and_nesting_mutants_never_fail(new_summary):
    """No crash, no lint over its bound, no unsafe output, no renaming that changed a verdict."""
    assert not new_summary["problems"], "\n".join(f"{k}: {v}" for k, v in new_summary["problems"].items())
    assert new_summary["max_rss_mb"] < 2048, new_summary["max_rss"]


@pytest.mark.slow
def test_every_new_family_reaches_the_analysis(new_summary):
    """Each family made mutants that were linted (not all refused by a parser); the name families'
    output was checked and renamings were compared with the original; the CLI ran on a sample."""
    fams = new_summary["families"]
    assert set(fams) == set(fm.NEW_FAMILIES)
    for family, outcomes in fams.items():
        assert outcomes.get("ok", 0) >= 5, (family, outcomes)
    for family in fm.NAME_FAMILIES:
        assert fams[family].get("output_ok", 0) >= 10, (family, fams[family])
        assert fams[family].get("same_verdict", 0) >= 5, (family, fams[family])
    assert new_summary["outcomes"].get("cli_ok", 0) == len(range(0, N_NEW, 60)), new_summary["outcomes"]
    kinds = {k.split(" ")[1].rsplit(":", 1)[0] if k.count(":") > 1 else k.split(" ")[1] for k in new_summary["kinds"]}
    for kind in ("names:rename-all", "names:twins", "counts:nodes", "counts:rank", "nesting:subgraph",
                 "keras-names:rename-all", "keras-counts:index", "tflite-names:rename-all"):
        assert any(k.startswith(kind) for k in kinds), (kind, sorted(kinds))


@pytest.mark.slow
def test_the_output_oracle_is_at_least_the_tests():
    """The fuzzer's RAW flags every character tests/test_escaped_names.py's RAW flags, and the
    oracle catches a raw ESC, a bidi override and a workflow command on a line of its own."""
    missed = [hex(c) for c in range(0x10000) if RAW.match(chr(c)) and not fm.RAW.match(chr(c))]
    assert not missed
    assert fm.unsafe_output("a\x1b[2Jb") and fm.unsafe_output("\u202egnp") and fm.unsafe_output("x\n::error::y")
    assert fm.unsafe_output("::error file=a,line=1::m", github=True) is None
    assert fm.unsafe_output("x \\x1b \\u202e \\n::error") is None


@pytest.mark.slow
def test_hostile_names_reach_the_output(tmp_path):
    """Not vacuous: a model whose every tensor and node is renamed keeps its verdict, and the
    hostile names are in the findings (escaped), not dropped."""
    rng = random.Random(3)
    corpus = fm.Corpus()
    name, data = next((n, d) for n, d in corpus.onnx if n == "unet_convt_concat.onnx")
    tree = fm.parse_tree(data)
    slots = fm._onnx_slots(tree)
    assert fm._rename(rng, slots, "node", 0) and fm._rename(rng, slots, "tensor", 0)
    path = tmp_path / "m.onnx"
    path.write_bytes(fm.serialize(tree))
    outcome, _, res = fm.lint_result(str(path), 10.0)
    (tmp_path / "ref.onnx").write_bytes(data)
    assert outcome == "ok" and fm.verdict(res) == fm.verdict(fm.lint_result(str(tmp_path / "ref.onnx"), 10.0)[2])
    assert any(f.node.endswith("~0") or "~" in f.node for f in res.findings), [f.node for f in res.findings]
    for command in fm.OUTPUT_COMMANDS:
        assert fm.cli_inprocess(str(path), command, 30.0)[0] == "output_ok", command


@pytest.mark.slow
def test_deep_nesting_is_built_in_linear_time():
    """nest() writes 20,000 levels of If bodies (protobuf's encoder stops at 100), each length
    prefix consistent: the wire walk finds one field per level."""
    levels = 20_000
    blob = fm.nest(b"", levels, lambda k: [(99, b"", b"")])
    depth, i = 0, 0
    while i < len(blob):
        key, i = fm._varint(blob, i, len(blob))
        n, i = fm._varint(blob, i, len(blob))
        assert key == 99 << 3 | 2 and i + n == len(blob)
        depth += 1
    assert depth == levels


def test_structured_mutations_keep_lengths_consistent():
    """The protobuf-aware mutations re-serialize the tree: every seed round-trips byte for byte,
    and a dropped field leaves a model the parser still reads."""
    rng = random.Random(0)
    corpus = fm.seeds()
    for name, data in corpus:
        assert fm.serialize(fm.parse_tree(data)) == data, name
    blobs = [d for _, d in corpus]
    parsed = 0
    for _ in range(50):
        b = bytearray(rng.choice(blobs))
        fm._drop(rng, b, blobs)
        parsed += fm.parse_tree(bytes(b)) is not None
    assert parsed == 50


def test_a_crash_is_reported(tmp_path, monkeypatch):
    """The harness itself: an exception other than ModelError counts as a crash, with its location."""
    def boom(path):
        raise KeyError("x")

    monkeypatch.setattr(fm, "lint", boom)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    outcome, detail = fm.lint_one(str(path), 5.0)
    assert outcome == "crash" and detail.startswith("KeyError at "), detail
