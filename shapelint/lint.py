"""One model in, findings out: loader → IR → inference → checks."""

from __future__ import annotations

from . import limits

import os
from dataclasses import dataclass, field
from typing import Optional

from .checks import CHECKS
from .checks._context import CheckContext
from .errors import ModelError, UsageError
from .escape import name as escape_name
from .findings import Finding
from .infer import CAUGHT as _INFER_CAUGHT
from .infer import Inferred, infer
from .ir import Graph
from .symbolic import SizeSet, symbols

MODEL_SUFFIXES = (".onnx", "saved_model.pb", ".tflite", ".keras")
# a check that meets a malformed attribute says so in a note (with SHAPELINT_STRICT=1, as in the
# tests, Python's own errors are bugs and propagate; see infer._CAUGHT)
_CAUGHT = tuple(e for e in _INFER_CAUGHT if e.__module__ == "builtins")


@dataclass
class Result:
    path: str
    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    error: str | None = None  # "path: reason" when the model could not be read
    works: dict = field(default_factory=dict)  # symbol -> description of the sizes the model runs at


def is_saved_model(path: str) -> bool:
    return (os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))) or \
        os.path.basename(path) == "saved_model.pb"


MAX_FILE_BYTES = limits.MAX_FILE_BYTES  # protobuf cannot parse a message over 2 GiB


def load(path: str, signature: str | None = None) -> Graph:
    """The model at ``path`` as IR, its names escaped (``escape.name``) for every output."""
    return displayable(_load(path, signature))


def displayable(graph: Graph) -> Graph:
    """``graph`` with every name that holds a character unfit for a terminal or a CI log (or a
    backslash), or is too long to quote (limits.MAX_NAME_CHARS), escaped -- node, tensor, input,
    constant and graph names, named dims, ops and domains; escaping is injective, so the graph's
    edges are unchanged (and no op a rule knows holds such a character). Most graphs have none:
    then it is ``graph``."""
    from dataclasses import replace as _replace
    from types import MappingProxyType

    from .escape import name as esc
    from .limits import MAX_NAME_CHARS

    def bad(s) -> bool:
        return isinstance(s, str) and (not s.isprintable() or "\\" in s or len(s) >= MAX_NAME_CHARS)

    def branches(g: Graph) -> list:  # subgraphs held as attributes (ONNX If branches), one level deep
        return [v for n in g.nodes for _, v in n.attrs if isinstance(v, Graph)]

    def needs(g: Graph) -> bool:
        return (bad(g.name) or any(bad(n.name) or any(map(bad, n.inputs)) or any(map(bad, n.outputs))
                                   or bad(n.op) or bad(n.domain) for n in g.nodes)
                or any(bad(t.name) or any(map(bad, t.shape or ())) for t in g.inputs)
                or any(map(bad, g.outputs)) or any(map(bad, g.constants)) or any(map(needs, branches(g))))

    def escaped(g: Graph) -> Graph:
        nodes = tuple(_replace(n, name=esc(n.name), inputs=tuple(map(esc, n.inputs)), outputs=tuple(map(esc, n.outputs)),
                               op=esc(n.op), domain=esc(n.domain),
                               attrs=n.attrs if not any(isinstance(v, Graph) for _, v in n.attrs) else
                               tuple((k, escaped(v) if isinstance(v, Graph) else v) for k, v in n.attrs))
                      for n in g.nodes)
        inputs = tuple(_replace(t, name=esc(t.name), shape=None if t.shape is None else
                                tuple(esc(d) if isinstance(d, str) else d for d in t.shape)) for t in g.inputs)
        constants = MappingProxyType({esc(k): _replace(c, name=esc(c.name)) for k, c in g.constants.items()})
        return _replace(g, name=esc(g.name), nodes=nodes, inputs=inputs, outputs=tuple(map(esc, g.outputs)),
                        constants=constants)

    return escaped(graph) if needs(graph) else graph


def _load(path: str, signature: str | None = None) -> Graph:
    from .lfs import NOTE as LFS_NOTE, pointer_file

    pointer = pointer_file(path)
    if pointer is not None:  # `git lfs pull` has not run: the file is a pointer, not the model
        raise ModelError(pointer, LFS_NOTE)
    if is_saved_model(path):
        from .loaders import savedmodel_loader

        return savedmodel_loader.load(path, signature)
    if os.path.isdir(path):
        raise ModelError(path, "is a folder, not a model file")
    try:
        st = os.stat(path)
    except OSError as e:
        raise ModelError(path, f"cannot read: {e.strerror or e}")
    import stat

    if not stat.S_ISREG(st.st_mode):
        raise ModelError(path, "not a regular file")
    if path.lower().endswith(".keras"):  # a zip archive: only config.json is read, whatever the weights' size
        from .loaders import keras_loader

        return keras_loader.load(path)
    if path.lower().endswith(".tflite"):  # a flatbuffer, memory-mapped: no 2 GiB protobuf limit
        from .loaders import tflite_loader

        return tflite_loader.load(path)
    if st.st_size > MAX_FILE_BYTES:
        raise ModelError(path, f"{st.st_size} bytes: over the 2 GiB protobuf limit (keep weights as external data)")
    if path.lower().endswith(".onnx") or not os.path.splitext(path)[1]:
        from .loaders import onnx_loader

        return onnx_loader.load(path)
    raise ModelError(path, f"unsupported file type '{os.path.splitext(path)[1]}' (supported: .onnx, .tflite, .keras, SavedModel folders)")


