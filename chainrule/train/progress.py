"""Training progress: a rich bar per epoch on a terminal, plain lines otherwise, nothing when
quiet; and the final summary table."""

from __future__ import annotations

import sys
from typing import Any


def _fmt(logs: dict[str, float]) -> str:
    parts = []
    for k, v in logs.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.3g}" if k == "lr" else f"{k} {v:.4f}")
    return "  ".join(parts)


class _NullBar:
    def advance(self, logs: dict[str, float], elapsed: float) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


class _RichBar:
    def __init__(self, progress: Any, description: str, total: int | None) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=total)
        self.count = 0

    def advance(self, logs: dict[str, float], elapsed: float) -> None:
        self.count += 1
        rate = self.count / elapsed if elapsed > 0 else 0.0
        self.progress.update(self.task, advance=1, info=f"{_fmt(logs)}  {rate:.1f} it/s")

    def close(self) -> None:
        self.progress.stop_task(self.task)


class Progress:
    """Chooses the display: rich live bars on a TTY, one line per epoch otherwise."""

    def __init__(self, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.live = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._rich: Any = None
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
            )
            self._rich.start()

    def epoch_bar(self, epoch: int, epochs: int, total: int | None) -> Any:
        if self._rich is None:
            return _NullBar()
        bar = _RichBar(self._rich, f"epoch {epoch + 1}/{epochs}", total)
        self._rich.update(bar.task, info="")
        return bar

    def epoch_end(self, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        if self.quiet or self.live:
            return
        print(f"epoch {epoch + 1}/{epochs}  {_fmt(logs)}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def summary(self, trainer: Any) -> None:
        """Best epoch, final train/val metrics, wall time, parameter count, run directory."""
        from rich.console import Console
        from rich.table import Table

        hist = trainer.history
        if not len(hist):
            return
        monitor = "val_loss" if "val_loss" in hist else "loss"
        table = Table(title="training summary", show_header=False)
        try:
            best, value = hist.best(monitor, "min")
            table.add_row("best epoch", f"{best + 1} ({monitor} {value:.4f})")
        except ValueError:  # every epoch's value is NaN: the run diverged
            table.add_row("best epoch", f"none (no finite {monitor})")
        for k, v in hist.epochs[-1].items():
            table.add_row(f"final {k}", f"{v:.4g}" if isinstance(v, float) else str(v))
        trainable, total = trainer.num_parameters()
        table.add_row("parameters", f"{trainable:,} trainable / {total:,} total")
        table.add_row("wall time", f"{trainer.wall_time:.1f} s")
        if trainer.run_dir:
            table.add_row("saved in", str(trainer.run_dir))
        Console(file=self.stream, force_terminal=False).print(table)
