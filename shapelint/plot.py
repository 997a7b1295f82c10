"""``shapelint contract MODEL --plot FILE.svg``: which input sizes (H, W) a model runs at, drawn.

A reporter over the contract (``api.contract_rows``): each cell of the grid is the contract's
verdict at that size (``analysis.Contract.runs``, with the model's other dynamic dims at their
smallest working size): green where it runs, red where it fails, grey where shapelint abstains.
A legend names what restricts each band of sizes: the merge or shape check with its rule, the op
whose output would be empty, the op shapelint could not follow, the failure at fixed sizes.

Plain SVG text from the standard library. The cells stay few even for 1024 × 1024 sizes: the
grid is painted in layers, as the verdict is built (a cell is the worst of its row's and its
column's verdicts, False < None < True): a green background, then whole rows and columns that
abstain (grey), then those that fail (red), each a run-length band; then, exactly, every cell
that differs from that (where two dims constrain each other), as runs per row. Inside the
``<g id="cells">`` group, ``<rect>``s are in cell units (x = W − first W, y = H − first H), their
colour is the ``fill`` of their group, and a later one paints over an earlier one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

from .errors import UsageError, one_line

MAX_SPAN = 1024  # sizes per axis: 1024 × 1024 verdicts take a few seconds
COLOURS = {True: "#1a9850", None: "#bdbdbd", False: "#d73027"}
WORDS = {True: "runs", None: "shapelint cannot tell (it abstains)", False: "fails"}
VERDICT = {True: "runs", None: "unknown", False: "fails"}  # the groups' data-verdict
RANK = {False: 0, None: 1, True: 2}  # a cell is the worst of what holds at its size
GRID_PX = 512  # the grid's side, whatever the number of sizes
MAX_SHOWN = 6  # restrictions named per dim (``shapelint contract`` lists them all)


@dataclass(frozen=True)
class PlotAxes:
    """Which dynamic dims the picture spans: ``h`` down, ``w`` across (None: a 1-row strip), the
    other dims' sizes, and how they were chosen, said in the picture."""

    h: str
    w: Optional[str]
    pinned: dict  # symbol -> the size it is drawn at
    said: str


def spatial_symbols(inf) -> list:
    """The dynamic input dims that reach a spatial axis of a convolution or pool, in input order
    (input, axis): what the picture calls H and W, whatever the layout."""
    from .analysis import ABSTAIN_SIZED, SIZED_OPS, spatial_dims
    from .frameworks import op_key
    from .symbolic import symbols

    found = set()
    for node in inf.graph.nodes:
        if op_key(node) not in SIZED_OPS | ABSTAIN_SIZED:
            continue
        for t in (node.input(0), *node.outputs[:1]):
            shape = inf.shape(t) if t else None
            if shape is not None:
                found |= symbols(*(d for d in spatial_dims(node, shape) if d is not None))
    return sorted((s for s in found if s in inf.symbols), key=lambda s: inf.symbols[s])


def layout_symbols(inf) -> list:
    """The dynamic dims at the spatial axes of the graph's layout (its dialect's, as the first op
    reading each input sees it), for a model where no convolution or pool has a known shape."""
    from .frameworks import of_graph

    out = []
    for t in inf.graph.inputs:
        if t.shape is None:
            continue
        reader = next((n for n in inf.graph.nodes if t.name in n.inputs), None)
        axes = of_graph(inf.graph).spatial_axes(reader, len(t.shape)) if reader is not None else ()
        out += [d for a, d in enumerate(t.shape) if a in axes and isinstance(d, str) and d in inf.symbols]
    return list(dict.fromkeys(out))