def resolve_pins(graph: Graph, pins: dict, path: str) -> dict:
    """--input-shape NAME=dims → {input name: dims}, checked against the model's inputs."""
    out = {}
    by_name = {t.name: t for t in graph.inputs}
    for name, dims in pins.items():
        t = by_name.get(name) or by_name.get(escape_name(name))  # (names are escaped where loaded)
        if t is None:
            if len(by_name) == 1 and name == "":
                t = next(iter(by_name.values()))
            else:
                raise UsageError(f"{path}: --input-shape names '{name}', but the model's inputs are "
                                 f"{', '.join(repr(n) for n in by_name) or 'none'}")
        if t.shape is not None and len(t.shape) != len(dims):
            raise UsageError(f"{path}: --input-shape {name} has {len(dims)} dims, the input has rank {len(t.shape)}")
        if t.shape is not None:
            for k, (want, have) in enumerate(zip(dims, t.shape)):
                if isinstance(have, int) and have != want:
                    raise UsageError(f"{path}: --input-shape {name} axis {k} is {want}, but the model fixes it to {have}")
        out[t.name] = tuple(dims)
    return out


def analyse(path: str, pins: dict | None = None, signature: str | None = None) -> tuple[Graph, Inferred]:
    graph = load(path, signature)
    inferred = infer(graph, resolve_pins(graph, pins or {}, path))
    return inferred.graph, inferred  # (the graph as inference refined it: If branches followed)


def findings(rule, ctx: CheckContext) -> list:
    """A rule's Violations on one model, as Findings with the rule's id, name, severity and
    identity keys (checks.Rule)."""
    return [Finding(rule.id, rule.name, v.severity or rule.severity, ctx.path, v.node, v.op, v.message, v.fix,
                    tuple(v.chain), v.details, rule.identity) for v in rule.check(ctx)]


def run_checks(ctx: CheckContext, select=None) -> list:
    """The findings of every registered rule (of ``select`` only, when given) on one analysed model,
    before any configuration. A check that meets a malformed attribute adds a note instead."""
    out = []
    for rule_id, rule in CHECKS.items():
        if select is not None and rule_id not in select:
            continue
        try:
            out.extend(findings(rule, ctx))
        except _CAUGHT as e:
            # a malformed attribute the check did not expect: say so, never a traceback
            ctx.inferred.notes.append(f"{rule_id} could not run on this model ({type(e).__name__}: {str(e)[:120]})")
    return out


def lint(path: str, pins: dict | None = None, select=None, signature: str | None = None,
         inputs: dict | None = None) -> Result:
    """``inputs``: declared contracts, {input name: {axis: SizeSet}}: sizes outside them are not
    claimed to fail (the model is not used there); sizes inside them are checked as always."""
    graph, inferred = analyse(path, pins, signature)
    declared = {}
    for sym_name, (inp, axis) in inferred.symbols.items():
        ss = (inputs or {}).get(inp, {}).get(axis)
        if ss is not None:
            declared[sym_name] = ss
    ctx = CheckContext(path, graph, inferred, declared)
    res = Result(path)
    res.findings.extend(run_checks(ctx, select))
    if any(f.rule in ("SL003", "SL006", "SL007") and (f.details.get("symbol") or f.details.get("condition"))
           for f in res.findings):  # a dynamic finding: the whole model's line
        c = ctx.contract
        tied = c.joint()
        works = c.works()
        for name in tied:
            works.setdefault(name, SizeSet.everything())
        res.works = {name: ss.describe(name) + (f" ({c.note(name)})" if c.note(name) else "")
                     + (" and where the conditions tying it to " + ", ".join(sorted(symbols(*(
                         d for ax in tied[name] for d in ax.present())) - {name})) + " hold" if name in tied else "")
                     for name, ss in sorted(works.items()) if not ss.is_everything() or c.note(name)
                     or name in tied}
        for f in res.findings:
            if f.rule == "SL003":
                f.details["model_works"] = dict(res.works)
    res.notes = list(inferred.notes)  # notes added by the checks too
    return res


def collect(paths: list, notes: Optional[list] = None, follow_links: bool = False) -> list:
    """Files and folders → model files (folders walked, sorted, hidden entries skipped). A symbolic
    link met while walking a folder is followed only where it stays inside that folder (unless
    ``follow_links``); one that leaves it is skipped, with a line in ``notes``. Paths named on the
    command line are the user's choice and always read."""
    from .files import inside

    out = []
    for p in paths:
        if is_saved_model(p):
            out.append(p)
        elif os.path.isdir(p):
            for root, dirs, files in os.walk(p):  # (linked folders are never descended: no cycles)
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                if "saved_model.pb" in files:  # a SavedModel is linted as its folder
                    out.append(os.path.normpath(root))
                    dirs[:] = []
                    continue
                for d in dirs:
                    link = os.path.join(root, d)
                    if notes is not None and os.path.islink(link) and not inside(link, p):
                        notes.append(f"{os.path.normpath(link)}: note: a symbolic link out of {p} (to "
                                     f"{os.path.realpath(link)}), not followed")
                for f in sorted(files):
                    if f.lower().endswith(MODEL_SUFFIXES):  # (normpath: "m.onnx", not "./m.onnx", for ".")
                        path = os.path.normpath(os.path.join(root, f))
                        if not follow_links and os.path.islink(path) and not inside(path, p):
                            if notes is not None:
                                notes.append(f"{path}: note: a symbolic link out of {p} (to "
                                             f"{os.path.realpath(path)}), not followed: --follow-links to lint it")
                            continue
                        out.append(path)
        else:
            out.append(p)
    return out
