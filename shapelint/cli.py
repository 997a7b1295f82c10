"""Command line: ``shapelint check PATH… [--input-shape NAME=1,3,65,65] [--format text|json|sarif|github]``,
``shapelint explain``, ``shapelint rule``."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from . import __version__
from . import limits
from .errors import ModelError, UsageError, one_line
from .lint import Result, collect, lint
from .formats import FORMATS
from .report import EXIT_ERROR, return_code, text, use_colour, visible


def _parse_shape(spec: str) -> tuple[str, tuple]:
    if "=" not in spec:
        raise UsageError(f"--input-shape {spec!r}: expected NAME=D1,D2,… (e.g. input=1,3,64,64)")
    name, dims = spec.rsplit("=", 1)
    try:
        values = tuple(int(d) for d in dims.replace("x", ",").split(","))
    except ValueError:
        raise UsageError(f"--input-shape {spec!r}: dims must be integers, e.g. {name}=1,3,64,64")
    if any(d < 0 for d in values):
        raise UsageError(f"--input-shape {spec!r}: dims must not be negative")
    return name, values


def _lint_one(path, pins, rules, signature, fixed_cfg, fail_on_unknown=False):
    """One model: (Result, the fail-on of its configuration or None). Runs in worker processes.
    ``rules``: the command line's (select, extend-select, ignore), merged with the configuration as
    ruff merges them: --select replaces its selection, the others extend it."""
    from dataclasses import replace

    from . import config as config_mod
    from .checks import CHECKS

    try:
        cfg = fixed_cfg or config_mod.find(path)
        if fail_on_unknown:
            cfg = replace(cfg, fail_on_unknown=True)
        cfg = config_mod.with_rules(cfg, *(rules or (None, (), ())))
        result = lint(path, pins, {r for r in CHECKS if cfg.enabled(r)}, signature=signature, inputs=cfg.contracts())
        config_mod.apply(cfg, result)
        return result, (cfg.fail_on if cfg.source else None)
    except (ModelError, UsageError) as e:
        return Result(path, error=str(e)), None
    except RecursionError:
        return Result(path, error=f"{path}: graph too deeply nested to analyse"), None
    except MemoryError:
        return Result(path, error=f"{path}: not enough memory to analyse this model"), None
    except Exception as e:  # a bug of ours: one line for this model, and the batch goes on
        return Result(path, error=f"{path}: internal error ({type(e).__name__}: {str(e)[:200]}); please report it "
                                  f"with the model"), None


def _report_outcome(outcome, progress: bool, k: int, n: int):
    result = outcome[0]
    if result.error:
        print(f"shapelint: {one_line(result.error)}", file=sys.stderr)
    elif progress:
        print(f"[{k}/{n}] {result.path}"[:60].ljust(60), end="\r", file=sys.stderr, flush=True)
    return result


def _rules() -> dict:
    from .checks import CHECKS

    return CHECKS


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviated long options (``--form`` is not ``--format``), and with a "did
    you mean" for an unknown option or command, as ruff and git give."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        import difflib
        import re

        words = []
        m = re.search(r"unrecognized arguments: (.*)", message)
        if m:  # (argparse reports a subcommand's unknown option from the top parser: every option counts)
            parsers = [self] + [c for a in self._actions if isinstance(a, argparse._SubParsersAction)
                                for c in a.choices.values()]
            known = sorted({s for q in parsers for a in q._actions for s in a.option_strings if s.startswith("--")})
            words = [(w, known) for w in m.group(1).split() if w.startswith("-")]
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            words = [(m.group(1), re.findall(r"'([^']*)'", m.group(2)) or
                      [c.strip() for c in m.group(2).split(",")])]
        for word, choices in words:
            close = difflib.get_close_matches(word.split("=")[0], choices, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]}?"
        super().error(message)


def _statistics(results, show_info: bool) -> str:
    """Findings per rule, most first, as ``ruff --statistics`` prints them."""
    from collections import Counter

    from .checks import CHECKS

    counts = Counter(f.rule for r in results for f in visible(r.findings, show_info))
    return "\n".join(f"{n:>5}\t{rule}\t{CHECKS[rule].name}" for rule, n in
                     sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="shapelint",
        description="Static linter for transposed convolutions and skip connections in exported models.",
        epilog="In Python: shapelint.check(model) -> a report (.ok, .errors, .unknowns, .works), "
               "shapelint.contract(model); model is a path, bytes or an onnx.ModelProto.",
    )
    p.add_argument("--version", action="version", version=f"shapelint {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # options several commands share, defined once
    signature = argparse.ArgumentParser(add_help=False)
    signature.add_argument("--signature", metavar="NAME", help="SavedModel signature (default serving_default)")
    shapes = argparse.ArgumentParser(add_help=False)
    shapes.add_argument("--input-shape", action="append", default=[], metavar="NAME=D1,D2,…",
                        help="pin an input's dims, e.g. input=1,3,65,65 (repeatable)")
    c = sub.add_parser("check", parents=[shapes, signature], help="lint models (files or folders)",
                       description="Lint ONNX models, TensorFlow SavedModels, .keras and .tflite files, exactly, for fixed and dynamic "
                                   "input sizes. Rules: " + "; ".join(f"{k} {r.name}" for k, r in _rules().items())
                                   + ". Exit 0: clean; 1: a warning or error; 2: unreadable model or bad usage.")
    c.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                   help="model files, SavedModel folders (or their saved_model.pb), or folders to search "
                        "(default: the current folder)")
    c.add_argument("--format", choices=tuple(FORMATS), default="text",
                   help="; ".join(f"{name}: {f.help}" for name, f in FORMATS.items()))
    c.add_argument("--show-info", action="store_true", help="also list info findings (SL002 conventions)")
    c.add_argument("--select", metavar="IDS", help="comma-separated rule ids or prefixes to run instead of the "
                   "configuration's, e.g. SL003 or SL00")
    c.add_argument("--extend-select", metavar="IDS", help="rule ids or prefixes to run besides the configuration's")
    c.add_argument("--ignore", metavar="IDS", help="rule ids or prefixes not to report, besides the configuration's")
    c.add_argument("--statistics", action="store_true", help="print how many findings each rule has, not the findings")
    c.add_argument("-q", "--quiet", action="store_true", help="print the findings only: no notes, no summary line")
    c.add_argument("--config", metavar="FILE", help="a .shapelint.yaml or pyproject.toml to use instead of the "
                   "nearest one above each model")
    c.add_argument("--fail-on", choices=("error", "warning", "info"),
                   help="the lowest severity that makes the exit code 1 (default: warning, or the config's)")
    c.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    c.add_argument("--fail-on-unknown", action="store_true",
                   help="make it an error (exit 1) where shapelint abstains because it could not infer a shape "
                        "or state a run-time check (SL005); by default those are notes")
    c.add_argument("--follow-links", action="store_true",
                   help="lint models reached by symbolic links that lead out of the folder given (by default "
                        "they are skipped, with a note)")
    c.add_argument("--lfs-pointers", choices=("skip", "fail"), default="skip",
                   help="a Git LFS pointer file where a model should be (git lfs pull not run): skip it with "
                        "a note (default) or fail with exit 2")
    c.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="lint in N processes (at most one per file, and "
                   f"{limits.MAX_JOBS_PER_CPU} per CPU)")
    c.add_argument("--write-baseline", metavar="FILE", help="record the current findings, to ignore them later")
    c.add_argument("--baseline", metavar="FILE", help="report only findings that are not in this baseline")
    k = sub.add_parser("contract", parents=[signature], help="the exact input sizes a model runs at",
                       description="Per model and dynamic input dim, the exact set of sizes for which every merge, every "
                                   "run-time shape check (Reshape counts, MatMul inner dims, …) and every "
                                   "transposed convolution of the model is consistent: a modulus, the residues "
                                   "that work, a minimum (and a maximum when the set is finite); then why: the "
                                   "chain of stages from the input, each merge that restricts it with both "
                                   "sizes, and dims that constrain each other. Where an op's shape could not be "
                                   "inferred, it abstains on every size it cannot show to fail and names the op. "
                                   "Exit 0: every model was read (whatever sizes it runs at; check is the judge); "
                                   "2: a model could not be read, or bad usage.")
    k.add_argument("models", nargs="+", metavar="MODEL",
                   help="model files, SavedModel folders (or their saved_model.pb), or folders to search, as for check")
    k.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: a list with one object per model (file, inputs, rows, fixed_size_failures, proven, "
                        "unknown; {file, error} for a model that could not be read)")
    k.add_argument("--plot", metavar="FILE.svg", help="also draw which (H, W) run (green), fail (red) or where "
                   "shapelint abstains (grey), with the reason for each band, as an SVG file (one model)")
    k.add_argument("--range", metavar="LO:HI", default="1:256", help="the sizes --plot draws, for H and W "
                   "(default 1:256)")
    fx = sub.add_parser("fix", help="rewrite an ONNX model so onnxruntime accepts its transposed convolutions "
                        "(SL001) and its skip connections fit (SL003)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Repair every SL001 and SL003 finding of an ONNX model. SL001: give each "
                                    "ConvTranspose onnxruntime rejects the output_padding, pads or output_shape that "
                                    "make it valid and keep the size its consumers expect (the merge's other input, "
                                    "else the declared shape, else the size its attributes state), or say why it "
                                    "cannot. SL003: at fixed sizes, set the output_padding or pads of the "
                                    "ConvTranspose that feeds the merge; otherwise crop and pad the upsampled input "
                                    "to the skip tensor's run-time size. The result is linted again. Weights are not "
                                    "read or rewritten.",
                        epilog="exit codes:\n"
                               "  0  every SL001/SL003 finding repaired, or none to repair\n"
                               "  1  an SL001/SL003 finding remains after the rewrite (with --diff: would remain);\n"
                               "     one line on stderr per finding says why\n"
                               "  2  the model cannot be read, is not ONNX, or the usage is wrong")
    fx.add_argument("model", metavar="MODEL.onnx")
    fx.add_argument("-o", "--output", metavar="FIXED.onnx", help="where to write the repaired model")
    fx.add_argument("--diff", action="store_true", help="print a unified diff of the changed nodes (a text listing, "
                    "one line per node and per attribute) and write nothing")
    r = sub.add_parser("rule", help="print a rule's documentation", description="Print the documentation of a "
                       "rule from its rules/*.yaml: what it does, why it matters, an example, the fix.")
    r.add_argument("rule_id", nargs="?", metavar="ID", help="e.g. SL003")
    r.add_argument("--all", action="store_true", help="every rule")
    e = sub.add_parser("explain", parents=[shapes, signature], help="explain one transposed convolution's output size",
                       description="For one transposed convolution: the input size, the admissible output "
                                   "sizes, the one the node produces and why, and what ONNX/PyTorch, Keras and "
                                   "TensorFlow conventions give, with the output_padding that selects each.")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("--node", help="node name (optional when the model has one transposed convolution)")
    for command in (c, k, fx, r, e):  # `shapelint check --version` too
        command.add_argument("--version", action="version", version=f"shapelint {__version__}")
    return p


def _explain(args) -> int:
    from .api import explain  # one way to pick the node, for the API and the command line

    pins = dict(_parse_shape(s) for s in args.input_shape)
    print(explain(args.model, args.node, input_shapes=pins, signature=args.signature))
    return 0


def _fix(args) -> int:
    from .fix import RULES, run

    if not args.diff and not args.output:
        raise UsageError("fix: give -o FIXED.onnx, or --diff")
    out = run(args.model, args.output, diff_only=args.diff)
    notes = sys.stderr if args.diff else sys.stdout  # with --diff, stdout is the diff alone
    if args.diff and out.diff:
        print("\n".join(out.diff))
    for line in out.lines:
        print(line, file=notes)
    if not out.lines and not out.left:
        print(f"{one_line(args.model)}: nothing to fix", file=notes)
    if out.written:
        print(f"{one_line(args.output)}: re-linted, {len(out.left)} {'/'.join(RULES)} finding(s) left")
    for reason in out.reasons():
        print(f"shapelint: {one_line(args.model)}: {reason}", file=sys.stderr)
    return 1 if out.left else 0


def _contract(args) -> int:
    """Every model's contract, as text or one JSON list. Exit 0 when every model was read, whatever
    sizes it runs at (``check`` is the judge); 2 when one could not be (one line each, the others
    go on) or the usage is wrong; never 1."""
    import json

    from .api import contract_record, contract_rows
    from .lint import analyse

    span = _plot_range(args.range) if args.plot else None
    paths = collect(args.models)
    if not paths:
        raise UsageError("no model files found in " + ", ".join(args.models))
    if args.plot and len(paths) != 1:
        raise UsageError(f"--plot draws one model; {len(paths)} were given")
    records, code = [], 0
    for path in paths:
        try:
            graph, inf = analyse(path, None, args.signature)
            got = contract_rows(inf, path)
            record = contract_record(path, graph, inf, got)
        except (ModelError, UsageError) as e:
            error = str(e)
        except RecursionError:
            error = f"{path}: graph too deeply nested to analyse"
        except MemoryError:
            error = f"{path}: not enough memory to analyse this model"
        except Exception as e:  # a bug of ours: one line for this model, and the others go on (as check)
            error = f"{path}: internal error ({type(e).__name__}: {str(e)[:200]}); please report it with the model"
        else:
            error = None
        if error is not None:
            print(f"shapelint: {one_line(error)}", file=sys.stderr)
            records.append({"file": path, "error": error})
            code = EXIT_ERROR
            continue
        records.append(record)
        if args.format == "text":
            if len(records) > 1:
                print()
            print("\n".join(one_line(line) for line in _contract_text(path, inf, got, record)))
        if args.plot:
            from .plot import plot, write

            svg = plot(path, graph, inf, got, record, span)
            write(args.plot, svg)
            print(f"shapelint: wrote {args.plot} ({len(svg.encode('utf-8'))} bytes)", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return code


def _plot_range(text: str) -> tuple:
    from .plot import MAX_SPAN

    lo, sep, hi = text.partition(":")
    try:
        span = (int(lo), int(hi)) if sep else (1, int(lo))
    except ValueError:
        raise UsageError(f"--range {text!r}: expected LO:HI, e.g. 1:256")
    if not 1 <= span[0] <= span[1] or span[1] - span[0] + 1 > MAX_SPAN:
        raise UsageError(f"--range {text!r}: need 1 ≤ LO ≤ HI and at most {MAX_SPAN} sizes")
    return span


def _contract_text(path: str, inf, got, record: dict) -> list:
    from .reasons import render

    rows, c, why, together, works = got.rows, got.contract, got.why, got.together, got.works
    out = []
    for r in rows:
        alone = " on its own" if r["with"] else ""
        said = r["works"] if not c.unknown else (
            f"fails outside {r['works']}; shapelint abstains on those sizes" if _restricted(works, r["symbol"])
            else "shapelint abstains on every size")
        out.append(f"{path}: {r['input']}, axis {r['axis']} ({r['symbol']}){alone}: {said}")
        if c.note(r["symbol"]):
            out.append(f"  note: {c.note(r['symbol'])}")
        out.extend(render(inf, why.get(r["symbol"], [])))
    for j in together:
        out.append(f"{path}: {j['text']}; shapelint gives no per-size set for that (pin sizes with "
                   f"`check --input-shape` to check a combination)")
    dynamic = any(not isinstance(d, int) for i in record["inputs"] for d in (i["shape"] or [None]))
    for f in record["fixed_size_failures"]:
        lead = "" if f"'{f['node']}'" in f["message"] else f"{f['op']} '{f['node']}': "
        out.append(f"{path}: fails at {'every size' if dynamic else 'its fixed sizes'}"
                   f"{' (' + f['rule'] + ')' if f['rule'] else ''}: {lead}{f['message']}")
    if c.unknown:
        first, more = c.unknown[0], len(c.unknown) - 1
        out.append(f"{path}: unknown: {first.text()}"
                   + (f" (and {more} more: {', '.join(repr(u.node) for u in c.unknown[1:4])}{', …' if more > 3 else ''})"
                      if more else "")
                   + "; no size is said to run past it")
    elif not rows and not record["fixed_size_failures"]:
        out.append(f"{path}: every size of every dynamic input dim works" if dynamic
                   else f"{path}: runs at its fixed sizes (it has no dynamic input dim)")
    plain = {d for i in record["inputs"] for d in (i["shape"] or ()) if isinstance(d, str)}
    for o in record["outputs"]:  # an output size that is not an input's: say what it is
        if any(isinstance(d, str) and d not in plain for d in o["shape"] or ()):
            out.append(f"{path}: output {o['name']}: [{', '.join('?' if d is None else str(d) for d in o['shape'])}]")
    for name, axis, reason in c.undecided:
        if not any(j["node"] == name and j["axis"] == axis for j in together):
            out.append(f"{path}: note: '{name}' axis {axis} not decided ({reason})")
    return out


def _restricted(works: dict, name: str) -> bool:
    return name in works and not works[name].is_everything()


def _rule_docs(args) -> int:
    from .rules import load_all

    docs = load_all()
    ids = list(docs) if args.all else [args.rule_id.upper()] if args.rule_id else []
    if not ids or any(i not in docs for i in ids):
        print(f"shapelint: rule: give a rule id ({', '.join(docs)}) or --all", file=sys.stderr)
        return EXIT_ERROR
    out = []
    for i in ids:
        d = docs[i]
        out += [f"{d.id} {d.name} ({d.severity})", "", "What it does", f"  {d.summary}", "",
                "Why is this bad?", f"  {d.rationale}", "", "Example message", f"  {d.message}", "",
                "Example", *(f"  {line}" for line in d.bad.rstrip().splitlines()), "",
                "Use instead", *(f"  {line}" for line in d.good.rstrip().splitlines()), "",
                "Fix", f"  {d.fix}", ""]
    print("\n".join(out).rstrip())
    return 0


GC_THRESHOLD = tuple(int(x) for x in os.environ.get("SHAPELINT_GC", "200000,30,30").split(","))


def main(argv=None) -> int:
    import gc

    # a model's graph is many small objects that live until the process exits: the cyclic
    # collector would scan them again and again as inference allocates (a quarter of the time
    # on a 100,000-node graph). The command is short-lived and allocates few cycles: collect
    # rarely (as mypy does).
    gc.set_threshold(*GC_THRESHOLD)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not valid UTF-8 must not crash a report
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    from .escape import SafeStream

    # every line printed, by any command, goes through one sanitiser (names escaped, no "::" line)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)
    try:
        return _main(argv)
    except BrokenPipeError:  # `shapelint … | head`: the reader has gone, which is not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (RecursionError, MemoryError, Exception) as e:
        # a bug of ours: one line and exit 2, never a traceback (which exits 1: CI would read it
        # as findings). SHAPELINT_STRICT=1 (the test suite) lets it through, to fail the test.
        if os.environ.get("SHAPELINT_STRICT") == "1" or isinstance(e, (SystemExit, KeyboardInterrupt)):
            raise
        print(f"shapelint: internal error ({type(e).__name__}: {one_line(str(e))[:200]}); please report it "
              f"with the command and the model", file=sys.stderr)
        return EXIT_ERROR
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "format", None) == "github" and hasattr(sys.stdout, "commands"):
        sys.stdout.commands = True  # its ::error/::warning lines are workflow commands, on purpose
    if args.command == "rule":
        return _rule_docs(args)
    commands = {"fix": _fix, "contract": _contract, "explain": _explain}
    if args.command in commands:
        try:
            return commands[args.command](args)
        except (ModelError, UsageError) as e:
            print(f"shapelint: {e}", file=sys.stderr)
            return EXIT_ERROR
    if args.command != "check":
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        pins = dict(_parse_shape(s) for s in args.input_shape)
    except UsageError as e:
        print(f"shapelint: {e}", file=sys.stderr)
        return EXIT_ERROR
    from . import config as config_mod

    try:
        rules = tuple(None if v is None else config_mod.rule_ids(
            [x.strip() for x in v.split(",") if x.strip()] or [""], flag, "the command line")
            for v, flag in ((args.select, "--select"), (args.extend_select, "--extend-select"), (args.ignore, "--ignore")))
    except UsageError as e:
        print(f"shapelint: {e}", file=sys.stderr)
        return EXIT_ERROR
    rules = (rules[0], rules[1] or (), rules[2] or ())

    try:
        fixed_cfg = config_mod.load(args.config) if args.config else None
    except UsageError as e:
        print(f"shapelint: {e}", file=sys.stderr)
        return EXIT_ERROR
    walk_notes: list = []
    paths = collect(args.paths, walk_notes, follow_links=args.follow_links)
    if not args.quiet:
        for note in walk_notes:
            print(one_line(note), file=sys.stderr)
    skipped = 0
    if args.lfs_pointers == "skip":  # "fail": lint.load raises ModelError naming the pointer (exit 2)
        from .lfs import NOTE as LFS_NOTE, pointer_file

        kept = []
        for path in paths:
            pointer = pointer_file(path)
            if pointer is None:
                kept.append(path)
            else:
                print(f"{pointer}: note: {LFS_NOTE}", file=sys.stderr)
        skipped, paths = len(paths) - len(kept), kept
    job = functools.partial(_lint_one, pins=pins, rules=rules, signature=args.signature, fixed_cfg=fixed_cfg,
                            fail_on_unknown=args.fail_on_unknown)
    results, fail_on = [], args.fail_on
    progress = sys.stderr.isatty() and len(paths) > 5
    workers = limits.jobs(args.jobs, len(paths))  # -j 1000 on 2 files starts 2 processes, not 1,000
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = pool.map(job, paths, chunksize=max(1, len(paths) // (4 * workers)))
            for k, outcome in enumerate(outcomes, 1):
                results.append(_report_outcome(outcome, progress, k, len(paths)))
                fail_on = fail_on or outcome[1]
    else:
        for k, path in enumerate(paths, 1):
            outcome = job(path)
            results.append(_report_outcome(outcome, progress, k, len(paths)))
            fail_on = fail_on or outcome[1]
    if progress:
        print(" " * 60, end="\r", file=sys.stderr)
    if not results and not skipped:
        print("shapelint: no model files found in " + ", ".join(args.paths), file=sys.stderr)
        return EXIT_ERROR
    from . import baseline

    try:
        if args.baseline:
            baseline.filter_new(results, baseline.load(args.baseline))
        if args.write_baseline:
            n = baseline.write(results, args.write_baseline)
            print(f"shapelint: wrote {n} finding(s) to {args.write_baseline}", file=sys.stderr)
    except (UsageError, OSError) as e:
        print(f"shapelint: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.statistics:
        out = _statistics(results, args.show_info)
    elif args.quiet and args.format == "text":
        out = text(results, show_info=args.show_info, show_notes=False, colour=use_colour(sys.stdout),
                   summary_line=False)
    else:
        out = FORMATS[args.format].render(results, show_info=args.show_info, colour=use_colour(sys.stdout))
    if out:
        print(out)
    code = return_code(results, fail_on or "warning")
    return 0 if args.exit_zero and code == 1 else code