def pick_axes(inf, works: dict) -> PlotAxes:
    """H and W: the last two spatial dims of the first input that has any (a third, such as the
    depth of a volume, and every other dynamic dim is drawn at its smallest working size).
    Raises UsageError when the model has no dynamic spatial dim."""
    spatial, how = spatial_symbols(inf), "the spatial axes of its convolutions and pools"
    if not spatial:
        spatial, how = layout_symbols(inf), "the spatial axes of the graph's layout"
    if not spatial:
        shapes = ", ".join(f"'{t.name}' {_shape(t.shape)}" for t in inf.graph.inputs)
        raise UsageError(f"--plot: no dynamic spatial input dim to draw (inputs: {shapes})")
    first = inf.symbols[spatial[0]][0]
    mine = [s for s in spatial if inf.symbols[s][0] == first][-2:]
    h, w = mine[0], (mine[1] if len(mine) > 1 else None)
    pinned = {}
    for name in sorted(inf.symbols):
        if name not in (h, w):
            ss = works.get(name)
            low = ss.minimum() if ss is not None else 1
            pinned[name] = low if low is not None else 1
    shape = next((t.shape for t in inf.graph.inputs if t.name == first), None) or ()
    at = {s: [a for a, d in enumerate(shape) if d == s] or [inf.symbols[s][1]] for s in (h, w) if s}
    where = ", ".join(f"{s} = axis {a[0]}" if len(a) == 1 else f"{s} = axes {', '.join(map(str, a))}"
                      for s, a in at.items())
    said = f"input '{first}': {where} ({how})"
    if pinned:
        said += "; drawn at " + ", ".join(f"{k} = {v}" for k, v in pinned.items())
    return PlotAxes(h, w, pinned, said)


def _shape(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]" if shape is not None else "(rank unknown)"


def grid(contract, axes: PlotAxes, span: tuple, fails_everywhere: bool = False) -> list:
    """[[verdict at (h, w) for w in span] for h in span] (one row when ``axes.w`` is None)."""
    lo, hi = span
    sizes = range(lo, hi + 1)
    if fails_everywhere:
        return [[False] * len(sizes) for _ in (sizes if axes.w else [0])]
    if axes.w is None:
        return [[contract.runs({**axes.pinned, axes.h: x}) for x in sizes]]
    return [[contract.runs({**axes.pinned, axes.h: h, axes.w: w}) for w in sizes] for h in sizes]


_SAME = object()  # a cell the bands already paint right


def _runs(values: list) -> list:
    """[(start, length, value)] of equal neighbours."""
    out = []
    for k, v in enumerate(values):
        if out and out[-1][2] is v:
            out[-1] = (out[-1][0], out[-1][1] + 1, v)
        else:
            out.append((k, 1, v))
    return out


def layers(cells: list) -> dict:
    """The rects that paint ``cells`` exactly, by layer: {"bands": {verdict: [(x, y, w, h)]},
    "exact": {verdict: [...]}}, painted in the order grey bands, red bands, exact cells."""
    worst = lambda vs: min(vs, key=RANK.__getitem__)  # noqa: E731
    best = lambda vs: max(vs, key=RANK.__getitem__)  # noqa: E731
    n_h, n_w = len(cells), len(cells[0])
    row = [best(r) for r in cells]
    col = [best(c) for c in zip(*cells)]
    bands: dict = {None: [], False: []}
    for start, length, v in _runs(row):
        if v is not True:
            bands[v].append((0, start, n_w, length))
    for start, length, v in _runs(col):
        if v is not True:
            bands[v].append((start, 0, length, n_h))
    exact: dict = {True: [], None: [], False: []}
    above: dict = {}  # (x, length, verdict) -> index of the rect in the row above, to extend down
    for y, r in enumerate(cells):
        here = {}
        wrong = [v if v is not worst((row[y], col[x])) else _SAME for x, v in enumerate(r)]
        for x, length, v in _runs(wrong):
            if v is _SAME:
                continue
            rects = exact[v]
            k = above.get((x, length, v))
            if k is not None:
                rects[k] = (x, rects[k][1], length, rects[k][3] + 1)
            else:
                k = len(rects)
                rects.append((x, y, length, 1))
            here[(x, length, v)] = k
        above = here
    return {"bands": bands, "exact": exact}


def _text(s: str) -> str:
    return escape(one_line(s))


def _attr(s: str) -> str:
    return quoteattr(one_line(s))


