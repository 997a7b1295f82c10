"""The limits table in docs/hardening.md is shapelint/limits.py: every limit, with its value."""

import os
import re

from shapelint import limits

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "hardening.md")


def _value(text: str) -> int:
    m = re.fullmatch(r"([\d,]+)(?: (KiB|MiB|GiB))?", text.strip())
    assert m, text
    return int(m.group(1).replace(",", "")) * {None: 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]


def test_the_docs_list_every_limit_with_its_value():
    rows = dict(re.findall(r"^\| `(MAX_[A-Z_]+)` \| ([^|]+) \|", open(DOC, encoding="utf-8").read(), re.M))
    defined = {k: v for k, v in vars(limits).items() if k.startswith("MAX_") and isinstance(v, int)}
    assert set(rows) == set(defined), (set(rows) ^ set(defined))
    for name, text in rows.items():
        assert _value(text) == defined[name], (name, text, defined[name])
