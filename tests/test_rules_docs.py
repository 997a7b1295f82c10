"""Every check has a YAML doc with every section, and every YAML a check (schema is strict)."""

import pytest

from shapelint import rules
from shapelint.checks import CHECKS


def test_every_check_has_a_doc_and_every_doc_a_check():
    docs = rules.load_all()
    assert set(docs) == set(CHECKS)
    for rule_id, rule in CHECKS.items():
        name, severity = rule.name, rule.severity
        assert docs[rule_id].name == name
        assert docs[rule_id].severity == severity


def test_docs_have_every_section():
    for doc in rules.load_all().values():
        for field in ("summary", "message", "rationale", "bad", "good", "fix"):
            assert getattr(doc, field).strip(), (doc.id, field)


@pytest.mark.parametrize("mutate, error", [
    (lambda d: d.pop("fix"), "missing fix"),
    (lambda d: d.update(colour="red"), "unknown key(s) colour"),
    (lambda d: d.update(severity="fatal"), "severity 'fatal'"),
    (lambda d: d.update(examples={"bad": "x"}), "examples must have"),
])
def test_schema_rejects_bad_docs(mutate, error):
    data = {"id": "SL999", "name": "x", "severity": "error", "summary": "s", "message": "m",
            "rationale": "r", "examples": {"bad": "b", "good": "g"}, "fix": "f"}
    rules.parse(dict(data), "ok.yaml")  # the baseline is valid
    mutate(data)
    with pytest.raises(rules.RuleDocError, match=error.replace("(", r"\(").replace(")", r"\)")):
        rules.parse(data, "bad.yaml")


def test_rule_command_prints_every_section():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "shapelint", "rule", "sl003"], capture_output=True, text=True)
    assert p.returncode == 0
    for heading in ("SL003 merge-mismatch (error)", "What it does", "Why is this bad?", "Example", "Use instead", "Fix"):
        assert heading in p.stdout
    p = subprocess.run([sys.executable, "-m", "shapelint", "rule", "--all"], capture_output=True, text=True)
    assert p.returncode == 0 and all(f"{i} " in p.stdout for i in CHECKS)
    p = subprocess.run([sys.executable, "-m", "shapelint", "rule", "SL999"], capture_output=True, text=True)
    assert p.returncode == 2 and "SL001" in p.stderr