def _ticks(lo: int, hi: int) -> list:
    n = hi - lo + 1
    step = 1
    while n / step > 8:
        step *= 2
    return [lo] + [v for v in range((lo // step + 1) * step, hi + 1, step) if v - lo >= step / 2]


def legend_lines(inf, got, record: dict, axes: PlotAxes, counts: dict) -> list:
    """(the verdict whose swatch it shows, or "" for none; indent level; text) for the legend: the colours with their counts, each
    drawn dim's working sizes, what restricts them (rule, op, node), dims that constrain each
    other, failures at fixed sizes, and where shapelint abstains."""
    from .analysis import merges

    total = sum(counts.values())
    out = [(v, 0, f"{WORDS[v]}: {counts.get(v, 0):,} of {total:,} sizes") for v in (True, False, None)]
    merge_nodes = {m.node.name for m in merges(inf)}
    rows = {r["symbol"]: r for r in record["rows"]}
    c = got.contract
    for f in record["fixed_size_failures"]:
        rule = f" {f['rule']}" if f["rule"] else ""
        out.append(("", 0, f"every size fails:{rule} at {f['op']} '{f['node']}': {f['message']}"))
    for sym in (axes.h, axes.w):
        if sym is None:
            continue
        row = rows.get(sym)
        out.append(("", 0, f"{sym}: {row['works'] if row else f'every {sym} ≥ 1'}"))
        why = got.why.get(sym, [])
        for r in why[:MAX_SHOWN]:
            if r.axis < 0:
                out.append(("", 1, f"{r.works}: {r.summary}"))
            else:
                rule = "SL003" if r.node in merge_nodes else "SL006"
                out.append(("", 1, f"needs {r.works}: {rule} at {r.op} '{r.node}' axis {r.axis}"))
        if len(why) > MAX_SHOWN:
            out.append(("", 1, f"… and {len(why) - MAX_SHOWN} more (shapelint contract lists them all)"))
        if c.note(sym):
            out.append(("", 1, f"grey: {c.note(sym)}"))
        pool = (c.pool_domain or {}).get(sym)
        if pool is not None and not pool.is_everything():
            out.append(("", 1, f"grey outside {pool.describe(sym)}: a window larger than its input, where the "
                               f"runtime's behaviour was not measured (shapelint abstains)"))
        empty = sorted(x for x, v in ((c.small or {}).get(sym) or {}).items() if v is None)
        if empty:
            out.append(("", 1, f"grey at {sym} = {', '.join(map(str, empty))}: a window larger than its input gives an "
                               f"empty tensor there (a TF or Keras conv with oneDNN: its input), which shapelint does not follow"))
    for j in got.together:
        if {axes.h, axes.w} & set(j["symbols"]):
            rule = "SL003" if j["node"] in merge_nodes else "SL006"
            out.append(("", 0, f"{rule}: {j['text']}"))
    if c.unknown:
        first, more = c.unknown[0], len(c.unknown) - 1
        out.append(("", 0, f"grey: shapelint abstains past {first.text()}" + (f" (and {more} more)" if more else "")))
    return out


def plot(path: str, graph, inf, got, record: dict, span: tuple) -> str:
    """The SVG text for one model: ``got`` from ``api.contract_rows``, ``record`` from
    ``api.contract_record``, ``span`` the (first, last) size drawn on each axis."""
    axes = pick_axes(inf, got.works)
    cells = grid(got.contract, axes, span, bool(record["fixed_size_failures"]))
    counts: dict = {}
    for r in cells:
        for v in r:
            counts[v] = counts.get(v, 0) + 1
    lo, hi = span
    n = hi - lo + 1
    scale = GRID_PX / n
    n_h = len(cells)
    grid_h = GRID_PX if axes.w else max(16.0, scale)
    unit_h = grid_h / n_h
    left, top = 56, 96
    legend = legend_lines(inf, got, record, axes, counts)
    legend_top = top + grid_h + 52
    line_h = 18
    name = os.path.basename(path.rstrip("/\\")) or path
    what = f"{axes.h} × {axes.w}" if axes.w else f"{axes.h}"
    head = [(22, 'font-size="15" font-weight="bold"', f"shapelint contract: {name}"),
            (42, "", f"which {what} run, {lo}…{hi}" + (f" ({axes.h} down, {axes.w} across)" if axes.w else "")),
            (60, "", axes.said), (78, 'fill="#555555"', _works_line(record, axes))]
    longest = max([len(t) + 4 * indent for _, indent, t in legend] + [len(t) for _, _, t in head])
    width = int(max(left + GRID_PX + 24, 24 + 6.8 * min(longest, 240)))
    height = int(legend_top + line_h * len(legend))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f"<title>{_text(f'shapelint contract: {name}: which {what} run')}</title>",
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    out += [f'<text x="12" y="{y}"{" " + style if style else ""}>{_text(t)}</text>' for y, style, t in head]
    out.append(f'<g id="cells" data-h={_attr(axes.h)} data-w={_attr(axes.w or "")} data-first="{lo}" '
               f'data-last="{hi}" transform="translate({left} {top}) scale({_num(scale)} {_num(unit_h)})" '
               f'shape-rendering="crispEdges">')
    out.append(f'<rect width="{n}" height="{n_h}" fill="{COLOURS[True]}"/>')
    painted = layers(cells)
    for layer, order in (("bands", (None, False)), ("exact", (True, None, False))):
        for v in order:
            rects = painted[layer].get(v) or []
            if rects:
                out.append(f'<g fill="{COLOURS[v]}" data-verdict="{VERDICT[v]}" data-layer="{layer}">')
                out += [_rect(*r) for r in rects]
                out.append("</g>")
    out.append("</g>")
    out += _axes_svg(axes, span, left, top, scale, grid_h)
    for k, (v, indent, text) in enumerate(legend):
        y = legend_top + k * line_h
        if v != "":
            out.append(f'<rect x="12" y="{y - 10}" width="12" height="12" fill="{COLOURS[v]}" stroke="#444444" '
                       f'stroke-width="0.5"/>')
        out.append(f'<text x="{30 if v != "" else 12 + 24 * indent}" y="{y}">{_text(text[:240])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _works_line(record: dict, axes: PlotAxes) -> str:
    if record["fixed_size_failures"]:
        return "the model fails at every size: see the legend"
    rows = {r["symbol"]: r for r in record["rows"]}
    drawn = [s for s in (axes.h, axes.w) if s]
    said = "; ".join(rows[s]["works"] if s in rows else f"every {s} ≥ 1" for s in drawn)
    if record["proven"]:
        return f"runs for {said}"
    if all(s not in rows or rows[s]["works"] == f"every {s} ≥ 1" for s in drawn):
        return "shapelint cannot tell at which sizes it runs: it abstains (see the legend)"
    return f"fails outside {said}; shapelint abstains on those sizes"


def _num(x: float) -> str:
    return f"{x:.6g}"


def _rect(x, y, w, h) -> str:
    return f'<rect x="{x}" y="{y}" width="{w}" height="{h}"/>'


def _axes_svg(axes: PlotAxes, span: tuple, left: int, top: int, scale: float, grid_h: float) -> list:
    lo, hi = span
    out = [f'<rect x="{left}" y="{top}" width="{GRID_PX}" height="{_num(grid_h)}" fill="none" stroke="#444444" '
           f'stroke-width="0.5"/>']
    across = axes.w or axes.h
    for v in _ticks(lo, hi):  # across, below the grid
        x = left + (v - lo + 0.5) * scale
        out.append(f'<line x1="{_num(x)}" y1="{_num(top + grid_h)}" x2="{_num(x)}" y2="{_num(top + grid_h + 4)}" '
                   f'stroke="#444444"/>')
        out.append(f'<text x="{_num(x)}" y="{_num(top + grid_h + 16)}" text-anchor="middle">{v}</text>')
    out.append(f'<text x="{left + GRID_PX / 2}" y="{_num(top + grid_h + 32)}" text-anchor="middle" '
               f'font-weight="bold">{_text(across)} →</text>')
    if axes.w:  # down, left of the grid
        for v in _ticks(lo, hi):
            y = top + (v - lo + 0.5) * scale
            out.append(f'<line x1="{left - 4}" y1="{_num(y)}" x2="{left}" y2="{_num(y)}" stroke="#444444"/>')
            out.append(f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">{v}</text>')
        out.append(f'<text x="14" y="{top + GRID_PX / 2}" text-anchor="middle" font-weight="bold" '
                   f'transform="rotate(-90 14 {top + GRID_PX / 2})">{_text(axes.h)} ↓</text>')
    return out


def write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all, as every file shapelint writes
    (``files.write_atomic``: a new path or a regular file; a link is written through)."""
    from .files import write_atomic

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--plot {path}: no folder {folder}")
    write_atomic(path, text.encode("utf-8"), "plot")
