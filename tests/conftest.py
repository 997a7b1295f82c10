"""Test-session settings shared by every test module."""

import os

import pytest

# TensorFlow turns oneDNN on by itself only on some CPUs (not on this project's AMD machines): its
# Eigen kernels then refuse dilated transposed convolutions ("Current CPU implementations do not
# yet support dilation rates larger than 1"). The tests compare with TF as SEMANTICS.md measured
# it, with oneDNN, on every machine; subprocesses inherit the setting.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# A bug in a shape rule or a check (TypeError, KeyError, ...) fails the test instead of becoming a
# "malformed node" note; malformed models still get their notes (see shapelint.infer._CAUGHT).
os.environ.setdefault("SHAPELINT_STRICT", "1")


# ------------------------------------------------------------------------------------------------
# The two tiers. `pytest -m "not slow"` is the fast tier (under a minute on 2 cores); `pytest` runs
# everything. Two checks keep the split honest: a test marked `tensorflow` must be marked `slow`
# too (the fast tier never imports TensorFlow), and an unmarked test that takes longer than
# SHAPELINT_SLOW_AFTER seconds (default 5: setup, call and teardown, module fixtures included) is
# listed at the end of the run, to be marked slow or made faster.

SLOW_AFTER = float(os.environ.get("SHAPELINT_SLOW_AFTER", "5"))
_unmarked_seconds: dict = {}


def pytest_collection_modifyitems(config, items):
    bad = [item.nodeid for item in items
           if item.get_closest_marker("tensorflow") and not item.get_closest_marker("slow")]
    if bad:
        raise pytest.UsageError("marked tensorflow but not slow (the fast tier must not need TensorFlow):\n  "
                                + "\n  ".join(bad))


def pytest_runtest_logreport(report):
    if "slow" not in report.keywords:
        _unmarked_seconds[report.nodeid] = _unmarked_seconds.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    over = sorted(((t, n) for n, t in _unmarked_seconds.items() if t > SLOW_AFTER), reverse=True)
    if over:
        terminalreporter.section(f"tests not marked slow that took over {SLOW_AFTER:g} s")
        for t, n in over:
            terminalreporter.line(f"{t:6.1f} s  {n}")
        terminalreporter.line('mark them @pytest.mark.slow or make them faster: `pytest -m "not slow"` is the '
                              "fast tier, under 60 s on 2 cores")


@pytest.fixture(autouse=True)
def _details_schema(monkeypatch):
    """Every finding any test produces in-process fits the one details schema (tests.support.
    schema_errors: axes numbered one way, admissible sizes listed one way)."""
    import shapelint.lint as lint_mod

    from tests.support import check_details

    plain = lint_mod.findings

    def checked(rule, ctx):
        out = plain(rule, ctx)
        check_details(out, ctx.inferred, ctx.graph)
        return out

    monkeypatch.setattr(lint_mod, "findings", checked)
