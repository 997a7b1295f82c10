"""The registry: every check, by rule id, in one literal dict (found by grep). Each rule's docs are
in rules/<ID>-<name>.yaml. A check yields Violations; ``lint`` makes them Findings with the rule's
id, name, default severity and identity keys from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import (ambiguous_convtranspose, invalid_convtranspose, merge, not_inferred, shape_check, size_contract,
               too_small)


@dataclass(frozen=True)
class Rule:
    id: str  # "SL003"
    name: str  # "merge-mismatch"
    severity: str  # the default: error | warning | info
    check: Callable  # CheckContext -> Iterable[Violation]
    # the details that identify a finding of this rule (baselines, SARIF fingerprints): the numbers
    # that make it, not its wording
    identity: tuple = ()


_TRANSPOSED = ("axis", "admissible", "output", "input", "chosen")

CHECKS = {r.id: r for r in (
    Rule("SL001", "invalid-convtranspose", "error", invalid_convtranspose.check, _TRANSPOSED),
    Rule("SL002", "ambiguous-convtranspose", "warning", ambiguous_convtranspose.check, _TRANSPOSED),
    Rule("SL003", "merge-mismatch", "error", merge.check,
         ("axis", "symbol", "inputs", "sizes", "input_axis", "input", "also")),
    Rule("SL004", "input-too-small", "error", too_small.check, ("axis",)),
    Rule("SL005", "not-inferred", "info", not_inferred.check),
    Rule("SL006", "shape-check", "error", shape_check.check, ("axis", "symbol", "sizes", "input_axis", "input")),
    Rule("SL007", "size-contract", "warning", size_contract.check, ("symbol", "input_axis", "input")),
)}
