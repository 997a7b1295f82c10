"""Machine formats for CI: SARIF 2.1.0 (code scanning) and GitHub Actions workflow commands.

Pure functions over a list of ``shapelint.lint.Result``; they return the text to print. A model
file has no lines, so locations name the file (a SavedModel folder: its ``saved_model.pb``) and
the node, as a logical location; partial fingerprints keep a finding's identity across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from . import __version__
from .findings import identity
from .report import visible

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "shapelintFinding/v2"  # v2: details number axes and list admissible sizes one way
SRCROOT = "%SRCROOT%"
# the tool's page (informationUri, and every rule's helpUri) when the installed package declares no
# Project-URL (pyproject.toml has no [project.urls] yet: the project has no public URL of its own)
DEFAULT_INFORMATION_URI = "https://pypi.org/project/shapelint/"

SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
GITHUB_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}

# the details that say *which* issue a finding is (where, on which axis, between which sizes);
# the rest (messages, working sizes, the model-wide contract) may change without it being a new issue


# --------------------------------------------------------------------------- shared


def _model_file(path: str) -> str:
    """The file a location points at: a SavedModel folder is its saved_model.pb."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return os.path.join(path, "saved_model.pb")
    return path


def _relative(path: str, base: str | None) -> str | None:
    """``path`` relative to ``base`` (default: the current directory) with forward slashes, or
    None when it is not below it (another drive, or outside)."""
    base = os.path.abspath(base if base is not None else os.getcwd())
    try:
        rel = os.path.relpath(os.path.abspath(path), base)
    except ValueError:  # Windows: another drive
        return None
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


def display_path(path: str, base: str | None = None) -> str:
    """The model file as a user's repository names it: relative to ``base`` when below it
    (forward slashes), else absolute; escaped (``escape.name``) as every name shown is."""
    from .escape import name

    path = _model_file(path)
    rel = _relative(path, base)
    return name(rel if rel is not None else os.path.abspath(path))


def _artifact_location(path: str, base: str | None) -> dict:
    """A SARIF artifactLocation: a relative URI reference against %SRCROOT% when the file is below
    ``base``, else an absolute file: URI. Percent-encoded (":" too, so that a first segment is
    never read as a scheme)."""
    path = _model_file(path)
    rel = _relative(path, base)
    if rel is not None:
        # (the bytes of the name: a file name that is not UTF-8 is percent-encoded as it is on disk)
        return {"uri": quote(os.fsencode(rel), safe="/!$&'()*+,;=@"), "uriBaseId": SRCROOT}
    return {"uri": Path(os.path.abspath(path)).as_uri()}


def _headline(f) -> str:
    """The finding's message, led by the node when the message does not name it: a model file has
    no line, so the node is the only place a reader can look."""
    if f.node and f"'{f.node}'" not in f.message:
        return f"{f.op} '{f.node}': {f.message}"
    return f.message


def fingerprint(f, location: str) -> str:
    """A stable hash of (rule, model file, node, identifying details): the same when a message is
    reworded or a working size changes, different for another node, axis or pair of sizes.
    ``location`` is the file as reported (e.g. its path relative to the repository root)."""
    payload = json.dumps([FINGERPRINT_KEY, f.rule, location, f.node, identity(f)], sort_keys=True,
                         ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- SARIF

_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z(])")
_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "cf.")


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        if not text[:end].lower().endswith(_ABBREVIATIONS):
            return text[:end]
    return text


