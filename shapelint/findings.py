"""A finding: where, what (both numbers), why (the chain of shapes) and the fix to paste.

Checks yield :class:`Violation`s (the node, the message, the fix, the details); the registry in
``checks/__init__.py`` makes each a :class:`Finding` with its rule's id, name and severity, and the
detail keys that identify it (``Rule.identity``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

SEVERITIES = ("error", "warning", "info")
# rules whose findings are abstentions, not problems: the text report prints them as one-line
# "unknown" notes, always (whatever --show-info), and counts them apart
ABSTENTION_RULES = frozenset({"SL005"})
# the keys of each entry of a finding's "also" list (other axes of the same merge) that identify it
IDENTITY_KEYS_ALSO = ("axis", "symbol", "sizes")


def identity(f) -> dict:
    """The details that identify a finding's issue, not its wording (baselines, SARIF
    fingerprints): the keys its rule declares (``Rule.identity``)."""
    d = f.details or {}
    out = {k: d[k] for k in f.identity_keys if k in d and k != "also"}
    also = d.get("also")
    if "also" in f.identity_keys and isinstance(also, list):
        out["also"] = [{k: a[k] for k in IDENTITY_KEYS_ALSO if k in a} for a in also if isinstance(a, dict)]
    return out


@dataclass(frozen=True)
class Violation:
    """What a check yields: the node, a one-line message with both numbers, the fix to paste, the
    chain of shapes, and machine-readable details. ``severity`` only where the check departs from
    its rule's default (SL002's conventions are info, its disagreements a warning)."""

    node: str
    op: str
    message: str
    fix: str
    chain: tuple = ()
    details: dict = field(default_factory=dict, compare=False)
    severity: Optional[str] = None


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
    identity_keys: tuple = field(default=(), compare=False, repr=False)  # the rule's (Rule.identity)

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
