"""Configuration: ``[tool.shapelint]`` in pyproject.toml or ``.shapelint.yaml``, found by walking up
from the model (or given with --config). A strict schema: an unknown key or a bad value is an
error that names it. Validated into a frozen :class:`Config`.

    [tool.shapelint]
    select = ["SL"]                 # ids or prefixes (default: every rule)
    ignore = ["SL002"]
    extend-select = []
    fail-on = "warning"             # error | warning | info: the lowest severity that fails
    fail-on-unknown = false         # true: where shapelint abstains (SL005) is an error
    [tool.shapelint.severity]
    SL003 = "error"                 # per-rule severity
    [tool.shapelint.per-file-ignores]
    "legacy/*.onnx" = ["SL003"]
    [tool.shapelint.per-node-ignores]
    "*/decoder/*" = ["SL002"]       # globs on node names (a model has no comments for noqa)
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, replace

from .errors import UsageError
from .files import inside, read_bounded
from .findings import ABSTENTION_RULES
from .limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_NUMBER_DIGITS, MAX_DECLARED_SIZE

SEVERITIES = ("error", "warning", "info")
KEYS = ("select", "ignore", "extend-select", "fail-on", "fail-on-unknown", "severity", "per-file-ignores",
        "per-node-ignores", "inputs")


@dataclass(frozen=True)
class Config:
    select: tuple = ("SL",)
    ignore: tuple = ()
    extend_select: tuple = ()
    fail_on: str = "warning"
    fail_on_unknown: bool = False  # SL005 (shapelint abstains) as an error: for teams that want proof
    severity: tuple = ()  # ((rule id, severity), ...)
    per_file_ignores: tuple = ()  # ((glob, (ids...)), ...)
    per_node_ignores: tuple = ()
    inputs: tuple = ()  # ((input name, axis, multiple-of, min), ...): the sizes the model is used at
    root: str = ""  # the folder the config file is in (per-file globs are relative to it)
    source: str = ""

    def contracts(self) -> dict:
        """{input name: {axis: SizeSet}} for lint(inputs=…)."""
        from .symbolic import SizeSet

        out: dict = {}
        for name, axis, multiple, low in self.inputs:
            start = max(low, 1)
            ss = SizeSet(multiple, frozenset({0}), start, frozenset()).canonical() if start == 1 else \
                SizeSet(multiple, frozenset({0}), start, frozenset())
            out.setdefault(name, {})[axis] = ss
        return out

    def enabled(self, rule: str) -> bool:
        chosen = _matches(rule, self.select + self.extend_select)
        return chosen and not _matches(rule, self.ignore)

    def severity_of(self, rule: str, default: str) -> str:
        if self.fail_on_unknown and rule in ABSTENTION_RULES:
            return "error"
        return dict(self.severity).get(rule, default)

    def ignored(self, rule: str, path: str, node: str) -> bool:
        rel = os.path.relpath(os.path.abspath(path), self.root or os.getcwd()).replace(os.sep, "/")
        for glob, ids in self.per_file_ignores:
            if fnmatch.fnmatch(rel, glob) and _matches(rule, ids):
                return True
        for glob, ids in self.per_node_ignores:
            if fnmatch.fnmatchcase(node, glob) and _matches(rule, ids):
                return True
        return False


def with_rules(cfg: Config, select=None, extend_select=(), ignore=()) -> Config:
    """``cfg`` with rule selections given on the command line or to the API, merged as ruff merges
    its flags: ``select`` replaces the selection (and its extensions), the others extend."""
    if select is not None:
        cfg = replace(cfg, select=tuple(select), extend_select=())
    return replace(cfg, extend_select=cfg.extend_select + tuple(extend_select), ignore=cfg.ignore + tuple(ignore))


def _show(value) -> str:
    """A value in a message, bounded: a YAML alias bomb or a huge list is not printed whole."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlong = 3, 60, 60, 40
    return r.repr(value)


def _matches(rule: str, ids) -> bool:
    return any(rule.startswith(i) for i in ids)


