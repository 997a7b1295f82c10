"""SL007 size-contract: the input sizes a model declared dynamic really runs at, as one finding
per dynamic input dim whose set is not "every size".

This is `shapelint contract`'s answer as a finding, so that `check` and `contract` say the same
thing, for the restrictions no per-node finding states (where a merge or a shape check restricts
a dim, SL003 / SL006 give the whole model's set already): a warning when sizes above the smallest working one fail (a U-Net that needs H mod 16 = 0, a
ViT whose position embedding fits one size), an info when only sizes below a minimum fail (a
classifier that needs H ≥ 32). Where shapelint abstains (SL005), the set is the sizes it cannot
show to fail, and the finding says so.
"""

from __future__ import annotations

from ..findings import Violation
from ._context import CheckContext


def check(ctx: CheckContext):
    inf = ctx.inferred
    c = ctx.contract
    if c.static_failures:
        return  # fails at its fixed sizes: the rule that names the node reports it
    tied = c.joint()
    for name, ss in sorted(c.works().items()):
        origin = inf.symbols.get(name)
        if origin is None or ss.is_everything():
            continue
        if name in c.sets and not c.sets[name].is_everything() or name in tied:
            continue  # a merge or shape check restricts it: SL003 / SL006 state the set there, node by node
        declared = (ctx.declared or {}).get(name)
        if declared is not None and declared.intersect(ss) == declared.canonical():
            continue  # every size the model is declared for works
        ss = ss.canonical()
        low = ss.minimum()
        only_below = not ss.small and ss.modulus == 1 and ss.residues
        sev = "info" if only_below else ("error" if ss.is_empty() else "warning")
        where = f"input '{origin[0]}' axis {origin[1]} ({name})"
        # a failing size above the smallest working one says more than H=1
        first_bad = next((x for x in range((low or 0) + 1, ss.start + 2 * ss.modulus + 1) if x not in ss),
                         ss.first_missing())
        said = (f"the model runs only for {ss.describe(name)}" if c.proven()
                else f"the model fails outside {ss.describe(name)}; on those sizes shapelint abstains (SL005)")
        note = c.note(name)
        msg = f"{where}: {said}" + (f" (e.g. {name}={first_bad} fails)" if first_bad is not None else "") \
            + (f"; {note}" if note else "")
        fix = (f"document or validate the input-size contract ({ss.describe(name)}); `shapelint contract "
               f"{ctx.path}` prints why, with the ops that restrict it"
               if not ss.is_empty() else "no size works: change the model")
        yield Violation(
            origin[0],
            "input",
            msg,
            fix,
            (),
            {"symbol": name, "input": origin[0], "input_axis": origin[1], "works": ss.describe(name),
                       "modulus": ss.modulus, "residues": sorted(ss.residues), "min": low,
                       "smallest_failing": first_bad, "proven": c.proven()},
            severity=sev,
        )
