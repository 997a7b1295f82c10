"""A finding: where, what (both numbers), why (the chain of shapes) and the fix to paste."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "info")
# rules whose findings are abstentions, not problems: the text report prints them as one-line
# "unknown" notes, always (whatever --show-info), and counts them apart
ABSTENTION_RULES = frozenset({"SL005"})
# the details that identify a finding's issue, not its wording (baselines, SARIF fingerprints)
IDENTITY_KEYS = ("axis", "symbol", "inputs", "sizes", "input_axis", "admissible", "output", "input", "chosen")
IDENTITY_KEYS_ALSO = ("axis", "symbol", "sizes")


def identity(f) -> dict:
    """The details that identify a finding's issue (not its wording)."""
    d = f.details or {}
    out = {k: d[k] for k in IDENTITY_KEYS if k in d}
    also = d.get("also")
    if isinstance(also, list):
        out["also"] = [{k: a[k] for k in IDENTITY_KEYS_ALSO if k in a} for a in also if isinstance(a, dict)]
    return out


@dataclass(frozen=True)
class Finding:
    rule: str  # "SL003"
    name: str  # "merge-mismatch"
    severity: str  # error | warning | info
    file: str
    node: str
    op: str
    message: str  # one line, with the numbers
    suggestion: str  # what to change, ready to paste; may span lines
    chain: tuple = ()  # lines: the shapes on each branch up to the node
    details: dict = field(default_factory=dict, compare=False)  # machine-readable numbers

    def fingerprint(self) -> str:
        """A stable identity for baselines and SARIF: the rule, the node, and the numbers that make
        the finding (axis, sizes, sets) -- not the message wording, not the file path."""
        import hashlib
        import json

        blob = json.dumps([self.rule, self.node, identity(self)], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def as_json(self) -> dict:
        return {
            "file": self.file,
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "node": self.node,
            "op": self.op,
            "message": self.message,
            "suggestion": self.suggestion,
            "chain": list(self.chain),
            "details": self.details,
        }
