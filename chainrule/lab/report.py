"""The lab's reports: ``report.html`` (self-contained), ``report.md`` and ``verdicts.json``.

At the top: one forest plot of every claim's empirical parts (oriented effect with its Holm-level
interval, divided by the part's practical floor, so 0 is "no effect" and 1 is "the smallest
effect that matters" for every part) and one plain-language line per claim. Then one section per
claim: its parts (effect, interval, floor, n, p, Holm p, method, status), verified identities
apart (not evidence), data provenance, tuning grids, the experiment's own table and plots.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.lab.experiment import (
    ERROR,
    HOLDS,
    INCONCLUSIVE,
    PARTLY,
    REFUTED,
    VERDICTS,
    VERIFIED,
    Result,
)
from chainrule.serialization import atomic_write

COLOURS = {HOLDS: "#2e8b3d", PARTLY: "#7fae3a", REFUTED: "#c8312b", INCONCLUSIVE: "#c9a227",
           VERIFIED: "#4a78b5", ERROR: "#777777"}
BACKGROUNDS = {HOLDS: "#e3f6e3", PARTLY: "#eef6dc", REFUTED: "#fbe3e3",
               INCONCLUSIVE: "#f6f1dc", VERIFIED: "#e3ecf8", ERROR: "#eeeeee"}
FOREST = "forest.png"
FOREST_CAPTION = (
    "Each row is one empirical part of a claim: its oriented effect (> 0 is the claimed "
    "direction) with its 95 % interval (Holm-adjusted within the claim), divided by the part's "
    "practical floor, so the solid line at 0 is 'no effect' and the dashed line at 1 is 'the "
    "smallest effect that matters'. A part holds when its whole interval is right of 0 and its "
    "point is at or right of 1. Parts registered with a floor of 0 are drawn as hollow markers, "
    "divided by their interval's half-width instead. The axis is linear in [−1, 1] and "
    "logarithmic beyond. Colour = the part's status.")


# ---------------------------------------------------------------- formatting helpers

def num(x: Any, digits: int = 3) -> str:
    """A number for a table: ``digits`` significant digits, '—' for NaN / None."""
    if x is None:
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            return "—" if math.isnan(float(x)) else str(float(x))
        return f"{float(x):.{digits}g}"
    return str(x)


def _pval(p: Any) -> str:
    if p is None or not isinstance(p, (int, float)) or not math.isfinite(p):
        return "—"
    return "< 1e-4" if p < 1e-4 else f"{p:.3g}"


def columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The union of the rows' keys, in first-seen order (a table shows every column)."""
    out: dict[str, None] = {}
    for row in rows:
        for k in row:
            out.setdefault(str(k), None)
    return list(out)


def _cell(row: dict[str, Any], key: str) -> str:
    for k, v in row.items():
        if str(k) == key:
            return num(v) if not isinstance(v, str) else v
    return ""


