"""SARIF 2.1.0 and GitHub Actions output: schema-valid, stable fingerprints, exact annotation lines."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import jsonschema  # the "test" extra: a missing validator must fail, not skip the schema check
import onnx
import pytest

from shapelint import __version__, formats
from shapelint.checks import CHECKS
from shapelint.findings import Finding
from shapelint.lint import Result, lint
from shapelint.rules import load_all
from tests.onnx_models import unet

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
DYN = "models/unet_dyn.onnx"
FIXED = "models/unet_65.onnx"


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """A scratch 'repository root' as the current directory, with a dynamic and a fixed-size U-Net."""
    (tmp_path / "models").mkdir()
    onnx.save(unet(depth=2), str(tmp_path / DYN))
    onnx.save(unet(depth=2, shape=(1, 1, 65, 65)), str(tmp_path / FIXED))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate(doc: dict):
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema).validate(doc)
    # the schema's "uri" / "uri-reference" formats need optional packages jsonschema may lack: check them here
    for value, absolute in _uris(doc):
        assert _is_uri_reference(value), value
        if absolute:
            assert re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value), value


def _uris(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("uri", "informationUri", "helpUri", "$schema") and isinstance(v, str):
                yield v, k != "uri"
            else:
                yield from _uris(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _uris(v, key)


def _is_uri_reference(s: str) -> bool:
    """RFC 3986: only unreserved, reserved and %HH; a relative reference's first segment has no ':'."""
    if not re.fullmatch(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*", s):
        return False
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", s):
        return True
    return ":" not in s.split("/", 1)[0]


def run(doc):
    (r,) = doc["runs"]
    return r


def sarif_doc(results, **kw):
    text = formats.sarif(results, **kw)
    doc = json.loads(text)
    validate(doc)
    return doc


# --------------------------------------------------------------------------- SARIF


def test_sarif_validates_and_describes_the_tool(repo):
    doc = sarif_doc([lint(DYN), lint(FIXED)])
    assert doc["version"] == "2.1.0"
    driver = run(doc)["tool"]["driver"]
    assert driver["name"] == "shapelint" and driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    assert run(doc)["invocations"] == [{"executionSuccessful": True}]
    assert run(doc)["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"


def test_sarif_rules_are_the_registry_documented_from_yaml(repo):
    rules = run(sarif_doc([lint(DYN)]))["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CHECKS)
    assert [r["name"] for r in rules] == [rule.name for rule in CHECKS.values()]
    docs = load_all()
    level = {"error": "error", "warning": "warning", "info": "note"}
    for r in rules:
        d = docs[r["id"]]
        assert r["defaultConfiguration"]["level"] == level[d.severity]
        assert r["fullDescription"]["text"] == " ".join(d.summary.split())
        short = r["shortDescription"]["text"]
        assert d.summary.startswith(short[:-1]) and short.endswith(".")
        assert d.rationale in r["help"]["text"] and f"Fix: {d.fix}" in r["help"]["text"]
        assert d.rationale in r["help"]["markdown"] and d.fix in r["help"]["markdown"]
    sl003 = next(r for r in rules if r["id"] == "SL003")
    assert sl003["shortDescription"]["text"].endswith("non-concatenated or non-broadcastable axis.")


def test_sarif_rules_link_their_docs_consistently_with_information_uri(repo, monkeypatch):
    """Every rule has a helpUri (an absolute URI; validate checks it). Without a Project-URL (this
    project declares none) it is the tool's page, as informationUri; with a Repository URL it is
    the rule's YAML in that repository, a file that exists here, and informationUri the repository."""
    monkeypatch.setattr(formats, "project_urls", lambda: {})
    driver = run(sarif_doc([lint(DYN)]))["tool"]["driver"]
    assert driver["informationUri"] == formats.DEFAULT_INFORMATION_URI
    assert [r["helpUri"] for r in driver["rules"]] == [formats.DEFAULT_INFORMATION_URI] * len(CHECKS)
    monkeypatch.setattr(formats, "project_urls", lambda: {"repository": "https://example.org/acme/shapelint/"})
    driver = run(sarif_doc([lint(DYN)]))["tool"]["driver"]
    assert driver["informationUri"] == "https://example.org/acme/shapelint/"
    root = Path(__file__).resolve().parents[1]
    for r in driver["rules"]:
        prefix, _, rel = r["helpUri"].partition("https://example.org/acme/shapelint/blob/main/")
        assert prefix == "" and rel == f"rules/{r['id']}-{r['name']}.yaml" and (root / rel).is_file(), r["helpUri"]


def test_project_urls_are_read_from_the_package_metadata(monkeypatch):
    import importlib.metadata

    class Meta:
        def get_all(self, key):
            assert key == "Project-URL"
            return ["Bug Tracker, https://example.org/issues", "Source, https://example.org/src",
                    "Homepage, https://example.org", "Broken entry"]

    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: Meta())
    urls = formats.project_urls()
    assert urls == {"bug tracker": "https://example.org/issues", "source": "https://example.org/src",
                    "homepage": "https://example.org"}
    assert formats.information_uri(urls) == "https://example.org/src"  # the first of the tool's pages
    assert formats.help_uri("rules/SL003-merge-mismatch.yaml", urls) == \
        "https://example.org/src/blob/main/rules/SL003-merge-mismatch.yaml"


def test_sarif_levels_dynamic_warning_fixed_error_info_note(repo):
    dyn = run(sarif_doc([lint(DYN)]))["results"]
    fixed = run(sarif_doc([lint(FIXED)]))["results"]
    assert {r["level"] for r in dyn if r["ruleId"] == "SL003"} == {"warning"}
    assert {r["level"] for r in dyn if r["ruleId"] == "SL002"} == {"note"}
    assert {r["level"] for r in fixed if r["ruleId"] == "SL003"} == {"error"}
    assert len([r for r in fixed if r["ruleId"] == "SL003"]) == 2
    rules = run(sarif_doc([lint(DYN)]))["tool"]["driver"]["rules"]
    for r in dyn + fixed:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    # --show-info off drops the notes only
    no_info = run(sarif_doc([lint(DYN)], show_info=False))["results"]
    assert [r["ruleId"] for r in no_info] == ["SL003", "SL003"]


def test_sarif_result_location_message_and_properties(repo):
    res = lint(DYN)
    results = run(sarif_doc([res]))["results"]
    r = next(r for r in results if r["ruleId"] == "SL003")
    f = next(f for f in res.findings if f.rule == "SL003")
    (loc,) = r["locations"]
    assert loc["physicalLocation"] == {"artifactLocation": {"uri": DYN, "uriBaseId": "%SRCROOT%"}}  # no region
    assert loc["logicalLocations"] == [{"name": "concat12", "fullyQualifiedName": "concat12", "kind": "object"}]
    assert r["message"]["text"] == f"{f.message}\nFix: {f.suggestion}"
    assert r["properties"]["details"] == json.loads(json.dumps(f.details))
    assert r["properties"]["op"] == "Concat" and r["properties"]["chain"] == list(f.chain)
    # a message that does not name its node is led by it (a model file has no line to point at)
    note = next(r for r in results if r["ruleId"] == "SL002")
    assert note["message"]["text"].startswith("ConvTranspose 'convtranspose11': H: input ceil(H/4)")


def test_sarif_artifact_uri_is_relative_with_forward_slashes_even_for_absolute_input(repo):
    res = lint(str(repo / DYN))  # an absolute path in, the path below the current directory out
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for r in run(sarif_doc([res]))["results"]
            for loc in r["locations"]}
    assert uris == {DYN}


def test_sarif_path_outside_the_base_is_an_absolute_file_uri(repo):
    res = lint(str(repo / DYN))
    doc = sarif_doc([res], base=str(repo / "elsewhere"))
    loc = run(doc)["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": (repo / DYN).resolve().as_uri()}


def test_sarif_savedmodel_folder_points_at_saved_model_pb(repo):
    (repo / "exported" / "sm").mkdir(parents=True)
    (repo / "exported" / "sm" / "saved_model.pb").write_bytes(b"")
    folder = os.path.join("exported", "sm")
    f = Finding("SL003", "merge-mismatch", "error", folder, "model/concat", "ConcatV2", "sizes differ", "crop",
                details={"axis": 1, "sizes": ["33", "34"]})
    doc = sarif_doc([Result(folder, findings=[f])])
    loc = run(doc)["results"][0]["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "exported/sm/saved_model.pb"
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "model/concat"
    assert formats.github([Result(folder, findings=[f])]).startswith(
        "::error file=exported/sm/saved_model.pb,title=SL003 merge-mismatch::")


def test_sarif_unreadable_model_is_an_error_notification(repo):
    (repo / "models" / "broken.onnx").write_bytes(b"not a protobuf \xff\xff")
    from shapelint.errors import ModelError

    with pytest.raises(ModelError) as e:
        lint("models/broken.onnx")
    results = [lint(DYN), Result("models/broken.onnx", error=str(e.value))]
    r = run(sarif_doc(results))
    (inv,) = r["invocations"]
    assert inv["executionSuccessful"] is False
    errors = [n for n in inv["toolExecutionNotifications"] if n["level"] == "error"]
    assert len(errors) == 1 and errors[0]["message"]["text"] == str(e.value)
    assert errors[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/broken.onnx"
    assert {x["ruleId"] for x in r["results"]} == {"SL002", "SL003"}  # the readable model is still reported


def test_sarif_notes_become_note_notifications(repo):
    res = Result(DYN, notes=["SL004 could not run on this model (KeyError: 'x')"])
    inv = run(sarif_doc([res]))["invocations"][0]
    assert inv["executionSuccessful"] is True
    assert inv["toolExecutionNotifications"][0]["level"] == "note"


def test_sarif_odd_file_name_is_percent_encoded(repo):
    name = "models/odd:name,100% x.onnx"
    onnx.save(unet(depth=2), name)
    r = run(sarif_doc([lint(name)]))["results"][0]
    uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "models/odd%3Aname,100%25%20x.onnx"
    assert unquote(uri) == name


# --------------------------------------------------------------------------- fingerprints


def fingerprints(results) -> dict:
    """(rule, node, axis) -> fingerprint, from the SARIF output."""
    out = {}
    for r in run(sarif_doc(results))["results"]:
        key = (r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"], r["properties"]["details"].get("axis"))
        assert key not in out
        out[key] = r["partialFingerprints"]["shapelintFinding/v2"]
    return out


def test_fingerprints_are_stable_across_runs_and_distinct(repo):
    first, second = fingerprints([lint(DYN)]), fingerprints([lint(DYN)])
    assert first == second and len(set(first.values())) == len(first) == 4
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in first.values())
    # another process, another hash seed: the same
    code = ("import json, sys; from shapelint.lint import lint; from shapelint.formats import sarif; "
            "d = json.loads(sarif([lint(sys.argv[1])])); "
            "fps = [r['partialFingerprints']['shapelintFinding/v2'] for r in d['runs'][0]['results']]; "
            "print(json.dumps(sorted(fps)))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    p = subprocess.run([sys.executable, "-c", code, DYN], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == sorted(first.values())


def test_fingerprint_ignores_wording_and_derived_numbers(repo):
    res = lint(DYN)
    f = next(f for f in res.findings if f.rule == "SL003")
    base = formats.fingerprint(f, DYN)
    reworded = dataclasses.replace(f, message="Concat 'concat12' merges tensors of different sizes",
                                   suggestion="something else", chain=())
    assert formats.fingerprint(reworded, DYN) == base
    renumbered = dataclasses.replace(f, details=dict(f.details, works="H mod 8 = 0", residues=[0],
                                                     example_working=8, smallest_failing=5, model_works={}))
    assert formats.fingerprint(renumbered, DYN) == base
    assert formats.fingerprint(dataclasses.replace(f, node="concat99"), DYN) != base
    assert formats.fingerprint(dataclasses.replace(f, details=dict(f.details, axis=3)), DYN) != base
    resized = dataclasses.replace(f, details=dict(f.details, sizes=["H", "2·ceil(H/2)"]))
    assert formats.fingerprint(resized, DYN) != base
    assert formats.fingerprint(dataclasses.replace(f, rule="SL002"), DYN) != base
    assert formats.fingerprint(f, "models/other.onnx") != base


def test_fingerprint_follows_the_node_in_a_real_model(repo):
    before = fingerprints([lint(DYN)])
    m = onnx.load(DYN)
    next(n for n in m.graph.node if n.name == "concat12").name = "up1/concat"
    onnx.save(m, DYN)
    after = fingerprints([lint(DYN)])
    assert ("SL003", "up1/concat", 2) in after and ("SL003", "concat12", 2) not in after
    assert after[("SL003", "up1/concat", 2)] != before[("SL003", "concat12", 2)]
    assert after[("SL003", "concat18", 2)] == before[("SL003", "concat18", 2)]  # the other merge keeps its identity


# --------------------------------------------------------------------------- GitHub


def unescape(s: str, prop: bool) -> str:
    """What the Actions runner reads back (its unescaping order: %3A/%2C, %0D, %0A, then %25)."""
    if prop:
        s = s.replace("%3A", ":").replace("%2C", ",")
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def parse(line: str):
    m = re.fullmatch(r"::(\w+) (.*?)::(.*)", line)
    assert m, line
    props = dict(p.split("=", 1) for p in m.group(2).split(","))
    return m.group(1), {k: unescape(v, True) for k, v in props.items()}, unescape(m.group(3), False)


def test_github_lines_exact(repo):
    res_dyn, res_fixed = lint(DYN), lint(FIXED)
    lines = formats.github([res_dyn, res_fixed]).split("\n")
    assert len(lines) == len(res_dyn.findings) + len(res_fixed.findings) == 8
    sl003 = next(f for f in res_dyn.findings if f.rule == "SL003")
    assert f"::warning file={DYN},title=SL003 merge-mismatch::{sl003.message}" in lines
    assert lines[2] == (f"::warning file={DYN},title=SL003 merge-mismatch::Concat 'concat12': non-concat axis 2 is "
                        "ceil(H/2) for 'conv6' but 2·ceil(H/4) for 'convtranspose11'; it runs only for "
                        "H mod 4 ∈ {0, 3}, H ≥ 3 (e.g. H=1: 1 vs 2; H=4 works); axis 3 runs only for "
                        "W mod 4 ∈ {0, 3}, W ≥ 3")
    assert lines[0].startswith(f"::notice file={DYN},title=SL002 ambiguous-convtranspose::"
                               "ConvTranspose 'convtranspose11': H: input ceil(H/4) admits 2 output sizes")
    assert [parse(x)[0] for x in lines] == ["notice", "notice", "warning", "warning",
                                            "notice", "notice", "error", "error"]
    assert all(parse(x)[1]["file"] == FIXED for x in lines[4:])
    # info hidden on request
    assert [parse(x)[0] for x in formats.github([res_dyn], show_info=False).split("\n")] == ["warning", "warning"]
    assert formats.github([]) == ""


def test_github_escaping_of_data_and_properties(repo):
    name = "models/odd:name,100%.onnx"
    onnx.save(unet(depth=2), name)
    res = lint(name)
    line = formats.github([res], show_info=False).split("\n")[0]
    assert line.startswith("::warning file=models/odd%3Aname%2C100%25.onnx,title=SL003 merge-mismatch::Concat ")
    f = Finding("SL003", "merge-mismatch:x,y", "error", name, "n", "Concat",
                "Concat 'n': 100% of\r\nline two: a,b %0A", "fix")
    line = formats.github([Result(name, findings=[f])])
    assert line == ("::error file=models/odd%3Aname%2C100%25.onnx,title=SL003 merge-mismatch%3Ax%2Cy::"
                    "Concat 'n': 100%25 of%0D%0Aline two: a,b %250A")
    assert "\n" not in line and "\r" not in line
    kind, props, message = parse(line)
    assert (kind, props, message) == ("error", {"file": name, "title": "SL003 merge-mismatch:x,y"}, f.message)


def test_github_unreadable_model_is_an_error_line(repo):
    r = Result("models/gone, really.onnx", error="models/gone, really.onnx: cannot read: No such file or directory")
    assert formats.github([r]) == ("::error file=models/gone%2C really.onnx,title=unreadable model::"
                                   "models/gone, really.onnx: cannot read: No such file or directory")


def test_escape_functions_match_githubs_toolkit():
    assert formats.escape_data("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad:e,f"
    assert formats.escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"
    assert formats.escape_property("%3A") == "%253A"  # % first, so an existing escape survives the round trip


def test_concise_is_one_line_per_finding_with_names_escaped(tmp_path):
    hostile = "concat\n::error file=pwned.py::x\x1b[31m\u2028\u202e"
    f = Finding("SL003", "merge-mismatch", "error", str(tmp_path / "m.onnx"), hostile, "Concat",
                f"Concat '{hostile}': axis 2 is 33 for 'a' but 34 for 'b'", "crop")
    info = dataclasses.replace(f, rule="SL002", severity="info", message="a convention")
    res = Result(str(tmp_path / "m.onnx"), findings=[f, info])
    out = formats.FORMATS["concise"].render([res], show_info=False, colour=False)
    assert out.count("\n") == 0  # one finding (the info one hidden), on one line
    assert out.startswith(f"{tmp_path / 'm.onnx'}:concat\\n::error file=pwned.py::x\\x1b[31m\\u2028\\u202e: SL003 [error] ")
    assert "axis 2 is 33 for 'a' but 34 for 'b'" in out
    assert not any(not c.isprintable() for c in out)
    both = formats.FORMATS["concise"].render([res], show_info=True, colour=False)
    assert both.splitlines()[1].endswith("SL002 [info] a convention")


def test_every_registered_format_is_a_cli_choice():
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", "--help"], capture_output=True, text=True)
    for name in formats.FORMATS:
        assert name in p.stdout
    example = Path(__file__).resolve().parents[1] / "examples" / "unet_static_65.onnx"
    p = subprocess.run([sys.executable, "-m", "shapelint", "check", str(example),
                        "--format", "concise"], capture_output=True, text=True)
    assert p.returncode == 1
    assert [line.split(": ")[1].split()[0] for line in p.stdout.splitlines()] == ["SL003", "SL003"]


def test_markdown_is_a_table_with_the_working_sizes_and_hostile_names_stay_in_their_cell(tmp_path):
    hostile = "up|conv\n| injected | row |"
    f = Finding("SL003", "merge-mismatch", "warning", "m.onnx", hostile, "Concat",
                "axis 2 is H for 'a' but 2·ceil(H/2) for 'b'", "crop")
    res = Result("m.onnx", findings=[f], works={"H": "H mod 2 = 0, H ≥ 2"})
    bad = Result("junk.onnx", error="junk.onnx: not a valid ONNX protobuf")
    out = formats.FORMATS["markdown"].render([res, bad], show_info=False, colour=False)
    lines = out.splitlines()
    assert lines[0] == "### shapelint: 1 model checked, 0 errors, 1 warning"
    table = [line for line in lines if line.startswith("| m.onnx | SL003")]
    assert len(table) == 1 and "injected" in table[0]
    cells = re.split(r"(?<!\\)\|", table[0])[1:-1]  # unescaped pipes delimit the cells
    # the newline is printed as \n, and its backslash escaped, so Markdown shows "\n"
    assert len(cells) == 5 and cells[3].strip() == r"up\|conv\\n\| injected \| row \|"
    assert "| m.onnx | H mod 2 = 0, H ≥ 2 |" in lines
    assert any("`shapelint contract MODEL --plot sizes.svg`" in line for line in lines)  # how to get the picture
    assert lines[-1] == "- junk.onnx: not a valid ONNX protobuf"
