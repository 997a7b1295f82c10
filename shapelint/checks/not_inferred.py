"""SL005 not-inferred: where shapelint could not follow the shapes, it says so.

Each finding names the first op on a path that lost a shape (no shape rule, an input value
computed at run time, an attribute it cannot read) or a run-time shape check it could not state.
No size is called working past such an op: ``contract`` abstains on every size it cannot show
to fail, and ``check`` says so here instead of passing silently.
"""

from __future__ import annotations

from ..analysis import unknowns
from ..findings import Violation
from ._context import CheckContext


def _fix(u) -> str:
    if u.reason.startswith("no shape rule"):
        return (f"pin the input sizes you use with --input-shape to check them one by one, or replace {u.op} with "
                f"ops shapelint infers; report the op so that it gets a rule")
    if "computed at run time" in u.reason or "value" in u.reason:
        return ("compute the shape from the input's shape (Shape → Gather → arithmetic) rather than from tensor "
                "data, or pin the sizes you use with --input-shape")
    return "pin the input sizes you use with --input-shape to check them one by one"


def check(ctx: CheckContext):
    for u in unknowns(ctx.inferred):
        yield Violation(
            u.node,
            u.op,
            f"{u.op} '{u.node}': {u.reason}; no input size is said to run past it",
            _fix(u),
            (),
            {"reason": u.reason},
        )
