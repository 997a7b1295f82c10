"""The Python API: lint a model where it is made -- in an export script, or in a pytest test right
after ``torch.onnx.export`` or ``tf.saved_model.save``.

    import shapelint

    report = shapelint.check("unet.onnx")          # or a Path, bytes, or an onnx.ModelProto
    assert report.ok, report                       # per the configuration's fail-on
    shapelint.contract("unet.onnx")                 # the input sizes the model runs at
    print(shapelint.explain("unet.onnx", "up1"))    # one transposed convolution's output size

The configuration is found as the command line finds it (the nearest ``.shapelint.yaml`` or
``pyproject.toml`` with ``[tool.shapelint]`` above the model; the current folder for a model in
memory) unless one is given. A model that cannot be read raises :class:`ModelError`; a bad
argument or configuration :class:`UsageError`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Optional, Union

from .errors import ModelError, UsageError
from .findings import ABSTENTION_RULES

Model = Union[str, "os.PathLike[str]", bytes, Any]  # Any: an onnx.ModelProto

__all__ = ["Model", "ModelError", "Report", "UsageError", "check", "contract", "explain"]


@dataclass(frozen=True)
class Report:
    """What ``check`` found in one model, after the configuration: every finding (typed, info
    included), the sizes the whole model runs at where that is not every size, and notes."""

    model: str  # the path, or a name for a model given in memory
    findings: tuple  # of Finding
    notes: tuple  # of str
    works: dict  # input symbol -> the sizes the whole model runs at, where not every size
    fail_on: str = "warning"  # the lowest severity that makes the report not ok

    @property
    def errors(self) -> tuple:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def infos(self) -> tuple:
        return tuple(f for f in self.findings if f.severity == "info" and f.rule not in ABSTENTION_RULES)

    @property
    def unknowns(self) -> tuple:
        """Where shapelint abstains (SL005): no size is said to run past these ops."""
        return tuple(f for f in self.findings if f.rule in ABSTENTION_RULES)

    @property
    def ok(self) -> bool:
        """No finding at or above ``fail_on`` (the command line's exit 0)."""
        from .report import RANK

        return not any(RANK[f.severity] <= RANK[self.fail_on] for f in self.findings)

    def __str__(self) -> str:
        from .lint import Result
        from .report import text

        result = Result(self.model, findings=list(self.findings), notes=list(self.notes), works=dict(self.works))
        return text([result], show_info=True)


def check(model: Model, *, input_shapes: Optional[dict] = None, config: Union[None, str, "os.PathLike[str]"] = None,
          select: Optional[Iterable[str]] = None, ignore: Optional[Iterable[str]] = None,
          signature: Optional[str] = None) -> Report:
    """Lint one model. ``input_shapes``: {input name: dims} pins sizes (as ``--input-shape``);
    ``config``: a config file to use instead of the one found; ``select``/``ignore``: rule ids or
    prefixes (``"SL00"``), which replace / extend the configuration's, as ruff's flags do."""
    from . import config as config_mod
    from .checks import CHECKS
    from .lint import lint

    with _as_path(model) as (path, name, where):
        cfg = config_mod.load(os.fspath(config)) if config is not None else config_mod.find(where)
        cfg = config_mod.with_rules(cfg, None if select is None else _ids(select, "select"), (),
                                    () if ignore is None else _ids(ignore, "ignore"))
        try:  # (only the rules the configuration enables run, as on the command line)
            result = lint(path, _pins(input_shapes), {r for r in CHECKS if cfg.enabled(r)}, signature=signature,
                          inputs=cfg.contracts())
        except ModelError as e:  # a model in memory is named as the caller knows it, not by its temporary file
            raise ModelError(name, e.reason.replace(path, name)) if path != name else e
        except UsageError as e:
            raise UsageError(str(e).replace(path, name)) if path != name else e
        config_mod.apply(cfg, result)
        findings = tuple(f if f.file == name else replace(f, file=name) for f in result.findings)
        notes = tuple(n.replace(path, name) for n in result.notes)
        return Report(name, findings, notes, dict(result.works or {}), cfg.fail_on)


def contract(model: Model, *, signature: Optional[str] = None) -> dict:
    """The input sizes the model runs at: the object ``shapelint contract --format json`` prints for
    one model (see :func:`contract_record`): ``file``, ``inputs``, ``rows`` (one per dynamic input
    dim: ``symbol``, ``works``, ``modulus``, ``residues``, ``start``, ``min``, ``because``, ...),
    ``fixed_size_failures`` (what fails whatever the dynamic sizes; empty when nothing does),
    ``proven``, ``unknown``."""
    from .lint import analyse

    with _as_path(model) as (path, name, _where):
        try:
            graph, inf = analyse(path, None, signature)
        except ModelError as e:  # a model in memory is named as the caller knows it
            raise ModelError(name, e.reason.replace(path, name)) if path != name else e
        except UsageError as e:
            raise UsageError(str(e).replace(path, name)) if path != name else e
        record = contract_record(path, graph, inf)
        record["file"] = name
        for f in record["fixed_size_failures"]:
            f["message"] = f["message"].replace(path, name)
        return record


def contract_record(path: str, graph, inf, got: "Optional[ContractRows]" = None) -> dict:
    """One model's contract, as ``shapelint contract --format json`` prints it (a list of these,
    one per model; a model that cannot be read is ``{"file", "error"}`` there instead):

    - ``file``; ``inputs``: each graph input's ``name`` and ``shape`` (ints, symbols as text, null
      for an unknown dim); ``outputs``: each graph output's, as inferred (expressions over the
      input dims as text: ``80·ceil(L/80)`` where a model pads and does not crop);
    - ``rows``: one per dynamic input dim whose sizes are restricted (:func:`contract_rows`);
    - ``fixed_size_failures``: the checks that fail whatever the dynamic sizes are (``rule``,
      ``node``, ``op``, ``axes``, ``message``, as ``check`` reports them): at the model's fixed
      sizes, or an attribute the runtime rejects at every size. [] when none; otherwise no size
      works (a row then says ``no H``);
    - ``proven`` and ``unknown``: false, and each op shapelint could not follow, where it abstains.
    """
    got = got if got is not None else contract_rows(inf, path)
    c = got.contract

    def shape_of(name):
        shape = inf.shape(name)
        return None if shape is None else [d if isinstance(d, int) or d is None else str(d) for d in shape]

    inputs = [{"name": t.name, "shape": shape_of(t.name)} for t in graph.inputs]
    outputs = [{"name": name, "shape": shape_of(name)} for name in graph.outputs]
    return {"file": path, "inputs": inputs, "outputs": outputs, "rows": got.rows,
            "fixed_size_failures": got.failures, "proven": c.proven(), "unknown": [u.as_json() for u in c.unknown]}


# the rules whose errors hold whatever the dynamic sizes: SL001's errors at every size (the runtime
# rejects the attributes, or no size is admissible), the others' at the fixed sizes
FIXED_SIZE_RULES = ("SL001", "SL003", "SL004", "SL006")


def fixed_size_failures(path: str, inf, c) -> list:
    """The checks that fail whatever the dynamic sizes are, each as ``check`` reports it (``rule``,
    ``node``, ``op``, ``axes``, ``message``): every SL001 error, and the finding at each node of
    ``Contract.static_failures`` (a merge, shape check or sized op that fails at the fixed sizes).
    Past the first failure on a path the rules report nothing (the runtime stops there); a static
    failure that no rule reports (none should) still gets a record, with ``rule`` null."""
    from .lint import CheckContext, run_checks

    axes: dict = {}
    for node, axis in c.static_failures:
        axes.setdefault(node, set()).add(axis)
    out, seen = [], set()
    for f in run_checks(CheckContext(path, inf.graph, inf), set(FIXED_SIZE_RULES) if axes else {"SL001"}):
        if f.severity == "error" and (f.rule == "SL001" or f.node in axes) and (f.rule, f.node) not in seen:
            seen.add((f.rule, f.node))
            out.append({"rule": f.rule, "node": f.node, "op": f.op,
                        "axes": sorted(axes.get(f.node, ())) or _axes(f.details), "message": f.message})
    if axes and not any(f["node"] in axes for f in out):
        ops = {n.name: n.op for n in inf.graph.nodes}
        out += [{"rule": None, "node": node, "op": ops.get(node, ""), "axes": sorted(ax),
                 "message": f"axis {', '.join(map(str, sorted(ax)))} fails at the fixed sizes"}
                for node, ax in axes.items()]
    return out


def _axes(details: dict) -> list:
    axis = (details or {}).get("axis")
    return [axis] if isinstance(axis, int) else []


def explain(model: Model, node: Optional[str] = None, *, input_shapes: Optional[dict] = None,
            signature: Optional[str] = None) -> str:
    """What ``shapelint explain`` prints for one transposed convolution: its input size, the
    admissible output sizes, the one it produces and why, and each framework's convention.
    ``node`` may be left out when the model has one transposed convolution; an unknown or
    ambiguous name raises :class:`UsageError` listing the names there are."""
    from .explanation import explain as lines, transposed_convs
    from .lint import analyse

    with _as_path(model) as (path, name, _where):
        try:
            _graph, inf = analyse(path, _pins(input_shapes), signature)
        except ModelError as e:
            raise ModelError(name, e.reason.replace(path, name)) if path != name else e
        nodes = transposed_convs(inf)
        listed = ", ".join(n.name for n in nodes) or "none"
        if node is not None:
            chosen = [n for n in nodes if n.name == node or n.name.endswith("/" + node)]
            if not chosen:
                raise UsageError(f"{name}: no transposed convolution named '{node}' (there are: {listed})")
        elif len(nodes) == 1:
            chosen = nodes
        else:
            raise UsageError(f"{name}: {len(nodes)} transposed convolutions; pick one with --node (in Python: node=) ({listed})")
        try:
            return "\n".join(lines(inf, chosen[0]))
        except (ValueError, TypeError, AttributeError, ArithmeticError, IndexError, KeyError) as e:
            n = chosen[0]  # attributes the runtime would refuse too: what check reports as SL005
            raise ModelError(name, f"{n.op} '{n.name}': cannot explain its output size: {e}")


@dataclass(frozen=True)
class ContractRows:
    rows: list
    contract: Any  # analysis.Contract
    why: dict
    together: list
    works: dict
    failures: list = field(default_factory=list)  # fixed_size_failures: no size works when any


def contract_rows(inf, path: str = "") -> ContractRows:
    """The contract of an inferred graph as rows (one per dynamic input dim), with what the text
    rendering needs besides. A row: ``input``, ``axis``, ``symbol``; the sizes that work, exactly:
    from ``start`` on, x works iff x mod ``modulus`` is in ``residues``; below ``start``, iff x is
    in ``also``; ``min`` (and ``max`` when the set is finite) and ``works``, the set as text; then
    why (``summary``, ``because``, ``with``); ``unevaluated`` and ``abstains`` (the sizes where the
    contract abstains, whatever the other dims) where they apply; ``proven``, ``unknown``.
    ``path`` names the model in the messages of ``failures``."""
    from .analysis import contract as whole_contract, merges, shape_checks
    from .reasons import headline, joint, restrictions
    from .symbolic import SizeSet

    found = merges(inf)
    c = whole_contract(inf, found)
    works = c.works()
    failures = fixed_size_failures(path, inf, c)
    if failures:  # (Contract.works is empty already when a merge or sized op fails; an SL001 error too)
        works = {name: SizeSet(1, frozenset(), 1, frozenset()) for name in works}
    checks = found + shape_checks(inf)  # every run-time check, merges first
    why = restrictions(inf, checks, works)
    together = joint(inf, checks)
    for j in together:  # a size constrained only jointly still gets its row, which says so
        for name in j["symbols"]:
            works.setdefault(name, SizeSet.everything())
    if c.unknown:  # every dynamic dim gets a row that says shapelint abstains
        for name in inf.symbols:
            works.setdefault(name, SizeSet.everything())
    unknown = [u.as_json() for u in c.unknown]
    abstains = {name: c.abstains(name) for name in works if not failures}
    rows = []
    for name, ss in sorted(works.items()):
        origin = inf.symbols.get(name)
        if origin is None:
            continue
        ss = ss.canonical()
        rows.append({"input": origin[0], "axis": origin[1], "symbol": name, "modulus": ss.modulus,
                     "residues": sorted(ss.residues), "start": ss.start, "min": ss.minimum(),
                     **({"max": max(ss.small)} if not ss.residues and ss.small else {}),
                     "also": sorted(ss.small) if ss.small else [], "works": ss.describe(name),
                     "summary": headline(inf, why.get(name, [])),
                     "because": [r.as_json() for r in why.get(name, [])],
                     "with": [{k: v for k, v in j.items() if k != "text"} for j in together if name in j["symbols"]],
                     **({"unevaluated": sorted(c.unevaluated[name])} if name in (c.unevaluated or {}) else {}),
                     **({"abstains": abstains[name]} if abstains.get(name) else {}),
                     # False: shapelint abstains on the sizes of ``works`` (see ``unknown``); they are
                     # only the sizes it cannot show to fail
                     "proven": not c.unknown, "unknown": unknown})
    return ContractRows(rows, c, why, together, works, failures)


def _ids(values, key: str) -> tuple:
    from .config import rule_ids  # one parser for config files and the API

    if isinstance(values, str):
        values = [values]
    return rule_ids(list(values), key, "shapelint.check()")


def _pins(shapes: Optional[dict]) -> dict:
    if shapes is None:
        return {}
    if not isinstance(shapes, dict):
        raise UsageError(f"input_shapes must be a dict of input name -> dims, got {type(shapes).__name__}")
    out = {}
    for name, dims in shapes.items():
        if isinstance(dims, (str, bytes)):
            raise UsageError(f"input_shapes[{name!r}]: dims must be a sequence of integers, got {dims!r}")
        try:
            values = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise UsageError(f"input_shapes[{name!r}]: dims must be integers, got {dims!r}")
        if any(d < 0 for d in values):
            raise UsageError(f"input_shapes[{name!r}]: dims must not be negative")
        out[str(name)] = values
    return out


class _as_path:
    """``model`` as a file path for the loaders: (path, the name findings carry, the folder the
    configuration is looked for from). Bytes and an onnx.ModelProto are written to a temporary
    file (its external data is not touched: the tensors keep their references) and removed after."""

    def __init__(self, model):
        self.model, self.tmp = model, None

    def __enter__(self):
        m = self.model
        if isinstance(m, (str, os.PathLike)):
            path = os.fspath(m)
            return path, path, path
        if isinstance(m, (bytes, bytearray, memoryview)):
            data, name = bytes(m), "<bytes>"
        elif type(m).__name__ == "ModelProto" and hasattr(m, "SerializeToString"):
            try:
                data = m.SerializeToString()
            except ValueError as e:  # protobuf's 2 GiB limit: weights must be external data
                raise ModelError("<onnx.ModelProto>", f"cannot serialise ({e}); keep weights as external data")
            name = f"<onnx.ModelProto {m.graph.name}>" if m.graph.name else "<onnx.ModelProto>"
        else:
            raise UsageError(f"model must be a path, bytes or an onnx.ModelProto, got {type(m).__name__}")
        self.tmp = tempfile.TemporaryDirectory(prefix="shapelint-")
        path = os.path.join(self.tmp.name, "model.onnx")
        with open(path, "wb") as f:
            f.write(data)
        return path, name, os.getcwd()

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()
        return False