def project_urls() -> dict:
    """The installed package's ``[project.urls]`` (``Project-URL`` metadata): {label, lowercased:
    URL}, in their order; {} when there are none or the package is not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, metadata

        try:
            entries = metadata("shapelint").get_all("Project-URL") or []
        except PackageNotFoundError:
            entries = []
    except Exception:  # metadata is a nicety: never fail a report over it
        return {}
    out: dict = {}
    for entry in entries:  # "Label, https://…"
        label, _, url = entry.partition(",")
        if url.strip():
            out.setdefault(label.strip().lower(), url.strip())
    return out


def information_uri(urls: dict) -> str:
    """The tool's page: the first homepage, repository, source or documentation URL the package
    declares, else its PyPI page."""
    return next((url for label, url in urls.items() if label in ("homepage", "repository", "source", "source code",
                                                                   "documentation")), DEFAULT_INFORMATION_URI)


RULE_DOCS_REF = "main"  # the branch a rule's documentation is linked at, in the repository


def help_uri(rule_file: str, urls: dict) -> str:
    """A rule's documentation: its YAML file (``rules/SL003-merge-mismatch.yaml``, or
    ``docs/rules.md`` for a rule without one) in the repository ``[project.urls]`` names
    (``Repository`` or ``Source``), at ``RULE_DOCS_REF``; without a repository, the tool's page
    (:func:`information_uri`), as informationUri is."""
    repo = next((urls[k] for k in ("repository", "source", "source code") if k in urls), None)
    if repo is None:
        return information_uri(urls)
    return f"{repo.rstrip('/')}/blob/{RULE_DOCS_REF}/{quote(rule_file)}"


def _rule_descriptor(doc, urls: dict) -> dict:
    markdown = (f"{doc.rationale}\n\n**Example**\n\n```text\n{doc.bad.rstrip()}\n```\n\n"
                f"**Use instead**\n\n```text\n{doc.good.rstrip()}\n```\n\n**Fix:** {doc.fix}")
    return {
        "id": doc.id,
        "name": doc.name,
        "shortDescription": {"text": first_sentence(doc.summary)},
        "fullDescription": {"text": " ".join(doc.summary.split())},
        "help": {"text": f"{doc.rationale}\n\nFix: {doc.fix}", "markdown": markdown},
        "helpUri": help_uri(f"rules/{doc.id}-{doc.name}.yaml", urls),
        "defaultConfiguration": {"level": SARIF_LEVEL[doc.severity]},
    }


def _rules(urls: dict) -> list:
    """Every rule in the registry, documented from rules/*.yaml (a rule without a YAML, which the
    docs test forbids, still gets its id, name, level and a link to docs/rules.md)."""
    from .checks import CHECKS
    from .rules import load_all

    docs = load_all()
    out = []
    for rule_id in list(CHECKS) + [i for i in docs if i not in CHECKS]:
        if rule_id in docs:
            out.append(_rule_descriptor(docs[rule_id], urls))
        else:
            rule = CHECKS[rule_id]
            out.append({"id": rule_id, "name": rule.name, "shortDescription": {"text": rule.name},
                        "helpUri": help_uri("docs/rules.md", urls),
                        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]}})
    return out


def _location(path: str, base: str | None) -> dict:
    return {"physicalLocation": {"artifactLocation": _artifact_location(path, base)}}


def sarif_log(results, show_info: bool = True, base: str | None = None) -> dict:
    """The SARIF 2.1.0 log as a dict (``sarif`` serialises it). ``base``: the directory locations
    are relative to (the repository root in CI; default: the current directory)."""
    base = os.path.abspath(base if base is not None else os.getcwd())
    urls = project_urls()
    rules = _rules(urls)
    index = {r["id"]: k for k, r in enumerate(rules)}
    out, notifications = [], []
    for r in results:
        if r.error:
            notifications.append({"level": "error", "message": {"text": r.error},
                                  "locations": [_location(r.path, base)]})
            continue
        for note in r.notes:
            notifications.append({"level": "note", "message": {"text": note}, "locations": [_location(r.path, base)]})
        for f in visible(r.findings, show_info):
            path = f.file or r.path
            if f.rule not in index:  # not in the registry: describe it minimally rather than drop it
                index[f.rule] = len(rules)
                rules.append({"id": f.rule, "name": f.name, "shortDescription": {"text": f.name},
                              "helpUri": help_uri("docs/rules.md", urls)})
            loc = _location(path, base)
            loc["logicalLocations"] = [{"name": f.node, "fullyQualifiedName": f.node, "kind": "object"}]
            text = _headline(f) + (f"\nFix: {f.suggestion}" if f.suggestion else "")
            out.append({
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": SARIF_LEVEL[f.severity],
                "message": {"text": text},
                "locations": [loc],
                "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f, display_path(path, base))},
                "properties": {"severity": f.severity, "op": f.op, "chain": list(f.chain),
                               "details": f.details or {}},
            })
    invocation = {"executionSuccessful": not any(r.error for r in results)}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run = {
        "tool": {"driver": {"name": "shapelint", "version": __version__, "semanticVersion": __version__,
                            "informationUri": information_uri(urls), "rules": rules}},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": Path(base).as_uri().rstrip("/") + "/"}},
        "results": out,
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def sarif(results, show_info: bool = True, base: str | None = None) -> str:
    """SARIF 2.1.0, for GitHub code scanning and other SARIF viewers."""
    from .escape import json_text

    return json_text(json.dumps(sarif_log(results, show_info, base), indent=2, ensure_ascii=False, default=str))


# --------------------------------------------------------------------------- GitHub Actions


def escape_data(s: str) -> str:
    """A workflow command's value (after ``::``), as GitHub's toolkit escapes it."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """A workflow command's property value (``file=``, ``title=``): data escaping, plus ``:`` and ``,``."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, message: str, **props) -> str:
    params = ",".join(f"{k}={escape_property(v)}" for k, v in props.items())
    return f"::{kind} {params}::{escape_data(message)}"


def github(results, show_info: bool = True, base: str | None = None) -> str:
    """One annotation per finding: ``::error file=…,title=SL003 merge-mismatch::…`` (``warning``
    for warnings, ``notice`` for info), and an ``::error`` per model that could not be read."""
    lines = []
    for r in results:
        if r.error:
            lines.append(_command("error", r.error, file=display_path(r.path, base), title="unreadable model"))
            continue
        for f in visible(r.findings, show_info):
            lines.append(_command(GITHUB_COMMAND[f.severity], _headline(f),
                                  file=display_path(f.file or r.path, base), title=f"{f.rule} {f.name}"))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Format:
    """An output format of ``shapelint check``: ``render(results, show_info=…, colour=…)`` gives
    the text to print ("" for nothing); ``help`` is what ``--help`` says of it."""

    render: Callable[..., str]
    help: str


def _text(results, show_info: bool, colour: bool) -> str:
    from .report import text

    return text(results, show_info=show_info, colour=colour)


def _json(results, show_info: bool, colour: bool) -> str:
    from .report import as_json

    return as_json(results, show_info=show_info)


def printable(s: str) -> str:
    """``s`` on one line with every control, format or separator character escaped (ESC, \\r,
    \\n, U+2028, bidi controls): nothing a name holds reaches a terminal or a CI log as is."""
    from .errors import one_line

    return one_line(s)


def _concise(results, show_info: bool, colour: bool) -> str:

    return "\n".join(printable(f"{f.file}:{f.node}: {f.rule} [{f.severity}] {f.message}")
                     for r in results for f in visible(r.findings, show_info))


def _cell(text: str) -> str:
    """A Markdown table cell: one line, pipes escaped, names escaped (formats.printable)."""
    return printable(text).replace("\\", "\\\\").replace("|", "\\|")


def _markdown(results, show_info: bool, colour: bool) -> str:
    """For GitHub job summaries and pull-request comments: a table of findings, then each dynamic
    model's working sizes, then the models that could not be read."""
    rows = [(f.file, f.rule, f.severity, f.node, f.message) for r in results for f in visible(r.findings, show_info)]
    errors = sum(1 for row in rows if row[2] == "error")
    warnings = sum(1 for row in rows if row[2] == "warning")
    n = sum(1 for r in results if not r.error)
    out = [f"### shapelint: {n} model{'s' if n != 1 else ''} checked, {errors} error{'s' if errors != 1 else ''}, "
           f"{warnings} warning{'s' if warnings != 1 else ''}", ""]
    if rows:
        out += ["| file | rule | severity | node | finding |", "| --- | --- | --- | --- | --- |"]
        out += [f"| {_cell(a)} | {b} | {c} | {_cell(d)} | {_cell(e)} |" for a, b, c, d, e in rows]
        out.append("")
    works = [(r.path, "; ".join(r.works.values())) for r in results if r.works]
    if works:
        out += ["| model | runs only for |", "| --- | --- |"] + [f"| {_cell(a)} | {_cell(b)} |" for a, b in works]
        out += ["", "These sizes as a picture (which H × W run, and what restricts each band): "
                    "`shapelint contract MODEL --plot sizes.svg`.", ""]
    unreadable = [r.error for r in results if r.error]
    if unreadable:
        out += ["Could not be read:", ""] + [f"- {_cell(e)}" for e in unreadable]
    return "\n".join(out).rstrip()


# one line per format; the CLI's --format choices and help come from here
FORMATS = {
    "text": Format(_text, "for people (the default)"),
    "json": Format(_json, "a list of findings"),
    "sarif": Format(lambda results, show_info, colour: sarif(results, show_info=show_info),
                    "SARIF 2.1.0, for code scanning"),
    "github": Format(lambda results, show_info, colour: github(results, show_info=show_info),
                     "workflow-command annotations for GitHub Actions"),
    "concise": Format(_concise, "one line per finding: FILE:NODE: RULE [severity] message"),
    "markdown": Format(_markdown, "a table of findings and each model's working sizes, for GitHub job summaries "
                                  "and pull-request comments"),
}