def rule_ids(value, key: str, source: str) -> tuple:
    from .checks import CHECKS

    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise UsageError(f"{source}: {key} must be a list of rule ids or prefixes, got {_show(value)}")
    out = []
    for v in value:
        v = str(v).upper()
        if not any(r.startswith(v) for r in CHECKS):
            raise UsageError(f"{source}: {key}: {_show(v)} matches no rule ({', '.join(CHECKS)})")
        out.append(v)
    return tuple(out)


def parse(data, source: str, root: str) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{source}: the shapelint configuration must be a table/mapping")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})")
    cfg = Config(root=root, source=source)
    if "select" in data:
        cfg = replace(cfg, select=rule_ids(data["select"], "select", source))
    if "ignore" in data:
        cfg = replace(cfg, ignore=rule_ids(data["ignore"], "ignore", source))
    if "extend-select" in data:
        cfg = replace(cfg, extend_select=rule_ids(data["extend-select"], "extend-select", source))
    if "fail-on" in data:
        if data["fail-on"] not in SEVERITIES:
            raise UsageError(f"{source}: fail-on must be one of {', '.join(SEVERITIES)}, got {_show(data['fail-on'])}")
        cfg = replace(cfg, fail_on=data["fail-on"])
    if "fail-on-unknown" in data:
        if not isinstance(data["fail-on-unknown"], bool):
            raise UsageError(f"{source}: fail-on-unknown must be true or false, got {_show(data['fail-on-unknown'])}")
        cfg = replace(cfg, fail_on_unknown=data["fail-on-unknown"])
    if "severity" in data:
        sev = data["severity"]
        if not isinstance(sev, dict):
            raise UsageError(f"{source}: severity must map rule ids to {', '.join(SEVERITIES)}")
        pairs = []
        for k, v in sev.items():
            (rid,) = rule_ids([k], "severity", source)
            if v not in SEVERITIES:
                raise UsageError(f"{source}: severity.{k} must be one of {', '.join(SEVERITIES)}, got {_show(v)}")
            pairs.append((rid, v))
        cfg = replace(cfg, severity=tuple(pairs))
    for key, attr in (("per-file-ignores", "per_file_ignores"), ("per-node-ignores", "per_node_ignores")):
        if key in data:
            table = data[key]
            if not isinstance(table, dict):
                raise UsageError(f"{source}: {key} must map globs to lists of rule ids")
            cfg = replace(cfg, **{attr: tuple((str(g), rule_ids(ids, f"{key}.{g}", source)) for g, ids in table.items())})
    if "inputs" in data:
        cfg = replace(cfg, inputs=_inputs(data["inputs"], source))
    return cfg


def _inputs(table, source: str) -> tuple:
    """inputs: {x: {2: {multiple-of: 32, min: 32}, 3: {multiple-of: 32}}}: declared input sizes."""
    if not isinstance(table, dict):
        raise UsageError(f"{source}: inputs must map input names to {{axis: {{multiple-of: N, min: M}}}}")
    out = []
    for name, axes in table.items():
        if not isinstance(axes, dict):
            raise UsageError(f"{source}: inputs.{name} must map axes to {{multiple-of: N, min: M}}")
        for axis, spec in axes.items():
            try:
                axis_i = int(axis)
            except (TypeError, ValueError):
                raise UsageError(f"{source}: inputs.{name}: axis {_show(axis)} is not an integer")
            if not isinstance(spec, dict) or set(spec) - {"multiple-of", "min"} or not spec:
                raise UsageError(f"{source}: inputs.{name}.{axis} takes multiple-of and/or min, got {_show(spec)}")
            mult, low = spec.get("multiple-of", 1), spec.get("min", 1)
            if (not isinstance(mult, int) or not isinstance(low, int) or isinstance(mult, bool) or isinstance(low, bool)
                    or mult < 1 or mult > 4096 or low < 1 or low > MAX_DECLARED_SIZE):
                raise UsageError(f"{source}: inputs.{name}.{axis}: multiple-of must be 1…4096 and min 1…"
                                 f"{MAX_DECLARED_SIZE} (shapelint.limits.MAX_DECLARED_SIZE)")
            out.append((str(name), axis_i, mult, low))
    return tuple(out)


