"""The lab's reports: ``report.html`` (self-contained: verdict table first, then one section
per claim with numbers and plots), ``report.md`` and ``verdicts.json``."""

from __future__ import annotations

import html
import json
import os
from typing import Any

from chainrule.lab.experiment import Result
from chainrule.serialization import atomic_write

_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>chainrule lab</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 14px; }
td, th { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
.holds { background: #e3f6e3; } .refuted { background: #fbe3e3; }
.inconclusive { background: #f6f1dc; } .error { background: #eee; color: #900; }
img { max-width: 100%; } blockquote { color: #555; border-left: 3px solid #ccc; margin-left: 0;
padding-left: 1em; } pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
</style></head><body>
<h1>chainrule lab: the note's claims, measured</h1>
<p>{{ meta_line }}</p>
<h2>Verdicts</h2>
<table><tr><th>id</th><th>claim</th><th>verdict</th><th>result</th><th>time (s)</th></tr>
{% for r in results %}<tr class="{{ r.verdict }}"><td><a href="#{{ r.id }}">{{ r.id }}</a></td>
<td>{{ r.title }}</td><td>{{ r.verdict }}</td><td>{{ r.summary }}</td>
<td>{{ r.wall_time }}</td></tr>{% endfor %}</table>
{% for r in results %}
<h2 id="{{ r.id }}">{{ r.id }}. {{ r.title }} — <span class="{{ r.verdict }}">{{ r.verdict }}
</span></h2>
<blockquote>The note: “{{ r.claim }}”</blockquote>
<p><b>Expected</b> (literature): {{ r.expected }} <i>({{ r.source }})</i></p>
<p><b>Measured</b>: {{ r.summary }}</p>
{% if r.table %}<table><tr>{% for k in r.table[0].keys() %}<th>{{ k }}</th>{% endfor %}</tr>
{% for row in r.table %}<tr>{% for v in row.values() %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endif %}
{% if r.numbers %}<details><summary>key numbers</summary><pre>{{ r.numbers_json }}</pre>
</details>{% endif %}
{% for uri in r.images %}<img alt="{{ r.id }} plot" src="{{ uri }}">{% endfor %}
<p>seeds {{ r.seeds }}; budget {{ r.budget }}</p>
{% if r.note %}<pre>{{ r.note }}</pre>{% endif %}
{% endfor %}
</body></html>
"""


def _embed(path: str) -> str | None:
    from chainrule.train.report import embed_png

    return embed_png(path) if os.path.isfile(path) else None


def render_html(results: list[Result], meta: dict[str, Any]) -> str:
    """Self-contained HTML (PNG plots embedded; jinja2 with autoescape on)."""
    import jinja2

    env = jinja2.Environment(autoescape=True)
    rows = []
    for r in results:
        d = r.to_json()
        d["images"] = [u for u in (_embed(p) for p in r.plots) if u]
        d["numbers_json"] = json.dumps(d["numbers"], indent=1)
        rows.append(d)
    counts = {v: sum(r.verdict == v for r in results) for v in
              ("holds", "refuted", "inconclusive", "error")}
    meta_line = (f"{len(results)} experiments: " + ", ".join(f"{n} {v}" for v, n in
                                                              counts.items() if n)
                 + f". Mode: {'quick' if meta.get('quick') else 'full'}; seeds "
                 f"{meta.get('seeds')}.")
    return env.from_string(_HTML).render(results=rows, meta_line=meta_line)


def render_markdown(results: list[Result], meta: dict[str, Any]) -> str:
    """The same report as Markdown (plots linked, not embedded)."""
    lines = ["# chainrule lab: the note's claims, measured", "",
             f"Mode: {'quick' if meta.get('quick') else 'full'}; seeds {meta.get('seeds')}.", "",
             "| id | claim | verdict | result |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.id} | {_md(r.title)} | **{r.verdict}** | {_md(r.summary)} |")
    for r in results:
        lines += ["", f"## {r.id}. {r.title} — {r.verdict}", "",
                  f"> The note: “{r.claim}”", "",
                  f"**Expected**: {r.expected} ({r.source})", "",
                  f"**Measured**: {r.summary}", ""]
        if r.table:
            keys = list(r.table[0].keys())
            lines.append("| " + " | ".join(keys) + " |")
            lines.append("|" + "---|" * len(keys))
            for row in r.table:
                lines.append("| " + " | ".join(_md(str(row.get(k, ""))) for k in keys) + " |")
            lines.append("")
        for p in r.plots:
            lines.append(f"![{r.id}]({os.path.join(r.id, os.path.basename(p))})")
        lines.append(f"seeds {r.seeds}; budget {r.budget}; {r.wall_time} s")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return html.escape(text).replace("|", "\\|").replace("\n", " ")


def write_reports(out_dir: str, results: list[Result], meta: dict[str, Any]) -> dict[str, str]:
    """Write report.html, report.md and verdicts.json into ``out_dir``."""
    paths = {
        "html": os.path.join(out_dir, "report.html"),
        "md": os.path.join(out_dir, "report.md"),
        "json": os.path.join(out_dir, "verdicts.json"),
    }
    atomic_write(paths["html"], render_html(results, meta).encode())
    atomic_write(paths["md"], render_markdown(results, meta).encode())
    payload = {"meta": meta, "results": [
        {k: r.to_json()[k] for k in ("id", "title", "verdict", "summary", "numbers", "seeds",
                                     "wall_time", "budget")}
        for r in results]}
    atomic_write(paths["json"], (json.dumps(payload, indent=1) + "\n").encode())
    return paths
