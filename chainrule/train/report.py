"""Run directories and reports: ``runs/<timestamp>-<name>/`` with ``config.json``,
``metrics.jsonl``, ``checkpoints/``, ``loss.png``, ``accuracy.png``, ``lr.png`` and a
self-contained ``report.html`` (plots embedded, config, environment).

Matplotlib (Agg) and jinja2 are imported only when a report is written.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import platform
import re
from typing import Any

import numpy as np

from chainrule.serialization import atomic_write


def new_run_dir(root: str = "runs", name: str = "run") -> str:
    """Create and return ``root/<YYYYmmdd-HHMMSS>-<name>`` (a suffix avoids collisions)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    base = os.path.join(root, f"{stamp}-{safe}")
    path, k = base, 1
    while os.path.exists(path):
        k += 1
        path = f"{base}-{k}"
    os.makedirs(path)
    return path


def environment() -> dict[str, Any]:
    """Versions, BLAS and threads: what a reader needs to reproduce a number."""
    import chainrule
    from chainrule.backend import blas_info

    env = {
        "chainrule": chainrule.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        env["blas"] = blas_info()
    except Exception as e:  # threadpoolctl missing or failing is not fatal for a report
        env["blas"] = f"unavailable ({e})"
    return env


def write_json(path: str, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def plot_curves(path: str, series: dict[str, list[float]], title: str, ylabel: str,
                logy: bool = False) -> str:
    """Plot named series against epoch into a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for name, ys in series.items():
        ys = np.asarray(ys, dtype=np.float64)
        ax.plot(np.arange(1, len(ys) + 1), ys, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    if series:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def training_plots(run_dir: str, history: Any) -> dict[str, str]:
    """``loss.png``, ``accuracy.png`` (if accuracy was measured) and ``lr.png``."""
    keys = history.keys()
    out = {}
    loss = {k: history[k] for k in ("loss", "val_loss") if k in keys}
    out["loss"] = plot_curves(os.path.join(run_dir, "loss.png"), loss, "loss", "loss")
    acc = {k: history[k] for k in ("accuracy", "val_accuracy") if k in keys}
    if acc:
        out["accuracy"] = plot_curves(os.path.join(run_dir, "accuracy.png"), acc, "accuracy",
                                      "accuracy")
    if "lr" in keys:
        out["lr"] = plot_curves(os.path.join(run_dir, "lr.png"), {"lr": history["lr"]},
                                "learning rate", "lr", logy=True)
    return out


def embed_png(path: str) -> str:
    """A data URI for a PNG, so the HTML report is one self-contained file."""
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode()


_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
.verdict-healthy, .verdict-good { color: #070; } .verdict-warning { color: #a60; }
</style></head><body>
<h1>{{ title }}</h1>
<h2>Summary</h2>
<table>{% for k, v in summary.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
</table>
<h2>Curves</h2>
{% for name, uri in plots.items() %}<h3>{{ name }}</h3><img alt="{{ name }}" src="{{ uri }}">
{% endfor %}
<h2>Per-epoch metrics</h2>
<table><tr><th>epoch</th>{% for k in keys %}<th>{{ k }}</th>{% endfor %}</tr>
{% for row in rows %}<tr><td>{{ loop.index }}</td>{% for k in keys %}
<td>{{ row.get(k, "") | fmt }}</td>{% endfor %}</tr>{% endfor %}</table>
{% for section in sections %}<h2>{{ section.title }}</h2>
{% if section.text %}<p>{{ section.text }}</p>{% endif %}
{% if section.table %}<table>{% for k, v in section.table.items() %}
<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% for name, uri in section.images.items() %}<h3>{{ name }}</h3>
<img alt="{{ name }}" src="{{ uri }}">{% endfor %}
{% endfor %}
<h2>Configuration</h2><pre>{{ config }}</pre>
<h2>Environment</h2><pre>{{ env }}</pre>
</body></html>
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render_html(title: str, summary: dict[str, Any], plots: dict[str, str],
                history: Any, config: dict[str, Any],
                sections: list[dict[str, Any]] | None = None) -> str:
    """The report page (jinja2 with autoescape on; PNGs embedded as data URIs)."""
    import jinja2

    env = jinja2.Environment(autoescape=True)
    env.filters["fmt"] = _fmt
    tmpl = env.from_string(_TEMPLATE)
    secs = []
    for s in sections or []:
        secs.append({
            "title": s.get("title", ""), "text": s.get("text", ""),
            "table": s.get("table", {}),
            "images": {k: embed_png(p) for k, p in s.get("images", {}).items()
                       if os.path.isfile(p)},
        })
    return tmpl.render(
        title=title, summary=summary,
        plots={k: embed_png(p) for k, p in plots.items()},
        keys=history.keys(), rows=history.epochs, sections=secs,
        config=json.dumps(config, indent=2, default=str),
        env=json.dumps(environment(), indent=2, default=str),
    )


def write_run_report(run_dir: str, trainer: Any, title: str = "chainrule run",
                     test: dict[str, Any] | None = None, stopped: str | None = None) -> str:
    """Plots + ``report.html`` for a finished ``Trainer``; returns the report's path.

    ``test`` (the held-out result of ``chainrule train``: best epoch, its validation accuracy,
    test loss and accuracy) gets its own section, apart from the per-epoch validation metrics.
    ``stopped`` says why training ended early. NaN in the history is shown, never fatal.
    Callbacks with a ``report_section()`` method (the diagnostics) add their own section.
    """
    plots = training_plots(run_dir, trainer.history)
    trainable, total = trainer.num_parameters()
    summary: dict[str, Any] = {
        "epochs": len(trainer.history),
        "steps": trainer.global_step,
        "wall time (s)": round(trainer.wall_time, 2),
        "parameters": f"{trainable:,} trainable / {total:,} total",
    }
    if stopped:
        summary["training"] = stopped
    if len(trainer.history):
        for k, v in trainer.history.epochs[-1].items():
            summary[f"final {k}"] = _fmt(v)
    sections = []
    if test is not None:
        sections.append({
            "title": "Held-out test (evaluated once)",
            "text": "The validation split selected the checkpoint (best validation accuracy); "
                    "the test split was evaluated once, on that checkpoint, after training.",
            "table": {"best epoch": test["best_epoch"] + 1,
                      "validation accuracy": _fmt(test["val_accuracy"]),
                      "test loss": _fmt(test["test_loss"]),
                      "test accuracy": _fmt(test["test_accuracy"])},
        })
    for cb in trainer.callbacks:
        section = getattr(cb, "report_section", None)
        if callable(section):
            got = section(run_dir)
            if got:
                sections.append(got)
    html = render_html(title, summary, plots, trainer.history, trainer.config, sections)
    path = os.path.join(run_dir, "report.html")
    atomic_write(path, html.encode())
    return path
