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
from dataclasses import dataclass, replace
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


def contract(model: Model, *, signature: Optional[str] = None) -> list:
    """The input sizes the model runs at, per dynamic input dim: the rows ``shapelint contract
    --format json`` prints (``symbol``, ``works``, ``modulus``, ``residues``, ``min``,
    ``because``, ``proven``, ``unknown``, ...)."""
    from .lint import analyse

    with _as_path(model) as (path, _name, _where):
        graph, inf = analyse(path, None, signature)
        return contract_rows(inf).rows


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


def contract_rows(inf) -> ContractRows:
    """The contract of an inferred graph as rows (one per dynamic input dim), with what the text
    rendering needs besides."""
    from .analysis import contract as whole_contract, merges, shape_checks
    from .reasons import headline, joint, restrictions
    from .symbolic import SizeSet

    found = merges(inf)
    c = whole_contract(inf, found)
    works = c.works()
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
    rows = []
    for name, ss in sorted(works.items()):
        origin = inf.symbols.get(name)
        if origin is None:
            continue
        ss = ss.canonical()
        rows.append({"input": origin[0], "axis": origin[1], "symbol": name, "modulus": ss.modulus,
                     "residues": sorted(ss.residues), "min": ss.minimum(),
                     **({"max": max(ss.small)} if not ss.residues and ss.small else {}),
                     "also": sorted(ss.small) if ss.small else [], "works": ss.describe(name),
                     "summary": headline(inf, why.get(name, [])),
                     "because": [r.as_json() for r in why.get(name, [])],
                     "with": [{k: v for k, v in j.items() if k != "text"} for j in together if name in j["symbols"]],
                     **({"unevaluated": sorted(c.unevaluated[name])} if name in (c.unevaluated or {}) else {}),
                     **({"fails_at_fixed_sizes": [n for n, _ in c.static_failures]} if c.static_failures else {}),
                     # False: shapelint abstains on the sizes of ``works`` (see ``unknown``); they are
                     # only the sizes it cannot show to fail
                     "proven": not c.unknown, "unknown": unknown})
    return ContractRows(rows, c, why, together, works)


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
