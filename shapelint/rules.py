"""Rule documentation from rules/*.yaml (installed as shapelint._rules), with a strict schema."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

REQUIRED = ("id", "name", "severity", "summary", "message", "rationale", "examples", "fix")
EXAMPLE_KEYS = ("bad", "good")
SEVERITIES = ("error", "warning", "info")


class RuleDocError(ValueError):
    pass


@dataclass(frozen=True)
class RuleDoc:
    id: str
    name: str
    severity: str
    summary: str
    message: str
    rationale: str
    bad: str
    good: str
    fix: str


def parse(data: dict, source: str) -> RuleDoc:
    if not isinstance(data, dict):
        raise RuleDocError(f"{source}: expected a mapping")
    unknown = sorted(set(data) - set(REQUIRED))
    if unknown:
        raise RuleDocError(f"{source}: unknown key(s) {', '.join(unknown)}")
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        raise RuleDocError(f"{source}: missing {', '.join(missing)}")
    if data["severity"] not in SEVERITIES:
        raise RuleDocError(f"{source}: severity {data['severity']!r} is not one of {', '.join(SEVERITIES)}")
    ex = data["examples"]
    if not isinstance(ex, dict) or set(ex) != set(EXAMPLE_KEYS) or not all(ex.values()):
        raise RuleDocError(f"{source}: examples must have exactly 'bad' and 'good'")
    return RuleDoc(data["id"], data["name"], data["severity"], data["summary"].strip(), data["message"],
                   data["rationale"].strip(), ex["bad"], ex["good"], data["fix"].strip())


def _folder():
    """rules/*.yaml: installed as the package shapelint._rules, or next to the package in a checkout
    (``python -m shapelint`` run from the repository)."""
    try:
        return resources.files("shapelint._rules")
    except ModuleNotFoundError:
        from pathlib import Path

        return Path(__file__).resolve().parent.parent / "rules"


def load_all() -> dict:
    import yaml

    docs = {}
    for entry in sorted(_folder().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            doc = parse(yaml.safe_load(entry.read_text(encoding="utf-8")), entry.name)
            if not entry.name.startswith(f"{doc.id}-{doc.name}"):
                raise RuleDocError(f"{entry.name}: file name should be {doc.id}-{doc.name}.yaml")
            docs[doc.id] = doc
    return docs