def html_table(rows: Sequence[dict[str, Any]], cls: str = "") -> str:
    """An HTML table whose header is the union of the rows' keys; every value sits under
    its own key's header (a row without a key gets an empty cell)."""
    if not rows:
        return ""
    cols = columns(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for row in rows:
        status = row.get("status", "")
        tr = f' class="{_css(status)}"' if status in VERDICTS else ""
        cells = "".join(f"<td>{html.escape(_cell(row, c))}</td>" for c in cols)
        body.append(f"<tr{tr}>{cells}</tr>")
    c = f' class="{cls}"' if cls else ""
    return (f'<div class="scroll"><table{c}><tr>{head}</tr>\n' + "\n".join(body)
            + "</table></div>")


def md_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The Markdown twin of :func:`html_table` (union of columns, values by key)."""
    if not rows:
        return []
    cols = columns(rows)
    lines = ["| " + " | ".join(_md(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md(_cell(row, c)) for c in cols) + " |" for row in rows]
    return lines + [""]


def _md(text: str) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def _css(status: str) -> str:
    return status.replace(" ", "-")


# ---------------------------------------------------------------- parts and verdict lines

def _parts(r: Result) -> tuple[list[Any], list[Any]]:
    emp = [p for p in r.parts if p.kind == "empirical"]
    ver = [p for p in r.parts if p.kind == "verified"]
    return emp, ver


def part_rows(parts: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of the empirical-parts table."""
    rows = []
    for p in parts:
        lo, hi = p.ci
        rows.append({
            "part": p.name, "claimed": p.statement, "metric": p.metric,
            "effect": num(p.effect),
            "interval": f"[{num(lo)}, {num(hi)}] ({100 * p.level:.3g} %)",
            "floor": num(p.floor), "n": str(p.n), "p (one-sided)": _pval(p.p),
            "p Holm": _pval(p.p_holm), "method": p.method, "status": p.status,
            "note": p.detail})
    return rows


def verified_rows(parts: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of the 'verified (not evidence)' table."""
    return [{"identity": p.name, "property": p.statement, "check": p.detail,
             "status": p.status} for p in parts]


def verdict_line(r: Result) -> str:
    """One plain-language sentence: the claim's status and which parts carry it."""
    emp, ver = _parts(r)
    extra = f"; {len(ver)} identit{'y' if len(ver) == 1 else 'ies'} verified (not evidence)" \
        if ver else ""
    failed = [p.name for p in ver if p.status == ERROR]
    if failed:
        extra += f"; identity FAILED: {', '.join(failed)}"
    if r.verdict == ERROR and not r.parts:
        return f"the experiment failed: {r.summary.splitlines()[0] if r.summary else 'error'}"
    if not emp:
        if r.parts:
            return ("only identities were checked, nothing was estimated" + extra).strip("; ")
        return f"{r.verdict} (no registered parts): {r.summary}"
    by = {s: [p.name for p in emp if p.status == s] for s in (HOLDS, REFUTED, INCONCLUSIVE)}
    small = [p.name for p in emp if p.status == INCONCLUSIVE and _below_floor(p)]
    by[INCONCLUSIVE] = [n for n in by[INCONCLUSIVE] if n not in small]
    m = len(emp)
    if r.verdict == HOLDS:
        core = ("the one measured part holds, clear of seed noise and of its practical floor"
                if m == 1 else f"all {m} measured parts hold, clear of seed noise and of their "
                               f"practical floors")
    elif r.verdict == PARTLY:
        core = f"{len(by[HOLDS])} of {m} measured parts hold ({', '.join(by[HOLDS])})"
        if by[REFUTED]:
            core += f"; refuted: {', '.join(by[REFUTED])}"
        if by[INCONCLUSIVE]:
            core += f"; not shown at this budget: {', '.join(by[INCONCLUSIVE])}"
    elif r.verdict == REFUTED:
        core = f"the opposite was measured for {', '.join(by[REFUTED])}; no part holds"
    else:
        core = (f"none of the {m} measured parts is clear of the seed noise and its floor at "
                f"this budget")
    if small:
        core += f"; in the claimed direction but below the practical floor: {', '.join(small)}"
    return core + extra


def _below_floor(p: Any) -> bool:
    """Clear of 0 in the claimed direction, but smaller than the floor."""
    lo = p.ci[0]
    return bool(np.isfinite(lo) and lo > 0 and p.effect < p.floor)


# ---------------------------------------------------------------- the forest plot

def _scaled(p: Any) -> tuple[float, float, float, bool]:
    """(point, low, high, by_floor) of a part, divided by its floor (or by its interval's
    half-width when the floor is 0)."""
    lo, hi = p.ci
    if p.floor > 0:
        s, by_floor = p.floor, True
    else:
        half = (hi - lo) / 2 if np.isfinite(hi - lo) and hi > lo else abs(p.effect) or 1.0
        s, by_floor = half or 1.0, False
    return p.effect / s, lo / s, hi / s, by_floor


def forest_plot(results: Sequence[Result], path: str) -> str | None:
    """One figure: every claim's empirical parts as scaled effect ± interval (see
    FOREST_CAPTION). Returns the path, or None when no result has an empirical part."""
    from chainrule.lab.common import pyplot

    rows = []
    for r in results:
        for p in _parts(r)[0]:
            rows.append((r.id, p))
    if not rows:
        return None
    plt = pyplot()
    height = 1.2 + 0.24 * len(rows)
    fig, ax = plt.subplots(figsize=(10.5, height), dpi=100)
    ys = np.arange(len(rows))[::-1]
    labels = []
    prev, shade = None, False
    for y, (exp_id, p) in zip(ys, rows):
        if exp_id != prev:
            shade = not shade
            prev = exp_id
        if shade:
            ax.axhspan(y - 0.5, y + 0.5, color="#f2f2f2", zorder=0, lw=0)
        pt, lo, hi, by_floor = _scaled(p)
        colour = COLOURS.get(p.status, "#777")
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [y, y], color=colour, lw=2.2, solid_capstyle="butt", zorder=2)
        if np.isfinite(pt):
            ax.plot([pt], [y], "o", ms=6, zorder=3, color=colour,
                    mfc=colour if by_floor else "white", mew=1.6)
        else:
            ax.text(0, y, "  no estimate", va="center", fontsize=7, color="#777")
        name = p.name if len(p.name) <= 46 else p.name[:45] + "…"
        labels.append(f"{exp_id}  {name}")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.axvline(0, color="black", lw=1)
    ax.axvline(1, color="black", lw=1, ls="--")
    ax.set_xscale("symlog", linthresh=1.0)
    ends = [v for _, p in rows for v in _scaled(p)[:3] if np.isfinite(v)]
    if ends:  # room for every interval end (symlog: pad by a factor, not an offset)
        left, right = min(min(ends), -1.0), max(max(ends), 1.5)
        ax.set_xlim(left * 1.6 if left < -1 else left - 0.3, right * 1.6)
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter

    lo_x, hi_x = ax.get_xlim()
    ticks = [t for t in (-1000, -100, -20, -5, -2, -1, 0, 1, 2, 5, 20, 100, 1000)
             if lo_x <= t <= hi_x]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlabel("effect / practical floor   (0: no effect; 1: the floor; > 0: the claimed "
                  "direction)")
    ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], color=COLOURS[s], marker="o", lw=2, label=s)
               for s in (HOLDS, INCONCLUSIVE, REFUTED)]
    handles.append(Line2D([], [], color="#555", marker="o", mfc="white", lw=0,
                          label="floor 0: scaled by the interval half-width"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4,
              fontsize=8, frameon=False, borderaxespad=0.2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 1.5em auto; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.status { padding: 1px 7px; border-radius: 4px; font-weight: 600; white-space: nowrap; }
.caption { font-size: 13px; color: #444; max-width: 1000px; }
.warn { background: #fff1c9; border: 1px solid #d9b64a; padding: 6px 10px; }
img { max-width: 100%; } blockquote { color: #555; border-left: 3px solid #ccc;
margin-left: 0; padding-left: 1em; } pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
ul.verdicts li { margin: 0.25em 0; }
.scroll { overflow-x: auto; max-width: 100%; }
"""


def _status_css() -> str:
    return "\n".join(f".{_css(s)} {{ background: {BACKGROUNDS[s]}; }}" for s in VERDICTS)


def _badge(status: str) -> str:
    return (f'<span class="status {_css(status)}" style="color:{COLOURS.get(status, "#333")}">'
            f"{html.escape(status)}</span>")


def _embed(path: str) -> str | None:
    from chainrule.train.report import embed_png

    return embed_png(path) if os.path.isfile(path) else None


def _meta_line(results: Sequence[Result], meta: dict[str, Any]) -> str:
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    parts = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    mode = "quick" if meta.get("quick") else "full"
    if meta.get("tiny"):
        mode = "tiny (test)"
    line = (f"{len(results)} claims: {parts}. Mode: {mode}; seeds {meta.get('seeds')} "
            f"(arms paired by seed)")
    if meta.get("wall_time") is not None:
        line += f"; {meta['wall_time']} s on {meta.get('jobs', 1)} worker(s)"
    return line + "."


def _fallbacks(results: Sequence[Result]) -> list[str]:
    return [f"{r.id}: {d}" for r in results for d in r.data.values() if "FALLBACK" in d]


def tuning_rows(tuning: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per search: the grid with each value's validation score, the chosen value
    starred, and whether it sits at the grid's edge (a value not searched says so)."""
    rows = []
    for t in tuning:
        grid = list(t.get("grid", []))
        scores = list(t.get("scores", []))
        chosen = t.get("chosen")
        if scores:
            pairs = [f"{num(g)}: {num(s)}{' ★' if g == chosen else ''}"
                     for g, s in zip(grid, scores)]
            searched = ", ".join(pairs)
        else:
            searched = f"{', '.join(num(g) for g in grid)} (not searched in this run)"
        row = {"arm": str(t.get("arm", "")),
               "parameter": str(t.get("param", t.get("knob", ""))),
               "grid → validation score": searched, "chosen": num(chosen),
               "at grid edge": ("yes" if chosen in (grid[0], grid[-1]) else "no")
               if scores and grid else "—"}
        for k, v in t.items():
            if k not in ("arm", "param", "knob", "grid", "scores", "chosen", "experiment"):
                row[str(k)] = num(v) if not isinstance(v, (list, dict)) else json.dumps(v)
        rows.append(row)
    return rows


def render_html(results: list[Result], meta: dict[str, Any], forest: str | None = None) -> str:
    """Self-contained HTML (PNG plots embedded as data URIs; every value escaped)."""
    e = html.escape
    out = ["<!doctype html>", '<html><head><meta charset="utf-8"><title>chainrule lab</title>',
           f"<style>{_STYLE}{_status_css()}</style></head><body>",
           "<h1>chainrule lab: the note's claims, measured</h1>",
           f"<p>{e(_meta_line(results, meta))}</p>"]
    falls = _fallbacks(results)
    if falls:
        out.append('<p class="warn"><b>Data fallback.</b> ' +
                   "<br>".join(e(f) for f in falls) + "</p>")
    out.append("<h2>Verdicts</h2>")
    uri = _embed(forest) if forest else None
    if uri:
        out.append(f'<img id="forest" alt="forest plot of every empirical part" src="{uri}">')
        out.append(f'<p class="caption">{e(FOREST_CAPTION)}</p>')
    out.append('<ul class="verdicts">')
    for r in results:
        out.append(f'<li><a href="#{e(r.id)}"><b>{e(r.id)}</b></a> {e(r.title)} — '
                   f"{_badge(r.verdict)} {e(verdict_line(r))} "
                   f'<span style="color:#777">({num(r.wall_time)} s)</span></li>')
    out.append("</ul>")
    for r in results:
        out.append(_section_html(r))
    out.append(_IMG_CHECK)
    out.append("</body></html>")
    return "\n".join(out)


# a small check the headless-browser test reads back from the DOM: every image decoded?
_IMG_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img');
  var ok = 0;
  imgs.forEach(function (im) {
    var good = im.complete && im.naturalWidth > 0;
    im.setAttribute('data-loaded', good ? 'yes' : 'no');
    if (good) { ok += 1; }
  });
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
</script>"""


def _section_html(r: Result) -> str:
    e = html.escape
    emp, ver = _parts(r)
    out = [f'<section class="claim" id="{e(r.id)}">',
           f"<h2>{e(r.id)}. {e(r.title)} — {_badge(r.verdict)}</h2>",
           f"<p><b>Verdict</b>: {e(verdict_line(r))}</p>",
           f"<blockquote>The note: “{e(r.claim)}”</blockquote>",
           f"<p><b>Expected</b> (literature): {e(r.expected)} <i>({e(r.source)})</i></p>",
           f"<p><b>Measured</b>: {e(r.summary)}</p>"]
    if emp:
        out.append("<h3>Parts (evidence)</h3>" + html_table(part_rows(emp)))
    if ver:
        out.append("<h3>Verified (not evidence)</h3>" + html_table(verified_rows(ver)))
    if r.data:
        out.append("<h3>Data</h3>" + html_table(
            [{"requested": k, "used": v} for k, v in r.data.items()]))
    if r.tuning:
        out.append("<h3>Tuning (validation split)</h3>" + html_table(tuning_rows(r.tuning)))
    if r.table:
        out.append("<h3>Measurements</h3>" + html_table(r.table))
    if r.numbers:
        out.append("<details><summary>key numbers</summary><pre>" +
                   e(json.dumps(r.to_json()["numbers"], indent=1)) + "</pre></details>")
    for p in r.plots:
        uri = _embed(p)
        if uri:
            out.append(f'<img alt="{e(r.id)} plot {e(os.path.basename(p))}" src="{uri}">')
    out.append(f"<p>seeds {e(str(r.seeds))}; budget {e(str(r.budget))}; "
               f"{num(r.wall_time)} s</p>")
    if r.note:
        out.append(f"<pre>{e(r.note)}</pre>")
    out.append("</section>")
    return "\n".join(out)


# ---------------------------------------------------------------- Markdown and JSON

def render_markdown(results: list[Result], meta: dict[str, Any],
                    forest: str | None = None) -> str:
    """The same report as Markdown (plots linked, not embedded)."""
    lines = ["# chainrule lab: the note's claims, measured", "", _meta_line(results, meta), ""]
    for f in _fallbacks(results):
        lines += [f"> **Data fallback** {_md(f)}", ""]
    lines += ["## Verdicts", ""]
    if forest:
        lines += [f"![forest plot]({os.path.basename(forest)})", "", f"*{FOREST_CAPTION}*", ""]
    for r in results:
        lines.append(f"- **{r.id}** {_md(r.title)} — **{r.verdict}**: {_md(verdict_line(r))} "
                     f"({num(r.wall_time)} s)")
    for r in results:
        emp, ver = _parts(r)
        lines += ["", f"## {r.id}. {_md(r.title)} — {r.verdict}", "",
                  f"**Verdict**: {_md(verdict_line(r))}", "",
                  f"> The note: “{_md(r.claim)}”", "",
                  f"**Expected**: {_md(r.expected)} ({_md(r.source)})", "",
                  f"**Measured**: {_md(r.summary)}", ""]
        if emp:
            lines += ["### Parts (evidence)", ""] + md_table(part_rows(emp))
        if ver:
            lines += ["### Verified (not evidence)", ""] + md_table(verified_rows(ver))
        if r.data:
            lines += ["### Data", ""] + md_table(
                [{"requested": k, "used": v} for k, v in r.data.items()])
        if r.tuning:
            lines += ["### Tuning (validation split)", ""] + md_table(tuning_rows(r.tuning))
        if r.table:
            lines += ["### Measurements", ""] + md_table(r.table)
        for p in r.plots:
            lines.append(f"![{r.id}]({os.path.join(r.id, os.path.basename(p))})")
        lines.append(f"seeds {r.seeds}; budget {r.budget}; {num(r.wall_time)} s")
    return "\n".join(lines) + "\n"


def verdicts_payload(results: Sequence[Result], meta: dict[str, Any]) -> dict[str, Any]:
    """What goes into verdicts.json: per claim its status, plain-language line, parts, data,
    tuning and key numbers."""
    keys = ("id", "title", "verdict", "summary", "numbers", "seeds", "wall_time", "budget",
            "parts", "data", "tuning")
    out = []
    for r in results:
        js = r.to_json()
        row = {k: js[k] for k in keys}
        row["verdict_line"] = verdict_line(r)
        out.append(row)
    return {"meta": meta, "results": out}


def write_reports(out_dir: str, results: list[Result], meta: dict[str, Any]) -> dict[str, str]:
    """Write forest.png, report.html, report.md and verdicts.json into ``out_dir``."""
    paths = {
        "html": os.path.join(out_dir, "report.html"),
        "md": os.path.join(out_dir, "report.md"),
        "json": os.path.join(out_dir, "verdicts.json"),
    }
    forest = forest_plot(results, os.path.join(out_dir, FOREST))
    if forest:
        paths["forest"] = forest
    atomic_write(paths["html"], render_html(results, meta, forest).encode())
    atomic_write(paths["md"], render_markdown(results, meta, forest).encode())
    payload = verdicts_payload(results, meta)
    atomic_write(paths["json"], (json.dumps(payload, indent=1) + "\n").encode())
    return paths
