"""Walking back from a tensor: the chain of ops that produced its shape, for messages (used by the
checks, ``fix``, ``explain`` and the contract's reasons). Which ops pass a size through, upsample,
or take their data from another input is each dialect's (``frameworks/``)."""

from __future__ import annotations

from .frameworks import dialect
from .infer import Inferred
from .symbolic import fmt_dim, fmt_shape  # noqa: F401  (re-exported: messages print dims so)


def lineage(inf: Inferred, tensor: str, limit: int = 400) -> list:
    """Tensors on the data path back from ``tensor`` (following each node's first input)."""
    out = [tensor]
    seen = {tensor}
    while len(out) < limit:
        node = inf.producer.get(out[-1])
        if node is None:
            break
        nxt = data_input(inf, node)
        if nxt is None or nxt in seen:
            break
        seen.add(nxt)
        out.append(nxt)
    return out


def is_upsampler(node) -> bool:
    return node.op in dialect(node).upsamplers


def data_input(inf: Inferred, node):
    """The input that carries the data: the first one of the highest rank that is not a constant."""
    k = dialect(node).data_input.get(node.op)
    if k is not None and len(node.inputs) > k:
        return node.inputs[k]
    best, best_rank = None, -1
    for name in node.inputs:
        if not name or name in inf.graph.constants:
            continue
        prod = inf.producer.get(name)
        if prod is not None and prod.op in dialect(prod).weight_ops:
            continue
        s = inf.shape(name)
        r = len(s) if s is not None else 0
        if r > best_rank:
            best, best_rank = name, r
    return best


def branches(inf: Inferred, a: str, b: str, axis: int, max_steps: int = 6) -> tuple:
    """Lines showing how the sizes on ``axis`` of a and b came about, from a common ancestor."""
    la, lb = lineage(inf, a), lineage(inf, b)
    common = next((t for t in la if t in set(lb)), None)
    lines = []
    if common is not None:
        lines.append(f"common ancestor: {common} {fmt_shape(inf.shape(common))}")
    for label, lin in (("branch 1", la), ("branch 2", lb)):
        steps = lin[: lin.index(common)] if common in lin else lin
        steps = list(reversed(steps))
        cut = len(steps) > max_steps
        steps = steps[-max_steps:]
        parts = []
        for t in steps:
            node = inf.producer.get(t)
            s = inf.shape(t)
            d = fmt_dim(s[axis]) if s is not None and -len(s) <= axis < len(s) else "?"
            parts.append(f"{node.op if node else 'input'} {node.name if node else t} → {d}")
        if not parts:
            lines.append(f"{label}: (the common ancestor itself)")
            continue
        lines.append(f"{label}: " + ("… ⇒ " if cut else "") + parts[0])
        lines.extend(f"    ⇒ {p}" for p in parts[1:])
    return tuple(lines)


def find_upsampler(inf: Inferred, tensor: str, depth: int = 12):
    """The ConvTranspose/Resize/Upsample node whose output reaches ``tensor`` unchanged in size."""
    t = tensor
    for _ in range(depth):
        node = inf.producer.get(t)
        if node is None:
            return None
        d = dialect(node)
        if node.op in d.upsamplers:
            return node
        if node.op not in d.pass_through:
            return None
        t = data_input(inf, node)
        if t is None:
            return None
    return None
