"""Reporters (text, json) and the exit-code policy, in one place."""

from __future__ import annotations

import json

from .escape import json_text, name as esc
from .findings import ABSTENTION_RULES

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


RANK = {"error": 0, "warning": 1, "info": 2}


def return_code(results, fail_on: str = "warning") -> int:
    """2 when a model could not be read; else 1 when a finding is at least as severe as ``fail_on``
    (default: a warning or an error); else 0."""
    if any(r.error for r in results):
        return EXIT_ERROR
    if any(RANK[f.severity] <= RANK[fail_on] for r in results for f in r.findings):
        return EXIT_FINDINGS
    return EXIT_OK


def visible(findings, show_info: bool) -> list:
    """The findings an output shows: info ones only with --show-info, except where shapelint
    abstains (SL005), which every format shows."""
    return [f for f in findings if show_info or f.severity != "info" or f.rule in ABSTENTION_RULES]


COLOURS = {"error": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[36m"}


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    import os

    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


def text(results, show_info: bool = False, show_notes: bool = True, colour: bool = False,
         summary_line: bool = True) -> str:
    out = []
    counts = {"error": 0, "warning": 0, "info": 0}
    abstained = 0
    for r in results:
        if r.error:
            continue
        unknown = [f for f in r.findings if f.rule in ABSTENTION_RULES]
        abstained += bool(unknown)
        for f in visible([f for f in r.findings if f.rule not in ABSTENTION_RULES], show_info):
            counts[f.severity] += 1
            tag = f"[{f.severity}]"
            if colour:
                tag = f"{COLOURS[f.severity]}{tag}\033[0m"
            out.append(f"{esc(f.file)}: {f.rule} {tag} {f.name} at {f.op} '{f.node}'")
            out.append(f"  {f.message}")
            for line in f.chain:
                out.append(f"  | {line}")
            first, *rest = f.suggestion.splitlines() or [""]
            out.append(f"  fix: {first}")
            out.extend(f"       {line}" for line in rest)
            out.append("")
        if r.works:
            what = "runs only for" if not unknown else "fails outside"
            out.append(f"{esc(r.path)}: the whole model {what} " + "; ".join(r.works.values()))
        for f in unknown:
            tag = f"[{f.severity}]" if f.severity != "info" else ""
            out.append(f"{esc(f.file)}: unknown{tag}: {f.message}")
        if unknown:
            out.append(f"{esc(r.path)}: shapelint abstains: no input size is said to run past the op(s) above")
        if show_notes:
            for note in r.notes:
                out.append(f"{esc(r.path)}: note: {note}")
    n_files = sum(1 for r in results if not r.error)
    if not n_files:
        return ""
    if not summary_line:
        return "\n".join(out).rstrip()
    summary = ", ".join(f"{v} {k}{'s' if v != 1 else ''}" for k, v in counts.items() if v) or "no findings"
    hidden = sum(1 for r in results for f in r.findings
                 if f.severity == "info" and f.rule not in ABSTENTION_RULES) if not show_info else 0
    line = f"{n_files} model{'s' if n_files != 1 else ''} checked: {summary}"
    if abstained:
        line += f", {abstained} not fully inferred (see the 'unknown' lines)"
    if hidden:
        line += f" ({hidden} info finding{'s' if hidden != 1 else ''} hidden; --show-info lists them)"
    out.append(line)
    return "\n".join(out)


def as_json(results, show_info: bool = True) -> str:
    """The findings as a JSON list; a model that could not be read is a record too, with the
    same keys: ``rule`` null, ``name`` "unreadable", ``severity`` "error", the reason as ``message``."""
    items = []
    for r in results:
        if r.error:
            items.append({"file": esc(r.path), "rule": None, "name": "unreadable", "severity": "error", "node": "",
                          "op": "", "message": r.error, "suggestion": "", "chain": [], "details": {}})
        # file names escaped (not valid UTF-8, control characters): the JSON is always valid UTF-8
        items.extend({**f.as_json(), "file": esc(f.file)} for f in visible(r.findings, show_info))
    return json_text(json.dumps(items, indent=2, ensure_ascii=False))  # (a raw C1 control: \u0085, valid JSON)
