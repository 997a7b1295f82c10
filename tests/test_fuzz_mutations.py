"""Mutation fuzzing in CI: a fixed, seeded set of corrupted models (scripts/fuzz_mutations.py),
each linted in-process within a time bound. Every mutant gives a normal Result or shapelint's own
ModelError (the CLI's one-line message and exit 2); anything else is a crash.

The long run (≥ 100,000 mutants, two processes, the CLI on every 50th)::

    PYTHONPATH=. python scripts/fuzz_mutations.py -n 100000 -j 2 --cli-every 50 --out /tmp/fuzz_mutations
"""

from __future__ import annotations

import random

import pytest

from tests.support import load_script

fm = load_script("fuzz_mutations")

N = 600


@pytest.fixture(scope="module")
def summary():
    return fm.run(N, seed=20240601, timeout=5.0, out_dir=None, cli_every=150)


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
