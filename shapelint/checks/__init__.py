"""The registry: every check, by rule id, in one literal dict (found by grep). Each rule's docs are
in rules/<ID>-<name>.yaml. A check yields Violations; ``lint`` makes them Findings with the rule's
id, name, default severity and identity keys from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import (convtranspose, convtranspose_keras, convtranspose_tf, convtranspose_tflite, merge, not_inferred,
               shape_check, size_contract, too_small)


@dataclass(frozen=True)
class Rule:
    id: str  # "SL003"
    name: str  # "merge-mismatch"
    severity: str  # the default: error | warning | info
    check: Callable  # CheckContext -> Iterable[Violation]
    # the details that identify a finding of this rule (baselines, SARIF fingerprints): the numbers
    # that make it, not its wording
    identity: tuple = ()


def _both(*fns):
    """One rule, checked in each framework's terms."""

    def check(ctx):
        for fn in fns:
            yield from fn(ctx)

    check.__doc__ = fns[0].__doc__
    return check


_TRANSPOSED = ("axis", "admissible", "output", "input", "chosen")

CHECKS = {r.id: r for r in (
    Rule("SL001", "invalid-convtranspose", "error",
         _both(convtranspose.check_invalid, convtranspose_tf.check_invalid, convtranspose_tflite.check_invalid,
               convtranspose_keras.check_invalid), _TRANSPOSED),
    Rule("SL002", "ambiguous-convtranspose", "warning",
         _both(convtranspose.check_ambiguous, convtranspose_tf.check_ambiguous, convtranspose_tflite.check_ambiguous,
               convtranspose_keras.check_ambiguous), _TRANSPOSED),
    Rule("SL003", "merge-mismatch", "error", merge.check,
         ("axis", "symbol", "inputs", "sizes", "input_axis", "input", "also")),
    Rule("SL004", "input-too-small", "error", too_small.check, ("axis",)),
    Rule("SL005", "not-inferred", "info", not_inferred.check),
    Rule("SL006", "shape-check", "error", shape_check.check, ("axis", "symbol", "sizes", "input_axis", "input")),
    Rule("SL007", "size-contract", "warning", size_contract.check, ("symbol", "input_axis", "input")),
)}
