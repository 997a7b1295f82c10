"""The registry: every check, by rule id. Each rule's docs are in rules/<ID>-<name>.yaml."""

from __future__ import annotations

from . import convtranspose, merge, too_small

# rule id -> (name, default severity, check function); one literal dict, found by grep
CHECKS = {
    "SL001": ("invalid-convtranspose", "error", convtranspose.check_invalid),
    "SL002": ("ambiguous-convtranspose", "warning", convtranspose.check_ambiguous),
    "SL003": ("merge-mismatch", "error", merge.check),
    "SL004": ("input-too-small", "error", too_small.check),
}