def _read_pyproject(path: str):
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    data = read_bounded(path, MAX_CONFIG_BYTES, "configuration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: cannot read: not UTF-8 text ({e.reason} at byte {e.start})")
    try:
        parsed = tomllib.loads(text)
    except (ValueError, RecursionError, MemoryError) as e:  # TOMLDecodeError; too deep a nesting
        raise UsageError(f"{path}: cannot read: {_first_line(e)}")
    tool = parsed.get("tool", {})
    return tool.get("shapelint") if isinstance(tool, dict) and "shapelint" in tool else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def _read_yaml(path: str):
    import yaml

    data = read_bounded(path, MAX_CONFIG_BYTES, "configuration")
    try:
        text = data.decode("utf-8")
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):  # events: no recursion, no expansion
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise UsageError(f"{path}: line {event.start_mark.line + 1}: anchors and aliases (&, *) are not "
                                 f"allowed in a shapelint configuration")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_CONFIG_DEPTH:
                    raise UsageError(f"{path}: nested more than {MAX_CONFIG_DEPTH} levels deep "
                                     f"(shapelint.limits.MAX_CONFIG_DEPTH)")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_CONFIG_NUMBER_DIGITS \
                    and event.value.lstrip("+-").replace("_", "").isdigit() and event.style is None:
                raise UsageError(f"{path}: line {event.start_mark.line + 1}: an integer of {len(event.value)} "
                                 f"digits (the limit is {MAX_CONFIG_NUMBER_DIGITS}: shapelint.limits)")
        return yaml.safe_load(text)
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: cannot read: not UTF-8 text ({e.reason} at byte {e.start})")
    except (yaml.YAMLError, ValueError, RecursionError, MemoryError) as e:
        raise UsageError(f"{path}: cannot read: {_first_line(e)}")


def load(path: str) -> Config:
    """A config file given with --config: .shapelint.yaml-style YAML, or a pyproject.toml."""
    if path.endswith(".toml"):
        data = _read_pyproject(path)
    else:
        data = _read_yaml(path)
    return parse(data, path, os.path.dirname(os.path.abspath(path)))


def find(model_path: str) -> Config:
    """The nearest .shapelint.yaml or pyproject.toml with [tool.shapelint], walking up."""
    d = os.path.abspath(model_path if os.path.isdir(model_path) else os.path.dirname(model_path) or ".")
    while True:
        y = os.path.join(d, ".shapelint.yaml")
        if os.path.isfile(y):
            return parse(_read_yaml(_found(y, d)), y, d)
        t = os.path.join(d, "pyproject.toml")
        if os.path.isfile(t):
            data = _read_pyproject(_found(t, d))
            if data is not None:
                return parse(data, t, d)
        parent = os.path.dirname(d)
        if parent == d:
            return Config()
        d = parent


def _found(path: str, folder: str) -> str:
    """A configuration found by walking up is read only where it lies: a symbolic link that leads
    out of its folder is refused (give it with --config to use it)."""
    if os.path.islink(path) and not inside(path, folder):
        raise UsageError(f"{path}: a symbolic link out of its folder (to {os.path.realpath(path)}); a configuration "
                         f"found by walking up is not followed there: pass it with --config to use it")
    return path


def apply(cfg: Config, result) -> None:
    """Keep the findings the configuration selects, with their configured severity."""
    from dataclasses import replace as _replace

    kept = []
    for f in result.findings:
        if not cfg.enabled(f.rule) or cfg.ignored(f.rule, f.file, f.node):
            continue
        sev = cfg.severity_of(f.rule, f.severity)
        kept.append(f if sev == f.severity else _replace(f, severity=sev))
    result.findings[:] = kept
