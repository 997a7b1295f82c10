"""Test-session settings shared by every test module."""

import os

# TensorFlow turns oneDNN on by itself only on some CPUs (not on this project's AMD machines): its
# Eigen kernels then refuse dilated transposed convolutions ("Current CPU implementations do not
# yet support dilation rates larger than 1"). The tests compare with TF as SEMANTICS.md measured
# it, with oneDNN, on every machine; subprocesses inherit the setting.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# A bug in a shape rule or a check (TypeError, KeyError, ...) fails the test instead of becoming a
# "malformed node" note; malformed models still get their notes (see shapelint.infer._CAUGHT).
os.environ.setdefault("SHAPELINT_STRICT", "1")
