"""The registry: every check, by rule id. Each rule's docs are in rules/<ID>-<name>.yaml."""

from __future__ import annotations

from . import (convtranspose, convtranspose_keras, convtranspose_tf, convtranspose_tflite, merge, not_inferred,
               shape_check, size_contract, too_small)


def _both(*fns):
    """One rule, checked in each framework's terms."""

    def check(ctx):
        for fn in fns:
            yield from fn(ctx)

    check.__doc__ = fns[0].__doc__
    return check


# rule id -> (name, default severity, check function); one literal dict, found by grep
CHECKS = {
    "SL001": ("invalid-convtranspose", "error",
              _both(convtranspose.check_invalid, convtranspose_tf.check_invalid, convtranspose_tflite.check_invalid,
                    convtranspose_keras.check_invalid)),
    "SL002": ("ambiguous-convtranspose", "warning",
              _both(convtranspose.check_ambiguous, convtranspose_tf.check_ambiguous,
                    convtranspose_tflite.check_ambiguous, convtranspose_keras.check_ambiguous)),
    "SL003": ("merge-mismatch", "error", merge.check),
    "SL004": ("input-too-small", "error", too_small.check),
    "SL005": ("not-inferred", "info", not_inferred.check),
    "SL006": ("shape-check", "error", shape_check.check),
    "SL007": ("size-contract", "warning", size_contract.check),
}
